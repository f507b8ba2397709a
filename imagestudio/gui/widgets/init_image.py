"""The img2img group of the Generate form: a start picture (drop, choose, clear) and a strength."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from imagestudio.gui.images import image_suffixes
from imagestudio.gui.widgets.forms import named
from imagestudio.gui.widgets.image_drop import ImageDropArea, ImageGroupBox
from imagestudio.gui.widgets.start_folder import remember, start_folder


class InitImageGroup(ImageGroupBox):
    """ "Start from an image": checkable; dropping a picture on it turns it on."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Start from an image", parent)
        self.setObjectName("img2img_group")
        self.setCheckable(True)
        self.setAccessibleName("Start from an image")
        self.setToolTip(
            "Image to image: start from a picture instead of noise. Dropping an image on the box "
            "turns this on."
        )
        self.drop_area: ImageDropArea = ImageDropArea(self)
        self.drop_area.setObjectName("image_drop")
        self.choose_button = named(
            QPushButton("Choose…", self),
            "choose_image_button",
            "Choose start image",
            "Pick the start image from a file.",
        )
        self.clear_button = named(
            QPushButton("Clear", self),
            "clear_image_button",
            "Clear start image",
            "Remove the start image.",
        )
        self.strength_slider = named(
            QSlider(Qt.Orientation.Horizontal, self),
            "strength_slider",
            "Strength",
            "How much to change the start image: low keeps it, 1.0 nearly ignores it.",
        )
        self.strength_slider.setRange(1, 100)
        self.strength_slider.setPageStep(10)
        self.strength_slider.setValue(60)
        self.strength_label = named(QLabel(self), "strength_label", "Strength value")
        self.strength_label.setMinimumWidth(
            self.strength_label.fontMetrics().horizontalAdvance("0.00")
        )

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.drop_area)
        buttons = QHBoxLayout()
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        strength_row = QHBoxLayout()
        caption = QLabel("Strengt&h", self)
        caption.setBuddy(self.strength_slider)
        strength_row.addWidget(caption)
        strength_row.addWidget(self.strength_slider, 1)
        strength_row.addWidget(self.strength_label)
        layout.addLayout(strength_row)
        self.setChecked(False)

        self.drop_area.image_dropped.connect(lambda _path: self.setChecked(True))
        self.choose_button.clicked.connect(self.choose)
        self.clear_button.clicked.connect(lambda: self.drop_area.set_path(None))
        self.strength_slider.valueChanged.connect(self._show_strength)
        self._show_strength(self.strength_slider.value())

    def choose(self) -> None:
        """Pick the start picture with a file dialog (and turn the group on)."""
        patterns = " ".join(sorted(f"*{suffix}" for suffix in image_suffixes()))
        current = self.drop_area.path()
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Choose a start image",
            start_folder(current),
            f"Images ({patterns});;All files (*)",
        )
        if path:
            remember(path)
            self.drop_area.set_path(path)
            self.setChecked(True)

    def _show_strength(self, value: int) -> None:
        self.strength_label.setText(f"{value / 100:.2f}")

    def strength(self) -> float:
        return self.strength_slider.value() / 100

    def set_strength(self, strength: float) -> None:
        self.strength_slider.setValue(min(100, max(1, round(strength * 100))))
