"""The settings dialog: folders, device, precision, memory, live previews and theme; and the
Backends page (this computer and ComfyUI servers).

The dialog edits a copy: `settings()` returns a new `Settings`, and saving it is the caller's job.
The Backends page is the exception: servers are saved as they are added or removed (their tokens
must go to the keyring with them), and `settings()` carries the list as it is now.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from PySide6.QtCore import QDir, QSize, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from imagestudio.core.devices import DEVICE_CHOICES, PRECISION_CHOICES
from imagestudio.core.generation.memory import MEMORY_MODES
from imagestudio.core.settings import THEMES, Settings
from imagestudio.gui.dialogs.backends import BackendsPage

DEVICE_LABELS = {"auto": "Automatic", "cuda": "CUDA", "mps": "Apple MPS", "cpu": "CPU"}
PRECISION_LABELS = {"auto": "Automatic", "fp32": "fp32", "fp16": "fp16", "bf16": "bf16"}
MEMORY_LABELS = {
    "auto": "Automatic (savers only when needed)",
    "fast": "Fast (no savers)",
    "balanced": "Balanced (slicing, tiling)",
    "low": "Low (also model CPU offload)",
    "minimum": "Minimum (layer-by-layer offload, slow)",
}
THEME_LABELS = {"system": "Follow the system", "light": "Light", "dark": "Dark"}
DEVICE_NOTE = "Device, precision and memory apply to the next model load."


def folder_problem(what: str, text: str) -> str | None:
    """Why `text` cannot be used as the `what` folder ("outputs folder"), or None when it can.

    An empty text means the default folder and is always fine. A missing folder is created here,
    so that a path that cannot be created is reported while the dialog is still open.
    """
    text = text.strip()
    if not text:
        return None
    path = Path(text).expanduser()
    if not path.is_absolute():
        return f"The {what} “{text}” is not a full path. Use Choose… to pick a folder."
    if path.exists() and not path.is_dir():
        return f"The {what} {path} is a file, not a folder. Choose a folder."
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return f"The {what} {path} cannot be created ({reason}). Choose another folder."
    if not os.access(path, os.W_OK):
        return f"ImageStudio cannot write to the {what} {path}. Choose another folder."
    return None


class _FolderField(QWidget):
    """A path line edit and a "Choose…" button; empty means the default shown as placeholder."""

    def __init__(self, title: str, default: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = title
        self._default = default
        self.line_edit = QLineEdit(self)
        self.line_edit.setPlaceholderText(str(default))
        self.line_edit.setClearButtonEnabled(True)
        self.line_edit.setToolTip("Leave empty to use the default folder.")
        self.choose_button = QPushButton("Choose…", self)
        self.choose_button.clicked.connect(self.choose)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.line_edit, 1)
        layout.addWidget(self.choose_button)

    def text(self) -> str:
        return self.line_edit.text().strip()

    def set_text(self, text: str) -> None:
        self.line_edit.setText(text)

    def choose(self) -> None:
        start = Path(self.text()).expanduser() if self.text() else self._default
        while not start.is_dir() and start != start.parent:  # the dialog needs an existing folder
            start = start.parent
        chosen = QFileDialog.getExistingDirectory(self, self._title, str(start))
        if chosen:
            self.line_edit.setText(QDir.toNativeSeparators(chosen))


def _combo(labels: dict[str, str], choices: tuple[str, ...], current: str) -> QComboBox:
    combo = QComboBox()
    for value in choices:
        combo.addItem(labels.get(value, value), value)
    index = combo.findData(current)
    if index < 0:  # a value this build doesn't list: keep it rather than silently change it
        combo.addItem(current, current)
        index = combo.count() - 1
    combo.setCurrentIndex(index)
    return combo


GENERAL_PAGE, BACKENDS_PAGE = 0, 1


class SettingsDialog(QDialog):
    def __init__(
        self, settings: Settings, parent: QWidget | None = None, page: int = GENERAL_PAGE
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(600)
        self._original = settings
        defaults = Settings()

        self.outputs_field = _FolderField(
            "Choose the outputs folder", defaults.resolved_outputs_dir(), self
        )
        self.outputs_field.set_text(settings.outputs_dir)
        self.models_field = _FolderField(
            "Choose the models folder", defaults.resolved_models_dir(), self
        )
        self.models_field.set_text(settings.models_dir)

        self.device_combo = _combo(DEVICE_LABELS, DEVICE_CHOICES, settings.device)
        self.device_combo.setToolTip(
            "Automatic picks a CUDA GPU, then Apple MPS, then the CPU. "
            "The IMAGESTUDIO_DEVICE environment variable overrides this."
        )
        self.precision_combo = _combo(PRECISION_LABELS, PRECISION_CHOICES, settings.precision)
        self.precision_combo.setToolTip(
            "Automatic uses fp16 on a GPU and fp32 on the CPU. "
            "fp16 and bf16 halve the memory a model needs."
        )
        self.memory_combo = _combo(MEMORY_LABELS, MEMORY_MODES, settings.memory_mode)
        self.memory_combo.setToolTip(
            "How much of the GPU's memory a job may use. Automatic turns on attention and VAE "
            "slicing, VAE tiling or CPU offload only when a job would not fit otherwise, and "
            "says why in the status bar. Lower settings fit bigger pictures on smaller GPUs, "
            "more slowly."
        )
        self.hf_cache_check = QCheckBox("List models in the Hugging Face cache (read only)")
        self.hf_cache_check.setChecked(settings.scan_hf_cache)
        self.hf_cache_check.setToolTip(
            "Models that other programs downloaded with huggingface_hub appear in the model "
            "list and load in place; ImageStudio never changes that folder."
        )
        self.previews_check = QCheckBox("Show live previews while generating")
        self.previews_check.setChecked(settings.previews)
        self.theme_combo = _combo(THEME_LABELS, THEMES, settings.theme)

        note = QLabel(DEVICE_NOTE)
        note.setWordWrap(True)

        self._error_icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize, None, self)
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning, None, self)
        self._error_icon.setPixmap(icon.pixmap(QSize(size, size), self.devicePixelRatioF()))
        self._error = QLabel()
        self._error.setWordWrap(True)
        self._error.setTextFormat(Qt.TextFormat.PlainText)
        self._error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._error_row = QWidget()
        error_layout = QHBoxLayout(self._error_row)
        error_layout.setContentsMargins(0, 0, 0, 0)
        error_layout.addWidget(self._error_icon, 0, Qt.AlignmentFlag.AlignTop)
        error_layout.addWidget(self._error, 1)
        self._error_row.hide()

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow(
            self._label("&Outputs folder", self.outputs_field.line_edit), self.outputs_field
        )
        form.addRow(self._label("&Models folder", self.models_field.line_edit), self.models_field)
        form.addRow("&Device", self.device_combo)
        form.addRow("&Precision", self.precision_combo)
        form.addRow("Memor&y", self.memory_combo)
        form.addRow("", note)
        form.addRow("", self.hf_cache_check)
        form.addRow("Live previews", self.previews_check)
        form.addRow("&Theme", self.theme_combo)

        general = QWidget(self)
        general_layout = QVBoxLayout(general)
        general_layout.addLayout(form)
        general_layout.addWidget(self._error_row)
        general_layout.addStretch(1)
        self.backends_page = BackendsPage(settings.backend_entries(), self)
        self.pages = QTabWidget(self)
        self.pages.addTab(general, "General")
        self.pages.addTab(self.backends_page, "Backends")
        self.pages.setTabToolTip(BACKENDS_PAGE, "This computer and the ComfyUI servers")
        self.pages.setCurrentIndex(page)

        layout = QVBoxLayout(self)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.buttons)

    def _label(self, text: str, buddy: QWidget) -> QLabel:
        # The mnemonic should focus the line edit, not the row's container widget.
        label = QLabel(text, self)
        label.setBuddy(buddy)
        return label

    def settings(self) -> Settings:
        """A new Settings with the dialog's values; fields the dialog doesn't show are kept."""
        return dataclasses.replace(
            self._original,
            outputs_dir=self.outputs_field.text(),
            models_dir=self.models_field.text(),
            device=self.device_combo.currentData(),
            precision=self.precision_combo.currentData(),
            memory_mode=self.memory_combo.currentData(),
            scan_hf_cache=self.hf_cache_check.isChecked(),
            previews=self.previews_check.isChecked(),
            theme=self.theme_combo.currentData(),
            # saved already by the page as they changed; the list as it is now
            backends=[entry.to_dict() for entry in self.backends_page.entries],
            problems=[],
        )

    def error_text(self) -> str:
        """The validation message shown in the dialog; empty when there is none."""
        return self._error.text() if not self._error_row.isHidden() else ""

    def accept(self) -> None:
        for field, what in (
            (self.outputs_field, "outputs folder"),
            (self.models_field, "models folder"),
        ):
            problem = folder_problem(what, field.text())
            if problem is not None:
                self.pages.setCurrentIndex(GENERAL_PAGE)
                self._error.setText(problem)
                self._error_row.show()
                field.line_edit.setFocus()
                field.line_edit.selectAll()
                return
        self._error_row.hide()
        self._error.clear()
        super().accept()
