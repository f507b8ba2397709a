"""The seed row of the Generate form: a number or empty (random), Random, and Reuse last."""

from __future__ import annotations

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QPushButton, QWidget

from imagestudio.core.errors import InvalidRequest
from imagestudio.core.requests import MAX_SEED, in_range


def _acceptable(text: str) -> bool:
    stripped = text.strip()
    return not stripped or (stripped.isascii() and stripped.isdigit() and int(stripped) <= MAX_SEED)


class _SeedValidator(QValidator):
    """Digits only, at most MAX_SEED; empty is fine (it means a random seed)."""

    def validate(self, text: str, pos: int) -> object:
        state = QValidator.State.Acceptable if _acceptable(text) else QValidator.State.Invalid
        return state, text, pos


class SeedField(QWidget):
    """The seed (empty: a new random one each job) with its two buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._last: int | None = None
        self.edit = QLineEdit(self)
        self.edit.setObjectName("seed_edit")
        self.edit.setPlaceholderText("random")
        self.edit.setValidator(_SeedValidator(self.edit))
        self.edit.setClearButtonEnabled(True)
        self.edit.setAccessibleName("Seed")
        self.edit.setToolTip(
            "The same seed with the same settings gives the same image. Leave empty for a new "
            f"random seed each time (0 to {MAX_SEED})."
        )
        self.random_button = QPushButton("Random", self)
        self.random_button.setObjectName("random_seed_button")
        self.random_button.setAccessibleName("Random seed")
        self.random_button.setToolTip("Clear the seed: every job gets a new random one.")
        self.reuse_button = QPushButton("Reuse last", self)
        self.reuse_button.setObjectName("reuse_seed_button")
        self.reuse_button.setAccessibleName("Reuse last seed")
        self.reuse_button.setToolTip("Use the seed of the last image again (none yet).")
        self.reuse_button.setEnabled(False)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.random_button)
        row.addWidget(self.reuse_button)
        self.setFocusProxy(self.edit)
        self.random_button.clicked.connect(self.edit.clear)
        self.reuse_button.clicked.connect(self._reuse_last)

    def set_last(self, seed: int) -> None:
        """Remember the seed of the last image so that "Reuse last" can fill it in."""
        self._last = int(seed)
        self.reuse_button.setEnabled(True)
        self.reuse_button.setToolTip(f"Use the seed of the last image again ({seed}).")

    def _reuse_last(self) -> None:
        if self._last is not None:
            self.edit.setText(str(self._last))

    def value(self) -> int | None:
        """The seed typed, or None for random; InvalidRequest (a sentence) for anything else."""
        text = self.edit.text().strip()
        if not text:
            return None
        if not (text.isascii() and text.isdigit()):
            raise InvalidRequest(
                f"The seed must be a whole number from 0 to {MAX_SEED}, or empty for a random "
                f"seed; {text!r} was given."
            )
        return int(text)  # the range is the core's to check

    def set_value(self, seed: object) -> None:
        """Show `seed` (None: random). A number out of range, or other junk, is ignored; text
        (an old saved form) is taken when it is a valid seed."""
        if seed is None:
            self.edit.setText("")
        elif in_range(seed, 0, MAX_SEED, whole=True):
            self.edit.setText(str(seed))
        elif isinstance(seed, str) and _acceptable(seed):
            self.edit.setText(seed.strip())
