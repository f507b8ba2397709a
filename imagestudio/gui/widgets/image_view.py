"""The canvas's picture: one pixmap, fitted or at actual pixels, with an optional tool on top.

A tool (the inpainting mask editor) paints over the picture and takes the mouse while it is
active; the view maps between its own coordinates and the picture's pixels for it, at any zoom.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, QSize, QSizeF, Qt, Signal
from PySide6.QtGui import QMouseEvent, QPainter, QPaintEvent, QPixmap
from PySide6.QtWidgets import QApplication, QSizePolicy, QWidget


class ViewTool(Protocol):
    """Something that draws over the picture and takes the mouse while `is_active()`."""

    def is_active(self) -> bool: ...
    def paint(self, painter: QPainter, exposed: QRect) -> None: ...
    def mouse_press(self, event: QMouseEvent) -> bool: ...
    def mouse_move(self, event: QMouseEvent) -> bool: ...
    def mouse_release(self, event: QMouseEvent) -> bool: ...
    def pointer_left(self) -> None: ...


class ImageView(QWidget):
    """Paints one pixmap: scaled smoothly to fit, or at actual pixels (sized for a scroll area)."""

    drag_requested = Signal()
    double_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._fit = True
        self._scaled: QPixmap | None = None  # cache of the fitted pixmap, in device pixels
        self._press_pos: QPoint | None = None
        self.draggable = False
        self.tool: ViewTool | None = None
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setAccessibleName("Image")

    def set_pixmap(self, pixmap: QPixmap | None) -> None:
        self._pixmap = pixmap
        self._scaled = None
        self._sync_size()

    def set_fit(self, fit: bool) -> None:
        self._fit = fit
        self._sync_size()

    def is_fit(self) -> bool:
        return self._fit

    def image_rect(self) -> QRect:
        """Where the image is drawn, in this widget's (logical) coordinates."""
        if self._pixmap is None or self._pixmap.isNull():
            return QRect()
        if self._fit:
            size = self._pixmap.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        else:
            size = self._actual_size()
        x = max(0, (self.width() - size.width()) // 2)
        y = max(0, (self.height() - size.height()) // 2)
        return QRect(QPoint(x, y), size)

    # -- between the view's coordinates and the picture's pixels -------------------------------

    def _scale(self) -> tuple[float, float]:
        """Picture pixels per view unit, across and down (0 with no picture shown)."""
        rect = self.image_rect()
        if rect.isEmpty() or self._pixmap is None:
            return 0.0, 0.0
        return self._pixmap.width() / rect.width(), self._pixmap.height() / rect.height()

    def to_image(self, pos: QPointF) -> QPointF:
        """A point of this widget as a point of the picture (in its pixels; may lie outside)."""
        rect = self.image_rect()
        sx, sy = self._scale()
        return QPointF((pos.x() - rect.x()) * sx, (pos.y() - rect.y()) * sy)

    def from_image(self, area: QRectF | QRect) -> QRect:
        """The part of this widget that shows `area` of the picture (rounded outwards)."""
        rect = self.image_rect()
        sx, sy = self._scale()
        if not sx or not sy:
            return QRect()
        area = QRectF(area)
        return QRectF(
            rect.x() + area.x() / sx,
            rect.y() + area.y() / sy,
            area.width() / sx,
            area.height() / sy,
        ).toAlignedRect()

    def view_per_pixel(self) -> float:
        """How many view units one picture pixel covers (across)."""
        sx, _ = self._scale()
        return 1 / sx if sx else 0.0

    # -- painting -----------------------------------------------------------------------------

    def _actual_size(self) -> QSize:
        # One image pixel per device pixel, also on high-DPI screens.
        assert self._pixmap is not None
        return (QSizeF(self._pixmap.size()) / self.devicePixelRatioF()).toSize()

    def _sync_size(self) -> None:
        if self._pixmap is not None and not self._fit:
            self.setMinimumSize(self._actual_size())
        else:
            self.setMinimumSize(0, 0)
        self.updateGeometry()
        self.update()

    def _fitted(self, size: QSize) -> QPixmap:
        assert self._pixmap is not None
        target = (QSizeF(size) * self.devicePixelRatioF()).toSize()
        if self._scaled is None or self._scaled.size() != target:
            # Smooth (bilinear) scaling: 32x32 live previews are blown up to fill the view.
            self._scaled = self._pixmap.scaled(
                target,
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        return self._scaled

    def paintEvent(self, event: QPaintEvent) -> None:
        rect = self.image_rect()
        if rect.isEmpty() or self._pixmap is None:
            return
        pixmap = self._fitted(rect.size()) if self._fit else self._pixmap
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawPixmap(rect, pixmap)
        if self.tool is not None and self.tool.is_active():
            self.tool.paint(painter, event.rect())
        painter.end()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.DevicePixelRatioChange:
            self._scaled = None
            self._sync_size()
        super().changeEvent(event)

    # -- the mouse: the tool's while it is active, else drag out and double-click zoom ----------

    def _tool_active(self) -> bool:
        return self.tool is not None and self.tool.is_active()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self._tool_active() and self.tool is not None and self.tool.mouse_press(event):
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self._press_pos = event.position().toPoint()
            event.accept()  # become the mouse grabber so the moves of a drag come here
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._tool_active() and self.tool is not None and self.tool.mouse_move(event):
            event.accept()
            return
        if (
            self._press_pos is not None
            and self.draggable
            and event.buttons() & Qt.MouseButton.LeftButton
        ):
            moved = (event.position().toPoint() - self._press_pos).manhattanLength()
            if moved >= QApplication.startDragDistance():
                self._press_pos = None
                self.drag_requested.emit()
                return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._press_pos = None
        if self._tool_active() and self.tool is not None and self.tool.mouse_release(event):
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self._tool_active() and self.tool is not None:
            # a quick second dab, not a zoom change under the brush
            if self.tool.mouse_press(event):
                event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton:
            self.double_clicked.emit()
            return
        super().mouseDoubleClickEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        if self.tool is not None:
            self.tool.pointer_left()
        super().leaveEvent(event)
