"""A procedural captioned dataset: one or two flat shapes on a plain background, 64x64.

Every sample is drawn from a seed, so the dataset is reproducible without storing it. Some
(colour, shape, background) combinations are held out of training to test generalisation.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

SIZE = 64
SUPERSAMPLE = 4  # drawn at 4x and reduced: smooth edges, as a real picture has

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (245, 220, 30),
    "orange": (245, 140, 20),
    "purple": (140, 40, 180),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "pink": (245, 130, 190),
    "gray": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle", "star")
SIZES = {"small": 0.13, "": 0.21, "large": 0.30}  # radius as a fraction of the image
# How often each size word is drawn: the plain, unqualified prompt is what people type first.
SIZE_WEIGHTS = {"small": 1.0, "": 1.5, "large": 1.0}
POSITIONS: dict[str, tuple[float, float]] = {
    "": (0.5, 0.5),
    "in the centre": (0.5, 0.5),
    "on the left": (0.27, 0.5),
    "on the right": (0.73, 0.5),
    "at the top": (0.5, 0.27),
    "at the bottom": (0.5, 0.73),
    "at the top left": (0.27, 0.27),
    "at the top right": (0.73, 0.27),
    "at the bottom left": (0.27, 0.73),
    "at the bottom right": (0.73, 0.73),
}
# "" (no position words) is drawn as often as three named positions together, for the same reason
POSITION_WEIGHTS = {name: 3.0 if name == "" else 1.0 for name in POSITIONS}


def is_held_out(colour: str, shape: str, background: str) -> bool:
    """About 1 in 12 (colour, shape, background) triples never appear in training."""
    digest = hashlib.sha256(f"{colour}|{shape}|{background}".encode()).digest()
    return digest[0] % 12 == 0


@dataclass(frozen=True)
class ShapeSpec:
    colour: str
    shape: str
    size: str = ""
    position: str = ""


@dataclass(frozen=True)
class Sample:
    caption: str
    background: str
    shapes: tuple[ShapeSpec, ...]

    def render(self) -> Image.Image:
        return render(self)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def caption_for(shapes: tuple[ShapeSpec, ...], background: str) -> str:
    parts = []
    for spec in shapes:
        words = [spec.size, spec.colour, spec.shape, spec.position]
        text = " ".join(w for w in words if w)
        parts.append(f"{_article(text)} {text}")
    return f"{' and '.join(parts)} on {_article(background)} {background} background"


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        h = r * 0.9
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":
        return [
            (cx + r * math.cos(a), cy + r * math.sin(a))
            for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)
        ]
    if shape == "star":
        points = []
        for i in range(10):
            radius = r if i % 2 == 0 else r * 0.42
            angle = -math.pi / 2 + i * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        return points
    raise ValueError(shape)


def render(sample: Sample) -> Image.Image:
    big = SIZE * SUPERSAMPLE
    image = Image.new("RGB", (big, big), COLOURS[sample.background])
    draw = ImageDraw.Draw(image)
    for spec in sample.shapes:
        fx, fy = POSITIONS[spec.position]
        radius = SIZES[spec.size]
        # keep the whole shape inside the picture: a large shape in a corner moves inwards
        fx, fy = (min(max(f, radius + 0.03), 0.97 - radius) for f in (fx, fy))
        cx, cy, r = fx * big, fy * big, radius * big
        colour = COLOURS[spec.colour]
        if spec.shape == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        else:
            draw.polygon(_polygon(spec.shape, cx, cy, r), fill=colour)
    return image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)


def random_sample(rng: random.Random, held_out: bool = False, two_shapes: float = 0.25) -> Sample:
    """A random sample; `held_out` picks only held-out triples, else only training triples."""
    names = list(COLOURS)
    while True:
        background = rng.choice(names)
        if rng.random() < two_shapes:
            left, right = "on the left", "on the right"
            colours = rng.sample([c for c in names if c != background], 2)
            shapes = (
                ShapeSpec(colours[0], rng.choice(SHAPES), "", left),
                ShapeSpec(colours[1], rng.choice(SHAPES), "", right),
            )
            # captions for pairs leave positions out half the time; order still says left/right
            if rng.random() < 0.5:
                spec_text = tuple(ShapeSpec(s.colour, s.shape) for s in shapes)
                caption = caption_for(spec_text, background)
            else:
                caption = caption_for(shapes, background)
        else:
            colour = rng.choice([c for c in names if c != background])
            shapes = (
                ShapeSpec(
                    colour,
                    rng.choice(SHAPES),
                    rng.choices(list(SIZE_WEIGHTS), weights=list(SIZE_WEIGHTS.values()))[0],
                    rng.choices(list(POSITION_WEIGHTS), weights=list(POSITION_WEIGHTS.values()))[0],
                ),
            )
            caption = caption_for(shapes, background)
        if all(is_held_out(s.colour, s.shape, background) == held_out for s in shapes):
            return Sample(caption, background, shapes)


def single_shape_sample(colour: str, shape: str, background: str) -> Sample:
    """The plain evaluation prompt: 'a red circle on a blue background'."""
    spec = ShapeSpec(colour, shape)
    return Sample(caption_for((spec,), background), background, (spec,))
