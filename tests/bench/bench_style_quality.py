"""Quality-mode style transfer benchmark (not a test): speed, overhead, time to a good result.

    python tests/bench/bench_style_quality.py [--sizes 256 512] [--threads 1] [--accept-size 512]

1. Iterations per second at each size (one scale, after a warm-up iteration), against a bare
   forward + backward of the feature network to the same layers at the same size, measured in the
   same run: the ratio is our overhead (losses, Grams, L-BFGS, callbacks).
2. Time to an acceptable result: a default job (300 iterations, coarse to fine) at --accept-size.
   The picture every --every iterations (upsampled from coarse scales) is scored at full size
   after the job; "acceptable" = its style loss is within 10% of the final result's. (Not "90%
   of the drop from the content's": the content scores ~300x the result, so blurry upsampled
   coarse pictures pass that.) --save keeps every scored picture, to judge by eye.
Uses the weights `load_feature_network()` finds (bundled VGG16 unless a VGG19 is in the torch hub
cache); CPU, and CUDA when there is one. Synthetic pictures, so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def scene(width: int = 768, height: int = 512) -> Image.Image:
    y = np.linspace(0, 1, height)[:, None, None]
    sky = (1 - y) * np.array([90, 150, 230]) + y * np.array([230, 200, 160])
    image = Image.fromarray(np.broadcast_to(sky, (height, width, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    w, h = width, height
    draw.ellipse([w * 0.7, h * 0.1, w * 0.85, h * 0.1 + w * 0.15], fill=(255, 220, 80))
    hills = [(x, h * 0.6 + h * 0.08 * math.sin(x / w * 10)) for x in range(0, w + 1, 4)]
    draw.polygon([*hills, (w, h), (0, h)], fill=(70, 140, 60))
    draw.rectangle([w * 0.2, h * 0.45, w * 0.4, h * 0.75], fill=(180, 60, 50))
    draw.polygon(
        [(w * 0.18, h * 0.45), (w * 0.3, h * 0.3), (w * 0.42, h * 0.45)], fill=(90, 40, 30)
    )
    draw.polygon([(w * 0.55, h * 0.8), (w * 0.6, h * 0.35), (w * 0.65, h * 0.8)], fill=(20, 80, 30))
    return image


def brush_strokes(size: int = 512, seed: int = 1) -> Image.Image:
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), (20, 30, 80))
    draw = ImageDraw.Draw(image)
    palette = [(250, 210, 40), (40, 90, 200), (20, 40, 120), (240, 240, 200), (90, 160, 220)]
    for _ in range(3600):
        x, y = rng.uniform(0, size, 2)
        angle = math.atan2(y - size / 2, x - size / 2) + math.pi / 2 + rng.normal(0, 0.2)
        length = rng.uniform(16, 40)
        end = (x + length * math.cos(angle), y + length * math.sin(angle))
        colour = palette[rng.integers(len(palette))]
        draw.line([(x, y), end], fill=colour, width=int(rng.integers(4, 9)))
    return image.filter(ImageFilter.SMOOTH)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bare_pass(network, size: tuple[int, int], device: str, repeats: int) -> float:
    """Seconds for one forward + backward to the engine's deepest layer, nothing else."""
    import torch

    from imagestudio.core.style import quality

    layers = [*quality.STYLE_LAYERS, quality.CONTENT_LAYER]
    x = torch.rand(1, 3, size[1], size[0], device=device, requires_grad=True)
    times = []
    for _ in range(repeats + 1):  # the first one warms up
        _sync(device)
        started = time.perf_counter()
        feats = network.features(x, layers, quality.POOLING)
        sum(f.mean() for f in feats.values()).backward()
        _sync(device)
        times.append(time.perf_counter() - started)
    return float(np.median(times[1:]))


def engine_iterations(
    content: Image.Image, style: Image.Image, side: int, device: str, iterations: int
) -> float:
    """Median seconds per iteration of the engine at one scale (`side`), first one left out."""
    from imagestudio.core.style import quality

    stamps: list[float] = []
    saved = quality.MIN_SCALE
    quality.MIN_SCALE = side  # one scale only: the full size
    try:
        quality.stylize_quality(
            content,
            style,
            quality.QualitySettings(size=side, iterations=iterations + 1),
            device=device,
            on_step=lambda i, total, preview: (_sync(device), stamps.append(time.perf_counter())),
            preview_every=10**6,
        )
    finally:
        quality.MIN_SCALE = saved
    return float(np.median(np.diff(stamps)))


