"""The empty canvas on a first start: what the built-in model can draw, prompts to try with one
click, and the way to a real model."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

# Prompts the starter model draws well (its world: flat shapes in ten colours, see its README).
EXAMPLE_PROMPTS = (
    "a red circle on a blue background",
    "a small yellow star at the top left on a purple background",
    "a green triangle and an orange square on a white background",
    "a big pink star on a black background",
)

INTRO = (
    "The built-in starter model is a small demonstration that works offline: it draws one or "
    "two flat shapes (circle, square, triangle, star) in ten colours on a plain background, "
    "64×64 pixels. Click a prompt to try it, or get a real model for real pictures."
)
WIDTH = 560  # the panel's width where the canvas has room; narrower canvases squeeze it


class WelcomePanel(QWidget):
    prompt_chosen = Signal(str)
    get_model_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        title = QLabel("Welcome to ImageStudio", self)
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        title.setFont(font)
        title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        title.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        intro = QLabel(INTRO, self)
        intro.setWordWrap(True)
        intro.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        intro.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.example_buttons: list[QPushButton] = []
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(title)
        layout.addWidget(intro)
        for prompt in EXAMPLE_PROMPTS:
            button = QPushButton(prompt, self)
            button.setToolTip("Put this prompt in the form and generate")
            # long prompts must not widen the window: the buttons shrink with the canvas
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            button.clicked.connect(lambda _=False, text=prompt: self.prompt_chosen.emit(text))
            self.example_buttons.append(button)
            layout.addWidget(button)
        self.get_model_button = QPushButton("Get a real model…", self)
        self.get_model_button.setToolTip(
            "Models worth trying first: what each is good at, what it needs, its licence"
        )
        self.get_model_button.clicked.connect(self.get_model_requested)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.get_model_button)
        row.addStretch(1)
        layout.addSpacing(8)
        layout.addLayout(row)
        layout.addStretch(1)
        self.setMaximumWidth(WIDTH)

    def sizeHint(self) -> QSize:
        # The children's widths are Ignored (so long prompts never widen the window), which
        # leaves the layout's own hint a sliver; the canvas centres the panel at this width.
        return QSize(WIDTH, super().sizeHint().height())
