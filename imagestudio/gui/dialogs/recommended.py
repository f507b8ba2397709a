"""Models worth trying first, each with what it is good at, what it needs, its licence and its
download size; one button downloads it (through the model manager) and selects it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from imagestudio.core.bytesize import format_bytes
from imagestudio.core.models.recommended import RecommendedModel, recommended_models


class RecommendedDialog(QDialog):
    download_requested = Signal(object)  # a RecommendedModel

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Get a real model")
        self.models = recommended_models()
        self.download_buttons: list[QPushButton] = []
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Each model downloads once from Hugging Face, then works offline. Choose by your "
            "machine: without a big GPU, start with the fast one.",
            self,
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        for model in self.models:
            layout.addWidget(self._row(model))
        if not self.models:
            layout.addWidget(QLabel("The list of recommended models could not be read.", self))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(560)

    def _row(self, model: RecommendedModel) -> QFrame:
        frame = QFrame(self)
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(frame)
        name = QLabel(f"<b>{model.name}</b> · about {format_bytes(model.download_bytes)}", frame)
        name.setTextFormat(Qt.TextFormat.RichText)
        grid.addWidget(name, 0, 0, 1, 2)
        for row, (label, text) in enumerate(
            (("Good at", model.good_at), ("Needs", model.hardware), ("Licence", model.licence)),
            start=1,
        ):
            key = QLabel(label, frame)
            key.setForegroundRole(QPalette.ColorRole.PlaceholderText)
            value = QLabel(text, frame)
            value.setWordWrap(True)
            value.setTextFormat(Qt.TextFormat.PlainText)
            grid.addWidget(key, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(value, row, 1, 1, 2)
        button = QPushButton("Download and use", frame)
        button.setToolTip(f"Download {model.repo_id} (asks first), then select it")
        button.clicked.connect(lambda _=False, chosen=model: self._download(chosen))
        self.download_buttons.append(button)
        grid.addWidget(button, 0, 2, Qt.AlignmentFlag.AlignRight)
        grid.setColumnStretch(1, 1)
        return frame

    def _download(self, model: RecommendedModel) -> None:
        self.accept()
        self.download_requested.emit(model)
