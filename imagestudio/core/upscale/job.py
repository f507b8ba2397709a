"""The upscale job kind: its engine (the last upscaler loaded, kept), slot and engine function.

A job: read the picture (any format the app reads; alpha kept apart), run the network at its
own factor in tiles as many times as the factor needs, then a Lanczos resize to the exact size.
The result keeps the source picture's settings and adds A1111's ``Postprocess upscale by`` and
``Postprocess upscaler``.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from imagestudio.core.callbacks import CancelCheck, JobContext, NoticeCallback, StepCallback
from imagestudio.core.devices import available_memory, pick_device, release_memory
from imagestudio.core.errors import ImageError, InvalidRequest, OutOfMemory
from imagestudio.core.images import load_rgb
from imagestudio.core.outcomes import Picture, Product
from imagestudio.core.outputs.chunks import (
    IMAGESTUDIO_KEY,
    PARAMETERS_KEY,
    json_chunk,
    text_chunk,
    text_chunks,
)
from imagestudio.core.requests import UpscaleRequest
from imagestudio.core.upscale.loading import LANCZOS, Upscaler, load_upscaler, resolve_upscaler
from imagestudio.core.upscale.tiles import (
    MIN_TILE,
    TileOutOfMemory,
    choose_tile,
    network_runner,
    plan_tiles,
    upscale_tensor,
)
from imagestudio.core.upscalernames import a1111_upscaler
from imagestudio.core.workspace import EngineConfig, EngineSlot, Workspace

MAX_OUTPUT_PIXELS = 16384 * 16384  # 268 Mpx: 3 GB as float32 while blending
POSTPROCESS_KEY = "postprocessing"  # A1111's chunk for an upscaled picture without settings


@dataclass
class UpscaleResult:
    image: Image.Image
    request: UpscaleRequest
    upscaler: str  # as written in the picture
    device: str
    seconds: float
    notices: list[str] = field(default_factory=list)


class UpscaleEngine:
    """Keeps the last upscaler loaded; runs one request at a time."""

    def __init__(self, models_dir: Path, device_setting: str | None = None) -> None:
        self.models_dir = Path(models_dir)
        self._device_setting = device_setting
        self._device: Any = None
        self._loaded: Upscaler | None = None
        self._lock = threading.Lock()

    @property
    def device(self) -> Any:
        if self._device is None:
            self._device = pick_device(self._device_setting, None)
        return self._device

    def unload(self) -> None:
        with self._lock:
            if self._loaded is not None:
                self._loaded = None
                release_memory(self.device)

    def _upscaler(self, name: str) -> Upscaler:
        found = resolve_upscaler(name, self.models_dir)
        if self._loaded is None or self._loaded.path != found.path:
            self._loaded = None  # the old network goes before the new one loads
            self._loaded = load_upscaler(found.path, self.device.torch_device, name=found.name)
        return self._loaded

    def upscale(
        self,
        request: UpscaleRequest,
        on_step: StepCallback | None = None,
        is_cancelled: CancelCheck | None = None,
        on_notice: NoticeCallback | None = None,
    ) -> UpscaleResult:
        with self._lock:
            started = time.perf_counter()
            loaded = load_rgb(request.image)
            rgb, alpha = loaded.image, loaded.alpha
            width, height = rgb.size
            if width < 2 or height < 2:
                raise ImageError(
                    f"{Path(request.image).name} is {width}x{height}: too small to upscale."
                )
            target = (round(width * request.scale), round(height * request.scale))
            if target[0] * target[1] > MAX_OUTPUT_PIXELS:
                raise InvalidRequest(
                    f"×{request.scale:g} would make {target[0]}x{target[1]} pixels, more than "
                    f"{MAX_OUTPUT_PIXELS // 1_000_000} megapixels; choose a smaller factor."
                )
            notices: list[str] = list(loaded.notices)
            image, name, device = self._enlarge(
                rgb, target, request.upscaler, request.tile, on_step, is_cancelled
            )
            if alpha is not None:
                # alpha apart, resized with Lanczos: soft edges stay soft, hard ones stay clean
                image = image.convert("RGBA")
                image.putalpha(alpha.resize(target, Image.Resampling.LANCZOS))
            for text in notices:
                if on_notice:
                    on_notice(text)
            return UpscaleResult(
                image, request, name, device, time.perf_counter() - started, notices
            )

    def enlarge(
        self,
        image: Image.Image,
        target: tuple[int, int],
        upscaler: str,
        on_step: StepCallback | None = None,
        is_cancelled: CancelCheck | None = None,
    ) -> tuple[Image.Image, str]:
        """`image` (RGB) at exactly `target` by `upscaler` (a name, a file or "lanczos"), tiles
        sized from free memory; returns it with the upscaler's name as pictures record it. For
        other jobs (hires fix); `on_step` counts tiles."""
        with self._lock:
            enlarged, name, _device = self._enlarge(
                image, target, upscaler, None, on_step, is_cancelled
            )
            return enlarged, name

    def _enlarge(
        self,
        rgb: Image.Image,
        target: tuple[int, int],
        upscaler_name: str,
        tile: int | None,
        on_step: StepCallback | None,
        is_cancelled: CancelCheck | None,
    ) -> tuple[Image.Image, str, str]:
        """(the picture at `target`, the upscaler's name, the device it ran on)."""
        if upscaler_name.lower() == LANCZOS:
            if on_step is not None:
                on_step(1, 1, None)
            return rgb.resize(target, Image.Resampling.LANCZOS), "Lanczos", "CPU"
        upscaler = self._upscaler(upscaler_name)
        factor = max(target[0] / rgb.width, target[1] / rgb.height)
        image = self._run_network(upscaler, rgb, factor, tile, on_step, is_cancelled)
        if image.size != target:
            image = image.resize(target, Image.Resampling.LANCZOS)
        return image, upscaler.name, self.device.describe()

    def _run_network(
        self,
        upscaler: Upscaler,
        rgb: Image.Image,
        factor: float,
        tile: int | None,
        on_step: StepCallback | None,
        is_cancelled: CancelCheck | None,
    ) -> Image.Image:
        import numpy as np
        import torch

        device = self.device
        passes = max(1, math.ceil(math.log(factor) / math.log(upscaler.scale) - 1e-9))
        tile = tile or choose_tile(
            device.torch_device,
            available_memory(device.device_type, device.index),
            upscaler.scale,
            upscaler.architecture,
        )
        run = network_runner(upscaler.model, upscaler.dtype)
        current = rgb

        def tiles_before(number: int) -> tuple[int, int]:
            """(tiles in the passes before `number`, tiles in all), at the present tile size."""
            counts = [
                plan_tiles(
                    rgb.width * upscaler.scale**k, rgb.height * upscaler.scale**k, tile
                ).count
                for k in range(passes)
            ]
            return sum(counts[:number]), sum(counts)

        for number in range(passes):
            while True:
                array = np.asarray(current, dtype=np.float32) / 255.0
                tensor = torch.from_numpy(array).permute(2, 0, 1)[None]
                tensor = tensor.to(device.torch_device, upscaler.dtype)
                plan = plan_tiles(current.width, current.height, tile)
                before, total = tiles_before(number)

                def on_tile(
                    done: int, count: int, before: int = before, total: int = total
                ) -> None:
                    if on_step is not None:
                        on_step(before + done, total, None)

                try:
                    out = upscale_tensor(run, tensor, upscaler.scale, plan, on_tile, is_cancelled)
                    break
                except TileOutOfMemory as exc:
                    release_memory(device)
                    if tile // 2 < MIN_TILE:
                        raise OutOfMemory(
                            f"Even {MIN_TILE}-pixel tiles do not fit in the memory of the "
                            f"{device.device_type.upper()}; close other programs or use the CPU."
                        ) from exc
                    tile //= 2
            pixels = out.permute(1, 2, 0).mul(255).round().byte().numpy()
            current = Image.fromarray(pixels)
            del out
        return current


def _engine_key(config: EngineConfig) -> tuple[object, ...]:
    return (config.models_dir, config.device)


#: The upscale engine: the last upscaler loaded, kept across jobs.
UPSCALE = EngineSlot(
    "upscale",
    _engine_key,
    lambda config: UpscaleEngine(config.models_dir, config.device),
    UpscaleEngine.unload,
)


def _source_settings(path: str) -> tuple[str | None, dict[str, Any] | None, dict[str, str]]:
    """The source picture's A1111 text, our JSON request, and its ComfyUI graphs, read as the
    metadata readers read them (chunks after the image data too, size limits, mojibake)."""
    with contextlib.suppress(Exception), Image.open(path) as opened:
        chunks = text_chunks(opened)
        request = json_chunk(chunks, IMAGESTUDIO_KEY)
        graphs = {key: text_chunk(chunks, key) for key in ("prompt", "workflow")}
        return (
            text_chunk(chunks, PARAMETERS_KEY),
            request if isinstance(request, dict) else None,
            {key: value for key, value in graphs.items() if value},
        )
    return None, None, {}


def product_of(result: UpscaleResult) -> Product:
    request = result.request
    postprocess = {
        "Postprocess upscale by": f"{request.scale:g}",
        "Postprocess upscaler": a1111_upscaler(result.upscaler),
    }
    extra = ", ".join(f"{key}: {value}" for key, value in postprocess.items())
    text, source_request, chunks = _source_settings(request.image)
    if text:
        parameters, key = f"{text.rstrip()}, {extra}", PARAMETERS_KEY
    else:
        parameters, key = extra, POSTPROCESS_KEY
    settings: dict[str, Any] = dict(source_request) if source_request else request.to_dict()
    settings["postprocess"] = {"upscaler": result.upscaler, "upscale_by": float(request.scale)}
    width, height = result.image.size
    picture = Picture(
        image=result.image,
        parameters=parameters,
        settings=settings,
        name=f"{Path(request.image).stem} x{request.scale:g}",
        text_key=key,
        chunks=chunks,
    )
    return Product(
        pictures=[picture],
        request=request,
        width=width,
        height=height,
        summary=f"{width}x{height}, ×{request.scale:g} with {result.upscaler}",
        model=result.upscaler,
        device=result.device,
    )


def run_upscale(request: UpscaleRequest, workspace: Workspace, context: JobContext) -> Product:
    """Upscale the picture of `request` on the workspace's upscale engine."""
    engine = workspace.engine(UPSCALE)
    result = engine.upscale(request, context.on_step, context.is_cancelled, context.status)
    context.notices.extend(result.notices)
    return product_of(result)
