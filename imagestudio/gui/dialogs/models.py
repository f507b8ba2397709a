"""The Models dialog: the model library at a glance, imports, and downloads from the Hub.

Scanning reads JSON configs and safetensors headers only, so the table is filled on the GUI
thread. Imports (files of several GB), pickle conversions and downloads run on one worker
QObject on its own QThread; tasks go in and one `TaskOutcome` comes back, both plain frozen
dataclasses. Cancelling sets a `threading.Event` directly: a queued slot would not run while the
worker is busy copying. The download form is the only part of ImageStudio that uses the network.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSize, Qt, QThread, QUrl, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDesktopServices, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QDialog,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStyle,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from imagestudio.core.errors import ImageStudioError, JobCancelled
from imagestudio.core.models.checkpoints import PICKLE_SUFFIXES, SAFETENSORS_SUFFIX
from imagestudio.core.models.downloads import DownloadPlan, download_model, plan_download
from imagestudio.core.models.importing import import_model, is_pickle
from imagestudio.core.models.library import ModelEntry, scan_library
from imagestudio.core.settings import Settings
from imagestudio.core.vocabulary import DETAIL_LABELS, FAMILY_LABELS, SOURCE_LABELS

log = logging.getLogger(__name__)

COLUMNS = ("Name", "Kind", "Size", "Precision", "Where", "Status")
NAME, KIND, SIZE, PRECISION, WHERE, STATUS = range(len(COLUMNS))
READY = "Ready"
PAUSED_TEXT = "Paused; press Download again to resume."
NETWORK_NOTE = (
    "This is the only place where ImageStudio uses the internet: nothing is downloaded unless "
    "you press Download. Only .safetensors weights are fetched."
)
# Progress reports at most this often: a fast disk copies hundreds of chunks a second.
PROGRESS_INTERVAL_S = 0.1
# How long closing the dialog waits for a cancelled task before leaving it to finish alone.
SHUTDOWN_WAIT_MS = 5_000
_BAR_STEPS = 1000  # QProgressBar holds 32-bit ints; byte counts of big models do not fit
_SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_NAME_ROLE = Qt.ItemDataRole.UserRole + 2


PREDICTION_CHOICES = (
    ("Assumed: v-prediction (SD 2.x 768)", ""),
    ("v-prediction (SD 2.x 768)", "v_prediction"),
    ("epsilon (SD 2.x base 512, SD-Turbo)", "epsilon"),
)


def format_size(count: int) -> str:
    """A byte count for people, in decimal units: "820 KB", "48.2 MB", "6.94 GB"."""
    if count < 1000:
        return f"{max(count, 0)} bytes"
    if count < 1000**2:
        return f"{count / 1000:.0f} KB"
    if count < 1000**3:
        value = count / 1000**2
        return f"{value:.1f} MB" if value < 100 else f"{value:.0f} MB"
    return f"{count / 1000**3:.2f} GB"


def kind_text(entry: ModelEntry) -> str:
    """The Kind column: "Starter (built in)", "Stable Diffusion XL LCM", "LoRA"."""
    if entry.ref.builtin:
        return "Starter (built in)"
    if entry.role == "lora":
        family = FAMILY_LABELS.get(entry.ref.family) if entry.ref.family != "unknown" else None
        return f"LoRA · {family}" if family else "LoRA"
    if entry.problem and entry.ref.layout == "single_file" and entry.ref.family == "unknown":
        return "—"  # a pickle or a stray file: nothing is known about it
    family = FAMILY_LABELS.get(entry.ref.family, entry.ref.family)
    detail = DETAIL_LABELS.get(entry.detail, entry.detail)
    return f"{family} {detail}" if detail else family


def status_text(entry: ModelEntry) -> str:
    return entry.problem or READY


# -- the worker ---------------------------------------------------------------------------------


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
            message = f"Something went wrong: {type(exc).__name__}: {exc}. Details are in the log."
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


# -- the table ----------------------------------------------------------------------------------


class _Item(QTreeWidgetItem):
    """A row that sorts by the value in _SORT_ROLE (sizes as numbers, names without case)."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        tree = self.treeWidget()
        column = tree.sortColumn() if tree is not None else NAME
        mine, theirs = self.data(column, _SORT_ROLE), other.data(column, _SORT_ROLE)
        if mine is None or theirs is None or type(mine) is not type(theirs):
            return super().__lt__(other)
        return mine < theirs


