"""Small helpers for form widgets: names, accessible names and tooltips in one call; a wheel that
scrolls the form instead of changing values the user is not editing; the limits of a number
field said as the user types past them (Qt would drop the keystroke without a word)."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QPoint, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QMessageBox,
    QSpinBox,
    QToolTip,
    QWidget,
)

W = TypeVar("W", bound=QWidget)


def named(widget: W, object_name: str, accessible: str, tip: str = "") -> W:
    """`widget` with its object name (tests and styles find it), accessible name and tooltip."""
    widget.setObjectName(object_name)
    widget.setAccessibleName(accessible)
    if tip:
        widget.setToolTip(tip)
    return widget


def spin_box(
    parent: QWidget, object_name: str, accessible: str, tip: str, low: int, high: int, value: int
) -> QSpinBox:
    spin = named(QSpinBox(parent), object_name, accessible, tip)
    spin.setRange(low, high)
    spin.setValue(value)
    return spin


def number_box(
    parent: QWidget,
    object_name: str,
    accessible: str,
    tip: str,
    limits: tuple[float, float],
    value: float,
    step: float = 0.5,
) -> QDoubleSpinBox:
    spin = named(QDoubleSpinBox(parent), object_name, accessible, tip)
    spin.setRange(*limits)
    spin.setDecimals(2)
    spin.setSingleStep(step)
    spin.setValue(value)
    return spin


_VALUE_WIDGETS = (QAbstractSpinBox, QComboBox, QAbstractSlider)


class _WheelGuard(QObject):
    """Over a spin box, combo or slider without focus, the wheel scrolls the form around it:
    scrolling down a form must never change Steps or the sampler on the way. Once the user
    clicks or tabs into the field, the wheel changes its value as usual. In a number field, a
    keystroke that would take the value past its limits shows the limits (Qt refuses it)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and isinstance(watched, QAbstractSpinBox):
            _say_limits(watched, event)  # type: ignore[arg-type]
            return False
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget):
            return False
        if watched.hasFocus():
            return False
        parent = watched.parentWidget()
        while parent is not None and not isinstance(parent, QAbstractScrollArea):
            parent = parent.parentWidget()
        if parent is not None and parent.verticalScrollBar().isVisible():
            QCoreApplication.sendEvent(parent.verticalScrollBar(), event)
        return True


def limits_text(spin: QAbstractSpinBox) -> str | None:
    """ "Steps go from 1 to 150." for a spin box named Steps, or None for other widgets."""
    if not isinstance(spin, QSpinBox | QDoubleSpinBox):
        return None
    low, high = spin.minimum(), spin.maximum()
    if isinstance(spin, QDoubleSpinBox):
        low_text, high_text = f"{low:g}", f"{high:g}"
    else:
        low_text, high_text = str(low), str(high)
    name = spin.accessibleName() or "This value"
    return f"{name}: from {low_text} to {high_text}."


def _say_limits(spin: QAbstractSpinBox, event: QKeyEvent) -> None:
    typed = event.text()
    if not typed or not typed.isprintable() or not isinstance(spin, QSpinBox | QDoubleSpinBox):
        return
    edit = spin.lineEdit()
    text = edit.text()
    if edit.hasSelectedText():
        start = edit.selectionStart()
        text = text[:start] + typed + text[start + len(edit.selectedText()) :]
    else:
        cursor = edit.cursorPosition()
        text = text[:cursor] + typed + text[cursor:]
    text = text.removeprefix(spin.prefix()).removesuffix(spin.suffix()).strip()
    try:
        value = float(text.replace(spin.locale().decimalPoint(), ".").replace(",", "."))
    except ValueError:
        return
    if spin.minimum() <= value <= spin.maximum():
        return
    message = limits_text(spin)
    if message:
        QToolTip.showText(spin.mapToGlobal(QPoint(0, spin.height())), message, spin)


_GUARD: _WheelGuard | None = None


def guard_wheel(root: QWidget) -> None:
    """Give every spin box, combo and slider in `root` (and `root` itself) the wheel guard, and
    a focus that the wheel alone does not take. Call it again for widgets added later."""
    global _GUARD
    if _GUARD is None:
        _GUARD = _WheelGuard(QCoreApplication.instance())
    widgets = [root, *root.findChildren(QWidget)]
    for widget in widgets:
        if isinstance(widget, _VALUE_WIDGETS) and not isinstance(widget, QAbstractScrollArea):
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            widget.installEventFilter(_GUARD)


def ask_yes_no(parent: QWidget, title: str, text: str, *, default_yes: bool) -> bool:
    """A yes/no question in a message box; True for Yes."""
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    answer = QMessageBox.question(parent, title, text, yes | no, yes if default_yes else no)
    return answer == yes
