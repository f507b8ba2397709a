"""The Models dialog's worker: imports, conversions and downloads, one at a time, on a QThread.

Tasks go in and one `TaskOutcome` comes back per task, both plain frozen dataclasses; the work
itself is the core's (`import_model`, `plan_download`, `download_model`). Cancelling sets a
`threading.Event` directly: a queued slot would not run while the worker is busy copying.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from imagestudio.core.errors import ImageStudioError, JobCancelled
from imagestudio.core.logs import details_hint
from imagestudio.core.models.download_plan import DownloadPlan, plan_download
from imagestudio.core.models.downloads import download_model
from imagestudio.core.models.importing import import_model
from imagestudio.core.models.library import ModelEntry

log = logging.getLogger(__name__)

# Progress reports at most this often: a fast disk copies hundreds of chunks a second.
PROGRESS_INTERVAL_S = 0.1
# How long quitting the application waits for each worker thread a dialog left running.
QUIT_WAIT_MS = 30_000

_left_running: list[QThread] = []
_waits_at_exit = False


@dataclass(frozen=True)
class ImportTask:
    """Copy a model into the library; `convert` first turns a pickle file into safetensors."""

    source: Path
    models_dir: Path
    convert: bool = False


@dataclass(frozen=True)
class PlanTask:
    """Ask the Hub which files a download needs (reads the network, fetches no weights)."""

    repo_id: str
    variant: str | None = None


@dataclass(frozen=True)
class DownloadTask:
    plan: DownloadPlan
    models_dir: Path


Task = ImportTask | PlanTask | DownloadTask


@dataclass(frozen=True)
class TaskProgress:
    done: int
    total: int  # 0 when unknown (a conversion)
    detail: str  # what is happening: "Copying x", "unet/diffusion_pytorch_model.safetensors"


@dataclass(frozen=True)
class TaskOutcome:
    """How a task ended: status "done", "cancelled" or "failed", with a sentence for the user."""

    task: Task
    status: str
    message: str = ""
    result: Any = None  # ModelEntry (import), DownloadPlan (plan), Path (download)


class ModelTaskWorker(QObject):
    """Runs one task at a time on its own QThread; every task ends with one `task_finished`."""

    progress = Signal(object)  # TaskProgress
    task_finished = Signal(object)  # TaskOutcome

    def __init__(self) -> None:
        super().__init__()
        self.cancel_event = threading.Event()
        self._last_report = 0.0

    # Called from the GUI thread: must only touch thread-safe state.
    def cancel(self) -> None:
        self.cancel_event.set()

    @Slot(object)
    def run(self, task: Task) -> None:
        try:
            if isinstance(task, ImportTask):
                result: Any = self._import(task)
            elif isinstance(task, PlanTask):
                self._report(TaskProgress(0, 0, "Asking the Hub for the file list…"), force=True)
                result = plan_download(task.repo_id, variant=task.variant)
            else:
                result = download_model(
                    task.plan,
                    task.models_dir,
                    on_progress=self._download_progress,
                    is_cancelled=self.cancel_event.is_set,
                )
        except JobCancelled as exc:
            self.task_finished.emit(TaskOutcome(task, "cancelled", str(exc)))
        except ImageStudioError as exc:
            self.task_finished.emit(TaskOutcome(task, "failed", str(exc)))
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            message = f"A file could not be read or written{where}: {exc.strerror or exc}."
            self.task_finished.emit(TaskOutcome(task, "failed", message))
        except Exception as exc:
            log.exception("model task %r failed unexpectedly", task)  # the traceback: the log
            message = f"Something went wrong: {type(exc).__name__}: {exc}; {details_hint()}."
            self.task_finished.emit(TaskOutcome(task, "failed", message))
        else:
            self.task_finished.emit(TaskOutcome(task, "done", result=result))

    def _import(self, task: ImportTask) -> ModelEntry:
        source = task.source
        label = f"Copying {source.name}"

        def on_progress(done: int, total: int) -> None:
            self._report(TaskProgress(done, total, label))

        def on_notice(text: str) -> None:
            self._report(TaskProgress(0, 0, text), force=True)

        self._report(TaskProgress(0, 0, label), force=True)
        imported = import_model(
            source,
            task.models_dir,
            convert_pickles=task.convert,
            on_progress=on_progress,
            is_cancelled=self.cancel_event.is_set,
            on_notice=on_notice,
        )
        return imported.entry

    def _download_progress(self, done: int, total: int, current: str) -> None:
        self._report(TaskProgress(done, total, current), force=True)  # already rate-limited

    def _report(self, progress: TaskProgress, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_report >= PROGRESS_INTERVAL_S:
            self._last_report = now
            self.progress.emit(progress)


def stop_thread(thread: QThread, wait_ms: int, what: str) -> None:
    """Quit `thread` once the work in flight returns, waiting up to `wait_ms` for that; work
    that cannot be interrupted (a conversion, a stalled connection) then finishes on its own,
    see `leave_running`."""
    thread.quit()
    if thread.wait(wait_ms):
        return
    log.warning("%s did not stop within %d ms; leaving it to finish", what, wait_ms)
    leave_running(thread)


def leave_running(thread: QThread) -> None:
    """Let `thread` finish on its own: owned by the application (a QThread destroyed while it
    runs aborts the process, as when the dialog that started it is garbage-collected), deleted
    once finished, and waited for when the application quits or Python exits."""
    global _waits_at_exit
    app = QCoreApplication.instance()
    if thread.parent() is not app:
        thread.setParent(app)
    thread.finished.connect(thread.deleteLater)
    _left_running[:] = [t for t in _left_running if shiboken6.isValid(t) and t.isRunning()]
    _left_running.append(thread)
    if not _waits_at_exit:
        if app is not None:
            app.aboutToQuit.connect(finish_stopped_threads)
        # Registered after PySide's own exit handler, so it runs before that one destroys the
        # application and its threads (the test suite never quits the application).
        atexit.register(finish_stopped_threads)
        _waits_at_exit = True


def finish_stopped_threads(wait_ms: int = QUIT_WAIT_MS) -> None:
    """Wait for the threads `leave_running` was given (those already gone are skipped)."""
    while _left_running:
        thread = _left_running.pop()
        if shiboken6.isValid(thread) and not thread.wait(wait_ms):
            log.warning("a models dialog worker still runs after %d ms", wait_ms)
