"""One job end to end, whatever its kind: run its engine, write the pictures, record the history.

`run_job` is the only code that writes output files and history rows; the CLI and the window's
worker both call it, so a job leaves the same traces whoever started it. A registry maps each job
kind to its engine function: adding a kind of job is a request type (core.requests), an engine
function returning a `Product`, and one entry in `ENGINES` below.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imagestudio import __version__
from imagestudio.core.callbacks import CancelCheck, JobContext, NoticeCallback, StepCallback
from imagestudio.core.errors import ImageError, ImageStudioError, JobCancelled
from imagestudio.core.generation.job import run_generation
from imagestudio.core.outcomes import JobOutcome, Product
from imagestudio.core.outputs.history import HistoryStore, JobRecord
from imagestudio.core.outputs.metadata import png_text_chunks
from imagestudio.core.outputs.storage import output_name, save_png_exact, save_png_unique
from imagestudio.core.requests import Request
from imagestudio.core.style.job import run_style
from imagestudio.core.vocabulary import JobKind, JobStatus
from imagestudio.core.workspace import Workspace

log = logging.getLogger(__name__)

#: An engine function: run one request in a workspace, report through the context, return what
#: it made. Raise `JobCancelled` to stop, an `ImageStudioError` (a sentence) to fail.
EngineFunction = Callable[[Any, Workspace, JobContext], Product]

ENGINES: dict[JobKind, EngineFunction] = {
    "generate": run_generation,
    "style": run_style,
}


def engine_for(kind: JobKind) -> EngineFunction:
    try:
        return ENGINES[kind]
    except KeyError:
        raise ImageStudioError(f"No engine runs jobs of kind {kind!r}.") from None


def check_inputs(request: Request) -> None:
    """Refuse, before any work, a request whose input pictures are not there (in words)."""
    for label, value in request.inputs():
        path = Path(value)
        if path.is_dir():
            raise ImageError(f"The {label} {path} is a folder, not an image file.")
        if not path.exists():
            raise ImageError(f"The {label} {path} does not exist (moved or deleted?).")
        if not path.is_file():
            raise ImageError(f"The {label} {path} is not a regular file; choose an image file.")


def save_product(
    product: Product, folder: Path, exact_files: list[Path] | None = None
) -> list[Path]:
    """Write every picture atomically with its settings; never overwrite an existing file."""
    written: list[Path] = []
    when = time.time()
    for index, picture in enumerate(product.pictures):
        settings = {**picture.settings, "app": f"ImageStudio {__version__}"}
        info = png_text_chunks(picture.parameters, settings)
        if exact_files is not None:
            written.append(save_png_exact(picture.image, exact_files[index], info))
        else:
            name = output_name(picture.name, picture.seed or 0, when)
            written.append(save_png_unique(picture.image, folder, name, info))
    return written


def _record(
    history: HistoryStore | None,
    request: Request,
    status: JobStatus,
    message: str,
    duration: float,
    **columns: Any,
) -> int | None:
    if history is None:
        return None
    try:
        return history.record(
            JobRecord(
                **(request.history_columns() | columns),
                request=request.to_dict(),
                kind=request.kind,
                status=status,
                message=message,
                duration=duration,
            )
        )
    except ImageStudioError:
        # Losing a history row must not lose the pictures the user just made.
        log.exception("could not record the job in history")
        return None


def run_job(
    request: Request,
    workspace: Workspace,
    on_step: StepCallback | None = None,
    is_cancelled: CancelCheck | None = None,
    on_notice: NoticeCallback | None = None,
    *,
    exact_files: list[Path] | None = None,
) -> JobOutcome:
    """Run, save and record one request of any kind.

    A cancelled job returns an outcome; a failed one is recorded, then its error is raised.
    `exact_files` names the output files (the CLI's `--output FILE.png`) instead of the outputs
    folder's own names.
    """
    context = JobContext(on_step, is_cancelled, on_notice, previews=workspace.config.previews)
    history = workspace.history
    started = time.perf_counter()
    try:
        check_inputs(request)
        product = engine_for(request.kind)(request, workspace, context)
        files = save_product(product, workspace.outputs_dir, exact_files)
    except JobCancelled as exc:
        duration = time.perf_counter() - started
        job_id = _record(history, request, "cancelled", str(exc), duration)
        return JobOutcome(request.kind, "cancelled", str(exc), history_id=job_id, duration=duration)
    except Exception as exc:
        message = str(exc) if isinstance(exc, ImageStudioError) else f"{type(exc).__name__}: {exc}"
        _record(history, request, "failed", message, time.perf_counter() - started)
        raise
    duration = time.perf_counter() - started
    warnings = tuple(context.notices)
    job_id = _record(
        history,
        product.request,
        "done",
        " ".join(warnings),
        duration,
        width=product.width,
        height=product.height,
        outputs=tuple(str(path) for path in files),
    )
    seeds = tuple(picture.seed for picture in product.pictures if picture.seed is not None)
    return JobOutcome(
        request.kind,
        "done",
        "",
        tuple(files),
        seeds,
        warnings,
        history_id=job_id,
        duration=duration,
        request=product.request,
        **product.report(),
    )
