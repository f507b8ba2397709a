"""The model picker: the library's models, folders the user picked, and "Other folder…" last."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QWidget

from imagestudio.core.loratags import lora_name

VALUE_ROLE = Qt.ItemDataRole.UserRole
_OTHER_ROLE = Qt.ItemDataRole.UserRole + 1
OTHER_FOLDER_TEXT = "Other folder…"


class ModelPicker(QComboBox):
    """A combo of (display, value) models. "Other folder…" opens a folder dialog; folders picked
    that way (or loaded from history) stay listed across `set_models`."""

    model_changed = Signal()  # the chosen model may differ (also after a refill)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._models: list[tuple[str, str]] = []
        self._extra_models: list[tuple[str, str]] = []
        self._chosen = ""
        self._folders_allowed = True
        self.currentIndexChanged.connect(self._remember)
        self.currentIndexChanged.connect(self.model_changed)
        self.activated.connect(self._on_activated)
        self._rebuild("")

    def set_folders_allowed(self, allowed: bool) -> None:
        """Whether "Other folder…" (and the folders picked with it) are listed: not for a
        ComfyUI server, whose models are its own files."""
        if allowed != self._folders_allowed:
            self._folders_allowed = allowed
            self._rebuild(self.value())

    def value(self) -> str:
        """The chosen model's name or folder ("" when there is none)."""
        value = self.currentData(VALUE_ROLE)
        return value if isinstance(value, str) else ""

    def index_of(self, value: str) -> int:
        for index in range(self.count()):
            if self.itemData(index, VALUE_ROLE) == value:
                return index
        return -1

    def set_models(self, models: list[tuple[str, str]], current: str | None = None) -> None:
        """Fill the list with (display, value) pairs; "Other folder…" stays last.

        Selects `current` (added as an entry when missing); with None the selection is kept
        when that model is still listed or is a folder the user picked.
        """
        previous = self.value()
        self._models = [(str(d), str(v)) for d, v in models if isinstance(v, str) and v]
        values = {value for _, value in self._models}
        self._extra_models = [
            (d, v) for d, v in self._extra_models if v not in values and Path(v).is_dir()
        ]
        if current:
            self._rebuild("")
            self.select(current, add=True)
        elif previous and self.index_of(previous) < 0 and Path(previous).is_dir():
            self._rebuild("")
            self.select(previous, add=True)
        else:
            self._rebuild(previous)

    def select(self, value: str, add: bool) -> bool:
        """Choose `value`; when it is not listed, add it if `add` (else False, nothing changes)."""
        index = self.index_of(value)
        if index < 0:
            if not add:
                return False
            display = Path(value).name if ("/" in value or os.sep in value) else value
            self._extra_models.append((display or value, value))
            self._rebuild(value)
            return True
        self.setCurrentIndex(index)
        return True

    def library_value(self, name: str) -> str | None:
        """The listed model another tool names by its file ("SD15/dreamshaper_8.safetensors",
        "dreamshaper_8"): the same file name without folder or suffix, in any case."""
        wanted = lora_name(name).casefold()
        if not wanted:
            return None
        for _display, value in [*self._models, *self._extra_models]:
            if lora_name(value).casefold() == wanted:
                return value
        return None

    def select_known(self, value: object) -> None:
        """Choose a model named by saved or foreign settings: only one listed, or a folder that
        exists (other tools' checkpoint names mean nothing here)."""
        if not isinstance(value, str) or not value:
            return
        if self.index_of(value) >= 0:
            self.select(value, add=False)
        elif Path(value).is_dir():
            self.select(str(Path(value).absolute()), add=True)

    def _rebuild(self, select: str) -> None:
        self.blockSignals(True)
        try:
            self.clear()
            extras = [
                (display, value)
                for display, value in self._extra_models
                if self._folders_allowed or not Path(value).is_dir()
            ]
            for display, value in [*self._models, *extras]:
                self.addItem(display, value)
                self.setItemData(self.count() - 1, value, Qt.ItemDataRole.ToolTipRole)
            if self._folders_allowed:
                if self.count():
                    self.insertSeparator(self.count())
                self.addItem(OTHER_FOLDER_TEXT)
                other = self.count() - 1
                self.setItemData(other, True, _OTHER_ROLE)
                self.setItemData(
                    other, "Use a diffusers model folder from disk", Qt.ItemDataRole.ToolTipRole
                )
            index = self.index_of(select) if select else -1
            if index < 0 and (self._models or extras):
                index = 0
            self.setCurrentIndex(index)
        finally:
            self.blockSignals(False)
        self._remember()
        self.model_changed.emit()

    def _is_other(self, index: int) -> bool:
        return bool(self.itemData(index, _OTHER_ROLE))

    def _remember(self, *_: object) -> None:
        index = self.currentIndex()
        if index >= 0 and not self._is_other(index):
            self._chosen = self.value()

    def _on_activated(self, index: int) -> None:
        if not self._is_other(index):
            return
        start = self._chosen if Path(self._chosen).is_dir() else ""
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder", start)
        if folder:
            self.select(str(Path(folder).absolute()), add=True)
        else:
            self.setCurrentIndex(self.index_of(self._chosen) if self._chosen else -1)
