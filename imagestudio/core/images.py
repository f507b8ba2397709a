"""Reading input pictures (img2img, style transfer) the way an artist's files actually come.

Phones write EXIF-rotated JPEGs, painting apps write 16-bit or CMYK files and PNGs with alpha,
scanners write greyscale. Every one of them becomes a plain 8-bit RGB image here, upright, with
transparent parts laid over white (what the picture looks like in a viewer), and a picture too big
to work with is scaled down with a notice instead of an out-of-memory error later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from PIL import Image, ImageOps, UnidentifiedImageError

from imagestudio.core.errors import ImageError

# Pillow's own bomb guard stays on; this is the app's working limit. 64 Mpx is a 8192x8192
# picture: far more than any job uses, so a bigger one is scaled down on reading.
MAX_PIXELS = 64 * 1024 * 1024
READABLE = "PNG, JPEG, WebP, BMP or TIFF"


@dataclass
class LoadedImage:
    """An RGB picture read from a file, and what was done to it on the way."""

    image: Image.Image
    source_size: tuple[int, int]
    notices: list[str] = field(default_factory=list)
    # the picture's transparency (mode "L", the size of `image`), when it has any; `image`
    # itself is laid over white
    alpha: Image.Image | None = None


def _to_8bit_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; alpha is laid over white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit (and 32-bit integer) greyscale: Pillow's convert("L") clips at 255 instead of
        # scaling, which turns a normal 16-bit scan white. Scale by the range the file can hold.
        extrema: Any = image.getextrema()
        peak = 65535 if image.mode.startswith("I;16") else max(1, extrema[1])
        image = image.point(lambda value: value * (255 / peak)).convert("L")
    elif image.mode == "F":
        low, high = cast(tuple[float, float], image.getextrema())
        scale = 255 / (high - low) if high > low else 0
        image = image.point(lambda value: (value - low) * scale).convert("L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "La", "PA"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "RGBa"):
        backdrop = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(backdrop, image.convert("RGBA")).convert("RGB")
    # CMYK, YCbCr, LAB, L, 1 and RGB: Pillow's conversions are right for these
    return image.convert("RGB")


def _alpha(image: Image.Image) -> Image.Image | None:
    """The alpha channel of a picture that has one and uses it (not all opaque), else None."""
    if image.mode not in ("RGBA", "RGBa", "LA", "La", "PA") and not (
        image.mode == "P" and "transparency" in image.info
    ):
        return None
    alpha = image.convert("RGBA").getchannel("A")
    return None if alpha.getextrema() == (255, 255) else alpha


def load_rgb(path: str | os.PathLike[str], max_side: int | None = None) -> LoadedImage:
    """Open a picture as upright 8-bit RGB, or raise ImageError with a sentence about the file.

    `max_side` scales the picture down (never up) so its long side fits, with a notice.
    """
    path = Path(path)
    name = path.name
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image; choose a {READABLE} file.")
    if path.exists() and not path.is_file():
        raise ImageError(f"{path} is not a regular file; choose a {READABLE} file.")
    try:
        with Image.open(path) as opened:
            source_size = opened.size
            limit = max_side or 0
            if opened.width * opened.height > MAX_PIXELS:
                limit = min(limit or 8192, 8192)
            if limit and opened.format == "JPEG":
                # JPEG can decode at 1/2, 1/4, 1/8 size directly: a 100 Mpx photo never lands
                # in memory whole.
                opened.draft("RGB", (limit, limit))
            opened.load()
            image = ImageOps.exif_transpose(opened)
            alpha = _alpha(image)
            image = _to_8bit_rgb(image)
    except FileNotFoundError as exc:
        raise ImageError(f"The image {path} does not exist (moved or deleted?).") from exc
    except PermissionError as exc:
        raise ImageError(
            f"ImageStudio is not allowed to read {name}; check its permissions."
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"{name} is not an image ImageStudio can read; use a {READABLE} file."
        ) from exc
    except Image.DecompressionBombError as exc:
        # Pillow refuses before it tells the size, so the limit is what can be said
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0) // 1_000_000
        raise ImageError(
            f"{name} is too large to open safely (over {limit} megapixels); scale it down in an "
            "image editor first."
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        detail = str(exc).strip().rstrip(".") or type(exc).__name__
        raise ImageError(f"{name} could not be read as an image ({detail}).") from exc

    loaded = LoadedImage(image, source_size, alpha=alpha)
    if limit and max(image.size) > limit:
        scale = limit / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        loaded.image = image.resize(size, Image.Resampling.LANCZOS)
        if alpha is not None:
            loaded.alpha = alpha.resize(size, Image.Resampling.LANCZOS)
    if loaded.image.size != source_size and max(source_size) > (limit or 0) > 0:
        width, height = loaded.image.size
        loaded.notices.append(
            f"{name} is {source_size[0]}x{source_size[1]}; it was scaled to {width}x{height}."
        )
    return loaded
