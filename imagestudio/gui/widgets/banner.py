"""The dismissable error banner above the canvas: words, and the fix when one is known."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QStyle, QToolButton, QWidget


class ErrorBanner(QFrame):
    """Icon, selectable message and a close button, in the palette's tooltip colours."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("error_banner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)

        self.icon = QLabel(self)
        self.icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.PlainText)  # messages hold paths, not markup
        self.message.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.message.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.close_button = QToolButton(self)
        self.close_button.setText("×")
        self.close_button.setAutoRaise(True)
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAccessibleName("Dismiss the error")

        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 4, 6)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self.update_look()

    def update_look(self, base: QPalette | None = None) -> None:
        """Take the tooltip colour pair from `base`, so text and buttons keep their contrast.

        Setting only the frame's background role would leave the children drawing WindowText or
        ButtonText on it, which is unreadable where the tooltip colours are inverted (dark themes).
        """
        parent = self.parentWidget()
        if base is None:
            base = parent.palette() if parent is not None else self.palette()
        base = QPalette(base)
        palette = QPalette(base)
        for group in (
            QPalette.ColorGroup.Active,
            QPalette.ColorGroup.Inactive,
            QPalette.ColorGroup.Disabled,
        ):
            back = base.color(group, QPalette.ColorRole.ToolTipBase)
            text = base.color(group, QPalette.ColorRole.ToolTipText)
            for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Button):
                palette.setColor(group, role, back)
            for role in (
                QPalette.ColorRole.WindowText,
                QPalette.ColorRole.ButtonText,
                QPalette.ColorRole.Text,
            ):
                palette.setColor(group, role, text)
        self.setPalette(palette)
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize, None, self)
        icon = self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning, None, self)
        self.icon.setPixmap(icon.pixmap(QSize(size, size), self.devicePixelRatioF()))
