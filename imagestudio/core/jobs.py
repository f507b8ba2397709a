"""One job end to end: generate, write the PNGs with their settings, record the job in history.

The CLI and the window both call `run_job`, so a job leaves the same traces whoever started it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from imagestudio import __version__
from imagestudio.core.errors import ImageStudioError, JobCancelled
from imagestudio.core.generation.engine import (
    CancelCheck,
    Engine,
    GenerationResult,
    NoticeCallback,
    StepCallback,
)
from imagestudio.core.outputs.history import HistoryStore, JobRecord
from imagestudio.core.outputs.metadata import ImageSettings, png_text_chunks
from imagestudio.core.outputs.storage import output_name, save_png_exact, save_png_unique
from imagestudio.core.requests import GenerationRequest

log = logging.getLogger(__name__)


@dataclass
class JobOutcome:
    """How a job ended. Failed jobs raise instead (after being recorded)."""

    status: str  # "done" | "cancelled"
    message: str
    files: list[Path] = field(default_factory=list)
    result: GenerationResult | None = None
    history_id: int | None = None
    duration: float = 0.0


def image_settings(result: GenerationResult, index: int) -> ImageSettings:
    """The A1111-style settings of image `index` of a result."""
    request = result.request
    return ImageSettings(
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        steps=request.steps,
        sampler=result.scheduler,
        cfg_scale=float(request.guidance),
        seed=result.seeds[index],
        width=result.width,
        height=result.height,
        model=result.model_name,
        denoising_strength=float(request.strength) if request.is_img2img else None,
        extra={"Version": f"ImageStudio {__version__}"},
        source="imagestudio",
    )


def request_json(result: GenerationResult, index: int) -> dict:
    """The whole request for image `index`, with its own seed: re-running it gives this image."""
    data = result.used_request().replace(seed=result.seeds[index], count=1).to_dict()
    data["model_family"] = result.family
    data["app"] = f"ImageStudio {__version__}"
    return data


def save_result(
    result: GenerationResult, folder: Path, exact_files: list[Path] | None = None
) -> list[Path]:
    """Write every image of `result` atomically; never overwrite an existing file."""
    written: list[Path] = []
    when = time.time()
    for index, image in enumerate(result.images):
        info = png_text_chunks(image_settings(result, index), request_json(result, index))
        if exact_files is not None:
            written.append(save_png_exact(image, exact_files[index], info))
        else:
            name = output_name(result.request.prompt, result.seeds[index], when)
            written.append(save_png_unique(image, folder, name, info))
    return written


def _record(
    history: HistoryStore | None, request: GenerationRequest, **fields: object
) -> int | None:
    if history is None:
        return None
    try:
        return history.record(
            JobRecord(
                prompt=request.prompt,
                negative_prompt=request.negative_prompt,
                model=request.model,
                width=request.width,
                height=request.height,
                steps=request.steps,
                guidance=float(request.guidance),
                scheduler=request.scheduler,
                seed=request.seed,
                count=request.count,
                init_image=request.init_image,
                strength=float(request.strength) if request.is_img2img else None,
                request=request.to_dict(),
                **fields,  # type: ignore[arg-type]
            )
        )
    except ImageStudioError:
        # Losing a history row must not lose the images the user just made.
        log.exception("could not record the job in history")
        return None


def run_job(
    request: GenerationRequest,
    engine: Engine,
    history: HistoryStore | None,
    outputs_dir: Path,
    *,
    exact_files: list[Path] | None = None,
    on_step: StepCallback | None = None,
    is_cancelled: CancelCheck | None = None,
    on_notice: NoticeCallback | None = None,
    previews: bool = True,
) -> JobOutcome:
    """Generate, save and record one request.

    A cancelled job returns an outcome; a failed one is recorded, then its error is raised.
    """
    started = time.perf_counter()
    try:
        result = engine.generate(request, on_step, is_cancelled, on_notice, previews)
        files = save_result(result, outputs_dir, exact_files)
    except JobCancelled as exc:
        duration = time.perf_counter() - started
        job_id = _record(history, request, status="cancelled", message=str(exc), duration=duration)
        return JobOutcome("cancelled", str(exc), history_id=job_id, duration=duration)
    except ImageStudioError as exc:
        _record(
            history,
            request,
            status="failed",
            message=str(exc),
            duration=time.perf_counter() - started,
        )
        raise
    duration = time.perf_counter() - started
    used = result.used_request()
    job_id = _record(
        history,
        used,
        status="done",
        message=" ".join(result.warnings),
        outputs=tuple(str(path) for path in files),
        duration=duration,
    )
    return JobOutcome("done", "", files, result, job_id, duration)
