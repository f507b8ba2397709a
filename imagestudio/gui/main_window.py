"""The main window: composes the panels, owns the job queue and the workers (gui.farm).

Data flows one way: a form panel builds a request (any kind in `core.requests`), the window queues
it and hands it to the worker, the worker's signals come back with previews (QImage) and one
`JobOutcome` per finished job, and the window shows them. Each kind of job has one form (a tab);
the window finds it by the request's kind. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
)
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QFileDialog,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from imagestudio import __version__
from imagestudio.core.errors import HistoryError, ImageError, InvalidRequest
from imagestudio.core.generation.embeddings import embedding_files
from imagestudio.core.models.library import VAE_FOLDER, scan_library
from imagestudio.core.models.recommended import RecommendedModel
from imagestudio.core.outputs.history import HistoryStore, JobRecord
from imagestudio.core.outputs.metadata import read_settings
from imagestudio.core.paths import app_paths
from imagestudio.core.requests import (
    BUILTIN_MODEL,
    DEFAULT_VARIATION_STRENGTH,
    MAX_SEED,
    GenerationRequest,
    InpaintRequest,
    Request,
    UpscaleRequest,
    request_from_dict,
)
from imagestudio.core.settings import Settings, load_settings, save_settings
from imagestudio.core.upscale.loading import upscaler_files
from imagestudio.core.vocabulary import JobKind
from imagestudio.core.wildcards import wildcard_files
from imagestudio.gui.dialogs.settings import BACKENDS_PAGE, GENERAL_PAGE, SettingsDialog
from imagestudio.gui.dialogs.upscale import UpscaleDialog
from imagestudio.gui.farm import JobFarm, QueuedJob
from imagestudio.gui.images import image_path_from_mime, qimage_from_array
from imagestudio.gui.menus import build_menus
from imagestudio.gui.panels.canvas import DEFAULT_PLACEHOLDER, Canvas
from imagestudio.gui.panels.gallery import GalleryStrip
from imagestudio.gui.panels.history import VARIATIONS, HistoryPanel
from imagestudio.gui.panels.inpaint import InpaintForm
from imagestudio.gui.panels.prompt import PromptPanel
from imagestudio.gui.panels.style import StylePanel
from imagestudio.gui.theme import apply_theme
from imagestudio.gui.widgets.forms import guard_wheel
from imagestudio.gui.widgets.queue_list import QueueList, RunningJobRow
from imagestudio.gui.widgets.start_folder import remember, start_folder
from imagestudio.gui.widgets.welcome import WelcomePanel
from imagestudio.gui.worker import JobWorker

if TYPE_CHECKING:
    from imagestudio.core.outcomes import JobOutcome

log = logging.getLogger(__name__)
GENERATE_TAB, STYLE_TAB = 0, 1


class JobForm(Protocol):
    """A tab's form for one kind of job (the Generate and Style panels)."""

    def build_request(self) -> Request: ...
    # each form takes its own kind's request type (the window looks the form up by kind)
    def load_request(self, request: Any) -> None: ...
    def show_outcome(self, outcome: JobOutcome) -> None: ...
    def set_busy(self, running: bool, queued: int) -> None: ...
    def form_state(self) -> dict: ...
    def restore_form_state(self, state: dict) -> None: ...


def _form_key(kind: JobKind) -> str:
    """The window.ini key a kind's form is kept under ("form" for the first form, as always)."""
    return "form" if kind == "generate" else f"{kind}_form"