def _entry_item(entry: ModelEntry, dimmed: QPalette) -> _Item:
    where = SOURCE_LABELS.get(entry.ref.source, entry.ref.source)
    values = (
        entry.name,
        kind_text(entry),
        format_size(entry.size_bytes),
        entry.precision if entry.precision != "unknown" else "—",
        where,
        status_text(entry),
    )
    item = _Item(list(values))
    # The built-in starter sorts first by name: it is the one that always works.
    item.setData(NAME, _SORT_ROLE, ("0" if entry.ref.builtin else "1") + entry.name.casefold())
    item.setData(SIZE, _SORT_ROLE, entry.size_bytes)
    for column in (KIND, PRECISION, WHERE, STATUS):
        item.setData(column, _SORT_ROLE, values[column].casefold())
    item.setData(NAME, _NAME_ROLE, entry.name)
    item.setTextAlignment(SIZE, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    tooltip = f"{entry.name}\n{entry.ref.path}"
    if entry.problem:
        tooltip += f"\n\n{entry.problem}"
        brush = dimmed.brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        for column in range(len(COLUMNS)):
            item.setForeground(column, brush)
    for column in range(len(COLUMNS)):
        item.setToolTip(column, tooltip)
    return item


# -- the dialog ---------------------------------------------------------------------------------


class ModelsDialog(QDialog):
    """Lists every model ImageStudio knows of; imports, converts and downloads models."""

    library_changed = Signal()
    use_model = Signal(str)  # the entry name of a loadable model
    # the dialog changed a per-model setting (what an SD 2.x single file predicts): save it
    settings_edited = Signal(object)  # Settings
    _start_task = Signal(object)

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(980, 600)
        self._settings = settings
        self._entries: dict[str, ModelEntry] = {}
        self._task: Task | None = None
        self._thread: QThread | None = None
        self._worker: ModelTaskWorker | None = None
        self._build()
        app = QApplication.instance()
        if app is not None:
            # The dialog may be destroyed with its window while a task runs; stop it first.
            app.aboutToQuit.connect(self.shutdown)
        self.refresh()

    # -- layout ---------------------------------------------------------------------------------

    def _build(self) -> None:
        style = self.style()
        icon_size = style.pixelMetric(QStyle.PixelMetric.PM_SmallIconSize, None, self)
        self._warning_icon = style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        self._info_icon = style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation)
        self._icon_size = QSize(icon_size, icon_size)

        self.import_button = QPushButton("Import")
        self.import_button.setToolTip("Copy a model you already have into the models folder")
        menu = QMenu(self.import_button)
        self.import_folder_action = menu.addAction("Model folder…", self.choose_folder)
        self.import_folder_action.setToolTip("A diffusers folder (with model_index.json)")
        self.import_file_action = menu.addAction("Checkpoint or LoRA file…", self.choose_file)
        self.import_button.setMenu(menu)
        self.download_button = QPushButton("Download…")
        self.download_button.setCheckable(True)
        self.download_button.setToolTip("Download a model from Hugging Face (uses the internet)")
        self.download_button.toggled.connect(self._show_download_form)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter by name, kind or place")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setMinimumWidth(240)
        self.filter_edit.textChanged.connect(self._apply_filter)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Look through the models folder again")
        self.refresh_button.clicked.connect(self.refresh)

        top = QHBoxLayout()
        top.addWidget(self.import_button)
        top.addWidget(self.download_button)
        top.addStretch(1)
        top.addWidget(self.filter_edit)
        top.addWidget(self.refresh_button)

        self.table = QTreeWidget()
        self.table.setColumnCount(len(COLUMNS))
        self.table.setHeaderLabels(list(COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
        self.table.setAccessibleName("Models")
        header = self.table.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header_item = self.table.headerItem()
        header_item.setTextAlignment(
            SIZE, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemDoubleClicked.connect(self._double_clicked)

        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setEnabled(False)
        self.empty_label.hide()

        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.PlainText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setMinimumHeight(self.fontMetrics().lineSpacing() * 3)
        # What an SD 2.x single file predicts is not in the file: the artist may have to say.
        self.prediction_combo = QComboBox()
        self.prediction_combo.setAccessibleName("Prediction type")
        for label, value in PREDICTION_CHOICES:
            self.prediction_combo.addItem(label, value)
        self.prediction_combo.setToolTip(
            "SD 2.x checkpoints come in two kinds the file does not name: 768-px models predict "
            "v (v-prediction), 512-px base models and SD-Turbo predict noise (epsilon). Wrong "
            "pictures (grey mush, burnt colours) mean the other choice."
        )
        self.prediction_combo.activated.connect(self._prediction_chosen)
        self.prediction_row = QWidget()
        prediction_layout = QHBoxLayout(self.prediction_row)
        prediction_layout.setContentsMargins(0, 0, 0, 0)
        prediction_caption = QLabel("&Prediction")
        prediction_caption.setBuddy(self.prediction_combo)
        prediction_layout.addWidget(prediction_caption)
        prediction_layout.addWidget(self.prediction_combo)
        prediction_layout.addStretch(1)
        self.prediction_row.hide()

        self._build_download_form()

        self.progress_label = QLabel()
        self.progress_label.setTextFormat(Qt.TextFormat.PlainText)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, _BAR_STEPS)
        self.progress_bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_task)
        self.task_row = QWidget()
        task_layout = QHBoxLayout(self.task_row)
        task_layout.setContentsMargins(0, 0, 0, 0)
        task_layout.addWidget(self.progress_label, 2)
        task_layout.addWidget(self.progress_bar, 1)
        task_layout.addWidget(self.cancel_button)
        self.task_row.hide()

        self._message_icon = QLabel()
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        dismiss = QToolButton()
        dismiss.setAutoRaise(True)
        dismiss.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_LineEditClearButton))
        dismiss.setToolTip("Dismiss")
        dismiss.clicked.connect(self.clear_message)
        self.message_row = QWidget()
        message_layout = QHBoxLayout(self.message_row)
        message_layout.setContentsMargins(0, 0, 0, 0)
        message_layout.addWidget(self._message_icon, 0, Qt.AlignmentFlag.AlignTop)
        message_layout.addWidget(self.message, 1)
        message_layout.addWidget(dismiss, 0, Qt.AlignmentFlag.AlignTop)
        self.message_row.hide()

        self.folder_label = QLabel()
        self.folder_label.setTextFormat(Qt.TextFormat.PlainText)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_folder_button = QPushButton("Open folder")
        self.open_folder_button.setToolTip("Show the models folder in the file manager")
        self.open_folder_button.clicked.connect(self.open_models_folder)
        self.use_button = QPushButton("Use model")
        self.use_button.setToolTip("Generate with the selected model (or double-click it)")
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self._use_selected)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        bottom = QHBoxLayout()
        bottom.addWidget(self.folder_label, 1)
        bottom.addWidget(self.open_folder_button)
        bottom.addSpacing(24)
        bottom.addWidget(self.use_button)
        bottom.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.download_form)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.details)
        layout.addWidget(self.prediction_row)
        layout.addWidget(self.task_row)
        layout.addWidget(self.message_row)
        layout.addLayout(bottom)

        # Enter in the filter or the repo field must not press a button by surprise.
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)

    def _build_download_form(self) -> None:
        self.download_form = QGroupBox("Download from Hugging Face")
        self.repo_edit = QLineEdit()
        self.repo_edit.setPlaceholderText("owner/model-name or https://huggingface.co/…")
        self.repo_edit.setClearButtonEnabled(True)
        self.repo_edit.returnPressed.connect(self._download_clicked)
        self.variant_combo = QComboBox()
        self.variant_combo.addItem("Standard weights", None)
        self.variant_combo.addItem("fp16 (half the download)", "fp16")
        self.variant_combo.setToolTip(
            "Many models also publish fp16 weights: half the size, the same pictures on a GPU"
        )
        self.start_download_button = QPushButton("Download")
        self.start_download_button.clicked.connect(self._download_clicked)
        repo_label = QLabel("&Model")
        repo_label.setBuddy(self.repo_edit)
        row = QHBoxLayout()
        row.addWidget(repo_label)
        row.addWidget(self.repo_edit, 1)
        row.addWidget(self.variant_combo)
        row.addWidget(self.start_download_button)
        note = QLabel(NETWORK_NOTE)
        note.setWordWrap(True)
        note.setEnabled(False)  # the palette's secondary text colour
        layout = QVBoxLayout(self.download_form)
        layout.addLayout(row)
        layout.addWidget(note)
        self.download_form.hide()

    # -- the library ----------------------------------------------------------------------------

    @property
    def models_dir(self) -> Path:
        return self._settings.resolved_models_dir()

    def refresh(self) -> None:
        """Scan the library again (configs and headers only) and fill the table."""
        selected = self.selected_name()
        models_dir = self.models_dir
        try:
            entries = scan_library(models_dir, self._settings.resolved_hf_cache())
        except OSError as exc:
            entries = []
            self.show_message(f"The models folder could not be read: {exc.strerror or exc}.")
        self._entries = {entry.name: entry for entry in entries}
        self.table.setSortingEnabled(False)
        self.table.clear()
        palette = self.table.palette()
        for entry in entries:
            item = _entry_item(entry, palette)
            if entry.problem:
                item.setIcon(STATUS, self._warning_icon)
            self.table.addTopLevelItem(item)
        self.table.setSortingEnabled(True)
        self._fit_columns()
        self.folder_label.setText(f"Models folder: {models_dir}")
        self.folder_label.setToolTip(str(models_dir))
        self._apply_filter()
        if selected is not None:
            self.select(selected)
        self._selection_changed()

    def _fit_columns(self) -> None:
        metrics = self.table.fontMetrics()
        gap = metrics.horizontalAdvance("M") * 2  # air between a right-aligned size and the next
        for column in (NAME, KIND, SIZE, PRECISION, WHERE):
            self.table.resizeColumnToContents(column)
            self.table.setColumnWidth(column, self.table.columnWidth(column) + gap)
        # Long names (sdxl/some-very-long-checkpoint-v2) must not push the status off screen.
        widest = metrics.horizontalAdvance("M") * 28
        self.table.setColumnWidth(NAME, min(max(self.table.columnWidth(NAME), 160), widest))

    def entries(self) -> list[ModelEntry]:
        return list(self._entries.values())

    def _rows(self) -> list[QTreeWidgetItem]:
        items = (self.table.topLevelItem(row) for row in range(self.table.topLevelItemCount()))
        return [item for item in items if item is not None]

    def visible_names(self) -> list[str]:
        """Entry names of the rows the filter shows, in table order."""
        return [item.data(NAME, _NAME_ROLE) for item in self._rows() if not item.isHidden()]

    def set_filter(self, text: str) -> None:
        self.filter_edit.setText(text)

    def _apply_filter(self) -> None:
        words = self.filter_edit.text().casefold().split()
        shown = 0
        for item in self._rows():
            haystack = " ".join(item.text(c) for c in (NAME, KIND, PRECISION, WHERE)).casefold()
            hidden = not all(word in haystack for word in words)
            item.setHidden(hidden)
            shown += not hidden
        if shown:
            self.empty_label.hide()
        elif self.table.topLevelItemCount():
            self.empty_label.setText(f"No models match “{self.filter_edit.text().strip()}”.")
            self.empty_label.show()
        else:
            self.empty_label.setText(
                "No models yet. Import a model you have, or download one from Hugging Face."
            )
            self.empty_label.show()
        current = self.table.currentItem()
        if current is not None and current.isHidden():
            self.table.clearSelection()

    def select(self, name: str) -> bool:
        for item in self._rows():
            if item.data(NAME, _NAME_ROLE) == name and not item.isHidden():
                self.table.setCurrentItem(item)
                self.table.scrollToItem(item)
                return True
        return False

    def selected_name(self) -> str | None:
        items = self.table.selectedItems()
        return items[0].data(NAME, _NAME_ROLE) if items else None

    def selected_entry(self) -> ModelEntry | None:
        name = self.selected_name()
        return self._entries.get(name) if name is not None else None

    def details_text(self) -> str:
        return self.details.text()

    def _selection_changed(self) -> None:
        entry = self.selected_entry()
        self.use_button.setEnabled(entry is not None and entry.usable)
        if entry is None:
            self.prediction_row.hide()
            count = len(self._entries)
            usable = sum(e.usable for e in self._entries.values())
            self.details.setText(
                f"{count} entries, {usable} ready to generate with. Select one for details."
                if count
                else ""
            )
            return
        self._show_prediction(entry)
        lines = [f"{entry.name}  ·  {kind_text(entry)}  ·  {format_size(entry.size_bytes)}"]
        lines.append(str(entry.ref.path))
        if entry.problem:
            lines.append(entry.problem)
        elif entry.role == "lora":
            lines.append("A LoRA: a small add-on for a model of its family, not a model itself.")
        else:
            lines.append("Ready: double-click it or press Use model to generate with it.")
        self.details.setText("\n".join(lines))

    def _show_prediction(self, entry: ModelEntry) -> None:
        """The prediction choice, for the SD 2.x single files whose kind the file does not say."""
        shown = entry.ref.layout == "single_file" and entry.ref.family == "sd2"
        self.prediction_row.setVisible(shown and entry.usable)
        if shown:
            chosen = self._settings.model_prediction.get(entry.name, "")
            self.prediction_combo.setCurrentIndex(max(0, self.prediction_combo.findData(chosen)))

    def set_prediction(self, name: str, value: str) -> None:
        """Remember what model `name` predicts ("" forgets it) and hand the settings on."""
        choices = dict(self._settings.model_prediction)
        if value:
            choices[name] = value
        else:
            choices.pop(name, None)
        if choices == self._settings.model_prediction:
            return
        self._settings = dataclasses.replace(self._settings, model_prediction=choices)
        self.settings_edited.emit(self._settings)

    def _prediction_chosen(self, _index: int) -> None:
        entry = self.selected_entry()
        if entry is not None:
            self.set_prediction(entry.name, str(self.prediction_combo.currentData() or ""))

    def _double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        entry = self._entries.get(item.data(NAME, _NAME_ROLE))
        if entry is not None and entry.usable:
            self._use(entry.name)

    def _use_selected(self) -> None:
        entry = self.selected_entry()
        if entry is not None and entry.usable:
            self._use(entry.name)

    def _use(self, name: str) -> None:
        self.use_model.emit(name)
        if not self.is_busy():
            self.accept()

    def open_models_folder(self) -> None:
        folder = self.models_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.show_message(f"Cannot open {folder}: {exc.strerror or exc}.")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # -- messages -------------------------------------------------------------------------------

    def show_message(self, text: str, error: bool = True) -> None:
        icon = self._warning_icon if error else self._info_icon
        self._message_icon.setPixmap(icon.pixmap(self._icon_size, self.devicePixelRatioF()))
        self.message.setText(text)
        self.message_row.show()

    def clear_message(self) -> None:
        self.message.clear()
        self.message_row.hide()

    def message_text(self) -> str:
        """The message shown under the table; empty when there is none."""
        return self.message.text() if not self.message_row.isHidden() else ""

    def ask(self, title: str, text: str) -> bool:
        """A yes/no question; tests replace it."""
        answer = QMessageBox.question(
            self,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        return answer == QMessageBox.StandardButton.Yes

    # -- import ---------------------------------------------------------------------------------

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a diffusers model folder")
        if folder:
            self.import_path(folder)

    def choose_file(self) -> None:
        pickles = " ".join(f"*{suffix}" for suffix in PICKLE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Import a checkpoint or LoRA",
            "",
            f"Safetensors models (*{SAFETENSORS_SUFFIX});;"
            f"Pickle checkpoints, converted on import ({pickles});;All files (*)",
        )
        if path:
            self.import_path(path)

    def import_path(self, path: str | Path) -> bool:
        """Import a model folder, checkpoint or LoRA in the background; False if not started.

        A pickle file is converted to .safetensors first, after the user agrees.
        """
        source = Path(path).expanduser()
        if self.is_busy():
            self.show_message("Wait for the current task to finish, or cancel it.")
            return False
        self.clear_message()
        if not source.exists():
            self.show_message(f"There is no file or folder at {source}.")
            return False
        convert = is_pickle(source)
        if convert and not self.ask(
            "Convert the checkpoint?",
            f"{source.name} is a pickle-based file, and opening one can run any program hidden "
            "in it.\n\nConvert it to .safetensors (no code runs: only tensors are read) and "
            "import the converted copy? The original file is left as it is.",
        ):
            self.show_message(
                f"{source.name} was not imported: ImageStudio only loads .safetensors files."
            )
            return False
        self._run(ImportTask(source, self.models_dir, convert))
        return True

    # -- download -------------------------------------------------------------------------------

    def _show_download_form(self, shown: bool) -> None:
        self.download_form.setVisible(shown)
        if shown:
            self.repo_edit.setFocus()

    def _download_clicked(self) -> None:
        self.start_download(self.repo_edit.text(), self.variant_combo.currentData())

    def start_download(self, repo_id: str, variant: str | None = None) -> bool:
        """Plan a download in the background, then ask before fetching; False if not started."""
        if self.is_busy():
            self.show_message("Wait for the current task to finish, or cancel it.")
            return False
        self.clear_message()
        self.download_button.setChecked(True)
        if self.repo_edit.text() != repo_id:
            self.repo_edit.setText(repo_id)
        self._run(PlanTask(repo_id, variant))
        return True

    def _confirm_download(self, plan: DownloadPlan) -> None:
        count = len(plan.files)
        files = "1 file" if count == 1 else f"{count} files"
        text = (
            f"{plan.repo_id}: {files}, {format_size(plan.total_bytes)} from {plan.host}.\n\n"
            f"It will be saved as {self.models_dir / plan.name}."
        )
        if plan.skipped_components:
            text += f"\nNot needed, so not downloaded: {', '.join(plan.skipped_components)}."
        if not self.ask("Download the model?", text):
            self.show_message(f"The download of {plan.repo_id} was not started.", error=False)
            return
        self._run(DownloadTask(plan, self.models_dir))

    # -- tasks ----------------------------------------------------------------------------------

    def is_busy(self) -> bool:
        return self._task is not None

    def _ensure_worker(self) -> ModelTaskWorker:
        if self._worker is None or self._thread is None:
            self._thread = QThread(self)
            self._thread.setObjectName("models-dialog-worker")
            self._worker = ModelTaskWorker()
            self._worker.moveToThread(self._thread)
            self._thread.finished.connect(self._worker.deleteLater)
            self._start_task.connect(self._worker.run)
            self._worker.progress.connect(self._on_progress)
            self._worker.task_finished.connect(self._on_finished)
            self._thread.start()
        return self._worker

    def _run(self, task: Task) -> None:
        worker = self._ensure_worker()
        worker.cancel_event.clear()
        self._task = task
        if isinstance(task, ImportTask):
            what = "Converting" if task.convert else "Importing"
            text = f"{what} {task.source.name}…"
        elif isinstance(task, PlanTask):
            text = f"Asking Hugging Face about {task.repo_id.strip()}…"
        else:
            text = f"Downloading {task.plan.repo_id}…"
        self.progress_label.setText(text)
        self.progress_bar.setRange(0, 0)  # busy until the first report says how much
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Pause" if isinstance(task, DownloadTask) else "Cancel")
        self.task_row.show()
        self._set_controls_enabled(False)
        self._start_task.emit(task)

    def _set_controls_enabled(self, enabled: bool) -> None:
        for widget in (self.import_button, self.start_download_button, self.refresh_button):
            widget.setEnabled(enabled)

    def cancel_task(self) -> None:
        """Stop the running task at its next check (a download pauses and can resume)."""
        if self._worker is not None and self._task is not None:
            self._worker.cancel()
            self.cancel_button.setEnabled(False)
            self.progress_label.setText("Stopping…")

    @Slot(object)
    def _on_progress(self, progress: TaskProgress) -> None:
        if self._task is None or self._worker is None or self._worker.cancel_event.is_set():
            return
        if progress.total <= 0:
            self.progress_bar.setRange(0, 0)
            self.progress_label.setText(progress.detail)
            return
        self.progress_bar.setRange(0, _BAR_STEPS)
        self.progress_bar.setValue(int(_BAR_STEPS * min(progress.done / progress.total, 1.0)))
        amount = f"{format_size(progress.done)} of {format_size(progress.total)}"
        if isinstance(self._task, DownloadTask):
            self.progress_label.setText(f"{amount} · {progress.detail}")
        else:
            self.progress_label.setText(f"{progress.detail}: {amount}")

    @Slot(object)
    def _on_finished(self, outcome: TaskOutcome) -> None:
        self._task = None
        self.task_row.hide()
        self._set_controls_enabled(True)
        task = outcome.task
        if outcome.status == "failed":
            self.show_message(outcome.message)
            return
        if outcome.status == "cancelled":
            if isinstance(task, DownloadTask):
                self.show_message(PAUSED_TEXT, error=False)
            else:
                self.show_message("Cancelled; nothing was added to the library.", error=False)
            return
        if isinstance(task, PlanTask):
            self._confirm_download(outcome.result)
            return
        if isinstance(task, ImportTask):
            entry: ModelEntry = outcome.result
            name = entry.name
            text = f"Imported {name} into the models folder."
            if task.convert:
                text = f"Converted {task.source.name} to .safetensors and imported it as {name}."
        else:
            folder: Path = outcome.result
            name = folder.name
            text = f"Downloaded {task.plan.repo_id} as {name}; it works offline from now on."
        self.refresh()
        self.select(name)
        self.show_message(text, error=False)
        self.library_changed.emit()

    # -- closing --------------------------------------------------------------------------------

    def shutdown(self, wait_ms: int = SHUTDOWN_WAIT_MS) -> None:
        """Cancel the running task and stop the worker thread."""
        thread, worker = self._thread, self._worker
        if thread is None or worker is None:
            return
        self._thread = self._worker = None
        self._task = None
        worker.cancel()
        thread.quit()  # runs once the task in flight returns
        if thread.wait(wait_ms):
            return
        # A conversion or a stalled connection cannot be interrupted: let the thread finish on
        # its own, owned by the application, so that it is not destroyed while running.
        log.warning("the models task did not stop within %d ms; leaving it to finish", wait_ms)
        app = QApplication.instance()
        thread.setParent(app)
        thread.finished.connect(thread.deleteLater)

    def done(self, result: int) -> None:
        if self.is_busy() and not self._confirm_stop():
            return
        self.shutdown()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.is_busy() and not self._confirm_stop():
            event.ignore()
            return
        self.shutdown()
        super().closeEvent(event)

    def _confirm_stop(self) -> bool:
        if isinstance(self._task, DownloadTask):
            question = "Pause the download and close? Downloading again later resumes it."
        else:
            question = "A task is still running. Stop it and close?"
        return self.ask("Stop and close?", question)
