"""Mask mode on the canvas: paint the part of the shown picture that inpainting repaints.

The editor is the canvas view's tool while mask mode is on: it takes the mouse, paints into the
picture's `MaskLayer` and draws the layer's red overlay (and the brush outline) over the picture,
at Fit or at 100%, wherever the view is scrolled. Its actions carry the keys an artist expects:
M mask mode, B brush, E eraser, [ and ] brush size, Ctrl+Z / Ctrl+Shift+Z (Ctrl+Y) undo and redo.

A mask belongs to one picture: leaving mask mode keeps it (M brings it back), showing another
picture puts it away, and going back to that picture (gallery, history) brings it back, for the
last few pictures masked. Live previews of a running job are not pictures: while one shows, the
mask hides and waits, and it is there again when the job ends without a new picture.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QColor,
    QImage,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPen,
)
from PySide6.QtWidgets import QLabel, QSizePolicy, QSlider, QToolBar, QWidget

from imagestudio.gui.widgets.image_view import ImageView
from imagestudio.gui.widgets.mask_layer import DEFAULT_BRUSH, MAX_BRUSH, MIN_BRUSH, MaskLayer

BRUSH_STEP = 1.25  # [ and ] shrink and grow the brush by this factor
KEPT_MASKS = 8  # pictures whose masks wait (compressed) for the picture to show again


class MaskEditor(QObject):
    """Mask mode for one `ImageView`: the actions, the tool row, the layer of the shown picture."""

    mode_changed = Signal(bool)  # mask mode on or off
    mask_changed = Signal()  # painted, erased, cleared, undone... (or a new picture's blank one)

    def __init__(self, view: ImageView, owner: QWidget) -> None:
        super().__init__(owner)
        self._view = view
        self._owner = owner
        self._layer: MaskLayer | None = None
        self._picture: QImage | None = None  # the picture the mask is for (not a preview)
        self._key: object = None  # what identifies that picture: its file, or the image itself
        self._preview = False  # a live preview is on show: the mask waits
        self._pointer: QPointF | None = None  # the mouse, in view coordinates (brush outline)
        self._brush_size = DEFAULT_BRUSH
        self._hardness = 0.8
        self._erasing = False
        self._kept: OrderedDict[object, bytes] = OrderedDict()  # picture key -> zlib mask
        self._build_actions()
        self.tool_row = self._build_tool_row()
        self.tool_row.hide()
        view.tool = self
        self._update_actions()

    # -- construction -------------------------------------------------------------------------

    def _action(self, text: str, tip: str, keys: list[str] | None = None) -> QAction:
        action = QAction(text, self._owner)
        if keys:
            action.setShortcuts([QKeySequence(key) for key in keys])
            tip = f"{tip} ({', '.join(QKeySequence(k).toString() for k in keys)})"
        action.setToolTip(tip)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self._owner.addAction(action)  # the keys work wherever focus is in the window
        return action

    def _build_actions(self) -> None:
        self.mask_action = self._action(
            "Mask", "Paint the part of the picture to repaint (inpainting)", ["M"]
        )
        self.mask_action.setIconText("Mask")
        self.mask_action.setCheckable(True)
        self.mask_action.toggled.connect(self._on_mode_toggled)
        self.brush_action = self._action("Brush", "Paint the mask", ["B"])
        self.eraser_action = self._action("Eraser", "Erase the mask", ["E"])
        group = QActionGroup(self)
        for action, erasing in ((self.brush_action, False), (self.eraser_action, True)):
            action.setCheckable(True)
            group.addAction(action)
            action.triggered.connect(lambda _c=False, e=erasing: self.set_erasing(e))
        self.brush_action.setChecked(True)
        self.smaller_action = self._action("Smaller brush", "Smaller brush", ["["])
        self.smaller_action.triggered.connect(lambda: self.set_brush_size(self._step_size(-1)))
        self.bigger_action = self._action("Bigger brush", "Bigger brush", ["]"])
        self.bigger_action.triggered.connect(lambda: self.set_brush_size(self._step_size(1)))
        self.undo_action = self._action("Undo stroke", "Undo the last stroke", ["Ctrl+Z"])
        self.undo_action.triggered.connect(self.undo)
        self.redo_action = self._action(
            "Redo stroke", "Redo the stroke undone", ["Ctrl+Shift+Z", "Ctrl+Y"]
        )
        # arrows on the tool row: it must fit beside the docks of a 1280-pixel-wide window
        self.undo_action.setIconText("↶")
        self.redo_action.setIconText("↷")
        self.redo_action.triggered.connect(self.redo)
        self.clear_action = self._action("Clear", "Clear the mask: nothing is repainted")
        self.clear_action.triggered.connect(lambda: self._edit(MaskLayer.clear))
        self.invert_action = self._action(
            "Invert", "Swap what is repainted and what is kept (paint the part to keep, invert)"
        )
        self.invert_action.triggered.connect(lambda: self._edit(MaskLayer.invert))
        self.fill_action = self._action("Fill", "Mask the whole picture: all of it is repainted")
        self.fill_action.triggered.connect(lambda: self._edit(MaskLayer.fill))
        self._tool_actions = [
            self.brush_action,
            self.eraser_action,
            self.smaller_action,
            self.bigger_action,
            self.undo_action,
            self.redo_action,
            self.clear_action,
            self.invert_action,
            self.fill_action,
        ]

    def _build_tool_row(self) -> QToolBar:
        row = QToolBar("Mask", self._owner)
        row.setObjectName("mask_tools")
        row.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        row.addAction(self.brush_action)
        row.addAction(self.eraser_action)
        row.addSeparator()
        self.size_slider = self._slider("Brush size", MIN_BRUSH, MAX_BRUSH, self._brush_size)
        self.size_slider.valueChanged.connect(self.set_brush_size)
        self.size_label = QLabel()
        self.hardness_slider = self._slider("Brush hardness", 0, 100, round(self._hardness * 100))
        self.hardness_slider.valueChanged.connect(lambda v: self.set_hardness(v / 100))
        self.hardness_label = QLabel()
        for label in (self.size_label, self.hardness_label):
            # room for the widest value, so the row does not shift as the slider moves
            label.setMinimumWidth(label.fontMetrics().horizontalAdvance(" 512 px"))
        row.addWidget(QLabel(" Size "))
        row.addWidget(self.size_slider)
        row.addWidget(self.size_label)
        row.addWidget(QLabel("Hard "))
        row.addWidget(self.hardness_slider)
        row.addWidget(self.hardness_label)
        row.addSeparator()
        for action in (self.undo_action, self.redo_action):
            row.addAction(action)
        row.addSeparator()
        for action in (self.clear_action, self.invert_action, self.fill_action):
            row.addAction(action)
        self._show_brush_values()
        return row

    def _slider(self, name: str, low: int, high: int, value: int) -> QSlider:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(low, high)
        slider.setValue(value)
        slider.setAccessibleName(name)
        slider.setToolTip(name)
        slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the canvas' shortcuts
        slider.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        slider.setMaximumWidth(80)
        slider.setMinimumWidth(50)
        return slider

    # -- state --------------------------------------------------------------------------------

    def is_on(self) -> bool:
        """Mask mode is on (whether or not a picture is on show to paint on)."""
        return self.mask_action.isChecked()

    def set_on(self, on: bool) -> None:
        if on and not self.mask_action.isEnabled():
            return
        self.mask_action.setChecked(on)

    def is_active(self) -> bool:
        """Painting now: mask mode on a picture (not a live preview)."""
        return self.is_on() and self._layer is not None and not self._preview

    def layer(self) -> MaskLayer | None:
        """The mask of the picture on show (None before mask mode was first turned on for it)."""
        return self._layer

    def picture(self) -> QImage | None:
        return self._picture

    def has_mask(self) -> bool:
        return self._layer is not None and not self._layer.is_empty()

    def set_mask(self, values: np.ndarray) -> None:
        """Take `values` (height, width uint8 at the picture's size) as the picture's mask, as a
        fresh start (nothing to undo). Raises ValueError on another size."""
        if self._picture is None:
            raise ValueError("no picture is on show to take a mask")
        layer = self._new_layer()
        layer.replace(values)
        self._layer = layer
        self._repaint()
        self.mask_changed.emit()

    def picture_shown(self, image: QImage | None, path: str | None, *, preview: bool) -> None:
        """The canvas shows `image` (None: nothing). A live preview only hides the mask; another
        picture than the one the mask is for clears it."""
        self._preview = preview and image is not None
        if not self._preview:
            key = None
            if image is not None:
                # its file (read again: the same picture), or the image itself; and its size,
                # should the file have been replaced by another picture
                key = (path or image.cacheKey(), image.width(), image.height())
            if image is None or key != self._key or self._picture is None:
                self._put_away()
                self._picture = image
                self._key = key
                self._layer = self._new_layer() if image is not None and self.is_on() else None
                self._bring_back()
                self.mask_changed.emit()
        if self._picture is None and self.is_on():
            self.mask_action.setChecked(False)
        self._update_actions()
        self._view.update()

    def _put_away(self) -> None:
        """The mask of the picture going off show waits for it (its undo steps do not)."""
        layer = self._layer
        if layer is None or self._key is None:
            return
        self._kept.pop(self._key, None)
        if layer.is_empty():
            return
        layer.end_stroke()
        self._kept[self._key] = zlib.compress(layer.array().tobytes(), 1)
        while len(self._kept) > KEPT_MASKS:
            self._kept.popitem(last=False)

    def _bring_back(self) -> None:
        kept = self._kept.pop(self._key, None)
        if kept is None or self._picture is None:
            return
        if self._layer is None:
            self._layer = self._new_layer()
        width, height = self._layer.size()
        self._layer.replace(np.frombuffer(zlib.decompress(kept), np.uint8).reshape(height, width))

    def _new_layer(self) -> MaskLayer:
        assert self._picture is not None
        layer = MaskLayer(self._picture.width(), self._picture.height())
        layer.brush_size = self._brush_size
        layer.hardness = self._hardness
        layer.erasing = self._erasing
        return layer

    def _on_mode_toggled(self, on: bool) -> None:
        if on and self._layer is None and self._picture is not None:
            self._layer = self._new_layer()
            self.mask_changed.emit()
        if not on and self._layer is not None:
            self._layer.end_stroke()
        self._view.setMouseTracking(on)
        if on:
            self._view.setCursor(Qt.CursorShape.CrossCursor)
        else:
            self._view.unsetCursor()
        self.tool_row.setVisible(on)
        self._update_actions()
        self._view.update()
        self.mode_changed.emit(on)

    def _update_actions(self) -> None:
        self.mask_action.setEnabled(self._picture is not None)
        usable = self.is_active()
        for action in self._tool_actions:
            action.setEnabled(usable)
        layer = self._layer
        self.undo_action.setEnabled(usable and layer is not None and layer.can_undo())
        self.redo_action.setEnabled(usable and layer is not None and layer.can_redo())
        for widget in (self.size_slider, self.hardness_slider):
            widget.setEnabled(usable)

    # -- brush --------------------------------------------------------------------------------

    def brush_size(self) -> int:
        return self._brush_size

    def set_brush_size(self, size: int) -> None:
        self._brush_size = max(MIN_BRUSH, min(MAX_BRUSH, int(size)))
        if self._layer is not None:
            self._layer.brush_size = self._brush_size
        if self.size_slider.value() != self._brush_size:
            self.size_slider.setValue(self._brush_size)
        self._show_brush_values()
        self._view.update()  # the outline follows

    def _step_size(self, direction: int) -> int:
        size = self._brush_size
        stepped = round(size * BRUSH_STEP) if direction > 0 else round(size / BRUSH_STEP)
        return max(size + 1, stepped) if direction > 0 else min(size - 1, stepped)

    def hardness(self) -> float:
        return self._hardness

    def set_hardness(self, hardness: float) -> None:
        self._hardness = max(0.0, min(1.0, float(hardness)))
        if self._layer is not None:
            self._layer.hardness = self._hardness
        value = round(self._hardness * 100)
        if self.hardness_slider.value() != value:
            self.hardness_slider.setValue(value)
        self._show_brush_values()

    def is_erasing(self) -> bool:
        return self._erasing

    def set_erasing(self, erasing: bool) -> None:
        self._erasing = erasing
        if self._layer is not None:
            self._layer.erasing = erasing
        (self.eraser_action if erasing else self.brush_action).setChecked(True)

    def _show_brush_values(self) -> None:
        self.size_label.setText(f" {self._brush_size} px")
        self.hardness_label.setText(f" {round(self._hardness * 100)} %")

    # -- edits --------------------------------------------------------------------------------

    def undo(self) -> None:
        if self._layer is not None and self.is_active():
            self._changed(self._layer.undo())

    def redo(self) -> None:
        if self._layer is not None and self.is_active():
            self._changed(self._layer.redo())

    def _edit(self, edit: Callable[[MaskLayer], QRect]) -> None:
        if self._layer is not None and self.is_active():
            self._changed(edit(self._layer))

    def _changed(self, area: QRect) -> None:
        """The mask changed in `area` (picture pixels): repaint that much of the view."""
        if area.isEmpty():
            return
        self._view.update(self._view.from_image(area).adjusted(-2, -2, 2, 2))
        self._update_actions()
        self.mask_changed.emit()

    def _repaint(self) -> None:
        self._update_actions()
        self._view.update()

    # -- the mouse (ViewTool) -----------------------------------------------------------------

    def mouse_press(self, event: QMouseEvent) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self._layer is None:
            return False
        point = self._view.to_image(event.position())
        line = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        area = self._layer.begin_stroke(point, line=line)
        self._move_pointer(event.position())
        self._changed(area)
        return True

    def mouse_move(self, event: QMouseEvent) -> bool:
        self._move_pointer(event.position())
        if self._layer is None or not self._layer.in_stroke():
            return True  # hovering: only the brush outline moves
        if not event.buttons() & Qt.MouseButton.LeftButton:
            self._finish_stroke()
            return True
        self._changed(self._layer.stroke_to(self._view.to_image(event.position())))
        return True

    def mouse_release(self, event: QMouseEvent) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        self._finish_stroke()
        return True

    def _finish_stroke(self) -> None:
        if self._layer is not None and self._layer.in_stroke():
            self._layer.end_stroke()
            self._update_actions()

    def pointer_left(self) -> None:
        self._move_pointer(None)

    def _outline_rect(self, pointer: QPointF | None) -> QRect:
        if pointer is None:
            return QRect()
        radius = self._brush_size / 2 * self._view.view_per_pixel() + 2
        return QRectF(
            pointer.x() - radius, pointer.y() - radius, 2 * radius, 2 * radius
        ).toAlignedRect()

    def _move_pointer(self, pointer: QPointF | None) -> None:
        before = self._outline_rect(self._pointer)
        self._pointer = QPointF(pointer) if pointer is not None else None
        # only where the outline was and is: never the whole view per mouse move
        self._view.update(before.united(self._outline_rect(self._pointer)).adjusted(-1, -1, 1, 1))

    # -- painting (ViewTool) ------------------------------------------------------------------

    def paint(self, painter: QPainter, exposed: QRect) -> None:
        """The overlay over the exposed part of the picture, then the brush outline."""
        layer = self._layer
        rect = self._view.image_rect()
        if layer is None or rect.isEmpty():
            return
        area = exposed & rect
        if not area.isEmpty():
            across = layer.mask.width() / rect.width()
            down = layer.mask.height() / rect.height()
            # The exposed part in picture pixels, a pixel wider for the smooth scaling's edge;
            # one transform for every repaint, so partial repaints meet without seams.
            source = (
                QRectF(
                    (area.x() - rect.x()) * across,
                    (area.y() - rect.y()) * down,
                    area.width() * across,
                    area.height() * down,
                )
                .toAlignedRect()
                .adjusted(-1, -1, 1, 1)
                & layer.rect()
            )
            painter.save()
            painter.translate(rect.topLeft())
            painter.scale(1 / across, 1 / down)
            painter.drawImage(source, layer.overlay, source)
            painter.restore()
        if self._pointer is not None:
            radius = self._brush_size / 2 * self._view.view_per_pixel()
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            # dark under light: the outline shows on any picture
            for colour, width in ((QColor(0, 0, 0, 160), 3.0), (QColor(255, 255, 255, 220), 1.0)):
                painter.setPen(QPen(colour, width))
                painter.drawEllipse(self._pointer, radius, radius)
            painter.restore()
