"""The worker: one long-lived QObject on a QThread that owns the workspace and runs jobs in order.

The model stack (torch, diffusers) is imported here, on the worker thread, the first time a job
runs, so the window is up before it loads. Every job, whatever its kind, goes through
`core.jobs.run_job`; its `JobOutcome` is forwarded unchanged. Everything sent back is plain data or
a QImage; pixmaps are made on the GUI thread. Cancelling sets a `threading.Event` directly: a
queued slot would not run while the worker is busy in a job.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from imagestudio.core.errors import ImageStudioError
from imagestudio.core.logs import details_hint
from imagestudio.core.settings import Settings
from imagestudio.gui.images import qimage_from_array

if TYPE_CHECKING:
    from imagestudio.core.requests import Request
    from imagestudio.core.workspace import Workspace

log = logging.getLogger(__name__)


class JobWorker(QObject):
    """Runs one job at a time; lives on its own QThread (see MainWindow)."""

    job_started = Signal(int)  # job id
    status = Signal(int, str)  # job id, "Loading model…" and other notices
    step_done = Signal(int, int, int, QImage)  # job id, step, total, preview (may be null)
    job_finished = Signal(int, object)  # job id, core.outcomes.JobOutcome
    job_cancelled = Signal(int, object)  # job id, JobOutcome (its `partial` may be kept)
    partial_kept = Signal(int, object)  # job id, the JobOutcome of the kept picture
    job_failed = Signal(int, str)  # job id, a sentence for the user
    device_changed = Signal(str, str)  # device description, memory in use

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self._settings = settings
        self._workspace: Workspace | None = None
        self.cancel_event = threading.Event()

    # Called from the GUI thread: must only touch thread-safe state.
    def cancel(self) -> None:
        self.cancel_event.set()

    @Slot(object)
    def apply_settings(self, settings: Settings) -> None:
        """New settings: the workspace drops only the engines they change."""
        self._settings = settings
        if self._workspace is not None:
            from imagestudio.core.workspace import EngineConfig

            self._workspace.reconfigure(EngineConfig.from_settings(settings))

    @Slot(int, object)
    def run(self, job_id: int, request: Request) -> None:
        """Run one job to its end; every outcome is reported by exactly one signal."""
        self.job_started.emit(job_id)
        try:
            from imagestudio.core.jobs import run_job

            outcome = run_job(
                request,
                self._ensure_workspace(),
                on_step=self._step_emitter(job_id),
                is_cancelled=self.cancel_event.is_set,
                on_notice=lambda text: self.status.emit(job_id, text),
            )
        except Exception as exc:
            self._fail(job_id, exc)
            return
        finally:
            self._report_device()
        if outcome.status == "cancelled":
            self.job_cancelled.emit(job_id, outcome)
        else:
            self.job_finished.emit(job_id, outcome)

    @Slot(int, object)
    def keep(self, job_id: int, outcome: object) -> None:
        """Save a cancelled job's picture so far (`JobOutcome.partial`) as a result."""
        try:
            from imagestudio.core.jobs import keep_partial

            kept = keep_partial(outcome, self._ensure_workspace())  # type: ignore[arg-type]
        except Exception as exc:
            self._fail(job_id, exc)
            return
        self.partial_kept.emit(job_id, kept)

    def _fail(self, job_id: int, exc: Exception) -> None:
        """Report a failed job; call from an except block. A bug keeps the window alive too."""
        if isinstance(exc, ImageStudioError):
            self.job_failed.emit(job_id, str(exc))
            return
        log.exception("job %s failed unexpectedly", job_id)  # the traceback goes to the log
        self.job_failed.emit(
            job_id, f"Something went wrong: {type(exc).__name__}: {exc}; {details_hint()}."
        )

    def _step_emitter(self, job_id: int) -> Any:
        def on_step(step: int, total: int, preview: Any) -> None:
            image = qimage_from_array(preview) if preview is not None else QImage()
            self.step_done.emit(job_id, step, total, image)

        return on_step

    @Slot()
    def shutdown(self) -> None:
        """Release the engines and the history connection (runs on the worker thread)."""
        if self._workspace is not None:
            self._workspace.close()
            self._workspace = None

    def _ensure_workspace(self) -> Workspace:
        if self._workspace is None:
            from imagestudio.core.outputs.history import HistoryStore
            from imagestudio.core.workspace import EngineConfig, Workspace

            config = EngineConfig.from_settings(self._settings)
            self._workspace = Workspace(config, HistoryStore())
        return self._workspace

    def _report_device(self) -> None:
        if self._workspace is None:
            return
        for engine in self._workspace.built():
            describe = getattr(engine, "describe_device", None)
            if describe is not None:
                self.device_changed.emit(*describe())
                return