class MainWindow(QMainWindow):
    """ImageStudio's main window."""

    keep_job = Signal(int, object)  # a cancelled job's picture so far, to save (worker.keep)
    settings_changed = Signal(object)
    job_done = Signal(int, str)  # job id, "done" | "cancelled" | "failed" (for tests and probes)

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__()
        self.setWindowTitle("ImageStudio")
        self.setAcceptDrops(True)
        self.settings = settings or load_settings()
        self._ids = itertools.count(1)
        self._queue: list[QueuedJob] = []
        self._running: QueuedJob | None = None  # the job on show: the latest started
        self._job_started_at = 0.0
        self._first_step_at: float | None = None
        self._closing = False
        self._partial: tuple[int, JobOutcome] | None = None
        self._gallery_tucked = False
        # A form's error stays on show only while its cause does: re-checked as the user edits.
        self._form_error: tuple[Callable[[], Request], str] | None = None
        self._form_error_check = QTimer(self)
        self._form_error_check.setInterval(300)
        self._form_error_check.timeout.connect(self._recheck_form_error)
        self.history_store = HistoryStore()

        self.canvas = Canvas()
        self.prompt = PromptPanel()
        self.prompt.run_on.set_servers(self.settings.backend_entries())
        # mask mode on the canvas turns the Generate form into the inpainting form
        self.inpaint = InpaintForm(self.prompt, self.canvas)
        self.style_panel = StylePanel()
        self.queue_list = QueueList()
        self.running_row = RunningJobRow()
        self.history = HistoryPanel(self.history_store)
        self.gallery = GalleryStrip()
        # each kind of job: its tab, and the form there (the window finds it by request kind)
        self.forms: dict[JobKind, tuple[int, JobForm]] = {
            "generate": (GENERATE_TAB, self.prompt),
            "style": (STYLE_TAB, self.style_panel),
            "inpaint": (GENERATE_TAB, self.inpaint),
        }
        self._start_worker()
        self._build_layout()
        build_menus(self)
        self._build_status_bar()
        self._connect()
        self.refresh_models(initial=True)
        self.prompt.set_suggestions(self._suggestions())
        self._restore_state()
        self._pick_up_where_left_off()
        self._tuck_away_empty_gallery()
        for problem in self.settings.problems:
            self.canvas.show_error(problem)
        self._history_note_shown: object = None
        self._show_history_recovery()

    # -- construction -----------------------------------------------------------------------

    def _build_layout(self) -> None:
        self.setCentralWidget(self.canvas)
        self.setDockNestingEnabled(True)
        # The side docks run to the bottom; the gallery sits under the canvas only, so it takes no
        # height from the form (whose primary actions must stay visible on a small screen).
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        left = QWidget()
        layout = QVBoxLayout(left)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        # The forms scroll rather than force a window taller than a small laptop's screen; their
        # primary actions stay pinned under the scrolling part, visible at any window size.
        for panel, title in ((self.prompt, "Generate"), (self.style_panel, "Style")):
            scroll = QScrollArea()
            scroll.setWidget(panel)
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setMinimumWidth(panel.minimumSizeHint().width())
            page = QWidget()
            page_layout = QVBoxLayout(page)
            page_layout.setContentsMargins(0, 0, 0, 0)
            page_layout.setSpacing(0)
            page_layout.addWidget(scroll, 1)
            page_layout.addWidget(panel.action_bar)
            panel.action_bar.show()
            guard_wheel(panel)
            self.tabs.addTab(page, title)
        self.tabs.setTabToolTip(1, "Repaint a picture in the style of another")
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.running_row)
        self.queue_label = QLabel("Waiting (Delete removes a job)")
        layout.addWidget(self.queue_label)
        layout.addWidget(self.queue_list)
        self._update_queue_view()

        self.generate_dock = self._dock("Create", left, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.history_dock = self._dock(
            "History", self.history, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.history.title_label.hide()
        self.history.setMinimumWidth(260)
        self.gallery_dock = self._dock(
            "Gallery", self.gallery, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        self.resize(1400, 900)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{title.lower()}_dock")  # saveState needs names
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        self.device_label = QLabel("Device: chosen when the first job runs")
        self.model_label = QLabel("")
        self.memory_label = QLabel("")
        for label in (self.device_label, self.model_label, self.memory_label):
            self.statusBar().addPermanentWidget(label)

    def _start_worker(self) -> None:
        """A worker for this computer, and one per ComfyUI server in the settings."""
        self.farm = JobFarm(
            self.settings,
            self._wire_worker,
            lambda name: self.prompt.run_on.server_models.get(name, ((), ()))[0] or None,
            parent=self,
        )
        self.worker = self.farm.local.worker  # this computer's (style partials are kept here)
        self.worker_thread = self.farm.local.qthread
        self.farm.checkpoints_arrived.connect(lambda _name: self._dispatch())

    def _wire_worker(self, worker: JobWorker) -> None:
        worker.job_started.connect(self._on_job_started)
        worker.status.connect(self._on_status)
        worker.step_done.connect(self._on_step)
        worker.job_finished.connect(self._on_finished)
        worker.job_cancelled.connect(self._on_cancelled)
        worker.partial_kept.connect(self._on_partial_kept)
        worker.job_failed.connect(self._on_failed)
        worker.device_changed.connect(self._on_device)

    def _connect(self) -> None:
        self.settings_changed.connect(self.farm.set_settings)
        self.keep_job.connect(self.worker.keep)
        self.canvas.keep_action.triggered.connect(self.keep_partial)
        self.prompt.generate_requested.connect(self.generate)
        self.inpaint.outpaint_requested.connect(self.outpaint)
        self.canvas.mask_editor.mode_changed.connect(
            lambda on: self.tabs.setCurrentIndex(GENERATE_TAB) if on else None
        )
        self.prompt.cancel_requested.connect(self.cancel_current)
        self.style_panel.start_requested.connect(self.stylize)
        self.style_panel.cancel_requested.connect(self.cancel_current)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.running_row.cancel_button.clicked.connect(self.cancel_current)
        self.style_panel.message.connect(self.canvas.show_error)
        self.style_panel.content_slot.result_button.clicked.connect(
            lambda: self._use_result(self.style_panel.content_slot)
        )
        self.style_panel.style_slot.result_button.clicked.connect(
            lambda: self._use_result(self.style_panel.style_slot)
        )
        self.history.load_requested.connect(self._load_record)
        self.history.rerun_requested.connect(self._rerun_record)
        self.history.vary_requested.connect(self.vary_record)
        self.history.upscale_requested.connect(self.upscale_picture)
        self.canvas.upscale_requested.connect(self.upscale_picture)
        self.gallery.upscale_requested.connect(self.upscale_picture)
        self.gallery.image_selected.connect(self.canvas.show_result)

    def _on_tab_changed(self, index: int) -> None:
        """The empty canvas says what to do on the tab on show."""
        self.canvas.set_placeholder(
            "Choose a content and a style picture, then press Ctrl+Enter"
            if index == self.forms["style"][0]
            else DEFAULT_PLACEHOLDER
        )

    # -- jobs ---------------------------------------------------------------------------------

    def generate(self) -> int | None:
        """Queue the form's request (in mask mode: inpaint the canvas picture); returns the job
        id, or None if the form is invalid."""
        if self.inpaint.active():
            return self._enqueue_form(self.inpaint.build_request)
        return self._enqueue_form(self.prompt.build_request)

    def outpaint(self, extend: tuple[int, int, int, int]) -> int | None:
        """Queue extending the canvas picture by `extend` (left, top, right, bottom) pixels."""
        return self._enqueue_form(lambda: self.inpaint.build_outpaint_request(extend))

    def start_current_tab(self) -> int | None:
        """Ctrl+Enter: queue the job of the tab on show (generate or inpaint, stylise)."""
        if self.tabs.currentIndex() == GENERATE_TAB:
            return self.generate()
        for tab, form in self.forms.values():
            if tab == self.tabs.currentIndex():
                return self._enqueue_form(form.build_request)
        return None

    def stylize(self) -> int | None:
        """Queue the Style tab's request; returns the job id, or None if the form is invalid."""
        return self._enqueue_form(self.style_panel.build_request)

    def _enqueue_form(self, build: Callable[[], Request]) -> int | None:
        try:
            request = build()
        except InvalidRequest as exc:
            self.canvas.show_error(str(exc))
            self._form_error = (build, str(exc))
            self._form_error_check.start()
            return None
        return self.enqueue(request)

    def _recheck_form_error(self) -> None:
        """The banner says what was wrong with the form; once the user has fixed it, it goes
        (and another problem the form still has takes its place)."""
        if self._form_error is None or self.canvas.error_text() != self._form_error[1]:
            self._form_error = None  # dismissed, or another message took its place
            self._form_error_check.stop()
            return
        build, shown = self._form_error
        try:
            build()
        except InvalidRequest as exc:
            if str(exc) != shown:
                self.canvas.show_error(str(exc))
                self._form_error = (build, str(exc))
            return
        self.canvas.clear_error()
        self._form_error = None
        self._form_error_check.stop()

    def _use_result(self, slot) -> None:
        path = self.canvas.current_path()
        if path is None or not Path(path).is_file():
            self.canvas.show_error("There is no saved result on the canvas to use yet.")
            return
        slot.set_path(path)

    def enqueue(self, request: Request) -> int:
        self.canvas.clear_error()
        job = QueuedJob(next(self._ids), request)
        self._queue.append(job)
        self._dispatch()
        self._update_queue_view()
        return job.id

    def queued_jobs(self) -> list[QueuedJob]:
        return list(self._queue)

    def running_job(self) -> QueuedJob | None:
        """The job on show (the latest started, when several run on several backends)."""
        return self._running

    def running_jobs(self) -> list[tuple[str, QueuedJob]]:
        """(backend, job) for every job that runs now, the first started first."""
        return [(station.backend, job) for station, job in self.farm.running()]

    def cancel_current(self) -> None:
        if self._running is not None:
            self.farm.cancel(self._running.id)
            self.canvas.set_status("Cancelling…")
            self.running_row.set_cancelling()

    def remove_queued(self, job_id: int) -> None:
        """Take a waiting job out of the queue; a running one (listed when several run) is
        cancelled."""
        if self._is_current(job_id):
            self.cancel_current()
            return
        if self.farm.cancel(job_id):
            self.queue_list.update_job(job_id, "cancelling…")
            return
        self._queue = [job for job in self._queue if job.id != job_id]
        self._update_queue_view()

    def remove_selected_queued(self) -> None:
        job_id = self.queue_list.selected_id()
        if job_id is not None:
            self.remove_queued(job_id)

    def _dispatch(self) -> None:
        """Each idle worker takes the first waiting job it can run (gui.farm); the latest
        started is the one on show."""
        if not self._queue or self._closing:
            return
        started = self.farm.assign(self._queue)
        for station, job in started:
            self._queue.remove(job)
            self._running = job
            station.start(job)
            self._job_started_at = station.started_at
            self._first_step_at = None
            self.canvas.set_status("Starting…")
            self.running_row.show_job(self._describe_running(job))
            self.canvas.set_expected_size(self._expected_size(job.request))
        if started:
            # the job left the waiting list: the list, the count and every Cancel say so now
            self._update_queue_view()

    def _describe_running(self, job: QueuedJob) -> str:
        """A running job's line; where it runs is said when there are servers to choose from."""
        station = self.farm.station_of(job.id)
        if station is None or not self.farm.servers():
            return job.describe()
        return f"on {station.label()}: {job.describe()}"

    def _expected_size(self, request: Request) -> tuple[int, int] | None:
        """The size of the picture a job will make, when the window can know it."""
        # Requests that say their size (a generation without a start picture) are known; a
        # start picture or a style job sets it as it runs.
        width, height = getattr(request, "width", None), getattr(request, "height", None)
        if getattr(request, "init_image", None) or not hasattr(request, "width"):
            return None
        if width and height:
            return int(width), int(height)
        native = self.prompt.native_size(str(getattr(request, "model", "")))
        return (native, native) if native else None

    def _update_queue_view(self) -> None:
        # jobs running beside the one on show (on other backends) head the list
        others = [job for _, job in self.farm.running() if not self._is_current(job.id)]
        rows = [(job.id, f"Running {self._describe_running(job)}") for job in others]
        self.queue_list.set_jobs(rows + [(job.id, job.describe()) for job in self._queue])
        visible = bool(rows or self._queue)
        self.queue_list.setVisible(visible)
        self.queue_label.setVisible(visible)
        for _, form in self.forms.values():
            form.set_busy(self._running is not None, len(self._queue))

    def _is_current(self, job_id: int) -> bool:
        return self._running is not None and self._running.id == job_id

    def _on_job_started(self, job_id: int) -> None:
        if self._is_current(job_id):
            self.canvas.set_status("Preparing…")

    def _on_status(self, job_id: int, text: str) -> None:
        if not self._is_current(job_id):
            return
        if text.startswith("Loading"):
            self.canvas.set_status(text)
        self.statusBar().showMessage(text, 8000)

    def _on_step(self, job_id: int, step: int, total: int, preview: QImage) -> None:
        if not self._is_current(job_id):
            self.queue_list.update_job(job_id, f"{step}/{total}")
            return
        now = time.perf_counter()
        if self._first_step_at is None or step <= 1:
            self._first_step_at = now
        remaining = None
        if step > 1:
            remaining = (now - self._first_step_at) / (step - 1) * (total - step)
        self.canvas.set_progress(step, total, now - self._job_started_at, remaining)
        self.running_row.set_progress(f"{step}/{total}")
        if not preview.isNull():
            self.canvas.show_preview(preview)

    def _job_ended(self, job_id: int, status: str) -> None:
        self._show_history_recovery()
        self.farm.release(job_id, status)
        if self._is_current(job_id):
            # the job still running that started last (on another backend) goes on show
            running = self.farm.running()
            self._running = running[-1][1] if running else None
            self.running_row.clear()
            self.canvas.clear_progress()
            if running:
                self.running_row.show_job(self._describe_running(running[-1][1]))
                self._job_started_at = running[-1][0].started_at
                self._first_step_at = None
        self._update_queue_view()
        self.job_done.emit(job_id, status)
        self._dispatch()

    def _on_finished(self, job_id: int, outcome: JobOutcome) -> None:
        if outcome.files:
            self.canvas.show_result(outcome.files[0])
            if self._is_current(job_id) and self._running is not None:
                self.inpaint.carry_mask(self._running.request)
        for path in outcome.files:
            self.gallery.add_image(str(path))
        if outcome.files and self._gallery_tucked:
            self._gallery_tucked = False
            self.gallery_dock.show()
        self.history.refresh()
        form = self.forms.get(outcome.kind)
        if form is not None:
            form[1].show_outcome(outcome)
        self.prompt.set_suggestions(self._suggestions())
        self.statusBar().showMessage(f"Done in {outcome.duration:.1f} s: {outcome.summary}", 15000)
        if outcome.model:
            self.model_label.setText(f"Model: {outcome.model}")
        for warning in outcome.warnings:
            self.canvas.show_error(warning)
        self._job_ended(job_id, "done")

    def _show_history_recovery(self) -> None:
        """Say once that the history file was damaged, kept aside and partly copied over."""
        note = self.history_store.recovery_note()
        if note is not None and self._history_note_shown != self.history_store.recovered_from:
            self._history_note_shown = self.history_store.recovered_from
            self.canvas.show_error(note)

    def _on_cancelled(self, job_id: int, outcome: JobOutcome | None = None) -> None:
        partial = getattr(outcome, "partial", None)
        pictures = getattr(partial, "pictures", None)
        if pictures and outcome is not None and not self._closing:
            # quality-mode style: the picture so far stays, with "Keep this picture"
            self._partial = (job_id, outcome)
            self.canvas.show_partial(qimage_from_array(np.asarray(pictures[0].image)))
            self.statusBar().showMessage(
                "Cancelled; nothing was written. Keep this picture saves it as it is.", 15000
            )
        else:
            if self._is_current(job_id):
                self.canvas.drop_preview()
            self.statusBar().showMessage("Cancelled; no image was written.", 8000)
        self.history.refresh()
        self._job_ended(job_id, "cancelled")

    def keep_partial(self) -> None:
        """Save the cancelled job's picture on show (through the worker, as a result)."""
        if self._partial is None:
            return
        job_id, outcome = self._partial
        self._partial = None
        self.canvas.keep_action.setEnabled(False)
        self.statusBar().showMessage("Saving the picture…", 8000)
        self.keep_job.emit(job_id, outcome)

    def _on_partial_kept(self, job_id: int, outcome: JobOutcome) -> None:
        if outcome.files:
            self.canvas.show_result(outcome.files[0])
        for path in outcome.files:
            self.gallery.add_image(str(path))
        self.history.refresh()
        self.statusBar().showMessage(
            f"Kept: {outcome.files[0].name}" if outcome.files else "", 8000
        )

    def _on_failed(self, job_id: int, message: str) -> None:
        if self._is_current(job_id):
            self.canvas.drop_preview()
        self.canvas.show_error(message)
        self.history.refresh()
        self._job_ended(job_id, "failed")

    def _on_device(self, device: str, memory: str) -> None:
        self.device_label.setText(device)
        self.memory_label.setText(f"Memory: {memory}" if memory else "")

    # -- history, models, files ---------------------------------------------------------------

    def _suggestions(self) -> list[str]:
        try:
            return self.history_store.suggestions(limit=200)
        except HistoryError:
            return []

    def _open_record(self, record: JobRecord, run: bool) -> None:
        """A history entry: its settings in its kind's form (that tab on show); queued again
        when `run`, else its picture on the canvas."""
        try:
            request = record.to_request()
        except InvalidRequest as exc:
            self.canvas.show_error(str(exc))
            return
        if not self._show_in_form(request) and not run:
            # a kind without a form of its own (upscale): its picture, and Re-run still works
            if record.outputs and Path(record.outputs[0]).is_file():
                self.canvas.show_result(record.outputs[0])
            else:
                self.canvas.show_error("This job's picture is no longer on disk.")
            return
        if run:
            self.enqueue(request)
        elif isinstance(request, InpaintRequest):
            # the picture it changed, with its mask, ready to paint again
            self.inpaint.show_picture_of(request, record.outputs[0] if record.outputs else None)
        elif record.outputs and Path(record.outputs[0]).is_file():
            self.canvas.show_result(record.outputs[0])

    def _load_record(self, record: JobRecord) -> None:
        self._open_record(record, run=False)

    def _rerun_record(self, record: JobRecord) -> None:
        self._open_record(record, run=True)

    def upscale_picture(self, path: str) -> UpscaleRequest | None:
        """Ask how to upscale the picture at `path` and queue the job; the request, or None."""
        dialog = UpscaleDialog(path, self.settings.resolved_models_dir(), self)
        self.upscale_dialog = dialog  # tests reach it
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        try:
            request = dialog.request()
        except InvalidRequest as exc:
            self.canvas.show_error(str(exc))
            return None
        self.enqueue(request)
        return request

    def vary_record(self, record: JobRecord, count: int = VARIATIONS) -> None:
        """Queue `count` variations of a history entry's (first) picture: its seed, each
        toward a new variation seed, at the entry's variation strength or a close 0.3."""
        try:
            request = record.to_request()
        except InvalidRequest as exc:
            self.canvas.show_error(str(exc))
            return
        if not isinstance(request, GenerationRequest) or request.init_image:
            self.canvas.show_error("Variations are made from text-to-image pictures.")
            return
        strength = request.variation_strength or DEFAULT_VARIATION_STRENGTH
        first = random.randint(0, MAX_SEED - count)
        for index in range(count):
            self.enqueue(
                request.replace(
                    count=1,
                    seed=record.seed,
                    variation_seed=first + index,
                    variation_strength=strength,
                )
            )

    def load_settings_from_image(self, path: str) -> bool:
        try:
            found = read_settings(path)
        except ImageError as exc:
            self.canvas.show_error(str(exc))
            return False
        if found is None:
            self.canvas.show_error(
                f"{Path(path).name} carries no generation settings that ImageStudio can read."
            )
            return False
        notes: list[str] = []
        own = self._own_request(found.request)
        if own is None or not self._show_in_form(own):
            notes = self.prompt.load_image_settings(found)
            self.tabs.setCurrentIndex(self.forms["generate"][0])
        self.canvas.show_result(path)
        if isinstance(own, InpaintRequest):
            self.inpaint.restore_mask(own)  # on the dropped picture, when its file is there
        self.statusBar().showMessage(f"Loaded the settings of {Path(path).name}.", 8000)
        # What could not be restored changes the picture: said where it stays until dismissed,
        # not in a status line that cuts it off and times out.
        if notes:
            self.canvas.show_error(" ".join([f"From {Path(path).name}:", *notes]))
        else:
            self.canvas.clear_error()
        return True

    def _own_request(self, data: dict | None) -> Request | None:
        """A picture of ours: its whole request (LoRAs, strength, a style job's settings), to
        show in its kind's form. None when there is none this window can use, so the picture's
        settings are read as another tool's."""
        if data is None:
            return None
        try:
            return request_from_dict(data)
        except InvalidRequest:
            return None

    def _show_in_form(self, request: Request) -> bool:
        """`request` in its kind's form, that tab on show; False when no form takes its kind."""
        form = self.forms.get(request.kind)
        if form is None:
            return False
        tab, panel = form
        panel.load_request(request)
        self.tabs.setCurrentIndex(tab)
        return True

    def open_image_settings(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Load settings from image",
            start_folder(),
            "Images (*.png *.jpg *.jpeg *.webp)",
        )
        if path:
            remember(path)
            self.load_settings_from_image(path)

    def refresh_models(self, initial: bool = False) -> None:
        """Fill the model picker; at start-up select the default model, or the first one there."""
        models_dir = self.settings.resolved_models_dir()
        library = scan_library(models_dir, self.settings.resolved_hf_cache())
        refs = [entry.ref for entry in library if entry.usable]
        entries = [(entry.label(), entry.name) for entry in library if entry.usable]
        self.prompt.set_loras_available([e.name for e in library if e.role == "lora"])
        # words the prompt boxes complete: embeddings by name, wildcard files as __name__
        words = [*embedding_files(models_dir), *wildcard_files(app_paths().wildcards_dir)]
        self.prompt.set_prompt_words(words)
        vae_folder = models_dir / VAE_FOLDER
        self.prompt.advanced_group.set_vaes(
            [
                e.ref.path.stem if e.ref.path.parent == vae_folder else str(e.ref.path)
                for e in library
                if e.role == "vae"
            ]
        )
        self.prompt.set_native_sizes(
            {e.name: e.info["native_size"] for e in library if e.info.get("native_size")}
        )
        self.prompt.hires_group.set_upscalers(upscaler_files(models_dir))
        if not any(ref.builtin for ref in refs):
            entries.append(("Starter (built in, not installed)", BUILTIN_MODEL))
        current = None
        if initial:
            names = [ref.name for ref in refs]
            wanted = self.settings.default_model
            current = wanted if wanted in names or not names else names[0]
        self.prompt.set_models(entries, current)

    def _pick_up_where_left_off(self) -> None:
        """One look at the history at start-up: show the newest result that is still on disk
        and let "Reuse last" offer the newest picture's seed; with no picture made yet, the
        canvas welcomes instead, with prompts to try."""
        try:
            records = self.history_store.recent(limit=20, done_only=True)
        except HistoryError:
            return
        if not records:
            self.welcome = WelcomePanel()
            self.welcome.prompt_chosen.connect(self._try_prompt)
            self.welcome.get_model_requested.connect(self.open_recommended)
            self.canvas.show_welcome(self.welcome)
            return
        seed = next((r.seed for r in records if r.kind == "generate" and r.seed is not None), None)
        if seed is not None:
            self.prompt.set_last_seed(seed)
        for record in records:
            for path in record.outputs:
                if Path(path).is_file():
                    self.canvas.show_result(path)
                    return

    def copy_prompt(self) -> None:
        try:
            request = self.prompt.build_request()
        except InvalidRequest as exc:
            self.canvas.show_error(str(exc))
            return
        QGuiApplication.clipboard().setText(request.prompt)

    def _open_folder(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.canvas.show_error(f"Cannot open {folder}: {exc.strerror}.")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def open_outputs_folder(self) -> None:
        self._open_folder(self.settings.resolved_outputs_dir())

    def open_models_dialog(self, download: RecommendedModel | None = None) -> None:
        """The model manager: list, import, convert, download; the picker follows its changes.
        With `download`, it starts downloading that recommended model (asking first) and the
        form takes it, with the steps and CFG that suit it, once it is there."""
        from imagestudio.gui.dialogs.models import ModelsDialog

        dialog = ModelsDialog(self.settings, self)
        dialog.library_changed.connect(self.refresh_models)
        dialog.use_model.connect(self._use_model)
        dialog.settings_edited.connect(self.apply_settings)
        if isinstance(download, RecommendedModel):
            dialog.downloaded.connect(lambda name: self.use_recommended(download, name))
            QTimer.singleShot(0, lambda: dialog.start_download(download.repo_id, download.variant))
        try:
            dialog.exec()
        finally:
            dialog.shutdown()

    def open_recommended(self) -> None:
        """Models worth trying first; one button downloads and selects one."""
        from imagestudio.gui.dialogs.recommended import RecommendedDialog

        dialog = RecommendedDialog(self)
        dialog.download_requested.connect(self.open_models_dialog)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.recommended_dialog = dialog

    def use_recommended(self, model: RecommendedModel, name: str) -> None:
        """A recommended model arrived as library entry `name`: the form uses it, at the
        steps, CFG and size it is made for (a few-step model is poor at 20 steps)."""
        self.refresh_models()
        self.prompt.load_model(name)
        self.prompt.steps_spin.setValue(model.steps)
        self.prompt.guidance_spin.setValue(model.cfg)
        self.prompt.size_combo.setCurrentIndex(self.prompt.size_combo.findData("default"))
        self.statusBar().showMessage(
            f"Using {model.name}: {model.steps} steps and CFG {model.cfg:g} suit it.", 15000
        )

    def _try_prompt(self, prompt: str) -> None:
        """A welcome example: the starter model draws it now."""
        self.prompt.prompt_edit.setPlainText(prompt)
        self.prompt.load_model(BUILTIN_MODEL)
        self.generate()

    def _use_model(self, name: str) -> None:
        self.refresh_models()
        self.prompt.load_model(name)
        self.tabs.setCurrentIndex(GENERATE_TAB)

    def open_models_folder(self) -> None:
        self._open_folder(self.settings.resolved_models_dir())

    def open_settings(self, page: int = GENERAL_PAGE) -> None:
        dialog = SettingsDialog(self.settings, self, page)
        self.settings_dialog = dialog  # tests reach it
        # servers are saved as they change, whether the dialog ends with OK or Cancel
        dialog.backends_page.servers_changed.connect(self._servers_changed)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.apply_settings(dialog.settings())

    def open_backends(self) -> None:
        self.open_settings(BACKENDS_PAGE)

    def _servers_changed(self, entries: tuple) -> None:
        backends = [entry.to_dict() for entry in entries]
        self.settings = dataclasses.replace(self.settings, backends=backends)
        self.settings_changed.emit(self.settings)
        self.prompt.run_on.set_servers(entries)

    def apply_settings(self, settings: Settings) -> None:
        try:
            save_settings(settings)
        except Exception as exc:  # StorageError and OSError: say so, keep the old ones
            self.canvas.show_error(f"The settings could not be saved: {exc}")
            return
        self.settings = settings
        self.settings_changed.emit(settings)
        self.prompt.run_on.set_servers(settings.backend_entries())
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, settings)
        self.refresh_models()

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            "About ImageStudio",
            f"ImageStudio {__version__}\nText to image on your own machine, offline.\n\n"
            f"Settings: {app_paths().settings_file}\nLog: {app_paths().log_file}",
        )

    # -- drag and drop ------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if image_path_from_mime(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = image_path_from_mime(event.mimeData())
        if path is not None:
            event.acceptProposedAction()
            self.load_settings_from_image(path)

    # -- persistence and shutdown -------------------------------------------------------------

    def _qsettings(self) -> QSettings:
        path = app_paths().config_dir / "window.ini"
        return QSettings(str(path), QSettings.Format.IniFormat)

    def _restore_state(self) -> None:
        stored = self._qsettings()
        geometry = stored.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = stored.value("window_state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        for kind, (tab, form) in self.forms.items():
            saved = stored.value(_form_key(kind))
            if isinstance(saved, str):
                try:
                    form.restore_form_state(json.loads(saved))
                except ValueError:
                    log.warning("ignoring the unreadable saved %s form", kind)
            if stored.value("tab") == kind:
                self.tabs.setCurrentIndex(tab)

    def _tuck_away_empty_gallery(self) -> None:
        """The gallery holds this session's results: empty at start, it would only take room
        from the canvas, so it waits hidden and appears with the first result. A gallery the
        user closed stays closed."""
        stored = self._qsettings()
        tucked_last_time = str(stored.value("gallery_tucked", "false")).lower() == "true"
        closed_by_user = self.gallery_dock.isHidden() and not tucked_last_time
        self._gallery_tucked = not closed_by_user and not self.gallery.paths()
        if self._gallery_tucked:
            self.gallery_dock.hide()
        # shown by anyone (the View menu, the first result): no longer tucked away
        self.gallery_dock.visibilityChanged.connect(self._on_gallery_visibility)

    def _on_gallery_visibility(self, visible: bool) -> None:
        if visible:
            self._gallery_tucked = False

    def save_state(self) -> None:
        stored = self._qsettings()
        stored.setValue("gallery_tucked", self._gallery_tucked)
        stored.setValue("geometry", self.saveGeometry())
        stored.setValue("window_state", self.saveState())
        for kind, (_tab, form) in self.forms.items():
            stored.setValue(_form_key(kind), json.dumps(form.form_state()))
        # the tab's first form names it (the inpainting form shares the Generate tab)
        shown = [kind for kind, (tab, _) in self.forms.items() if tab == self.tabs.currentIndex()]
        if shown:
            stored.setValue("tab", shown[0])
        stored.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Close at once: cancel the running job and drop the queue. A job in the middle of a
        step (which can take seconds) finishes it behind the closed window: `finish_closing`
        waits for it a little, then the app ends without it."""
        if not self._closing:
            self._closing = True
            self._queue.clear()
            self.save_state()
            self.farm.stop_all()  # each thread ends once its job in flight returns
        if self._running is not None and not self.farm.all_finished():
            self.statusBar().showMessage("Closing…")
            self.canvas.set_status("Closing…")
            super().closeEvent(event)
            return
        self.finish_closing(5_000)
        super().closeEvent(event)

    def finish_closing(self, wait_ms: int) -> bool:
        """After the window closed: wait up to `wait_ms` for the workers to stop, release what
        they hold, close the history. False when a job still runs (the app may end without
        it: files are written atomically and the history survives a kill)."""
        stopped = self.farm.wait(wait_ms)
        if not stopped:
            log.warning("the job did not stop within %d ms of closing; ending without it", wait_ms)
        self.history_store.close()
        return stopped
