"""Fast style mode benchmark (not a test): latency of one stylisation at 512 px on this machine.

    python tests/bench/bench_style_fast.py [--size 512] [--runs 7] [--threads 0]

Times, as the median of `--runs` interleaved runs after a warm-up: the style vector (predictor),
the transform (our wrapper: resize, pad, run, crop, to PIL), the whole `stylize` at strength 1 and
0.5 (the latter predicts two vectors), against baselines measured in the same run: the bare
onnxruntime transform call on a ready array, and a plain PIL resize + Gaussian blur of the same
picture. Floor from the issue: `stylize` at 512 px <= 1 s on CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from imagestudio.core.style.fast import (
    TRANSFORM_FILE,
    FastStylizer,
    default_model_dir,
)

FLOOR_SECONDS = 1.0


def content_picture(width: int = 1600, height: int = 1200) -> Image.Image:
    """A photo-sized picture with smooth gradients, edges and fine texture."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [90 + 60 * y / height, 150 + 60 * x / width, 230 - 40 * y / height], axis=-1
    ) + rng.normal(0, 6, (height, width, 3))
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        r = int(rng.integers(20, 160))
        draw.ellipse((x0 - r, y0 - r, x0 + r, y0 + r), fill=tuple(rng.integers(0, 256, 3).tolist()))
    return image.filter(ImageFilter.GaussianBlur(1.5))


def style_picture(side: int = 800) -> Image.Image:
    y, x = np.mgrid[0:side, 0:side]
    colours = np.array([[230, 30, 40], [250, 210, 20], [20, 40, 160]], dtype=np.uint8)
    return Image.fromarray(colours[((x + y) // 40) % 3])


def median_seconds(
    tasks: dict[str, Callable[[], object]], runs: int, warmup: int = 1
) -> dict[str, float]:
    for task in tasks.values():
        for _ in range(warmup):
            task()
    times: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(runs):  # interleaved, so every task sees the same machine load
        for name, task in tasks.items():
            started = time.perf_counter()
            task()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="output long side in px")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads; 0 = auto")
    args = parser.parse_args()

    content, style = content_picture(), style_picture()
    stylizer = FastStylizer(threads=args.threads)
    started = time.perf_counter()
    stylizer.load()
    load_seconds = time.perf_counter() - started
    vector = stylizer.style_vector(style)

    # The bare network call on an array already at the network's size, in a session of its own:
    # what our wrapper adds on top of it is the resize, padding, cropping and conversion to PIL.
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = onnxruntime.InferenceSession(
        str(default_model_dir() / TRANSFORM_FILE), options, providers=stylizer.providers
    )
    probe = stylizer.transform(content, vector, size=args.size)
    net_h, net_w = -(-probe.height // 4) * 4, -(-probe.width // 4) * 4
    ready = np.random.default_rng(1).random((1, net_h, net_w, 3), dtype=np.float32)
    feeds = {"content_image": ready, "mobilenet_conv/Conv/BiasAdd": vector.reshape(1, 1, 1, -1)}

    def pil_resize_blur() -> object:
        small = content.resize(probe.size, Image.Resampling.LANCZOS)
        return small.filter(ImageFilter.GaussianBlur(2))

    tasks: dict[str, Callable[[], object]] = {
        "style vector (predictor, 256 px)": lambda: stylizer.style_vector(style),
        f"transform ({probe.width}x{probe.height}, wrapper)": lambda: stylizer.transform(
            content, vector, size=args.size
        ),
        "stylize, strength 1.0": lambda: stylizer.stylize(content, style, size=args.size),
        "stylize, strength 0.5 (2 vectors)": lambda: stylizer.stylize(
            content, style, strength=0.5, size=args.size
        ),
        "baseline: bare onnxruntime transform": lambda: session.run(None, feeds),
        "baseline: PIL resize + blur": pil_resize_blur,
    }
    results = median_seconds(tasks, args.runs)
    bare = results["baseline: bare onnxruntime transform"]

    print(
        f"fast style mode, output long side {args.size} px, content {content.size[0]}x"
        f"{content.size[1]}, median of {args.runs} runs after 1 warm-up"
    )
    print(
        f"providers: {', '.join(stylizer.providers)}; threads: {args.threads or 'auto'}; "
        f"session load: {load_seconds * 1000:.0f} ms"
    )
    print()
    print(f"| {'step':<40} | {'median ms':>9} | {'x bare ORT':>10} |")
    print(f"| {'-' * 40} | {'-' * 9}:| {'-' * 10}:|")
    for name, seconds in results.items():
        print(f"| {name:<40} | {seconds * 1000:>9.1f} | {seconds / bare:>10.2f} |")
    worst = max(results["stylize, strength 1.0"], results["stylize, strength 0.5 (2 vectors)"])
    verdict = "PASS" if worst <= FLOOR_SECONDS else "FAIL"
    print()
    print(
        f"floor: stylize at {args.size} px <= {FLOOR_SECONDS:.1f} s -> {verdict} "
        f"(slowest {worst * 1000:.0f} ms)"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    raise SystemExit(main())
