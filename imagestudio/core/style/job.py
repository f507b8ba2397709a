"""The style-transfer job kind: its engine (the style networks, loaded on first use and kept),
its engine slot and its engine function for `core.jobs`."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from imagestudio import __version__
from imagestudio.core.callbacks import CancelCheck, JobContext, NoticeCallback, StepCallback
from imagestudio.core.errors import JobCancelled
from imagestudio.core.images import load_rgb
from imagestudio.core.outcomes import Picture, Product
from imagestudio.core.outputs.metadata import STYLE_TEXT_KEY
from imagestudio.core.requests import StyleRequest
from imagestudio.core.workspace import EngineConfig, EngineSlot, Workspace

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
        from imagestudio.core.devices import pick_device

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
            settings = QualitySettings(**request.knobs())
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


def parameters_text(result: StyleResult) -> str:
    """A readable line of a style job's settings (the PNG's ``parameters`` chunk)."""
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
    return (
        f"{request.describe()}\n"
        f"Mode: {request.mode}, {knobs}, Preserve colors: {colours}, "
        f"Size: {width}x{height}, Version: ImageStudio {__version__}"
    )


def _engine_key(config: EngineConfig) -> tuple[object, ...]:
    return (config.device, config.style_vgg_weights)


def _build(config: EngineConfig) -> StyleEngine:
    return StyleEngine(device_setting=config.device, vgg_weights=config.style_vgg_weights)


#: The style networks: the fast mode's ONNX sessions and the quality mode's VGG, kept.
STYLE = EngineSlot("style", _engine_key, _build)


def run_style(request: StyleRequest, workspace: Workspace, context: JobContext) -> Product:
    """Stylise the content picture of `request` on the workspace's style engine. A cancelled
    quality job hands its picture so far on with the cancel, as a Product to keep or not."""
    engine = workspace.engine(STYLE)
    try:
        result = engine.run(request, context.on_step, context.is_cancelled, context.notice)
    except JobCancelled as cancelled:
        if not isinstance(cancelled.partial, Image.Image):
            raise
        partial = StyleResult(cancelled.partial, request, engine.device_name(), [], 0.0)
        raise JobCancelled(str(cancelled), partial=_product(partial, str(cancelled))) from None
    return _product(result)


def _product(result: StyleResult, stopped: str = "") -> Product:
    request = result.request
    width, height = result.image.size
    content, style = Path(request.content_image).stem, Path(request.style_image).stem
    parameters = parameters_text(result)
    if stopped:
        parameters += f", Partial: {stopped}"
    picture = Picture(
        image=result.image,
        parameters=parameters,
        text_key=STYLE_TEXT_KEY,
        settings=request.to_dict(),
        name=f"style {content} {style}{' partial' if stopped else ''}",
        seed=request.seed,
    )
    summary = f"{width}x{height}, {request.mode} mode"
    return Product(
        pictures=[picture],
        request=request,
        width=width,
        height=height,
        summary=f"{summary}, partial: {stopped}" if stopped else summary,
        device=result.device,
    )
