"""What hires fix costs, on the built-in starter model (64 px) and the CPU (not a test).

    python tests/bench/bench_hires.py [--scale 4] [--repeats 3] [--steps 20]

For each upscaler (latent, lanczos, the two shipped Real-ESRGAN networks) it times a whole
hires-fix job through the engine (first pass, enlarge, second pass at denoise 0.45) against the
plain 64-px job in the same run, and prints seconds, the ratio to the plain job, and the
enlarge step alone (the upscaler on the first pass's picture). Medians of --repeats, after a
warm-up run (model and networks loaded).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.timing import median_seconds

UPSCALERS = ("latent", "lanczos", "realesr-animevideov3-x4", "realesrgan-x4plus")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    from imagestudio.core.devices import pick_device
    from imagestudio.core.generation.engine import Engine
    from imagestudio.core.paths import app_paths
    from imagestudio.core.requests import GenerationRequest, hires_length
    from imagestudio.core.upscale.job import UpscaleEngine

    device = pick_device(None, None)
    paths = app_paths()
    engine = Engine(device=device, models_dir=paths.models_dir, cache_dir=paths.cache_dir)
    upscale = UpscaleEngine(paths.models_dir)
    base = GenerationRequest(prompt="a lighthouse on a cliff at dusk", steps=args.steps, seed=4)
    plain = median_seconds(lambda: engine.generate(base, previews=True), args.repeats)
    first = engine.generate(base).images[0]
    side = hires_length(first.width, args.scale)
    print(
        f"device: {device.describe()}; starter model, {args.steps} steps, x{args.scale:g} "
        f"({first.width} -> {side} px), denoise 0.45, medians of {args.repeats}"
    )
    rows = [("plain 64 px job", plain, 1.0, None)]
    for name in UPSCALERS:
        request = base.replace(hires_scale=args.scale, hires_upscaler=name)
        seconds = median_seconds(
            lambda request=request: engine.generate(request, upscaler=upscale), args.repeats
        )
        enlarge = None
        if name != "latent":
            enlarge = median_seconds(
                lambda name=name: upscale.enlarge(first, (side, side), name), args.repeats
            )
        rows.append((f"hires fix, {name}", seconds, seconds / plain, enlarge))
    print(f"{'job':36} {'seconds':>8} {'x plain':>8} {'enlarge s':>10}")
    for label, seconds, ratio, enlarge in rows:
        extra = "" if enlarge is None else f"{enlarge:10.3f}"
        print(f"{label:36} {seconds:8.3f} {ratio:8.2f} {extra}")


if __name__ == "__main__":
    main()
