"""The LoRA rows of the Generate panel: which LoRAs a job applies, each with its weight."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from imagestudio.core.loratags import lora_name
from imagestudio.core.requests import MAX_LORA_WEIGHT, MAX_LORAS
from imagestudio.gui.widgets.forms import guard_wheel

EMPTY_HINT = (
    "No LoRAs yet: import them in Models ▸ Manage models, or put .safetensors files in "
    "models/loras."
)


class LoraRow(QWidget):
    """One LoRA: its name (from the library), a weight, and a remove button."""

    removed = Signal(object)
    changed = Signal()

    def __init__(self, names: list[str], name: str, weight: float, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.combo = QComboBox(self)
        self.combo.setAccessibleName("LoRA")
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(8)
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.set_names(names, name)
        self.weight = QDoubleSpinBox(self)
        self.weight.setAccessibleName("LoRA weight")
        self.weight.setRange(-MAX_LORA_WEIGHT, MAX_LORA_WEIGHT)
        self.weight.setSingleStep(0.05)
        self.weight.setDecimals(2)
        self.weight.setValue(weight)
        self.weight.setToolTip("How strongly the LoRA acts: 1 is full strength, 0 is off.")
        self.remove = QToolButton(self)
        self.remove.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DialogCloseButton))
        self.remove.setToolTip("Remove this LoRA")
        self.remove.setAccessibleName("Remove LoRA")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.weight)
        layout.addWidget(self.remove)
        self.remove.clicked.connect(lambda: self.removed.emit(self))
        self.combo.currentIndexChanged.connect(lambda *_: self.changed.emit())
        self.weight.valueChanged.connect(lambda *_: self.changed.emit())

    def set_names(self, names: list[str], current: str) -> None:
        self.combo.blockSignals(True)
        self.combo.clear()
        for name in names:
            self.combo.addItem(name, name)
        if current and self.combo.findData(current) < 0:
            # a LoRA from a saved job that is no longer in the library: shown, not dropped
            self.combo.addItem(f"{current} (not found)", current)
        index = self.combo.findData(current)
        self.combo.setCurrentIndex(max(0, index))
        self.combo.blockSignals(False)

    def value(self) -> tuple[str, float]:
        return str(self.combo.currentData() or ""), round(float(self.weight.value()), 4)


class LoraList(QGroupBox):
    """Zero or more LoRA rows and an "Add LoRA" button."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("LoRAs", parent)
        self.setObjectName("lora_list")
        self._names: list[str] = []
        self.rows: list[LoraRow] = []
        self._rows_layout = QVBoxLayout()
        self._rows_layout.setContentsMargins(0, 0, 0, 0)
        self.add_button = QPushButton("Add LoRA", self)
        self.add_button.setAccessibleName("Add LoRA")
        self.add_button.setObjectName("add_lora_button")
        self.add_button.clicked.connect(lambda: self.add_row())
        self.hint = QLabel(EMPTY_HINT, self)
        self.hint.setWordWrap(True)
        self.hint.setEnabled(False)
        # <lora:name:weight> tags typed or pasted in the prompt: applied like rows, said here
        self.tags_label = QLabel(self)
        self.tags_label.setObjectName("lora_tags")
        self.tags_label.setWordWrap(True)
        self.tags_label.hide()
        self._tags: list[tuple[str, float]] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(self._rows_layout)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        layout.addWidget(self.hint)
        layout.addWidget(self.tags_label)
        self._update()

    def set_available(self, names: Iterable[str]) -> None:
        """The LoRAs in the library (names as `resolve_lora` takes them)."""
        self._names = sorted(set(names), key=str.lower)
        for row in self.rows:
            row.set_names(self._names, row.value()[0])
        self._update()

    def add_row(self, name: str | None = None, weight: float = 1.0) -> LoraRow | None:
        if len(self.rows) >= MAX_LORAS:
            return None
        if name is None:
            used = {row.value()[0] for row in self.rows}
            name = next((n for n in self._names if n not in used), "")
            if not name:
                return None
        row = LoraRow(self._names, name, weight, self)
        guard_wheel(row)
        row.removed.connect(self._remove_row)
        row.changed.connect(self.changed)
        row.changed.connect(self._update)
        self.rows.append(row)
        self._rows_layout.addWidget(row)
        self._update()
        self.changed.emit()
        return row

    def _remove_row(self, row: LoraRow) -> None:
        self.rows.remove(row)
        row.setParent(None)
        row.deleteLater()
        self._update()
        self.changed.emit()

    def clear(self) -> None:
        for row in list(self.rows):
            self._remove_row(row)

    def has(self, name: str) -> bool:
        return name in self._names

    def library_name(self, name: str) -> str:
        """The library's name for a LoRA another tool names by its file name (any folder or
        suffix, any case); `name` itself when the library has no such LoRA."""
        wanted = lora_name(name).casefold()
        return next((n for n in self._names if lora_name(n).casefold() == wanted), name)

    def loras(self) -> tuple[tuple[str, float], ...]:
        return tuple(row.value() for row in self.rows if row.value()[0])

    def set_loras(self, loras: Iterable[tuple[str, float]]) -> None:
        self.clear()
        for name, weight in loras:
            self.add_row(name, weight)

    def set_prompt_tags(self, tags: Iterable[tuple[str, float]]) -> None:
        """The prompt's LoRA tags (see core.loratags.split_lora_tags), shown under the rows."""
        self._tags = list(tags)
        self._update()

    def _describe_tags(self) -> str:
        if not self._tags:
            return ""
        rows = {lora_name(name).casefold(): weight for name, weight in self.loras()}
        parts, overridden = [], []
        for name, weight in self._tags:
            parts.append(f"{name} {weight:g}")
            row_weight = rows.get(lora_name(name).casefold())
            if row_weight is not None and row_weight != weight:
                overridden.append(f"{name} ({row_weight:g} in the list)")
        text = "From the prompt's tags: " + ", ".join(parts) + "."
        if overridden:
            text += (
                " A tag wins over the list: " + ", ".join(overridden) + " uses the tag's weight."
            )
        missing = [name for name, _ in self._tags if not self._known(name)]
        if missing:
            text += (
                f" Not in your library: {', '.join(missing)} (put the .safetensors file in "
                "models/loras)."
            )
        return text

    def _known(self, name: str) -> bool:
        wanted = lora_name(name).casefold()
        return any(lora_name(n).casefold() == wanted for n in self._names)

    def _update(self) -> None:
        text = self._describe_tags()
        self.tags_label.setText(text)
        self.tags_label.setVisible(bool(text))
        used = {row.value()[0] for row in self.rows}
        spare = [n for n in self._names if n not in used]
        self.add_button.setEnabled(bool(spare) and len(self.rows) < MAX_LORAS)
        self.add_button.setToolTip(
            "Apply another LoRA to the model" if spare else "Every LoRA in the library is in use"
        )
        self.hint.setVisible(not self._names and not self.rows)
