"""A style-transfer job end to end: read the pictures, stylise, save the PNG, record the history.

The CLI's `stylize` and the window's style panel both call `run_style_job`, as generation jobs
go through `imagestudio.core.jobs.run_job`, so both leave the same traces.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from imagestudio import __version__
from imagestudio.core.errors import ImageStudioError, JobCancelled
from imagestudio.core.generation.engine import CancelCheck, NoticeCallback, StepCallback
from imagestudio.core.images import load_rgb
from imagestudio.core.outputs.history import HistoryStore, JobRecord
from imagestudio.core.outputs.metadata import IMAGESTUDIO_KEY, PARAMETERS_KEY, add_text_chunk
from imagestudio.core.outputs.storage import output_name, save_png_exact, save_png_unique
from imagestudio.core.style.requests import StyleRequest

log = logging.getLogger(__name__)


# Inputs larger than this are scaled down on reading (with a notice): the quality mode never
# works above 1024 px and the fast mode looks at the style at 256 px.
WORKING_SIDE = 2048


@dataclass
class StyleResult:
    """A finished style transfer."""

    image: Image.Image
    request: StyleRequest
    device: str
    notices: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class StyleOutcome:
    """How a style job ended. Failed jobs raise instead (after being recorded)."""

    status: str  # "done" | "cancelled"
    message: str
    file: Path | None = None
    result: StyleResult | None = None
    history_id: int | None = None
    duration: float = 0.0


def _preserve_colours(stylised: Image.Image, content: Image.Image) -> Image.Image:
    from imagestudio.core.style.quality import preserve_colors

    return preserve_colors(stylised, content)


class StyleEngine:
    """Owns the style networks (loaded on first use and kept) and runs one request at a time."""

    def __init__(
        self,
        device_setting: str | None = None,
        vgg_weights: Path | None = None,
        fast_model_dir: Path | None = None,
    ) -> None:
        self._device_setting = device_setting
        self._vgg_weights = vgg_weights
        self._fast_model_dir = fast_model_dir
        self._fast: Any = None
        self._lock = threading.Lock()

    def device_name(self) -> str:
        from imagestudio.core.generation.devices import pick_device

        return pick_device(self._device_setting, "fp32").torch_device

    def run(
        self,
        request: StyleRequest,
        on_step: StepCallback | None = None,
        is_cancelled: CancelCheck | None = None,
        on_notice: NoticeCallback | None = None,
    ) -> StyleResult:
        """Stylise. Raises JobCancelled once `is_cancelled` is true, ImageStudioError on failure."""
        with self._lock:
            return self._run(request, on_step, is_cancelled, on_notice)

    def _run(
        self,
        request: StyleRequest,
        on_step: StepCallback | None,
        is_cancelled: CancelCheck | None,
        on_notice: NoticeCallback | None,
    ) -> StyleResult:
        started = time.perf_counter()
        notices: list[str] = []

        def notice(text: str) -> None:
            notices.append(text)
            if on_notice is not None:
                on_notice(text)

        content = load_rgb(request.content_image, max_side=WORKING_SIDE)
        style = load_rgb(request.style_image, max_side=WORKING_SIDE)
        for text in content.notices + style.notices:
            notice(text)
        if is_cancelled is not None and is_cancelled():
            raise JobCancelled("Cancelled before the style transfer started.")
        if request.mode == "fast":
            device = "onnxruntime"
            image = self._fast_stylizer().stylize(
                content.image, style.image, strength=float(request.strength), size=request.size
            )
            if request.preserve_colors:
                image = _preserve_colours(image, content.image)
            if on_step is not None:
                import numpy as np

                on_step(1, 1, np.asarray(image))
        else:
            from imagestudio.core.style.quality import QualitySettings, stylize_quality

            device = self.device_name()
            settings = QualitySettings(
                content_weight=float(request.content_weight),
                style_weight=float(request.style_weight),
                tv_weight=float(request.tv_weight),
                iterations=request.iterations,
                size=request.size,
                preserve_colors=request.preserve_colors,
                init=request.init,
                seed=request.seed,
            )
            image = stylize_quality(
                content.image,
                style.image,
                settings,
                device=device,
                weights=self._vgg_weights,
                on_step=on_step,
                is_cancelled=is_cancelled,
            )
        return StyleResult(image, request, device, notices, time.perf_counter() - started)

    def _fast_stylizer(self) -> Any:
        if self._fast is None:
            from imagestudio.core.style.fast import FastStylizer

            self._fast = FastStylizer(self._fast_model_dir)
        return self._fast


def style_png_info(result: StyleResult) -> PngInfo:
    """PNG text chunks: a readable line of settings, and the request as JSON to re-run it."""
    request = result.request
    width, height = result.image.size
    if request.mode == "fast":
        knobs = f"Style strength: {request.strength:g}"
    else:
        knobs = (
            f"Content weight: {request.content_weight:g}, Style weight: {request.style_weight:g}, "
            f"TV weight: {request.tv_weight:g}, Iterations: {request.iterations}, "
            f"Start: {request.init}, Seed: {request.seed}"
        )
    colours = "yes" if request.preserve_colors else "no"
    text = (
        f"{request.describe()}\n"
        f"Mode: {request.mode}, {knobs}, Preserve colors: {colours}, "
        f"Size: {width}x{height}, Version: ImageStudio {__version__}"
    )
    data = {**request.to_dict(), "app": f"ImageStudio {__version__}"}
    info = PngInfo()
    add_text_chunk(info, PARAMETERS_KEY, text)
    add_text_chunk(info, IMAGESTUDIO_KEY, json.dumps(data, sort_keys=True, ensure_ascii=False))
    return info


def _record(history: HistoryStore | None, request: StyleRequest, **fields: Any) -> int | None:
    if history is None:
        return None
    try:
        return history.record(
            JobRecord(
                prompt=request.describe(),
                model=f"style transfer ({request.mode})",
                steps=request.iterations if request.mode == "quality" else None,
                seed=request.seed if request.mode == "quality" else None,
                init_image=request.content_image,
                strength=float(request.strength) if request.mode == "fast" else None,
                request=request.to_dict(),
                kind="style",
                **fields,
            )
        )
    except ImageStudioError:
        log.exception("could not record the style job in history")
        return None


def run_style_job(
    request: StyleRequest,
    engine: StyleEngine,
    history: HistoryStore | None,
    outputs_dir: Path,
    *,
    exact_file: Path | None = None,
    on_step: StepCallback | None = None,
    is_cancelled: CancelCheck | None = None,
    on_notice: NoticeCallback | None = None,
) -> StyleOutcome:
    """Stylise, save and record one request. Cancelled: an outcome; failed: recorded, raised."""
    started = time.perf_counter()
    try:
        result = engine.run(request, on_step, is_cancelled, on_notice)
        info = style_png_info(result)
        if exact_file is not None:
            file = save_png_exact(result.image, exact_file, info)
        else:
            stem = f"style {Path(request.content_image).stem} {Path(request.style_image).stem}"
            name = output_name(stem, request.seed, time.time())
            file = save_png_unique(result.image, outputs_dir, name, info)
    except JobCancelled as exc:
        duration = time.perf_counter() - started
        job_id = _record(history, request, status="cancelled", message=str(exc), duration=duration)
        return StyleOutcome("cancelled", str(exc), history_id=job_id, duration=duration)
    except ImageStudioError as exc:
        duration = time.perf_counter() - started
        _record(history, request, status="failed", message=str(exc), duration=duration)
        raise
    duration = time.perf_counter() - started
    width, height = result.image.size
    job_id = _record(
        history,
        request,
        status="done",
        message=" ".join(result.notices),
        width=width,
        height=height,
        outputs=(str(file),),
        duration=duration,
    )
    return StyleOutcome("done", "", file, result, job_id, duration)
