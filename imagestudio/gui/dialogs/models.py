"""The Models dialog: the model library and the upscalers at a glance, imports, and downloads
from the Hub.

Scanning reads JSON configs and safetensors headers only, so the table is filled on the GUI
thread; what network an upscaler is, only spandrel can tell (seconds the first time), so an
`UpscalerDescriber` thread fills that in afterwards (`upscaler_rows`). Imports (files of several
GB), pickle conversions and downloads run on one worker QObject on its own QThread; tasks go in
and one `TaskOutcome` comes back, both plain frozen dataclasses. Cancelling sets a
`threading.Event` directly: a queued slot would not run while the worker is busy copying. The
download form is the only part of ImageStudio that uses the network.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt, QThread, QUrl, Signal, Slot
from PySide6.QtGui import QCloseEvent, QDesktopServices
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QStyle,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from imagestudio.core.models.checkpoints import PICKLE_SUFFIXES, SAFETENSORS_SUFFIX
from imagestudio.core.models.download_plan import DownloadPlan
from imagestudio.core.models.importing import is_pickle
from imagestudio.core.models.library import UPSCALER_FOLDER, ModelEntry, scan_library
from imagestudio.core.paths import app_paths
from imagestudio.core.settings import Settings
from imagestudio.gui.dialogs.model_download import DownloadForm
from imagestudio.gui.dialogs.model_table import (
    NAME,
    NAME_ROLE,
    ModelTable,
    format_size,
    kind_text,
    upscaler_kind_text,
)
from imagestudio.gui.dialogs.model_tasks import (
    DownloadTask,
    ImportTask,
    ModelTaskWorker,
    PlanTask,
    Task,
    TaskOutcome,
    TaskProgress,
    leave_running,
    stop_thread,
)
from imagestudio.gui.dialogs.upscaler_rows import (
    DescribeRequest,
    UpscalerDescriber,
    UpscalerDescription,
    UpscalerRow,
    upscaler_rows,
    with_description,
)
from imagestudio.gui.widgets.forms import ask_yes_no
from imagestudio.gui.widgets.message_row import MessageRow
from imagestudio.gui.widgets.start_folder import remember, start_folder

log = logging.getLogger(__name__)

PAUSED_TEXT = "Paused; press Download again to resume."
# How long closing the dialog waits for a cancelled task before leaving it to finish alone.
SHUTDOWN_WAIT_MS = 5_000
_BAR_STEPS = 1000  # QProgressBar holds 32-bit ints; byte counts of big models do not fit


PREDICTION_CHOICES = (
    ("Assumed: v-prediction (SD 2.x 768)", ""),
    ("v-prediction (SD 2.x 768)", "v_prediction"),
    ("epsilon (SD 2.x base 512, SD-Turbo)", "epsilon"),
)


# -- the dialog ---------------------------------------------------------------------------------


class ModelsDialog(QDialog):
    """Lists every model ImageStudio knows of; imports, converts and downloads models."""

    library_changed = Signal()
    use_model = Signal(str)  # the entry name of a loadable model
    downloaded = Signal(str)  # the library name of a model just downloaded
    # the dialog changed a per-model setting (what an SD 2.x single file predicts): save it
    settings_edited = Signal(object)  # Settings
    _start_task = Signal(object)

    def __init__(
        self, settings: Settings, parent: QWidget | None = None, cache_dir: Path | None = None
    ) -> None:
        """`cache_dir` keeps what spandrel found out about each upscaler file (the app's cache
        folder when None)."""
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(980, 600)
        self._settings = settings
        self._cache_dir = cache_dir if cache_dir is not None else app_paths().cache_dir
        self._entries: dict[str, ModelEntry] = {}
        self._upscalers: dict[str, UpscalerRow] = {}
        self._task: Task | None = None
        self._thread: QThread | None = None
        self._worker: ModelTaskWorker | None = None
        self._describe_request = 0
        self._describer: UpscalerDescriber | None = None
        self._build()
        app = QApplication.instance()
        if app is not None:
            # The dialog may be destroyed with its window while a task runs; stop it first.
            app.aboutToQuit.connect(self.shutdown)
        self.refresh()

    # -- layout ---------------------------------------------------------------------------------

    def _build(self) -> None:
        style = self.style()
        self._warning_icon = style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)

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
        self.refresh_button.clicked.connect(self._refresh_pressed)

        top = QHBoxLayout()
        top.addWidget(self.import_button)
        top.addWidget(self.download_button)
        top.addStretch(1)
        top.addWidget(self.filter_edit)
        top.addWidget(self.refresh_button)

        self.table = ModelTable()
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

        self.message_row = MessageRow()
        self.message = self.message_row.label

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
        self.download_form = DownloadForm()
        self.repo_edit = self.download_form.repo_edit
        self.variant_combo = self.download_form.variant_combo
        self.start_download_button = self.download_form.start_button
        self.download_form.requested.connect(self._download_clicked)

    # -- the library ----------------------------------------------------------------------------

    @property
    def models_dir(self) -> Path:
        return self._settings.resolved_models_dir()

    def _refresh_pressed(self) -> None:
        """Refresh asked for: files may have been added by hand (a model, a LoRA, an upscaler),
        so the window's pickers scan again too."""
        self.refresh()
        self.library_changed.emit()

    def refresh(self) -> None:
        """Scan the library again (configs and headers only) and fill the table; what network
        each upscaler is follows from the background."""
        selected, selected_upscaler = self.selected_name(), self.table.selected_upscaler()
        models_dir = self.models_dir
        try:
            entries = scan_library(models_dir, self._settings.resolved_hf_cache())
            upscalers = upscaler_rows(models_dir)
        except OSError as exc:
            entries, upscalers = [], []
            self.show_message(f"The models folder could not be read: {exc.strerror or exc}.")
        self._entries = {entry.name: entry for entry in entries}
        self._upscalers = {row.name: row for row in upscalers}
        self.table.set_entries(entries, self._warning_icon, upscalers)
        self.folder_label.setText(f"Models folder: {models_dir}")
        self.folder_label.setToolTip(str(models_dir))
        self._apply_filter()
        if selected is not None:
            self.select(selected)
        elif selected_upscaler is not None:
            self.select_upscaler(selected_upscaler)
        self._selection_changed()
        self._describe_upscalers()

    def entries(self) -> list[ModelEntry]:
        return list(self._entries.values())

    def visible_upscalers(self) -> list[str]:
        """Names of the upscaler rows the filter shows, in table order."""
        return self.table.visible_upscalers()

    def is_describing(self) -> bool:
        """True while some upscaler waits for spandrel to say what network it is."""
        return any(not row.described for row in self._upscalers.values())

    def visible_names(self) -> list[str]:
        """Entry names of the library rows the filter shows, in table order (no upscalers)."""
        return self.table.visible_names()

    def set_filter(self, text: str) -> None:
        self.filter_edit.setText(text)

    def _apply_filter(self) -> None:
        shown = self.table.filter(self.filter_edit.text())
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

    def select(self, name: str) -> bool:
        return self.table.select(name)

    def select_upscaler(self, name: str) -> bool:
        return self.table.select_upscaler(name)

    def selected_name(self) -> str | None:
        """The selected library entry's name; None when none or an upscaler is selected."""
        return self.table.selected_name()

    def selected_upscaler(self) -> UpscalerRow | None:
        name = self.table.selected_upscaler()
        return self._upscalers.get(name) if name is not None else None

    def selected_entry(self) -> ModelEntry | None:
        name = self.selected_name()
        return self._entries.get(name) if name is not None else None

    def details_text(self) -> str:
        return self.details.text()

    def _selection_changed(self) -> None:
        entry = self.selected_entry()
        self.use_button.setEnabled(entry is not None and entry.usable)
        upscaler = self.selected_upscaler()
        if upscaler is not None:
            self.prediction_row.hide()
            self.details.setText(self._upscaler_details(upscaler))
            return
        if entry is None:
            self.prediction_row.hide()
            count = len(self._entries)
            usable = sum(e.usable for e in self._entries.values())
            upscalers = len(self._upscalers)
            text = (
                f"{count} {'entry' if count == 1 else 'entries'}, {usable} ready to generate with"
                if count
                else "No models"
            )
            if upscalers:
                text += f"; {upscalers} {'upscaler' if upscalers == 1 else 'upscalers'}"
            self.details.setText(f"{text}. Select one for details." if count or upscalers else "")
            return
        self._show_prediction(entry)
        lines = [f"{entry.name}  ·  {kind_text(entry)}  ·  {format_size(entry.size_bytes)}"]
        lines.append(str(entry.ref.path))
        if entry.problem:
            lines.append(entry.problem)
        elif entry.role == "lora":
            lines.append("A LoRA: a small add-on for a model of its family, not a model itself.")
        elif entry.role == "vae":
            lines.append("A VAE: choose it in the form's VAE box to decode with it.")
        elif entry.role == "embedding":
            lines.append(
                f"A textual-inversion embedding: write {entry.ref.path.stem} in a prompt of a "
                "model of its family."
            )
        else:
            lines.append("Ready: double-click it or press Use model to generate with it.")
        self.details.setText("\n".join(lines))

    def _upscaler_details(self, row: UpscalerRow) -> str:
        lines = [f"{row.name}  ·  {upscaler_kind_text(row)}  ·  {format_size(row.size_bytes)}"]
        lines.append(str(row.path))
        if row.problem:
            lines.append(row.problem)
        elif not row.described:
            lines.append("Checking what network it is…")
        else:
            lines.append(
                f"An upscaler: it enlarges pictures ×{row.scale} in Upscale… (right-click a "
                "picture) and as the Hires fix upscaler."
            )
        if row.builtin:
            lines.append(
                "Shipped with ImageStudio. More go in "
                f"{self.models_dir / UPSCALER_FOLDER}: .safetensors ESRGAN, SwinIR, HAT, DAT, "
                "OmniSR and the other networks spandrel knows."
            )
        return "\n".join(lines)

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
        entry = self._entries.get(item.data(NAME, NAME_ROLE))
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

    # -- upscaler descriptions -----------------------------------------------------------------

    def _describe_upscalers(self) -> None:
        """Describe the upscalers not described yet in a new thread; the previous one stops."""
        self._stop_describing()
        self._describe_request += 1
        pending = tuple(
            (row.name, row.path) for row in self._upscalers.values() if not row.described
        )
        if not pending:
            return
        request = DescribeRequest(self._describe_request, pending, self._cache_dir)
        describer = UpscalerDescriber(request, QApplication.instance())
        describer.described.connect(self._on_described)
        leave_running(describer)
        describer.start()
        self._describer = describer

    @Slot(object)
    def _on_described(self, description: UpscalerDescription) -> None:
        if description.request != self._describe_request:
            return  # the table was filled again since: a newer request covers it
        row = self._upscalers.get(description.name)
        if row is None or row.path != description.path:
            return
        row = with_description(row, description)
        self._upscalers[row.name] = row
        self.table.update_upscaler(row, self._warning_icon)
        self._apply_filter()  # "esrgan" now matches a row that said only "Upscaler"
        if self.table.selected_upscaler() == row.name:
            self._selection_changed()

    def _stop_describing(self, wait_ms: int = 0) -> None:
        """Stop describing before the next file, waiting up to `wait_ms` for the current one
        (closing the dialog does not wait: the thread finishes on its own, see leave_running)."""
        describer, self._describer = self._describer, None
        if describer is None or not shiboken6.isValid(describer):
            return  # finished and deleted already
        describer.stop()
        if wait_ms and not describer.wait(wait_ms):
            log.info("describing upscalers did not stop within %d ms", wait_ms)

    # -- messages -------------------------------------------------------------------------------

    def show_message(self, text: str, error: bool = True) -> None:
        self.message_row.show_message(text, error)

    def clear_message(self) -> None:
        self.message_row.clear_message()

    def message_text(self) -> str:
        """The message shown under the table; empty when there is none."""
        return self.message_row.text()

    def ask(self, title: str, text: str) -> bool:
        """A yes/no question; tests replace it."""
        return ask_yes_no(self, title, text, default_yes=True)

    # -- import ---------------------------------------------------------------------------------

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Import a diffusers model folder", start_folder(kind="models")
        )
        if folder:
            remember(folder, "models")
            self.import_path(folder)

    def choose_file(self) -> None:
        pickles = " ".join(f"*{suffix}" for suffix in PICKLE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Import a checkpoint or LoRA",
            start_folder(kind="models"),
            f"Safetensors models (*{SAFETENSORS_SUFFIX});;"
            f"Pickle checkpoints, converted on import ({pickles});;All files (*)",
        )
        if path:
            remember(path, "models")
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
        if not isinstance(task, ImportTask):
            self.downloaded.emit(name)

    # -- closing --------------------------------------------------------------------------------

    def shutdown(self, wait_ms: int = SHUTDOWN_WAIT_MS) -> None:
        """Cancel the running task and the upscaler descriptions; stop both worker threads."""
        self._stop_describing(wait_ms)
        thread, worker = self._thread, self._worker
        if thread is None or worker is None:
            return
        self._thread = self._worker = None
        self._task = None
        worker.cancel()
        stop_thread(thread, wait_ms, "the models task")

    def done(self, result: int) -> None:
        if self.is_busy() and not self._confirm_stop():
            return
        self._stop_describing()
        self.shutdown()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.is_busy() and not self._confirm_stop():
            event.ignore()
            return
        self._stop_describing()
        self.shutdown()
        super().closeEvent(event)

    def _confirm_stop(self) -> bool:
        if isinstance(self._task, DownloadTask):
            question = "Pause the download and close? Downloading again later resumes it."
        else:
            question = "A task is still running. Stop it and close?"
        return self.ask("Stop and close?", question)
