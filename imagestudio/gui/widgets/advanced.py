"""The Generate form's less used settings: clip skip and variations (A1111's meanings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QRegularExpression
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLineEdit, QWidget

from imagestudio.core.requests import MAX_CLIP_SKIP, MAX_SEED, in_range
from imagestudio.gui.widgets.forms import guard_wheel, number_box, spin_box

MODEL_VAE = "The model's own"


class AdvancedGroup(QGroupBox):
    """Clip skip, variation seed and variation strength, as a request's keys."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("VAE, clip skip and variations", parent)
        self.setObjectName("advanced_group")
        self.clip_skip_spin = spin_box(
            self,
            "clip_skip_spin",
            "Clip skip",
            "Read the text encoder this many layers from its end, as A1111 counts: 1 is the "
            "model's normal reading; 2 is what many anime-style SD 1.5 models are made for.",
            1,
            MAX_CLIP_SKIP,
            1,
        )
        self.variation_seed_edit = QLineEdit(self)
        self.variation_seed_edit.setObjectName("variation_seed_edit")
        self.variation_seed_edit.setAccessibleName("Variation seed")
        self.variation_seed_edit.setPlaceholderText("none")
        self.variation_seed_edit.setValidator(
            QRegularExpressionValidator(QRegularExpression(r"\d{0,10}"), self)
        )
        self.variation_seed_edit.setToolTip(
            "A second seed: the picture's noise moves toward this seed's by the strength below, "
            "so the same seed gives a nearby picture. Empty: no variation."
        )
        self.variation_strength_spin = number_box(
            self,
            "variation_strength_spin",
            "Variation strength",
            "0 keeps the seed's picture, 1 gives the variation seed's; 0.1-0.3 is a close "
            "variation of the same picture.",
            (0.0, 1.0),
            0.3,
            step=0.05,
        )
        self.vae_combo = QComboBox(self)
        self.vae_combo.setObjectName("vae_combo")
        self.vae_combo.setAccessibleName("VAE")
        self.vae_combo.setToolTip(
            "Decode the picture with another VAE (put .safetensors VAEs in models/vae); some "
            "models ask for one on their page. The model's own is the default."
        )
        self.vae_combo.addItem(MODEL_VAE, None)
        form = QFormLayout(self)
        form.setContentsMargins(6, 6, 6, 6)
        form.addRow("VAE", self.vae_combo)
        form.addRow("Clip skip", self.clip_skip_spin)
        form.addRow("Variation seed", self.variation_seed_edit)
        form.addRow("Strength", self.variation_strength_spin)
        guard_wheel(self)

    def values(self) -> dict[str, Any]:
        """The group as a request's keys (an empty or too large variation seed: none)."""
        text = self.variation_seed_edit.text().strip()
        seed = int(text) if text.isdigit() and int(text) <= MAX_SEED else None
        return {
            "vae": self.vae_combo.currentData(),
            "clip_skip": self.clip_skip_spin.value(),
            "variation_seed": seed,
            "variation_strength": round(float(self.variation_strength_spin.value()), 4)
            if seed is not None
            else 0.0,
        }

    def set_vaes(self, names: list[str]) -> None:
        """The VAEs in the library (names as `resolve_vae` takes them); the choice is kept."""
        current = self.vae_combo.currentData()
        self.vae_combo.blockSignals(True)
        self.vae_combo.clear()
        self.vae_combo.addItem(MODEL_VAE, None)
        for name in sorted(names, key=str.lower):
            self.vae_combo.addItem(name, name)
        self.vae_combo.blockSignals(False)
        self._select_vae(current)

    def _select_vae(self, name: object) -> bool:
        """Select VAE `name` (a library name, a file name or a path); False if it is not there."""
        if not isinstance(name, str) or not name:
            self.vae_combo.setCurrentIndex(0)
            return name is None or name == ""
        wanted = Path(name).stem.casefold()
        for index in range(1, self.vae_combo.count()):
            data = str(self.vae_combo.itemData(index))
            if data == name or Path(data).stem.casefold() == wanted:
                self.vae_combo.setCurrentIndex(index)
                return True
        if Path(name).is_absolute():
            self.vae_combo.addItem(Path(name).name, name)  # a path from a saved job: kept
            self.vae_combo.setCurrentIndex(self.vae_combo.count() - 1)
            return True
        self.vae_combo.setCurrentIndex(0)
        return False

    def state(self) -> dict[str, Any]:
        """The widgets as they stand (the strength kept even without a seed), for restoring."""
        return self.values() | {"variation_strength": float(self.variation_strength_spin.value())}

    def set_values(self, values: dict[str, Any]) -> list[str]:
        """Take what `values` (a request's keys) has and the widgets can hold; return notes
        about what could not be taken (a VAE the library lacks)."""
        notes = []
        if "vae" in values and not self._select_vae(values["vae"]):
            notes.append(
                f"The picture was decoded with the VAE {values['vae']}, which is not in your "
                "library (models/vae): the model's own is selected."
            )
        if in_range(values.get("clip_skip"), 1, MAX_CLIP_SKIP, whole=True):
            self.clip_skip_spin.setValue(int(values["clip_skip"]))
        if "variation_seed" in values:
            seed = values["variation_seed"]
            valid = in_range(seed, 0, MAX_SEED, whole=True)
            self.variation_seed_edit.setText(str(seed) if valid else "")
        # a strength of 0 (no variation) leaves the box at a useful value for the next one
        if in_range(values.get("variation_strength"), 0, 1) and values["variation_strength"] > 0:
            self.variation_strength_spin.setValue(float(values["variation_strength"]))
        return notes
