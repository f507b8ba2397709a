"""The worker: one long-lived QObject on a QThread that owns the engine and runs jobs in order.

The model stack (torch, diffusers) is imported here, on the worker thread, the first time a job
runs, so the window is up before it loads. Everything sent back is plain data or a QImage;
pixmaps are made on the GUI thread. Cancelling sets a `threading.Event` directly: a queued slot
would not run while the worker is busy in a job.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from imagestudio.core.errors import ImageStudioError
from imagestudio.core.requests import GenerationRequest
from imagestudio.core.settings import Settings
from imagestudio.core.style.requests import StyleRequest
from imagestudio.gui.images import qimage_from_array

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinishedJob:
    """What the window needs from a finished job: plain data only."""

    files: list[str]
    seeds: list[int]
    width: int
    height: int
    scheduler: str
    model_name: str
    duration: float
    history_id: int | None
    warnings: list[str] = field(default_factory=list)
    kind: str = "generate"  # "generate" | "style"


class GenerationWorker(QObject):
    """Runs one job at a time; lives on its own QThread (see MainWindow)."""

    job_started = Signal(int)  # job id
    status = Signal(int, str)  # job id, "Loading model…" and other notices
    step_done = Signal(int, int, int, QImage)  # job id, step, total, preview (may be null)
    job_finished = Signal(int, object)  # job id, FinishedJob
    job_cancelled = Signal(int)
    job_failed = Signal(int, str)  # job id, a sentence for the user
    device_changed = Signal(str, str)  # device description, memory in use

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self._settings = settings
        self._engine: Any = None
        self._style_engine: Any = None
        self._history: Any = None
        self.cancel_event = threading.Event()

    # Called from the GUI thread: must only touch thread-safe state.
    def cancel(self) -> None:
        self.cancel_event.set()

    @Slot(object)
    def apply_settings(self, settings: Settings) -> None:
        """New settings: drop the engine if they change where or how models run."""
        old = self._settings
        self._settings = settings
        if self._engine is not None and (
            (old.device, old.precision, old.models_dir, old.memory_mode, old.hf_cache_dir)
            != (
                settings.device,
                settings.precision,
                settings.models_dir,
                settings.memory_mode,
                settings.hf_cache_dir,
            )
            or old.scan_hf_cache != settings.scan_hf_cache
            or old.model_prediction != settings.model_prediction
        ):
            self._engine.unload()
            self._engine = None
        if (old.device, old.style_vgg_weights) != (settings.device, settings.style_vgg_weights):
            self._style_engine = None

    @Slot(int, object)
    def run(self, job_id: int, request: GenerationRequest | StyleRequest) -> None:
        """Run one job to its end; every outcome is reported by exactly one signal."""
        if isinstance(request, StyleRequest):
            self._run_style(job_id, request)
            return
        self.job_started.emit(job_id)
        started = time.perf_counter()
        try:
            from imagestudio.core.jobs import run_job

            engine, history = self._ensure_engine()

            on_step = self._step_emitter(job_id)
            outcome = run_job(
                request,
                engine,
                history,
                self._settings.resolved_outputs_dir(),
                on_step=on_step,
                is_cancelled=self.cancel_event.is_set,
                on_notice=lambda text: self.status.emit(job_id, text),
                previews=self._settings.previews,
            )
        except Exception as exc:
            self._fail(job_id, exc)
            return
        finally:
            self._report_device()
        if outcome.status == "cancelled":
            self.job_cancelled.emit(job_id)
            return
        result = outcome.result
        assert result is not None
        self.job_finished.emit(
            job_id,
            FinishedJob(
                files=[str(p) for p in outcome.files],
                seeds=list(result.seeds),
                width=result.width,
                height=result.height,
                scheduler=result.scheduler,
                model_name=result.model_name,
                duration=time.perf_counter() - started,
                history_id=outcome.history_id,
                warnings=list(result.warnings),
            ),
        )

    def _run_style(self, job_id: int, request: StyleRequest) -> None:
        self.job_started.emit(job_id)
        started = time.perf_counter()
        try:
            from imagestudio.core.style.jobs import StyleEngine, run_style_job

            _, history = self._ensure_engine()
            if self._style_engine is None:
                weights = self._settings.style_vgg_weights
                self._style_engine = StyleEngine(
                    device_setting=self._settings.device,
                    vgg_weights=Path(weights).expanduser() if weights else None,
                )
            outcome = run_style_job(
                request,
                self._style_engine,
                history,
                self._settings.resolved_outputs_dir(),
                on_step=self._step_emitter(job_id),
                is_cancelled=self.cancel_event.is_set,
                on_notice=lambda text: self.status.emit(job_id, text),
            )
        except Exception as exc:
            self._fail(job_id, exc)
            return
        if outcome.status == "cancelled":
            self.job_cancelled.emit(job_id)
            return
        result = outcome.result
        assert result is not None and outcome.file is not None
        width, height = result.image.size
        self.job_finished.emit(
            job_id,
            FinishedJob(
                files=[str(outcome.file)],
                seeds=[request.seed],
                width=width,
                height=height,
                scheduler="",
                model_name=f"style transfer ({request.mode}, {result.device})",
                duration=time.perf_counter() - started,
                history_id=outcome.history_id,
                warnings=list(result.notices),
                kind="style",
            ),
        )

    def _fail(self, job_id: int, exc: Exception) -> None:
        """Report a failed job; call from an except block. A bug keeps the window alive too."""
        if isinstance(exc, ImageStudioError):
            self.job_failed.emit(job_id, str(exc))
            return
        log.exception("job %s failed unexpectedly", job_id)  # the traceback goes to the log
        self.job_failed.emit(
            job_id, f"Something went wrong: {type(exc).__name__}: {exc}. Details are in the log."
        )

    def _step_emitter(self, job_id: int) -> Any:
        def on_step(step: int, total: int, preview: Any) -> None:
            image = qimage_from_array(preview) if preview is not None else QImage()
            self.step_done.emit(job_id, step, total, image)

        return on_step

    @Slot()
    def shutdown(self) -> None:
        """Release the model and the history connection (runs on the worker thread)."""
        if self._engine is not None:
            self._engine.unload()
            self._engine = None
        if self._history is not None:
            self._history.close()
            self._history = None

    def _ensure_engine(self) -> tuple[Any, Any]:
        if self._engine is None:
            from imagestudio.core.generation.engine import Engine

            self._engine = Engine(
                models_dir=self._settings.resolved_models_dir(),
                device_setting=self._settings.device,
                precision_setting=self._settings.precision,
                hf_cache=self._settings.resolved_hf_cache(),
                memory_setting=self._settings.memory_mode,
                prediction_overrides=self._settings.model_prediction,
            )
        if self._history is None:
            from imagestudio.core.outputs.history import HistoryStore

            self._history = HistoryStore()
        return self._engine, self._history

    def _report_device(self) -> None:
        if self._engine is None:
            return
        from imagestudio.core.generation.devices import memory_in_use

        self.device_changed.emit(self._engine.device.describe(), memory_in_use(self._engine.device))
