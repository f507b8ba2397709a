"""Upscaling benchmark (not a test): tiling overhead, a big job's time and memory, quality.

    python tests/bench/bench_upscale.py [--upscaler realesrgan-x4plus] [--skip-big]
        [--photos DIR]

1. Overhead: the engine's tiled run on a 256x256 picture against one bare spandrel call on the
   same tensor, interleaved, median of --repeats: with the automatic tile (one tile here) and
   with 128-px tiles (9 tiles, their overlaps computed twice). Ratio = ours / bare.
2. Big job: 1024x1024 -> 4096x4096 through the whole job (read, tiles, blend, resize, PNG not
   written), in a fresh process so its peak RSS is its own (ru_maxrss).
3. Quality (with --photos DIR of real photographs, PNG or JPEG): each is cut to a multiple of 4,
   shrunk 4x (bicubic, antialiased), then enlarged 4x by the upscaler and by Lanczos; PSNR
   against the original, and sharpness (variance of the Laplacian, as a share of the
   original's: 100% = as sharp as the original).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _picture(size: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([np.sin(7 * x + 3 * y), np.cos(5 * y), x * y], axis=-1) * 0.4 + 0.5
    noise = rng.normal(0, 0.03, base.shape)
    return Image.fromarray(((base + noise).clip(0, 1) * 255).astype(np.uint8))


def overhead(upscaler: str, repeats: int) -> list[tuple[str, float, float, float]]:
    import torch

    from imagestudio.core.requests import UpscaleRequest
    from imagestudio.core.upscale.job import UpscaleEngine
    from imagestudio.core.upscale.loading import load_upscaler, resolve_upscaler

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.png"
        _picture(256).save(source)
        engine = UpscaleEngine(Path(tmp) / "models", "cpu")
        model = load_upscaler(resolve_upscaler(upscaler, Path(tmp)).path, "cpu").model
        tensor = torch.from_numpy(np.asarray(Image.open(source), np.float32) / 255)
        tensor = tensor.permute(2, 0, 1)[None]
        rows = []
        for label, tile in (("automatic tile", None), ("128-px tiles", 128)):
            request = UpscaleRequest(image=str(source), scale=4, upscaler=upscaler, tile=tile)
            engine.upscale(request)  # warm-up (loads the network)
            ours, bare = [], []
            for _ in range(repeats):
                started = time.perf_counter()
                engine.upscale(request)
                ours.append(time.perf_counter() - started)
                started = time.perf_counter()
                with torch.no_grad():
                    model(tensor)
                bare.append(time.perf_counter() - started)
            ours_s, bare_s = float(np.median(ours)), float(np.median(bare))
            rows.append((label, ours_s, bare_s, ours_s / bare_s))
    return rows


def big_job(upscaler: str) -> dict:
    """Run in a child process: 1024^2 -> 4096^2, time and peak RSS."""
    code = f"""
import json, resource, sys, time, tempfile
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from tests.bench.bench_upscale import _picture
from imagestudio.core.requests import UpscaleRequest
from imagestudio.core.upscale.job import UpscaleEngine
tmp = Path(tempfile.mkdtemp())
_picture(1024).save(tmp / "in.png")
engine = UpscaleEngine(tmp / "models", "cpu")
tiles = []
started = time.perf_counter()
result = engine.upscale(UpscaleRequest(image=str(tmp / "in.png"), scale=4, upscaler={upscaler!r}),
                        on_step=lambda s, t, p: tiles.append(t))
seconds = time.perf_counter() - started
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "peak_rss_mb": rss, "size": result.image.size,
                  "tiles": tiles[-1] if tiles else 0}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-12))


def sharpness(image: Image.Image) -> float:
    grey = np.asarray(image.convert("L"), np.float64)
    lap = grey[1:-1, 2:] + grey[1:-1, :-2] + grey[2:, 1:-1] + grey[:-2, 1:-1] - 4 * grey[1:-1, 1:-1]
    return float(lap.var())


def quality(upscaler: str, photos: Path) -> list[tuple[str, float, float, float, float]]:
    from imagestudio.core.requests import UpscaleRequest
    from imagestudio.core.upscale.job import UpscaleEngine

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = UpscaleEngine(Path(tmp) / "models", "cpu")
        for path in sorted(p for p in photos.iterdir() if p.suffix.lower() in (".png", ".jpg")):
            original = Image.open(path).convert("RGB")
            width, height = original.width // 4 * 4, original.height // 4 * 4
            original = original.crop((0, 0, width, height))
            small = original.resize((width // 4, height // 4), Image.Resampling.BICUBIC)
            small_path = Path(tmp) / f"{path.stem}.png"
            small.save(small_path)
            network = engine.upscale(
                UpscaleRequest(image=str(small_path), scale=4, upscaler=upscaler)
            ).image
            lanczos = small.resize((width, height), Image.Resampling.LANCZOS)
            reference = np.asarray(original)
            base = sharpness(original)
            rows.append(
                (
                    path.name,
                    psnr(np.asarray(network), reference),
                    psnr(np.asarray(lanczos), reference),
                    sharpness(network) / base,
                    sharpness(lanczos) / base,
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upscaler", default="realesrgan-x4plus")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--photos", type=Path, default=None)
    args = parser.parse_args()

    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; {args.upscaler}")
    print()
    print(f"{'256x256 -> 1024x1024':<22}{'tiled (ours)':>14}{'bare spandrel':>15}{'ratio':>8}")
    for label, ours, bare, ratio in overhead(args.upscaler, args.repeats):
        print(f"{label:<22}{ours:>12.2f} s{bare:>13.2f} s{ratio:>8.2f}")
    if not args.skip_big:
        big = big_job(args.upscaler)
        print()
        print(
            f"1024x1024 -> {big['size'][0]}x{big['size'][1]}: {big['seconds']:.0f} s, "
            f"{big['tiles']} tiles, peak RSS {big['peak_rss_mb']:.0f} MB"
        )
    if args.photos:
        print()
        columns = ("PSNR net", 10), ("PSNR lanczos", 14), ("sharp net", 11), ("sharp lanczos", 15)
        print(f"{'photo':<28}" + "".join(f"{title:>{width}}" for title, width in columns))
        for name, p_net, p_lan, s_net, s_lan in quality(args.upscaler, args.photos):
            print(f"{name:<28}{p_net:>8.2f}dB{p_lan:>12.2f}dB{s_net:>10.0%}{s_lan:>15.0%}")


if __name__ == "__main__":
    main()
