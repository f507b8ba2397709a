"""Running an upscaler over a picture in overlapping tiles, so any size fits in memory.

Neighbouring tiles share at least 2 x `overlap` pixels. In that band each tile's outer quarter
is dropped (those pixels saw the tile's padding, not the picture) and the middle half fades
from one tile to the other, so no seam shows: for a network that sees no further than
`overlap` / 2 pixels around a pixel, a tiled run equals an untiled one (tested); for deeper
ones the fade hides what differs. Progress is
reported per tile and cancel is checked between tiles. Out of memory, the caller halves the
tile and runs again (`upscale_tensor` raises `TileOutOfMemory`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagestudio.core.errors import JobCancelled

if TYPE_CHECKING:
    import torch

MIN_TILE = 32
DEFAULT_OVERLAP = 16


class TileOutOfMemory(Exception):
    """A tile did not fit; try a smaller one."""


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles of a `width` x `height` picture start (top-left corners)."""

    width: int
    height: int
    tile: int
    overlap: int
    xs: tuple[int, ...]
    ys: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.xs) * len(self.ys)


def plan_tiles(width: int, height: int, tile: int, overlap: int = DEFAULT_OVERLAP) -> TilePlan:
    """Tiles of `tile` px (the last of a row flush with the edge) that overlap by `overlap`."""
    if tile < MIN_TILE:
        raise ValueError(f"tiles must be at least {MIN_TILE} px")
    overlap = min(overlap, tile // 4)

    def starts(length: int) -> tuple[int, ...]:
        if length <= tile:
            return (0,)
        step = tile - 2 * overlap
        count = math.ceil((length - tile) / step) + 1
        return tuple(min(i * step, length - tile) for i in range(count))

    return TilePlan(width, height, tile, overlap, starts(width), starts(height))


def _ramp(length: int, shared: int, first: bool, last: bool) -> torch.Tensor:
    """Blend weights along one side of a tile's output, `shared` px shared with a neighbour.

    Of the shared band, the outer quarter is dropped (its pixels saw the tile's padding, not the
    picture), the middle half fades across, the inner quarter is the tile's own; the neighbour's
    weights mirror these, so the two always sum to 1.
    """
    import torch

    weights = torch.ones(length)
    quarter = shared // 4
    fade = shared - 2 * quarter
    if shared <= 0 or fade <= 0:
        return weights
    ramp = torch.linspace(0, 1, fade + 2)[1:-1]
    if not first:
        weights[:quarter] = 0
        weights[quarter : quarter + fade] = ramp
    if not last:
        weights[length - quarter :] = 0
        weights[length - quarter - fade : length - quarter] = ramp.flip(0)
    return weights


def upscale_tensor(
    run: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    scale: int,
    plan: TilePlan,
    on_tile: Callable[[int, int], None] | None = None,
    is_cancelled: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """`run` (the network, (1,3,h,w) -> (1,3,h*scale,w*scale)) over `image` (1,3,H,W, 0..1,
    on the network's device and dtype) tile by tile; the result is float32 on the CPU."""
    import torch

    _, channels, height, width = image.shape
    out = torch.zeros(channels, height * scale, width * scale)
    total = torch.zeros(1, height * scale, width * scale)
    count, done = plan.count, 0
    shared = 2 * plan.overlap * scale  # neighbours share at least this much (plan_tiles)
    for y in plan.ys:
        for x in plan.xs:
            if is_cancelled is not None and is_cancelled():
                raise JobCancelled(f"Cancelled after {done} of {count} tiles.")
            h, w = min(plan.tile, height - y), min(plan.tile, width - x)
            piece = image[:, :, y : y + h, x : x + w]
            try:
                with torch.no_grad():
                    result = run(piece)
            except (torch.OutOfMemoryError, MemoryError) as exc:
                raise TileOutOfMemory(str(exc)) from exc
            except RuntimeError as exc:
                if "out of memory" in str(exc).lower() or "allocate" in str(exc).lower():
                    raise TileOutOfMemory(str(exc)) from exc
                raise
            result = result[0].float().cpu()
            wy = _ramp(h * scale, shared, y == plan.ys[0], y == plan.ys[-1])
            wx = _ramp(w * scale, shared, x == plan.xs[0], x == plan.xs[-1])
            weight = wy[:, None] * wx[None, :]
            ys, xs = slice(y * scale, (y + h) * scale), slice(x * scale, (x + w) * scale)
            out[:, ys, xs] += result * weight
            total[:, ys, xs] += weight
            done += 1
            if on_tile is not None:
                on_tile(done, count)
    return (out / total.clamp_min(1e-8)).clamp(0, 1)


def choose_tile(device: str, free_bytes: int | None, scale: int, architecture: str) -> int:
    """A tile size (input px) that fits: from free memory on a GPU, a fixed safe size on CPU.

    Real-ESRGAN's RRDBNet keeps ~ 1.2 kB of activations per output pixel in float16 at its
    largest layer (64 channels at 4x, plus the concatenations inside a block); transformer
    upscalers (SwinIR, HAT, DAT) need several times more. Measured needs are far below these
    guesses; out of memory, the tile is halved anyway.
    """
    heavy = architecture.lower() in {"swinir", "hat", "dat", "swin2sr", "atd", "drct", "rgt"}
    if not str(device).startswith(("cuda", "mps")) or not free_bytes:
        return 192 if heavy else 256
    per_pixel = (6000 if heavy else 1200) * scale * scale
    side = int(math.sqrt(max(free_bytes * 0.5, 1) / per_pixel))
    return max(MIN_TILE, min(1024, side // 8 * 8))


def network_runner(model: Any, dtype: torch.dtype) -> Callable[[torch.Tensor], torch.Tensor]:
    """The network as a function of a (1,3,h,w) float tile; pads odd sizes the model needs."""
    import torch.nn.functional as F

    multiple = int(model.size_requirements.multiple_of or 1)
    minimum = int(model.size_requirements.minimum or 0)
    scale = int(model.scale)

    def run(piece: torch.Tensor) -> torch.Tensor:
        _, _, h, w = piece.shape
        target_h = max(minimum, math.ceil(h / multiple) * multiple)
        target_w = max(minimum, math.ceil(w / multiple) * multiple)
        if (target_h, target_w) != (h, w):
            piece = F.pad(piece, (0, target_w - w, 0, target_h - h), mode="replicate")
        result = model(piece.to(dtype))
        return result[:, :, : h * scale, : w * scale]

    return run
