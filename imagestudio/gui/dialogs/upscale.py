"""Upscale…: which upscaler, how much larger, what tile size; the job goes in the queue."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from imagestudio.core.requests import (
    UPSCALE_MAX_SCALE,
    UPSCALE_MAX_TILE,
    UPSCALE_MIN_SCALE,
    UPSCALE_MIN_TILE,
    UpscaleRequest,
)
from imagestudio.core.upscale.loading import BUILTIN_UPSCALER, upscaler_files
from imagestudio.core.upscalernames import LANCZOS
from imagestudio.gui.widgets.upscalers import upscaler_choices

AUTOMATIC_TILE = 0  # the tile box's "Automatic" (from free memory)


class UpscaleDialog(QDialog):
    """Asks how to upscale `image`; `request()` is the job once accepted."""

    def __init__(self, image: str, models_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Upscale")
        self.image = image
        self.upscaler_combo = QComboBox(self)
        self.upscaler_combo.setAccessibleName("Upscaler")
        for choice in upscaler_choices(upscaler_files(models_dir)):
            self.upscaler_combo.addItem(choice.description, choice.name)
        self.upscaler_combo.addItem("Lanczos (a plain resize, no network)", LANCZOS)
        self.upscaler_combo.setCurrentIndex(max(0, self.upscaler_combo.findData(BUILTIN_UPSCALER)))
        self.scale_spin = QDoubleSpinBox(self)
        self.scale_spin.setAccessibleName("Scale")
        self.scale_spin.setRange(UPSCALE_MIN_SCALE, UPSCALE_MAX_SCALE)
        self.scale_spin.setSingleStep(0.25)
        self.scale_spin.setDecimals(2)
        self.scale_spin.setValue(4.0)
        self.scale_spin.setPrefix("×")
        self.tile_spin = QSpinBox(self)
        self.tile_spin.setAccessibleName("Tile size")
        self.tile_spin.setRange(AUTOMATIC_TILE, UPSCALE_MAX_TILE)
        self.tile_spin.setSingleStep(64)
        self.tile_spin.setSpecialValueText("Automatic")
        self.tile_spin.setSuffix(" px")
        self.tile_spin.setToolTip(
            "The picture is enlarged in tiles of this size; smaller tiles need less memory. "
            f"Automatic picks one from free memory (at least {UPSCALE_MIN_TILE} px)."
        )
        self.size_label = QLabel(self)
        self.size_label.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        if ok is not None:
            ok.setText("Upscale")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Upscaler", self.upscaler_combo)
        form.addRow("Scale", self.scale_spin)
        form.addRow("Tile size", self.tile_spin)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(Path(image).name, self))
        layout.addLayout(form)
        layout.addWidget(self.size_label)
        layout.addWidget(buttons)
        self.scale_spin.valueChanged.connect(self._update_size)
        self.tile_spin.valueChanged.connect(self._tile_edited)
        self._update_size()

    def _tile_edited(self, value: int) -> None:
        # between "Automatic" and the smallest tile there is nothing to choose
        if AUTOMATIC_TILE < value < UPSCALE_MIN_TILE:
            self.tile_spin.setValue(UPSCALE_MIN_TILE)

    def _update_size(self, *_: object) -> None:
        from PIL import Image

        try:
            with Image.open(self.image) as opened:
                width, height = opened.size
        except Exception:  # the job will say what is wrong with the file
            self.size_label.setText("")
            return
        scale = self.scale_spin.value()
        self.size_label.setText(
            f"{width}×{height} → {round(width * scale)}×{round(height * scale)} pixels"
        )

    def request(self) -> UpscaleRequest:
        """The job as chosen; InvalidRequest with a sentence if a value is refused."""
        tile = self.tile_spin.value()
        return UpscaleRequest(
            image=self.image,
            scale=round(self.scale_spin.value(), 2),
            upscaler=str(self.upscaler_combo.currentData()),
            tile=None if tile == AUTOMATIC_TILE else tile,
        )
