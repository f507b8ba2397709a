"""The Models dialog's worker: imports, conversions and downloads, one at a time, on a QThread.

Tasks go in and one `TaskOutcome` comes back per task, both plain frozen dataclasses; the work
itself is the core's (`import_model`, `plan_download`, `download_model`). Cancelling sets a
`threading.Event` directly: a queued slot would not run while the worker is busy copying.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from imagestudio.core.errors import ImageStudioError, JobCancelled
from imagestudio.core.logs import details_hint
from imagestudio.core.models.download_plan import DownloadPlan, plan_download
from imagestudio.core.models.downloads import download_model
from imagestudio.core.models.importing import import_model
from imagestudio.core.models.library import ModelEntry

log = logging.getLogger(__name__)

# Progress reports at most this often: a fast disk copies hundreds of chunks a second.
PROGRESS_INTERVAL_S = 0.1


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
