"""The pictures of an inpaint or outpaint job: the mask read and checked, the canvas extended,
the masked part filled, the crop of "only masked", and the composite that keeps every pixel
outside the (blurred) mask exactly as it was.

Pure Pillow and NumPy: the engine (core.generation.engine) hands the work picture and mask to
diffusers' inpainting pipeline and gives the pipeline's output to `InpaintPlan.composite`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from imagestudio.core.errors import ImageError
from imagestudio.core.images import load_rgb
from imagestudio.core.requests import InpaintRequest

EMPTY_MASK = "The mask is empty: paint the part to repaint."
OUTPAINT_BAND = 32  # pixels of the old picture the outpaint mask overlaps, feathered
ASPECT_TOLERANCE = 0.01  # a mask of another size this close in shape is resized


@dataclass
class InpaintPlan:
    """What one inpaint job works on, and how its output goes back into the picture."""

    picture: Image.Image  # RGB, the full (extended) picture: what the result keeps
    mask: Image.Image  # L, picture-sized, blurred: 255 repaints, 0 keeps
    box: tuple[int, int, int, int]  # the part the model sees (left, top, right, bottom)
    size: tuple[int, int]  # the model's working size (multiples of 8)
    work_image: Image.Image  # the box's pixels at `size`, masked part filled
    work_mask: Image.Image  # the box's mask at `size`
    notices: list[str] = field(default_factory=list)

    def composite(self, output: Image.Image) -> Image.Image:
        """The model's `output` (at `size`) pasted back into the picture through the mask:
        outside the blurred mask the picture's pixels are kept exactly."""
        left, top, right, bottom = self.box
        region = output.convert("RGB").resize(
            (right - left, bottom - top), Image.Resampling.LANCZOS
        )
        painted = self.picture.copy()
        painted.paste(region, (left, top))
        return Image.composite(painted, self.picture, self.mask)

    def composite_preview(self, preview: np.ndarray, count: int) -> np.ndarray:
        """A step preview (the latents' colours, `count` images side by side, each at the working
        size / 8) shown in the picture: the same paste, small."""
        height, total_width = preview.shape[:2]
        tile = total_width // max(1, count)
        scale = height / self.size[1]  # preview pixels per working pixel
        width_small = max(1, round(self.picture.width * scale * self.size[0] / self._box_w))
        height_small = max(1, round(self.picture.height * scale * self.size[1] / self._box_h))
        small = self.picture.resize((width_small, height_small), Image.Resampling.BILINEAR)
        mask = self.mask.resize(small.size, Image.Resampling.BILINEAR)
        fx, fy = width_small / self.picture.width, height_small / self.picture.height
        left, top, right, bottom = self.box
        place = (round(left * fx), round(top * fy))
        region_size = (max(1, round((right - left) * fx)), max(1, round((bottom - top) * fy)))
        tiles = []
        for index in range(max(1, count)):
            piece = Image.fromarray(preview[:, index * tile : (index + 1) * tile])
            painted = small.copy()
            painted.paste(piece.resize(region_size, Image.Resampling.BILINEAR), place)
            tiles.append(np.asarray(Image.composite(painted, small, mask)))
        return np.concatenate(tiles, axis=1)

    @property
    def _box_w(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def _box_h(self) -> int:
        return self.box[3] - self.box[1]


def read_mask(path: str, size: tuple[int, int], notices: list[str]) -> Image.Image:
    """The mask in `path` as L (255 repaints) at `size`: white repaints; in a picture with
    transparency, alpha 0 repaints. Another size of the same shape is resized (with a notice);
    another shape, or a mask with nothing painted, is refused in a sentence."""
    loaded = load_rgb(path)
    if loaded.alpha is not None and _lowest(loaded.alpha) < 255:
        mask = Image.eval(loaded.alpha, lambda value: 255 - value)
    else:
        mask = loaded.image.convert("L")
    name = Path(path).name
    if mask.size != size:
        shape, wanted = mask.width / mask.height, size[0] / size[1]
        if abs(shape - wanted) > ASPECT_TOLERANCE * wanted:
            raise ImageError(
                f"The mask {name} is {mask.width}x{mask.height} but the picture is "
                f"{size[0]}x{size[1]}: a mask needs the picture's shape (its aspect ratio)."
            )
        notices.append(
            f"The mask is {mask.width}x{mask.height}; it was resized to the picture's "
            f"{size[0]}x{size[1]}."
        )
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    if _highest(mask) < 8:  # nothing painted (JPEG noise aside)
        raise ImageError(EMPTY_MASK)
    return mask


def _lowest(plane: Image.Image) -> int:
    return int(np.asarray(plane).min())


def _highest(plane: Image.Image) -> int:
    return int(np.asarray(plane).max())


def extend_canvas(
    picture: Image.Image, extend: tuple[int, int, int, int], seed: int
) -> tuple[Image.Image, Image.Image]:
    """The picture on a canvas bigger by `extend` (left, top, right, bottom), the new part
    filled from the edges (stretched, blurred) plus a little noise, and the mask of the new part
    with a band of the old picture (OUTPAINT_BAND px) on the extended sides."""
    left, top, right, bottom = extend
    array = np.asarray(picture, dtype=np.uint8)
    padded = np.pad(array, ((top, bottom), (left, right), (0, 0)), mode="edge")
    canvas = Image.fromarray(padded)
    # the stretched edge blurred in the new part only, so it reads as colour, not streaks
    blurred = canvas.filter(ImageFilter.GaussianBlur(radius=max(left, top, right, bottom) / 4))
    new = Image.new("L", canvas.size, 255)
    new.paste(0, (left, top, left + picture.width, top + picture.height))
    canvas = Image.composite(blurred, canvas, new)
    noise = np.random.default_rng(seed).normal(0, 12, padded.shape)
    noisy = np.clip(
        np.asarray(canvas, dtype=np.float32) + noise * (np.asarray(new)[..., None] > 0), 0, 255
    )
    canvas = Image.fromarray(noisy.astype(np.uint8))
    mask = Image.new("L", canvas.size, 255)
    band = OUTPAINT_BAND
    keep = (
        left + (band if left else 0),
        top + (band if top else 0),
        left + picture.width - (band if right else 0),
        top + picture.height - (band if bottom else 0),
    )
    if keep[0] < keep[2] and keep[1] < keep[3]:
        mask.paste(0, keep)
    return canvas, mask


def fill_masked(image: Image.Image, mask: Image.Image, how: str, seed: int) -> Image.Image:
    """The masked part (mask > 127) started from: the picture ("original"), the colour around it
    spread inward ("fill"), or noise ("noise")."""
    if how == "original":
        return image
    hard = mask.point(lambda value: 255 if value > 127 else 0)
    if how == "noise":
        rng = np.random.default_rng(seed)
        noise = rng.normal(127.5, 64, (image.height, image.width, 3)).clip(0, 255)
        return Image.composite(Image.fromarray(noise.astype(np.uint8)), image, hard)
    # "fill": each masked pixel takes the colour of the known pixels nearest to it (a push-pull
    # pyramid: averages of known pixels at coarser and coarser scales, filled back down)
    known = 1.0 - np.asarray(hard, dtype=np.float32) / 255.0
    pixels = np.asarray(image, dtype=np.float32)
    filled = _push_pull(pixels, known)
    smooth = Image.fromarray(filled.clip(0, 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(radius=4)
    )
    return Image.composite(smooth, image, hard)


def _push_pull(pixels: np.ndarray, known: np.ndarray) -> np.ndarray:
    """`pixels` (H x W x C) with the unknown ones (`known` 0) filled from the known ones."""
    height, width = known.shape
    if known.min() > 0.5 or max(height, width) <= 1:
        out = pixels.copy()
        if known.max() <= 0.5:  # nothing known at all: mid grey
            out[...] = 127.5
        return out
    # halve: the known pixels' mean over each 2x2 block (odd sides padded with zero weight)
    pad = ((0, height % 2), (0, width % 2))
    weight = np.pad(known, pad)
    values = np.pad(pixels * known[..., None], (*pad, (0, 0)))
    weight_half = weight.reshape(weight.shape[0] // 2, 2, weight.shape[1] // 2, 2).sum((1, 3))
    values_half = values.reshape(values.shape[0] // 2, 2, values.shape[1] // 2, 2, -1).sum((1, 3))
    coarse = values_half / np.maximum(weight_half, 1e-6)[..., None]
    coarse = _push_pull(coarse, (weight_half > 0).astype(np.float32))
    # back up: each unknown pixel takes its block's colour
    up = coarse.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    return np.where(known[..., None] > 0.5, pixels, up)


def masked_box(
    mask: Image.Image, padding: int, limit: tuple[int, int], max_ratio: float = 2.0
) -> tuple[int, int, int, int]:
    """The box around the mask's painted part, `padding` wider each way, its short side grown
    (about its centre) so it is at most `max_ratio` : 1, kept inside the picture (`limit`)."""
    bbox = mask.point(lambda value: 255 if value > 0 else 0).getbbox()
    if bbox is None:
        raise ImageError(EMPTY_MASK)
    left, top, right, bottom = bbox
    left, top = max(0, left - padding), max(0, top - padding)
    right, bottom = min(limit[0], right + padding), min(limit[1], bottom + padding)
    width, height = right - left, bottom - top
    width = min(limit[0], max(width, math.ceil(height / max_ratio)))
    height = min(limit[1], max(height, math.ceil(width / max_ratio)))
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    left = int(min(max(0, round(centre_x - width / 2)), limit[0] - width))
    top = int(min(max(0, round(centre_y - height / 2)), limit[1] - height))
    return left, top, left + width, top + height


def working_size(box_w: int, box_h: int, native: int) -> tuple[int, int]:
    """The model's size for a `box_w` x `box_h` crop: its shape at the model's native area."""
    aspect = box_w / box_h
    width = max(64, round(native * math.sqrt(aspect) / 8) * 8)
    height = max(64, round(native / math.sqrt(aspect) / 8) * 8)
    return width, height


def read_inputs(request: InpaintRequest, seed: int) -> tuple[Image.Image, Image.Image, list[str]]:
    """The (extended) picture and its mask, blurred, checked before any model loads."""
    assert request.init_image is not None
    notices: list[str] = []
    loaded = load_rgb(request.init_image)
    notices += loaded.notices
    picture = loaded.image
    if request.is_outpaint:
        picture, mask = extend_canvas(picture, request.extend, seed)
    else:
        assert request.mask is not None
        mask = read_mask(request.mask, picture.size, notices)
    if request.mask_blur:
        blurred = mask.filter(ImageFilter.GaussianBlur(radius=request.mask_blur))
        if request.is_outpaint:
            # the new part is repainted whole: the feather goes into the old picture only
            blurred = _keep_new_area(blurred, picture.size, request.extend)
        mask = blurred
    return picture, mask, notices


def plan_inpaint(
    request: InpaintRequest,
    picture: Image.Image,
    mask: Image.Image,
    native: int,
    seed: int,
    notices: list[str] | None = None,
) -> InpaintPlan:
    """Lay out the job: the part the model sees, at which size, started from what."""
    if request.area == "masked":
        # the crop's shape follows the mask (at most 2:1); the model works at its native area
        box = masked_box(mask, request.padding, picture.size)
        size = working_size(box[2] - box[0], box[3] - box[1], native)
    else:
        box = (0, 0, picture.width, picture.height)
        size = (max(8, picture.width // 8 * 8), max(8, picture.height // 8 * 8))
    crop = picture.crop(box)
    crop_mask = mask.crop(box)
    work_image = fill_masked(crop, crop_mask, request.fill, seed)
    if work_image.size != size:
        work_image = work_image.resize(size, Image.Resampling.LANCZOS)
    work_mask = crop_mask.resize(size, Image.Resampling.BILINEAR)
    return InpaintPlan(picture, mask, box, size, work_image, work_mask, list(notices or []))


def _keep_new_area(
    mask: Image.Image, size: tuple[int, int], extend: tuple[int, ...]
) -> Image.Image:
    """`mask` with the whole new part of an outpainted canvas fully white again."""
    left, top, right, bottom = extend
    out = mask.copy()
    width, height = size
    for box in (
        (0, 0, left, height),
        (0, 0, width, top),
        (width - right, 0, width, height),
        (0, height - bottom, width, height),
    ):
        if box[2] > box[0] and box[3] > box[1]:
            out.paste(255, box)
    return out
