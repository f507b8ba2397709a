"""The Generate form's "Inpaint" group: how the masked part is repainted, and the arrows that
extend the picture (outpainting). It shows while the canvas is in mask mode."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QWidget,
)

from imagestudio.core.requests import (
    INPAINT_DEFAULT_STRENGTH,
    MAX_EXTEND,
    MAX_MASK_BLUR,
    MAX_PADDING,
    SIDES,
    in_range,
)
from imagestudio.core.vocabulary import INPAINT_AREAS, MASKED_CONTENTS
from imagestudio.gui.widgets.forms import named, spin_box

DEFAULT_EXTEND = 128
MASKED_CONTENT_LABELS = {
    "original": "Keep the original",
    "fill": "Fill with surrounding colour",
    "noise": "Latent noise",
}
INPAINT_AREA_LABELS = {"whole": "Whole picture", "masked": "Only masked"}
HINT = (
    "Paint over the part to repaint on the picture, then press Inpaint: the prompt above says "
    "what goes there."
)
NOT_USED_NOTE = "The picture keeps its size; hires fix and the start image are not used."
_ARROWS = {"left": "←", "top": "↑", "right": "→", "bottom": "↓"}


class InpaintGroup(QGroupBox):
    """Denoising strength, mask blur, masked content, inpaint area with its padding, and the
    outpainting arrows, as an `InpaintRequest`'s keys."""

    extend_requested = Signal(object)  # (left, top, right, bottom) pixels

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Inpaint", parent)
        self.setObjectName("inpaint_group")
        self.setAccessibleName("Inpaint")
        self.hint_label = QLabel(HINT, self)
        self.hint_label.setWordWrap(True)

        self.strength_slider = named(
            QSlider(Qt.Orientation.Horizontal, self),
            "inpaint_strength_slider",
            "Denoising strength",
            "How much the masked part changes: low keeps its colours and shapes, 1.0 paints it "
            "anew. 0.75 suits most fixes; use 1.0 with latent noise.",
        )
        self.strength_slider.setRange(1, 100)
        self.strength_slider.setPageStep(5)
        self.strength_label = QLabel(self)
        self.strength_label.setMinimumWidth(
            self.strength_label.fontMetrics().horizontalAdvance("0.00 ")
        )
        self.strength_slider.valueChanged.connect(
            lambda value: self.strength_label.setText(f"{value / 100:.2f}")
        )
        self.strength_slider.setValue(round(INPAINT_DEFAULT_STRENGTH * 100))

        self.blur_spin = spin_box(
            self,
            "mask_blur_spin",
            "Mask blur",
            "Soften the mask's edge by this many pixels, so the repainted part blends in.",
            0,
            MAX_MASK_BLUR,
            4,
        )
        self.blur_spin.setSuffix(" px")
        self.fill_combo = named(
            QComboBox(self),
            "masked_content_combo",
            "Masked content",
            "What the masked part starts from: the picture as it is (small changes), its "
            "surrounding colour (remove something), or noise (something new; strength 1.0).",
        )
        for value in MASKED_CONTENTS:
            self.fill_combo.addItem(MASKED_CONTENT_LABELS.get(value, value), value)
        self.area_combo = named(
            QComboBox(self),
            "inpaint_area_combo",
            "Inpaint area",
            "Whole picture: the model sees all of it (best for large parts). Only masked: it "
            "works on the masked part and the padding around it at its own size, so small "
            "details get more pixels.",
        )
        for area in INPAINT_AREAS:
            self.area_combo.addItem(INPAINT_AREA_LABELS.get(area, area), area)
        self.padding_spin = spin_box(
            self,
            "inpaint_padding_spin",
            "Padding",
            "With “Only masked”: how much of the picture around the mask the model sees.",
            0,
            MAX_PADDING,
            32,
        )
        self.padding_spin.setSuffix(" px")
        self.area_combo.currentIndexChanged.connect(self._on_area_changed)

        self.extend_spin = spin_box(
            self,
            "extend_spin",
            "Extend by",
            "How many pixels an arrow adds to that side of the picture (a multiple of 8).",
            8,
            MAX_EXTEND,
            DEFAULT_EXTEND,
        )
        self.extend_spin.setSingleStep(8)
        self.extend_spin.setSuffix(" px")
        self.extend_buttons: dict[str, QToolButton] = {}
        for side in SIDES:
            button = named(
                QToolButton(self),
                f"extend_{side}_button",
                f"Extend {side}",
                f"Outpaint: add pixels on the {side} of the picture on the canvas and paint them "
                "with the prompt above (queued at once).",
            )
            button.setText(_ARROWS[side])
            button.clicked.connect(
                lambda _c=False, s=side: self.extend_requested.emit(self.extend(s))
            )
            self.extend_buttons[side] = button
        self.note_label = QLabel(NOT_USED_NOTE, self)
        self.note_label.setWordWrap(True)
        self._build_layout()
        self._on_area_changed()

    def _build_layout(self) -> None:
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setContentsMargins(6, 6, 6, 6)
        form.addRow(self.hint_label)
        strength = QHBoxLayout()
        strength.addWidget(self.strength_slider, 1)
        strength.addWidget(self.strength_label)
        form.addRow(self._label("Stren&gth", self.strength_slider), strength)
        form.addRow(self._label("Mask &blur", self.blur_spin), self.blur_spin)
        form.addRow(self._label("Mas&ked", self.fill_combo), self.fill_combo)
        area = QHBoxLayout()
        area.addWidget(self.area_combo, 1)
        area.addWidget(self._label("&pad", self.padding_spin))
        area.addWidget(self.padding_spin)
        form.addRow(self._label("&Area", self.area_combo), area)
        extend = QHBoxLayout()
        for button in self.extend_buttons.values():
            extend.addWidget(button)
        extend.addWidget(self.extend_spin, 1)
        form.addRow(self._label("E&xtend", self.extend_spin), extend)
        form.addRow(self.note_label)

    def _label(self, text: str, buddy: QWidget) -> QLabel:
        label = QLabel(text, self)
        label.setBuddy(buddy)
        return label

    def _on_area_changed(self, *_: object) -> None:
        self.padding_spin.setEnabled(self.area_combo.currentData() == "masked")

    # -- values -------------------------------------------------------------------------------

    def strength(self) -> float:
        return self.strength_slider.value() / 100

    def extend(self, side: str) -> tuple[int, int, int, int]:
        """The four side amounts for extending `side` by the amount shown."""
        amount = self.extend_spin.value()
        amounts = [amount if name == side else 0 for name in SIDES]
        return (amounts[0], amounts[1], amounts[2], amounts[3])

    def values(self) -> dict[str, Any]:
        """The group as an `InpaintRequest`'s keys (not the mask, the picture or `extend`)."""
        return {
            "strength": self.strength(),
            "mask_blur": self.blur_spin.value(),
            "fill": self.fill_combo.currentData(),
            "area": self.area_combo.currentData(),
            "padding": self.padding_spin.value(),
        }

    def state(self) -> dict[str, Any]:
        """`values()` and the outpainting amount, for the saved form."""
        return {**self.values(), "extend_by": self.extend_spin.value()}

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Take a request's keys (or `state()`); values the group cannot hold are skipped."""
        if in_range(values.get("strength"), 0.01, 1):
            self.strength_slider.setValue(round(float(values["strength"]) * 100))
        for key, spin in (
            ("mask_blur", self.blur_spin),
            ("padding", self.padding_spin),
            ("extend_by", self.extend_spin),
        ):
            if in_range(values.get(key), spin.minimum(), spin.maximum(), whole=True):
                spin.setValue(values[key])
        for key, combo in (("fill", self.fill_combo), ("area", self.area_combo)):
            index = combo.findData(values.get(key))
            if index >= 0:
                combo.setCurrentIndex(index)
        extend = values.get("extend")
        if isinstance(extend, (list, tuple)) and any(extend):
            amount = max(v for v in extend if isinstance(v, int))
            if in_range(amount, 8, MAX_EXTEND, whole=True):
                self.extend_spin.setValue(amount)
