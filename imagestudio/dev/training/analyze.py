"""Read back what a picture of the shapes dataset shows: background, object colour and shape.

The analyzer is plain numpy and PIL, so it can score any text-to-image model on the prompts of
`imagestudio.dev.training.shapes` without a learned classifier:

1. the background is the median colour of the outer 2-pixel frame;
2. the object is the largest 4-connected region of pixels far from the background colour, then
   refined to the pixels at least half-way from the background colour to the object colour (the
   half-coverage line of a soft edge), with its holes filled;
3. the object colour is the median of the mask's interior (the mask eroded by one pixel);
4. the shape comes from the object's geometry: solidity (area / convex-hull area) tells a star
   (~0.52), the skewness of its rows an upright triangle (~-0.57), and extent (area / box
   area, the box measured by the tallest column and the widest row) a circle (~0.785) from a
   square (~1). An object that overlaps the ideal shape fitted to its bounding box by less
   than `MIN_FIT` (intersection over union) is a blob, not a shape: its shape is None.

Colours are named by the nearest entry of `COLOURS` in CIELAB, which follows perceived
difference better than RGB and so tolerates slightly off generated colours.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from imagestudio.dev.training.shapes import (
    COLOURS,
    SHAPES,
    SIZE,
    Sample,
    random_sample,
    single_shape_sample,
)

BORDER = 2  # width in pixels of the frame whose median colour is the background
MIN_THRESHOLD = 30.0  # RGB distance below which a pixel always counts as background
MAX_THRESHOLD = 60.0  # RGB distance above which a pixel always counts as foreground
MIN_OBJECT_PIXELS = 12  # smaller regions are noise, not an object
STAR_SOLIDITY = 0.8  # a star's solidity is ~0.52; convex shapes are ~0.9-1
TRIANGLE_SKEW = 0.3  # a triangle's rows have skewness ~0.57 in size; symmetric shapes ~0
TRIANGLE_EXTENT = 0.6  # below any circle's (~0.785) or square's (~1) extent
SQUARE_EXTENT = 0.87  # between a circle (~0.785) and a square (~1)
MIN_FIT = 0.45  # IoU with the ideal shape below which a blob is no shape (renders: >= 0.57)
STAR_INNER_RADIUS = 0.42  # the dataset's star: inner over outer radius


@dataclass(frozen=True)
class Analysis:
    """What `analyze` read from one image."""

    background: str | None  # nearest named colour of the background
    colour: str | None  # nearest named colour of the (largest) object
    shape: str | None  # circle | square | triangle | star, or None if no object found
    object_fraction: float  # share of pixels that belong to the object


# -- colours --------------------------------------------------------------------------------------


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert (..., 3) sRGB values in 0..255 to CIELAB (D65)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    matrix = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = linear @ matrix.T / np.array([0.95047, 1.0, 1.08883])
    eps = (6 / 29) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    lightness = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([lightness, a, b], axis=-1)


_NAMES = list(COLOURS)
_LAB = _srgb_to_lab(np.array([COLOURS[name] for name in _NAMES], dtype=np.float64))


def nearest_colour(rgb: tuple[float, float, float] | np.ndarray) -> str:
    """The name in `COLOURS` nearest to `rgb` (0..255), by Euclidean distance in CIELAB."""
    lab = _srgb_to_lab(np.asarray(rgb, dtype=np.float64).reshape(3))
    return _NAMES[int(np.argmin(np.linalg.norm(_LAB - lab, axis=1)))]


# -- masks ----------------------------------------------------------------------------------------


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected region of `mask` (all False when `mask` is empty).

    Works on horizontal runs rather than pixels: runs in neighbouring rows that share a column
    are joined with a small union-find, so a 64x64 mask takes a few hundred operations.
    """
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    steps = np.diff(padded, axis=1)
    rows, starts = np.nonzero(steps == 1)
    _, ends = np.nonzero(steps == -1)  # row-major order pairs each end with its start
    if not len(rows):
        return np.zeros(mask.shape, dtype=bool)
    runs = list(zip(rows.tolist(), starts.tolist(), ends.tolist(), strict=True))
    # index in `runs` of each row's first run (and one past the last)
    row_first = np.searchsorted(rows, np.arange(mask.shape[0] + 1)).tolist()
    parent = list(range(len(runs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for y in range(1, mask.shape[0]):
        above = range(row_first[y - 1], row_first[y])
        for i in range(row_first[y], row_first[y + 1]):
            _, start, end = runs[i]
            for j in above:
                if runs[j][1] < end and start < runs[j][2]:
                    root_i, root_j = find(i), find(j)
                    if root_i != root_j:
                        parent[root_i] = root_j
    sizes: dict[int, int] = {}
    for i, (_, start, end) in enumerate(runs):
        root = find(i)
        sizes[root] = sizes.get(root, 0) + end - start
    best = max(sizes, key=sizes.__getitem__)
    result = np.zeros(mask.shape, dtype=bool)
    for i, (y, start, end) in enumerate(runs):
        if find(i) == best:
            result[y, start:end] = True
    return result


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """`mask` with every background region that does not reach the image edge filled in."""
    padded = np.pad(~mask, 1, constant_values=True)
    outside = _largest_component(padded)  # the padding joins everything that reaches the edge
    return ~outside[1:-1, 1:-1]


def _erode(mask: np.ndarray) -> np.ndarray:
    """Erode `mask` by one pixel (4-neighbourhood)."""
    padded = np.pad(mask, 1, constant_values=False)
    return (
        padded[1:-1, 1:-1]
        & padded[:-2, 1:-1]
        & padded[2:, 1:-1]
        & padded[1:-1, :-2]
        & padded[1:-1, 2:]
    )


def _prune(mask: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Drop spur pixels (at most one 4-neighbour in the mask), such as resampling ringing leaves
    at a square's corners."""
    for _ in range(rounds):
        padded = np.pad(mask, 1, constant_values=False).astype(np.int8)
        neighbours = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
        pruned = mask & (neighbours >= 2)
        if pruned.sum() == mask.sum():
            break
        mask = pruned
    return mask


# -- geometry -------------------------------------------------------------------------------------


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain: the hull of (N, 2) points, counter-clockwise, as (M, 2)."""
    pts = sorted(set(map(tuple, points.tolist())))
    if len(pts) < 3:
        return np.array(pts, dtype=np.float64)

    def cross(o: tuple, a: tuple, b: tuple) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def _polygon_area(polygon: np.ndarray) -> float:
    """The area of a simple polygon by the shoelace formula."""
    if len(polygon) < 3:
        return 0.0
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


@dataclass(frozen=True)
class ShapeFeatures:
    """Geometry of an object, measured on its mask and its soft coverage."""

    extent: float  # area / (tallest column * widest row): square ~1, circle ~0.785, triangle ~0.5
    solidity: float  # area / convex-hull area: ~1 for convex shapes, ~0.52 for a star
    skew: float  # skewness of the rows' coverage: an upright triangle ~-0.57, a circle/square 0


def _dilate(mask: np.ndarray, steps: int = 1) -> np.ndarray:
    """Dilate `mask` by `steps` pixels (4-neighbourhood)."""
    for _ in range(steps):
        padded = np.pad(mask, 1, constant_values=False)
        mask = (
            padded[1:-1, 1:-1]
            | padded[:-2, 1:-1]
            | padded[2:, 1:-1]
            | padded[1:-1, :-2]
            | padded[1:-1, 2:]
        )
    return mask


def _peak(profile: np.ndarray) -> float:
    """The maximum of a 1-D profile after a 3-tap mean (a noise-tolerant plateau height)."""
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    return float(max(smooth.max(), 1e-9))


def shape_features(mask: np.ndarray, coverage: np.ndarray | None = None) -> ShapeFeatures:
    """Extent, solidity and row skewness of a non-empty object.

    `mask` is the object's pixels; `coverage` (same shape, optional) is each pixel's share of
    object (about 0 on the background, 1 inside, between on soft edges). The area, the row and
    column profiles and the skewness are taken from the coverage near the mask, which measures
    soft edges to a fraction of a pixel and averages out noise; the convex hull is taken over
    the mask pixels' corners, so an axis-aligned filled square has extent and solidity 1.
    """
    if coverage is None:
        coverage = mask.astype(np.float64)
    weights = np.where(_dilate(mask, 2), coverage, 0.0)
    area = float(weights.sum())
    if area <= 0:
        weights, area = mask.astype(np.float64), float(mask.sum())
    rows, columns = weights.sum(axis=1), weights.sum(axis=0)
    # a shape's area over (its height at the tallest column * its width at the widest row): this
    # is the bounding-box extent for shapes whose widest row and tallest column span the box,
    # and stray edge pixels hardly move it
    extent = area / (_peak(rows) * _peak(columns))
    y = np.arange(len(rows), dtype=np.float64)
    mean = float((rows * y).sum() / area)
    variance = float((rows * (y - mean) ** 2).sum() / area)
    skew = float((rows * (y - mean) ** 3).sum() / area) / max(variance, 1e-9) ** 1.5
    # only pixels on the mask's boundary can give hull corners
    by, bx = np.nonzero(mask & ~_erode(mask))
    corners = np.concatenate(
        [np.stack([bx + dx, by + dy], axis=1) for dx in (0, 1) for dy in (0, 1)]
    )
    hull_area = _polygon_area(_convex_hull(corners))
    solidity = float(mask.sum()) / hull_area if hull_area else 1.0
    return ShapeFeatures(extent, solidity, skew)


def _template(shape: str, mask: np.ndarray) -> np.ndarray:
    """The ideal upright `shape` stretched over the bounding box of a non-empty `mask`."""
    ys, xs = np.nonzero(mask)
    scale = 4  # drawn supersampled, then kept where it covers half a pixel
    left, top = int(xs.min()) * scale, int(ys.min()) * scale
    right, bottom = (int(xs.max()) + 1) * scale - 1, (int(ys.max()) + 1) * scale - 1
    canvas = Image.new("L", (mask.shape[1] * scale, mask.shape[0] * scale), 0)
    draw = ImageDraw.Draw(canvas)
    if shape == "square":
        draw.rectangle((left, top, right, bottom), fill=255)
    elif shape == "circle":
        draw.ellipse((left, top, right, bottom), fill=255)
    else:
        width, height = right - left, bottom - top
        unit = _UNIT_POLYGONS[shape]
        draw.polygon([(left + x * width, top + y * height) for x, y in unit], fill=255)
    small = canvas.resize((mask.shape[1], mask.shape[0]), Image.Resampling.BOX)
    return np.asarray(small) >= 128


def _unit_polygon(shape: str) -> list[tuple[float, float]]:
    """The dataset's upright triangle or five-pointed star (as `shapes` draws them), scaled to
    fill the unit box."""
    if shape == "triangle":
        angles = [-math.pi / 2, math.pi / 6, 5 * math.pi / 6]
        radii = [1.0, 1.0, 1.0]
    else:
        angles = [-math.pi / 2 + i * math.pi / 5 for i in range(10)]
        radii = [1.0 if i % 2 == 0 else STAR_INNER_RADIUS for i in range(10)]
    pairs = zip(angles, radii, strict=True)
    points = np.array([(r * math.cos(a), r * math.sin(a)) for a, r in pairs])
    low, high = points.min(axis=0), points.max(axis=0)
    return [(float(x), float(y)) for x, y in (points - low) / (high - low)]


_UNIT_POLYGONS = {shape: _unit_polygon(shape) for shape in ("triangle", "star")}


def shape_fit(mask: np.ndarray, shape: str) -> float:
    """Intersection over union of `mask` and the ideal `shape` fitted to its bounding box."""
    ideal = _template(shape, mask)
    union = float((ideal | mask).sum())
    return float((ideal & mask).sum()) / union if union else 0.0


def classify_shape(mask: np.ndarray, coverage: np.ndarray | None = None) -> str:
    """Name the shape of a non-empty object: star, triangle, circle or square.

    See `shape_features` for `coverage`.
    """
    features = shape_features(mask, coverage)
    if features.solidity < STAR_SOLIDITY:
        return "star"
    if abs(features.skew) > TRIANGLE_SKEW or features.extent < TRIANGLE_EXTENT:
        return "triangle"
    if features.extent < SQUARE_EXTENT:
        return "circle"
    return "square"


# -- the analyzer ---------------------------------------------------------------------------------


def _to_array(image: Image.Image) -> np.ndarray:
    image = image.convert("RGB")
    if image.size != (SIZE, SIZE):
        image = image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.float64)


def segment(pixels: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Find the largest object in an (H, W, 3) float RGB image on a `background` colour.

    Returns (mask, coverage): the object's pixels (all False when nothing stands out) and, for
    every pixel, how far its colour lies from the background towards the object's colour
    (about 0 on the background, 1 inside the object).
    """
    distance = np.linalg.norm(pixels - background, axis=-1)
    nothing = np.zeros(distance.shape, dtype=bool), np.zeros(distance.shape)
    # half the object's contrast, kept between two fixed bounds: low-contrast pairs (orange on
    # yellow) still separate, and noise never does
    threshold = float(np.clip(0.5 * np.percentile(distance, 99.5), MIN_THRESHOLD, MAX_THRESHOLD))
    rough = _largest_component(distance > threshold)
    if rough.sum() < MIN_OBJECT_PIXELS:
        return nothing
    inner = _erode(rough)
    core = inner if inner.sum() >= MIN_OBJECT_PIXELS else rough
    direction = np.median(pixels[core], axis=0) - background
    contrast = float(np.dot(direction, direction))
    if contrast <= 0:
        return rough, rough.astype(np.float64)
    coverage = (pixels - background) @ direction / contrast
    # the half-coverage line of a soft edge is where the true outline runs
    refined = _largest_component((coverage > 0.5) & (distance > MIN_THRESHOLD * 0.5))
    if refined.sum() < MIN_OBJECT_PIXELS:
        refined = rough
    mask = _fill_holes(_largest_component(_prune(refined)))
    if mask.sum() < MIN_OBJECT_PIXELS:
        return nothing
    return mask, coverage


def object_mask(pixels: np.ndarray, background: np.ndarray) -> np.ndarray:
    """The mask of the largest object in an (H, W, 3) float image on a `background` colour."""
    return segment(pixels, background)[0]


def analyze(image: Image.Image) -> Analysis:
    """Read the background colour, object colour and object shape from a picture.

    The image is reduced to 64x64 RGB first. Returns an `Analysis` with `shape`/`colour` None
    when no object stands out from the background.
    """
    pixels = _to_array(image)
    frame = np.concatenate(
        [
            pixels[:BORDER].reshape(-1, 3),
            pixels[-BORDER:].reshape(-1, 3),
            pixels[BORDER:-BORDER, :BORDER].reshape(-1, 3),
            pixels[BORDER:-BORDER, -BORDER:].reshape(-1, 3),
        ]
    )
    background = np.median(frame, axis=0)
    background_name = nearest_colour(background)
    mask, coverage = segment(pixels, background)
    area = int(mask.sum())
    if area < MIN_OBJECT_PIXELS:
        return Analysis(background_name, None, None, 0.0)
    inner = _erode(mask)
    core = inner if inner.sum() >= MIN_OBJECT_PIXELS else mask
    colour = nearest_colour(np.median(pixels[core], axis=0))
    shape = classify_shape(mask, coverage)
    if shape_fit(mask, shape) < MIN_FIT:
        # a blob (noise, a mangled shape) that matches no shape
        return Analysis(background_name, colour, None, area / mask.size)
    return Analysis(background_name, colour, shape, area / mask.size)


# -- validation on ground truth -------------------------------------------------------------------


def score_samples(
    samples: list[Sample], transform: Callable[[Image.Image], Image.Image] | None = None
) -> dict[str, float]:
    """The share of single-shape `samples` whose background, colour and shape `analyze` reads
    right; `transform` (optional) alters each render first, e.g. to add noise."""
    hits = {"background": 0, "colour": 0, "shape": 0}
    for sample in samples:
        image = sample.render()
        if transform is not None:
            image = transform(image)
        result = analyze(image)
        spec = sample.shapes[0]
        hits["background"] += result.background == sample.background
        hits["colour"] += result.colour == spec.colour
        hits["shape"] += result.shape == spec.shape
    return {key: value / len(samples) for key, value in hits.items()}


def ground_truth_samples(n: int = 1000, seed: int = 0) -> list[Sample]:
    """`n` single-shape dataset samples (all sizes and positions, seen and held-out triples),
    followed by every plain `single_shape_sample(colour, shape, background)` with colour !=
    background."""
    rng = random.Random(seed)
    samples = [random_sample(rng, held_out=rng.random() < 0.1, two_shapes=0.0) for _ in range(n)]
    samples += [
        single_shape_sample(colour, shape, background)
        for colour in COLOURS
        for shape in SHAPES
        for background in COLOURS
        if colour != background
    ]
    return samples


def validate(n: int = 1000, seed: int = 0) -> dict[str, float]:
    """The analyzer's accuracy on ground-truth renders, per attribute (0..1).

    Scores `n` random single-shape samples (seeded by `seed`) plus every plain single-shape
    prompt combination, and returns {"background": ..., "colour": ..., "shape": ...}.
    """
    return score_samples(ground_truth_samples(n, seed))
