"""Picture sizes that suit a model: presets around its native size, and a sentence when a size
is far from it.

A diffusion model draws well near the size it was trained at (SD 1.5: 512, SD 2: 768, SDXL: 1024,
the built-in starter: 64). Far above it, the picture fills with repeated, tiled shapes (two heads,
a wallpaper of objects) and the job takes much longer; far below, it falls apart.
"""

from __future__ import annotations

import math

__all__ = ["size_presets", "size_warning"]

# Portrait shapes offered beside the square, each also as landscape.
_ASPECTS = ((2, 3, "Portrait 2:3"), (3, 4, "Portrait 3:4"), (9, 16, "Tall 9:16"))
# Beyond these factors of the native side (by area), a size is "far" from it.
_TOO_LARGE = 1.5
_TOO_SMALL = 0.6


def _round(value: float, step: int) -> int:
    return max(step, round(value / step) * step)


# The sizes artists use with the common families (SD 1.5's 2:3 is 512x768; SDXL's are the
# buckets it was trained on); other native sizes get shapes of about the native area.
# While a model's native size is not known (a folder picked by hand, a missing model): the
# common families' sizes side by side.
_ANY_MODEL: tuple[tuple[int, int, str], ...] = (
    (512, 512, "Square; the native size of Stable Diffusion 1.5 models"),
    (768, 768, "Square; the native size of Stable Diffusion 2 (768) models"),
    (1024, 1024, "Square; the native size of SDXL models"),
    (512, 768, "Portrait for SD 1.5 models"),
    (768, 512, "Landscape for SD 1.5 models"),
    (832, 1216, "Portrait for SDXL models"),
    (1216, 832, "Landscape for SDXL models"),
)
_CURATED: dict[int, tuple[tuple[int, int, str], ...]] = {
    512: (
        (512, 512, "Square, the model's native size"),
        (512, 768, "Portrait 2:3"),
        (768, 512, "Landscape 2:3"),
        (512, 640, "Portrait 4:5"),
        (640, 512, "Landscape 5:4"),
    ),
    1024: (
        (1024, 1024, "Square, the model's native size"),
        (832, 1216, "Portrait 2:3"),
        (1216, 832, "Landscape 3:2"),
        (896, 1152, "Portrait 3:4"),
        (1152, 896, "Landscape 4:3"),
        (768, 1344, "Tall 9:16"),
        (1344, 768, "Wide 16:9"),
    ),
}


def size_presets(native: int | None) -> list[tuple[int, int, str]]:
    """(width, height, label) presets for a model of native side `native`: the square, then
    portrait and landscape shapes, as artists use them for SD 1.5 and SDXL, and of about the
    native area otherwise (multiples of 8; of 64 from 512 up). Without a native size, the
    common families' sizes."""
    if not native:
        return list(_ANY_MODEL)
    if native in _CURATED:
        return list(_CURATED[native])
    step = 64 if native >= 512 else 8
    presets = [(native, native, "Square, the model's native size")]
    for short, long, label in _ASPECTS:
        scale = math.sqrt(native * native / (short * long))
        width, height = _round(short * scale, step), _round(long * scale, step)
        if (width, height) not in [(w, h) for w, h, _ in presets]:
            presets.append((width, height, label))
            presets.append(
                (height, width, label.replace("Portrait", "Landscape").replace("Tall", "Wide"))
            )
    return presets


def size_warning(width: int, height: int, native: int | None) -> str | None:
    """A sentence when `width` x `height` is far from a model's native `native` x `native`
    (None when it is near, or the native size is not known)."""
    if not native or width <= 0 or height <= 0:
        return None
    factor = math.sqrt(width * height) / native
    if factor > _TOO_LARGE:
        return (
            f"{width}×{height} is far larger than this model's native {native}×{native}: "
            "expect repeated, tiled shapes (doubled subjects, a wallpaper of objects) and a "
            f"{factor * factor:.0f}× slower job. Pick a size near {native}×{native} and upscale "
            "afterwards."
        )
    if factor < _TOO_SMALL:
        return (
            f"{width}×{height} is far smaller than this model's native {native}×{native}: "
            "expect a blurred, broken picture. Pick a size near the native one."
        )
    return None
