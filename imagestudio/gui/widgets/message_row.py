"""A one-line message with an icon (warning or information) and a dismiss button."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QStyle, QToolButton, QWidget


class MessageRow(QWidget):
    """Hidden until `show_message`; the text can be selected and copied."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        style = self.style()
        side = style.pixelMetric(QStyle.PixelMetric.PM_SmallIconSize, None, self)
        self._icon_size = QSize(side, side)
        self._warning = style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        self._info = style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxInformation)
        self._icon = QLabel(self)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        dismiss = QToolButton(self)
        dismiss.setAutoRaise(True)
        dismiss.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_LineEditClearButton))
        dismiss.setToolTip("Dismiss")
        dismiss.clicked.connect(self.clear_message)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.label, 1)
        layout.addWidget(dismiss, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, text: str, error: bool = True) -> None:
        icon = self._warning if error else self._info
        self._icon.setPixmap(icon.pixmap(self._icon_size, self.devicePixelRatioF()))
        self.label.setText(text)
        self.show()

    def clear_message(self) -> None:
        self.label.clear()
        self.hide()

    def text(self) -> str:
        """The message shown; empty when there is none."""
        return self.label.text() if not self.isHidden() else ""
