"""How much style do the style modes give? A table, measured by a network we do not optimise.

    python tests/bench/bench_style_distance.py [--size 256] [--iterations 300]
        [--style-scales 0.5 1.5 3] [--shares 0.6 0.3 0.1] [--pairs strokes] [--save DIR]

For each content/style pair (synthetic, so nothing is downloaded), the style distance of a
picture is |v(picture) - v(style)| / |v(content) - v(style)|, where v is the fast mode's
style-prediction network (Magenta's MobileNetV2, 100 numbers): 1.0 is the content untouched, 0
the style's own statistics. Quality mode optimises VGG features, so scoring it with another
network keeps it from grading its own homework; fast mode is scored by the network that made
it, so its numbers flatter it a little. Rows: quality mode at its defaults (or at each
--style-scales internal factor, to tune `quality.STYLE_SCALE`), fast mode at full strength, and
the seconds each took. Lower distance = more style; compare columns of one run, one machine.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_style_quality import brush_strokes, scene
from tests.core.style.test_fast import landscape


def stripes(side: int = 256) -> Image.Image:
    """Diagonal stripes in strong red, yellow and dark blue."""
    y, x = np.mgrid[0:side, 0:side]
    colours = np.array([[230, 30, 40], [250, 210, 20], [20, 40, 160]], dtype=np.uint8)
    return Image.fromarray(colours[((x + y) // 12) % 3])


def dots(side: int = 256, seed: int = 2) -> Image.Image:
    """Round blots of four colours on cream paper."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (side, side), (240, 230, 200))
    draw = ImageDraw.Draw(image)
    palette = [(200, 40, 40), (30, 60, 150), (20, 20, 20), (230, 170, 30)]
    for _ in range(220):
        x, y = rng.uniform(0, side, 2)
        r = rng.uniform(4, 14)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=palette[rng.integers(len(palette))])
    return image


def tiles(side: int = 256, seed: int = 3) -> Image.Image:
    """A mosaic: small squares of earthy colours, dark grout."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (side, side), (40, 35, 30))
    draw = ImageDraw.Draw(image)
    palette = [(190, 120, 60), (220, 200, 150), (90, 130, 110), (160, 60, 40), (60, 80, 140)]
    step = 14
    for top in range(0, side, step):
        for left in range(0, side, step):
            jitter = rng.integers(-2, 3, 2)
            box = [left + 2 + jitter[0], top + 2 + jitter[1], left + step - 1, top + step - 1]
            draw.rectangle(box, fill=palette[rng.integers(len(palette))])
    return image


def hills() -> Image.Image:
    """A cool sky, a sun, green hills and a house, hard-edged: soft shapes, large flat areas."""
    return landscape(384, 256, blur=0)


def portrait(width: int = 256, height: int = 320) -> Image.Image:
    """A face-like oval with eyes and a mouth on a warm gradient (a portrait layout)."""
    x = np.linspace(0, 1, width)[None, :, None]
    y = np.linspace(0, 1, height)[:, None, None]
    back = (1 - x) * np.array([200, 170, 140]) + x * np.array([120, 90, 80]) + 0 * y
    image = Image.fromarray(back.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    w, h = width, height
    draw.ellipse([w * 0.25, h * 0.15, w * 0.75, h * 0.75], fill=(230, 190, 160))
    for cx in (0.4, 0.6):
        draw.ellipse([w * (cx - 0.05), h * 0.36, w * (cx + 0.05), h * 0.42], fill=(40, 30, 30))
    draw.arc([w * 0.38, h * 0.5, w * 0.62, h * 0.62], 20, 160, fill=(150, 40, 50), width=4)
    draw.rectangle([w * 0.2, h * 0.78, w * 0.8, h], fill=(50, 70, 120))
    return image


PAIRS = {
    "scene / stripes": (scene, stripes),
    "scene / strokes": (scene, brush_strokes),
    "hills / dots": (hills, dots),
    "portrait / tiles": (portrait, tiles),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256, help="long side of every result")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--style-scales", type=float, nargs="*", default=[], metavar="F")
    parser.add_argument("--shares", type=float, nargs=3, default=None, metavar="S")
    parser.add_argument("--pairs", nargs="*", default=[], help="only pairs whose name has one")
    parser.add_argument("--save", type=str, default="", help="folder for the pictures")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads; 0: default")
    args = parser.parse_args()

    import torch

    from imagestudio.core.style import quality
    from imagestudio.core.style.fast import FastStylizer

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.shares:
        quality.SCALE_SHARES[3] = tuple(args.shares)
    scales = args.style_scales or [quality.STYLE_SCALE]
    fast = FastStylizer()
    folder = Path(args.save) if args.save else None
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; quality mode "
        f"{args.size} px, {args.iterations} iterations, plan "
        f"{quality.plan_scales(args.size, args.iterations)}"
    )

    columns = [f"quality x{s:g}" for s in scales] + ["fast"]
    distances: dict[str, list[float]] = {c: [] for c in columns}
    seconds: dict[str, list[float]] = {c: [] for c in columns}
    rows = []
    for name, (make_content, make_style) in PAIRS.items():
        if args.pairs and not any(word in name for word in args.pairs):
            continue
        content, style = make_content(), make_style()
        target = fast.style_vector(style)
        baseline = float(np.linalg.norm(fast.style_vector(content) - target))
        results: dict[str, Image.Image] = {}
        for scale, column in zip(scales, columns, strict=False):
            quality.STYLE_SCALE = scale
            started = time.perf_counter()
            settings = quality.QualitySettings(size=args.size, iterations=args.iterations)
            results[column] = quality.stylize_quality(content, style, settings)
            seconds[column].append(time.perf_counter() - started)
        started = time.perf_counter()
        results["fast"] = fast.stylize(content, style, size=args.size)
        seconds["fast"].append(time.perf_counter() - started)
        row = []
        for column, picture in results.items():
            distance = float(np.linalg.norm(fast.style_vector(picture) - target)) / baseline
            distances[column].append(distance)
            row.append(distance)
            if folder:
                slug = name.replace(" / ", "_")
                picture.save(folder / f"{slug}_{column.replace(' ', '_')}.png")
        rows.append((name, row))
        print(f"  {name}: done", flush=True)

    width = max(14, *(len(c) + 2 for c in columns))
    print()
    print(f"{'style distance (1 = content)':<30}" + "".join(f"{c:>{width}}" for c in columns))
    for name, row in rows:
        print(f"{name:<30}" + "".join(f"{d:>{width}.2f}" for d in row))
    geo = [math.exp(float(np.mean(np.log(distances[c])))) for c in columns]
    print(f"{'geometric mean':<30}" + "".join(f"{d:>{width}.2f}" for d in geo))
    print(
        f"{'seconds per picture (mean)':<30}"
        + "".join(f"{float(np.mean(seconds[c])):>{width}.2f}" for c in columns)
    )


if __name__ == "__main__":
    main()
