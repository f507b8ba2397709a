"""Small helpers that give form widgets their names, accessible names and tooltips in one call."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QDoubleSpinBox, QSpinBox, QWidget

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