def time_to_accept(
    content: Image.Image, style: Image.Image, side: int, device: str, every: int
) -> dict:
    """Run the default job; score its previews at full size afterwards (outside the timing)."""
    from imagestudio.core.style import quality

    stamps: list[float] = []
    previews: dict[int, np.ndarray] = {}

    def on_step(iteration: int, total: int, preview: np.ndarray | None) -> None:
        _sync(device)
        stamps.append(time.perf_counter())
        if preview is not None:
            previews[iteration] = preview

    settings = quality.QualitySettings(size=side)
    started = time.perf_counter()
    result = quality.run_quality(
        content, style, settings, device=device, on_step=on_step, preview_every=every
    )
    size = result.image.size
    pictures = [content.resize(size, Image.Resampling.LANCZOS)]
    pictures += [
        Image.fromarray(p).resize(size, Image.Resampling.BICUBIC) for p in previews.values()
    ]
    pictures.append(result.image)  # previews stop short of it unless `every` divides 300
    scores = quality.loss_breakdowns(pictures, content, style, settings, device=device)
    iterations = [0, *previews, settings.iterations]
    final = scores[-1].style
    accepted = next(i for i, b in zip(iterations, scores, strict=True) if b.style <= 1.1 * final)
    return {
        "iterations": settings.iterations,
        "plan": quality.plan_scales(side, settings.iterations),
        "accepted_iteration": accepted,
        "accepted_s": stamps[accepted - 1] - started,
        "total_s": stamps[-1] - started,
        "style_start": scores[0].style,
        "style_end": final,
        "curve": [(i, b.style, b.total) for i, b in zip(iterations, scores, strict=True)],
        "pictures": dict(zip(iterations, pictures, strict=True)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--accept-size", type=int, default=512, help="0 skips the default job")
    parser.add_argument("--iterations", type=int, default=6, help="timed iterations per size")
    parser.add_argument("--save", type=str, default="", help="folder for the pictures")
    parser.add_argument("--every", type=int, default=5, help="score the picture every N")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0: default")
    args = parser.parse_args()

    import torch

    from imagestudio.core.style.vgg import load_feature_network

    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    content, style = scene(), brush_strokes()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")

    rows = []
    for device in devices:
        network = load_feature_network(None, device)
        print(f"weights: {network.source} ({network.arch}); device {device}")
        for side in args.sizes:
            width, height = content.size
            size = (side, round(height * side / width))
            bare = bare_pass(network, size, device, repeats=args.iterations)
            ours = engine_iterations(content, style, side, device, args.iterations)
            rows.append((device, f"{size[0]}x{size[1]}", 1 / ours, 1 / bare, ours / bare))
    print()
    print(f"{'device':<7}{'size':>10}{'engine it/s':>14}{'bare fwd+bwd/s':>17}{'overhead':>10}")
    for device, size, ours_rate, bare_rate, ratio in rows:
        print(f"{device:<7}{size:>10}{ours_rate:>14.2f}{bare_rate:>17.2f}{ratio:>9.2f}x")

    if args.accept_size:
        for device in devices:
            report = time_to_accept(content, style, args.accept_size, device, args.every)
            print()
            print(
                f"{device}, {args.accept_size} px, default job ({report['iterations']} iterations "
                f"as (long side, iterations) {report['plan']}):"
            )
            print(
                f"  acceptable after iteration {report['accepted_iteration']}: "
                f"{report['accepted_s']:.1f} s (full-size style loss within 10% of the result's; "
                f"content {report['style_start']:.3f} -> result {report['style_end']:.3f}); "
                f"whole job {report['total_s']:.1f} s"
            )
            curve = ", ".join(f"{i}: {s:.3f}/{t:.3f}" for i, s, t in report["curve"])
            print(f"  full-size style/total loss by iteration: {curve}")
            if args.save:
                folder = Path(args.save)
                folder.mkdir(parents=True, exist_ok=True)
                content.save(folder / "content.png")
                style.save(folder / "style.png")
                for iteration, picture in report["pictures"].items():
                    picture.save(folder / f"{device}_{iteration:04d}.png")


if __name__ == "__main__":
    main()
