"""The Generate form's "Hires fix" group: make the picture at the form's size, enlarge it with an
upscaler, then repaint it larger in a second pass (A1111's hires fix; the core does the work)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QWidget

from imagestudio.core.requests import (
    HIRES_DEFAULT_DENOISE,
    HIRES_DEFAULT_SCALE,
    HIRES_DEFAULT_UPSCALER,
    HIRES_MAX_SCALE,
    HIRES_MIN_SCALE,
    MAX_STEPS,
    hires_length,
    in_range,
    is_finite_number,
)
from imagestudio.core.upscale.loading import UpscalerFile
from imagestudio.core.upscalernames import LANCZOS, LATENT
from imagestudio.gui.widgets.forms import named, number_box, spin_box
from imagestudio.gui.widgets.upscalers import upscaler_choice, upscaler_choices

MIN_DENOISE = 0.0  # 0: enlarge only, no second pass
SAME_STEPS = 0  # the steps box's "Same as steps"

GROUP_TIP = (
    "Make the picture at the size above, enlarge it, then repaint it at the larger size in a "
    "second pass. The model draws at the size it knows and the second pass adds the detail, "
    "without the doubled subjects of a large first pass. The job takes longer."
)
START_IMAGE_NOTE = (
    "Hires fix is for pictures made from text: with a start image, set the size you want "
    "instead, or upscale the result afterwards."
)
_LATENT_TIP = (
    "Enlarge the model's own latent picture: fast and needs no network, but softer; use a "
    "denoise of 0.5 or more with it."
)
_LANCZOS_TIP = "A plain resize, no network: the second pass has to add all the detail."


class HiresGroup(QGroupBox):
    """ "Hires fix", checkable and off by default, as a request's `hires_*` keys.

    With a start image in use the group is disabled (the core refuses hires fix for image to
    image) and says why; its tick is kept for when the start image goes.
    """

    changed = Signal()  # ticked, unticked or any value edited

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Hires fix", parent)
        self.setObjectName("hires_group")
        self.setAccessibleName("Hires fix")
        self.setCheckable(True)
        self.setToolTip(GROUP_TIP)
        self._base: tuple[int, int] | None = None
        self._quiet = False
        self._start_image = False

        self.upscaler_combo = named(
            QComboBox(self),
            "hires_upscaler_combo",
            "Hires upscaler",
            "How the picture is enlarged before the second pass. Real-ESRGAN gives the sharpest "
            "start; put more upscalers in models/upscalers.",
        )
        self.upscaler_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.upscaler_combo.setMinimumContentsLength(12)
        self.set_upscalers({})
        self.scale_spin = number_box(
            self,
            "hires_scale_spin",
            "Hires scale",
            "How much larger the final picture is than the size above (×2: twice as wide and "
            "twice as tall).",
            (HIRES_MIN_SCALE, HIRES_MAX_SCALE),
            HIRES_DEFAULT_SCALE,
            step=0.25,
        )
        self.scale_spin.setPrefix("×")
        self.result_label = named(
            QLabel(self), "hires_result_label", "Size after hires fix", "The final picture's size."
        )
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)
        self.steps_spin = spin_box(
            self,
            "hires_steps_spin",
            "Hires steps",
            "Steps of the second pass; it runs only the denoise's share of them. “Same as "
            "steps” uses the Steps above.",
            SAME_STEPS,
            MAX_STEPS,
            SAME_STEPS,
        )
        self.steps_spin.setSpecialValueText("Same as steps")
        self.denoise_spin = number_box(
            self,
            "hires_denoise_spin",
            "Hires denoise",
            "How much the second pass repaints the enlarged picture: low keeps it as it is, "
            "high invents new detail (and can change the picture). 0.3-0.6 is usual; 0 "
            "enlarges only (for a model that cannot draw at the bigger size).",
            (MIN_DENOISE, 1.0),
            HIRES_DEFAULT_DENOISE,
            step=0.05,
        )
        self.denoise_spin.setSpecialValueText("0 (enlarge only)")
        self.start_image_note = named(
            QLabel(START_IMAGE_NOTE, self), "hires_start_image_note", "Why hires fix is off"
        )
        self.start_image_note.setWordWrap(True)
        self.start_image_note.setTextFormat(Qt.TextFormat.PlainText)
        self.start_image_note.hide()

        form = QFormLayout(self)
        form.setContentsMargins(6, 6, 6, 6)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Upscaler", self.upscaler_combo)
        scale_row = QHBoxLayout()
        scale_row.setContentsMargins(0, 0, 0, 0)
        scale_row.addWidget(self.scale_spin, 1)
        scale_row.addWidget(self.result_label, 1)
        form.addRow("Scale", scale_row)
        form.addRow("Steps", self.steps_spin)
        form.addRow("Denoise", self.denoise_spin)
        form.addRow(self.start_image_note)
        self.setChecked(False)

        self.toggled.connect(self._emit_changed)
        self.upscaler_combo.currentIndexChanged.connect(self._emit_changed)
        self.scale_spin.valueChanged.connect(self._show_result)
        self.scale_spin.valueChanged.connect(self._emit_changed)
        self.steps_spin.valueChanged.connect(self._emit_changed)
        self.denoise_spin.valueChanged.connect(self._emit_changed)
        self._show_result()

    # -- signals ------------------------------------------------------------------------------

    def _emit_changed(self, *_: object) -> None:
        if not self._quiet:
            self.changed.emit()

    @contextlib.contextmanager
    def _one_change(self) -> Iterator[None]:
        """Edits inside count as one change (listeners never see a half-set group)."""
        quiet, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = quiet
        self._emit_changed()

    # -- upscalers ----------------------------------------------------------------------------

    def set_upscalers(self, files: Mapping[str, UpscalerFile]) -> None:
        """The networks of `upscaler_files(models_dir)`, between "Latent" and "Lanczos"; the
        choice is kept (the default when it has gone). The default network is always listed:
        the form's default request names it."""
        current = self.upscaler_combo.currentData()
        choices = upscaler_choices(files)
        if HIRES_DEFAULT_UPSCALER not in files:
            choices.insert(0, upscaler_choice(HIRES_DEFAULT_UPSCALER, builtin=True))
        self.upscaler_combo.blockSignals(True)
        try:
            self.upscaler_combo.clear()
            self._add_upscaler("Latent", LATENT, _LATENT_TIP)
            for choice in choices:
                self._add_upscaler(choice.label, choice.name, choice.description)
            self._add_upscaler("Lanczos", LANCZOS, _LANCZOS_TIP)
            if not (isinstance(current, str) and self._find_upscaler(current) >= 0):
                current = HIRES_DEFAULT_UPSCALER
            self.upscaler_combo.setCurrentIndex(self._find_upscaler(current))
        finally:
            self.upscaler_combo.blockSignals(False)
        if current != self.upscaler_combo.currentData():
            self._emit_changed()

    def _add_upscaler(self, label: str, name: str, tip: str) -> None:
        self.upscaler_combo.addItem(label, name)
        self.upscaler_combo.setItemData(
            self.upscaler_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole
        )

    def _find_upscaler(self, name: str) -> int:
        """The combo's index for `name`: as listed, in any case, or the same file name
        (A1111 and other tools name a user's upscaler by its file); -1 if none."""
        index = self.upscaler_combo.findData(name)
        if index >= 0:
            return index
        wanted = name.strip().casefold()
        stem = Path(wanted).stem if Path(wanted).suffix == ".safetensors" else Path(wanted).name
        for index in range(self.upscaler_combo.count()):
            data = str(self.upscaler_combo.itemData(index)).casefold()
            if data == wanted or Path(data).name == stem:
                return index
        return -1

    def _select_upscaler(self, name: object, keep_unknown: bool) -> bool:
        """Select upscaler `name`; an unknown one is listed as it is when `keep_unknown` (a
        request's own), else the default is selected. False when it was not found."""
        index = self._find_upscaler(name) if isinstance(name, str) and name.strip() else -1
        if index < 0 and isinstance(name, str) and name.strip() and keep_unknown:
            self._add_upscaler(
                f"{name} (not found)", name, "Not in your library (models/upscalers)."
            )
            index = self.upscaler_combo.count() - 1
        found = index >= 0
        self.upscaler_combo.setCurrentIndex(
            index if found else self._find_upscaler(HIRES_DEFAULT_UPSCALER)
        )
        return found

    # -- size ---------------------------------------------------------------------------------

    def set_base_size(self, width: int | None, height: int | None) -> None:
        """The first pass's size (None: not known), for the size shown beside the scale."""
        self._base = (width, height) if width and height else None
        self._show_result()

    def _show_result(self, *_: object) -> None:
        if self._base is None:
            self.result_label.setText("")
            return
        scale = self.scale_spin.value()
        width, height = (hires_length(side, scale) for side in self._base)
        self.result_label.setText(f"→ {width} × {height}")

    # -- start image --------------------------------------------------------------------------

    def set_start_image(self, in_use: bool) -> None:
        """Disable the group while the form starts from an image, and say why."""
        self._start_image = bool(in_use)
        self.setEnabled(not self._start_image)
        self.start_image_note.setVisible(self._start_image)
        self.setToolTip(START_IMAGE_NOTE if self._start_image else GROUP_TIP)
        self._emit_changed()

    def is_on(self) -> bool:
        """Ticked, and usable (no start image)."""
        return self.isChecked() and not self._start_image

    # -- values -------------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """The group as a request's keys; only `hires_scale=None` when it is off."""
        return self.state() if self.is_on() else {"hires_scale": None}

    def state(self) -> dict[str, Any]:
        """Every widget as it stands, ticked or not, for restoring the form at the next start
        (the tick itself is the form's "hires" key)."""
        steps = self.steps_spin.value()
        return {
            "hires_scale": round(float(self.scale_spin.value()), 2),
            "hires_upscaler": str(self.upscaler_combo.currentData()),
            "hires_steps": None if steps == SAME_STEPS else steps,
            "hires_denoise": round(float(self.denoise_spin.value()), 2),
        }

    def use(self, scale: float, upscaler: str, denoise: float, steps: int | None = None) -> None:
        """Tick the group with these settings (a size preset that includes hires fix)."""
        with self._one_change():
            self.upscaler_combo.setCurrentIndex(max(0, self._find_upscaler(upscaler)))
            self.scale_spin.setValue(scale)
            self.denoise_spin.setValue(denoise)
            self.steps_spin.setValue(steps or SAME_STEPS)
            self.setChecked(True)

    def set_values(self, values: Mapping[str, Any], *, trusted: bool = False) -> list[str]:
        """Take the `hires_*` keys of `values` (a request's keys); return notes about what
        could not be taken.

        `hires_scale` None unticks the group and leaves the other widgets as they were (the
        artist's last hires settings stay for next time); a scale ticks it (one beyond the
        group's range is brought into it, with a note). An upscaler the library lacks: a
        `trusted` request's is listed as it is (so the request comes back whole), another's
        becomes the default, with a note.
        """
        notes: list[str] = []
        with self._one_change():
            if "hires_scale" in values and values["hires_scale"] is None:
                self.setChecked(False)
                return notes
            scale: Any = values.get("hires_scale")
            if is_finite_number(scale) and scale > 1:
                held = min(max(float(scale), HIRES_MIN_SCALE), HIRES_MAX_SCALE)
                if held != scale:
                    notes.append(
                        f"The picture's hires fix enlarged it ×{scale:g}; ImageStudio's goes from "
                        f"×{HIRES_MIN_SCALE:g} to ×{HIRES_MAX_SCALE:g}: ×{held:g} is set."
                    )
                self.scale_spin.setValue(held)
                self.setChecked(True)
            if "hires_upscaler" in values:
                name = values["hires_upscaler"]
                if not self._select_upscaler(name, keep_unknown=trusted):
                    notes.append(
                        f"The picture's hires fix used the upscaler {name}, which is not in "
                        f"your library (models/upscalers): {self.upscaler_combo.currentText()} "
                        "is selected."
                    )
            if "hires_steps" in values:
                steps = values["hires_steps"]
                if steps is None:
                    self.steps_spin.setValue(SAME_STEPS)
                elif in_range(steps, 1, MAX_STEPS, whole=True):
                    self.steps_spin.setValue(int(steps))
            if in_range(values.get("hires_denoise"), MIN_DENOISE, 1):
                self.denoise_spin.setValue(float(values["hires_denoise"]))
        return notes
