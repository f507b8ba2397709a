"""Draw ImageStudio's app icon with Pillow and write it in every format the installers need.

    python packaging/make_icons.py [OUT_DIR]     (default: packaging/icons)

Writes imagestudio.png (512 px: the window's icon, Linux .desktop / AppImage; it goes to
resources/icons unless OUT_DIR is given), imagestudio.ico (16-256 px, Windows
exe and installer), imagestudio.icns (16-1024 px, macOS .app) and imagestudio.svg (the same
drawing as vectors, for Linux icon themes). The picture is the starter model's own world: a red
circle, a yellow triangle and a white star on a blue tile. Deterministic, so rerunning it changes
nothing; the outputs are committed so that a build needs no extra step.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw

MASTER = 1024  # drawn at this size, then scaled down with a good filter (cheap anti-aliasing)
SUPERSAMPLE = 2

TILE_TOP = (52, 92, 214)
TILE_BOTTOM = (28, 44, 140)
RED = (232, 58, 64)
YELLOW = (250, 204, 48)
WHITE = (250, 250, 250)


def _star_points(cx: float, cy: float, outer: float, inner: float) -> list[tuple[float, float]]:
    points = []
    for i in range(10):
        radius = outer if i % 2 == 0 else inner
        angle = -math.pi / 2 + i * math.pi / 5
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


# Shapes in a 0..1 square, shared by the bitmap and the SVG.
CIRCLE = (0.40, 0.42, 0.25)  # cx, cy, r
TRIANGLE = [(0.66, 0.44), (0.86, 0.80), (0.46, 0.80)]
STAR = (0.70, 0.27, 0.13, 0.055)  # cx, cy, outer, inner
CORNER = 0.20  # rounded-tile corner radius
MARGIN = 0.04


def draw_master() -> Image.Image:
    size = MASTER * SUPERSAMPLE
    tile = Image.new("RGBA", (size, size))
    # Vertical gradient for the tile.
    grad = ImageDraw.Draw(tile)
    for y in range(size):
        t = y / (size - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(TILE_TOP, TILE_BOTTOM, strict=True))
        grad.line([(0, y), (size, y)], fill=(*colour, 255))
    mask = Image.new("L", (size, size), 0)
    m = MARGIN * size
    ImageDraw.Draw(mask).rounded_rectangle(
        [m, m, size - m, size - m], radius=CORNER * size, fill=255
    )
    icon = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    icon.paste(tile, (0, 0), mask)

    draw = ImageDraw.Draw(icon)
    cx, cy, r = (v * size for v in CIRCLE)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=RED)
    draw.polygon([(x * size, y * size) for x, y in TRIANGLE], fill=YELLOW)
    sx, sy, outer, inner = (v * size for v in STAR)
    draw.polygon(_star_points(sx, sy, outer, inner), fill=WHITE)
    return icon.resize((MASTER, MASTER), Image.Resampling.LANCZOS)


def svg() -> str:
    def f(v: float) -> str:
        return f"{v * MASTER:.1f}"

    cx, cy, r = CIRCLE
    tri = " ".join(f"{f(x)},{f(y)}" for x, y in TRIANGLE)
    sx, sy, outer, inner = STAR
    star = " ".join(
        f"{x:.1f},{y:.1f}"
        for x, y in _star_points(sx * MASTER, sy * MASTER, outer * MASTER, inner * MASTER)
    )
    m, side = MARGIN * MASTER, (1 - 2 * MARGIN) * MASTER
    top, bottom, red, yellow, white = (
        "#{:02x}{:02x}{:02x}".format(*c) for c in (TILE_TOP, TILE_BOTTOM, RED, YELLOW, WHITE)
    )
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{MASTER}" height="{MASTER}" \
viewBox="0 0 {MASTER} {MASTER}">
  <defs><linearGradient id="tile" x1="0" y1="0" x2="0" y2="1">
    <stop offset="0" stop-color="{top}"/><stop offset="1" stop-color="{bottom}"/>
  </linearGradient></defs>
  <rect x="{m:.1f}" y="{m:.1f}" width="{side:.1f}" height="{side:.1f}" rx="{f(CORNER)}" \
fill="url(#tile)"/>
  <circle cx="{f(cx)}" cy="{f(cy)}" r="{f(r)}" fill="{red}"/>
  <polygon points="{tri}" fill="{yellow}"/>
  <polygon points="{star}" fill="{white}"/>
</svg>
"""


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent / "icons"
    out.mkdir(parents=True, exist_ok=True)
    master = draw_master()
    # the PNG is the window's icon too, so by default it lives with the app's resources
    root = Path(__file__).resolve().parent.parent
    png = out / "imagestudio.png" if argv else root / "resources" / "icons" / "imagestudio.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    master.resize((512, 512), Image.Resampling.LANCZOS).save(png, optimize=True)
    master.save(
        out / "imagestudio.ico",
        sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)],
    )
    # Pillow writes every standard .icns size from the 1024 px master.
    master.save(out / "imagestudio.icns")
    (out / "imagestudio.svg").write_text(svg(), encoding="utf-8")
    for path in (png, out / "imagestudio.ico", out / "imagestudio.icns", out / "imagestudio.svg"):
        print(f"{path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
