"""The Models dialog's download form: a repo id, a weights variant, and the network note."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

NETWORK_NOTE = (
    "This is the only place where ImageStudio uses the internet: nothing is downloaded unless "
    "you press Download. Only .safetensors weights are fetched."
)


class DownloadForm(QGroupBox):
    """Hidden until the dialog's Download… button is on; `requested` when Download is pressed."""

    requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Download from Hugging Face", parent)
        self.repo_edit = QLineEdit(self)
        self.repo_edit.setPlaceholderText("owner/model-name or https://huggingface.co/…")
        self.repo_edit.setClearButtonEnabled(True)
        self.repo_edit.returnPressed.connect(self.requested)
        self.variant_combo = QComboBox(self)
        self.variant_combo.addItem("Standard weights", None)
        self.variant_combo.addItem("fp16 (half the download)", "fp16")
        self.variant_combo.setToolTip(
            "Many models also publish fp16 weights: half the size, the same pictures on a GPU"
        )
        self.start_button = QPushButton("Download", self)
        self.start_button.clicked.connect(self.requested)
        repo_label = QLabel("&Model", self)
        repo_label.setBuddy(self.repo_edit)
        row = QHBoxLayout()
        row.addWidget(repo_label)
        row.addWidget(self.repo_edit, 1)
        row.addWidget(self.variant_combo)
        row.addWidget(self.start_button)
        note = QLabel(NETWORK_NOTE, self)
        note.setWordWrap(True)
        note.setEnabled(False)  # the palette's secondary text colour
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(note)
        self.hide()
