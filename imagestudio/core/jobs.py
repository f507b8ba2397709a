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
from imagestudio.core.backends.dispatch import run_generate_anywhere, run_inpaint_anywhere
from imagestudio.core.callbacks import CancelCheck, JobContext, NoticeCallback, StepCallback
from imagestudio.core.errors import (
    ImageError,
    ImageStudioError,
    InvalidRequest,
    JobCancelled,
    StorageError,
)
from imagestudio.core.outcomes import JobOutcome, Product
from imagestudio.core.outputs.history import HistoryStore, JobRecord
from imagestudio.core.outputs.metadata import png_text_chunks
from imagestudio.core.outputs.storage import (
    output_name,
    remove_stale_temporaries,
    save_png_exact,
    save_png_unique,
)
from imagestudio.core.requests import Request
from imagestudio.core.style.job import run_style
from imagestudio.core.upscale.job import run_upscale
from imagestudio.core.vocabulary import JobKind, JobStatus
from imagestudio.core.workspace import Workspace

log = logging.getLogger(__name__)

#: An engine function: run one request in a workspace, report through the context, return what
#: it made. Raise `JobCancelled` to stop, an `ImageStudioError` (a sentence) to fail.
EngineFunction = Callable[[Any, Workspace, JobContext], Product]

ENGINES: dict[JobKind, EngineFunction] = {
    # here or on a ComfyUI server, as the request's `backend` says (core.backends)
    "generate": run_generate_anywhere,
    "style": run_style,
    "upscale": run_upscale,
    "inpaint": run_inpaint_anywhere,
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
    product: Product,
    folder: Path,
    exact_files: list[Path] | None = None,
    written: list[Path] | None = None,
) -> list[Path]:
    """Write every picture atomically with its settings; never overwrite an existing file.

    Each file is appended to `written` as soon as it is on disk, so a caller whose later
    picture fails (a full disk) still knows which ones were saved.
    """
    written = [] if written is None else written
    when = time.time()
    for index, picture in enumerate(product.pictures):
        settings = {**picture.settings, "app": f"ImageStudio {__version__}"}
        info = png_text_chunks(picture.parameters, settings, picture.text_key, picture.chunks)
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
    context: JobContext | None = None,
    **columns: Any,
) -> int | None:
    """Record the job; a failure to (a full disk, a locked file) is logged and, with a context,
    said to the user, but never loses the pictures."""
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
    except ImageStudioError as exc:
        # Losing a history row must not lose the pictures the user just made.
        log.exception("could not record the job in history")
        if context is not None:
            context.notice(f"The job is not in the history: {exc}")
        return None


_CLEANED: set[Path] = set()


def _clean_once(folder: Path) -> None:
    """Remove temporary files that killed processes left in the outputs folder (once a folder
    per process: the scan is cheap, but not free on a folder of thousands of pictures)."""
    if folder not in _CLEANED:
        _CLEANED.add(folder)
        for path in remove_stale_temporaries(folder):
            log.info("removed a stale temporary file %s", path)


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
    _clean_once(workspace.outputs_dir)
    files: list[Path] = []
    product: Product | None = None
    try:
        check_inputs(request)
        product = engine_for(request.kind)(request, workspace, context)
        save_product(product, workspace.outputs_dir, exact_files, files)
    except JobCancelled as exc:
        duration = time.perf_counter() - started
        job_id = _record(history, request, "cancelled", str(exc), duration)
        partial = exc.partial if isinstance(exc.partial, Product) else None
        return JobOutcome(
            request.kind,
            "cancelled",
            str(exc),
            history_id=job_id,
            duration=duration,
            partial=partial,
        )
    except Exception as exc:
        message = str(exc) if isinstance(exc, ImageStudioError) else f"{type(exc).__name__}: {exc}"
        duration = time.perf_counter() - started
        if product is None or not files:
            _record(history, request, "failed", message, duration)
            raise
        # Some pictures are on disk: they are in the history, and the user hears which.
        saved = ", ".join(str(path) for path in files)
        message = (
            f"Only {len(files)} of {len(product.pictures)} pictures could be saved ({saved}); "
            f"the rest could not: {message}"
        )
        _record(
            history,
            product.request,
            "failed",
            message,
            duration,
            outputs=tuple(str(path) for path in files),
            **product.history_columns(),
        )
        raise StorageError(message) from exc
    duration = time.perf_counter() - started
    warnings = tuple(context.notices)
    job_id = _record(
        history,
        product.request,
        "done",
        " ".join(warnings),
        duration,
        context,
        outputs=tuple(str(path) for path in files),
        **product.history_columns(),
    )
    warnings = tuple(context.notices)  # with the history's own, if recording failed
    return _done(request.kind, product, files, job_id, duration, warnings=warnings)


def _done(
    kind: JobKind,
    product: Product,
    files: list[Path],
    job_id: int | None,
    duration: float,
    message: str = "",
    warnings: tuple[str, ...] = (),
) -> JobOutcome:
    """The outcome of a job whose pictures are saved (as `files`) and recorded."""
    seeds = tuple(picture.seed for picture in product.pictures if picture.seed is not None)
    return JobOutcome(
        kind,
        "done",
        message,
        tuple(files),
        seeds,
        warnings,
        history_id=job_id,
        duration=duration,
        request=product.request,
        **product.report(),
    )


def keep_partial(outcome: JobOutcome, workspace: Workspace) -> JobOutcome:
    """Save the picture a cancelled job had made so far (`outcome.partial`) and record it as
    a partial result, through the same saving and recording as a finished job."""
    product = outcome.partial
    if not isinstance(product, Product):
        raise InvalidRequest("This job left no picture to keep.")
    started = time.perf_counter()
    files = save_product(product, workspace.outputs_dir)
    message = f"Partial picture, kept: {outcome.message}"
    job_id = _record(
        workspace.history,
        product.request,
        "done",
        message,
        outcome.duration + time.perf_counter() - started,
        outputs=tuple(str(path) for path in files),
        **product.history_columns(),
    )
    return _done(outcome.kind, product, files, job_id, outcome.duration, message)
