"""The inpainting mask of one picture: an 8-bit image painted with a round brush, its red overlay,
and undo/redo of every stroke.

White (255) repaints, black (0) keeps, grey is between: the meaning the core reads. Painting must
stay smooth on a 2048 × 2048 picture, so nothing here touches the whole mask per mouse move: a
stroke segment is painted with QPainter into the mask, and only the rectangle it touched is copied
into the overlay (through a 256-entry lookup table) and reported for repainting.

Undo keeps, per stroke, only the tiles of the mask the stroke changed, as they were, zlib-compressed
(masks are mostly flat); the tiles as they are come along when the step is undone, for redo. A
hundred strokes on a 2048² picture cost a few MB, not 400, and ending even a stroke across the
whole picture stays within a frame: unchanged tiles are neither copied nor compressed.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QRadialGradient

# The overlay: red at this opacity where the mask is full (A1111 and Krita show masks alike).
OVERLAY_COLOR = (255, 40, 40)
OVERLAY_ALPHA = 0.45
MIN_BRUSH = 1
MAX_BRUSH = 512
DEFAULT_BRUSH = 48
UNDO_STEPS = 100
UNDO_BYTES = 64 * 1024 * 1024  # compressed patches kept at most (the oldest go first)
# Dabs along a stroke, as a fraction of the brush's diameter: closer dabs give a smoother edge.
DAB_SPACING = 0.12


def _overlay_table() -> np.ndarray:
    """Mask value -> premultiplied ARGB32 pixel of the overlay colour at that coverage."""
    alpha = np.round(np.arange(256) * OVERLAY_ALPHA).astype(np.uint32)
    red, green, blue = (np.round(alpha * c / 255).astype(np.uint32) for c in OVERLAY_COLOR)
    return (alpha << 24) | (red << 16) | (green << 8) | blue


_OVERLAY_LUT = _overlay_table()


def image_array(image: QImage) -> np.ndarray:
    """A writable (height, width) uint8 or uint32 numpy view of an 8- or 32-bit QImage (no copy:
    writes go to the image, and the view is good only while the image lives)."""
    depth = image.depth() // 8
    dtype = np.uint8 if depth == 1 else np.uint32
    buffer = np.frombuffer(image.bits(), dtype=np.uint8)
    rows = buffer.reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * depth].view(dtype)


TILE = 128  # undo steps keep the mask in tiles of this size


@dataclass
class _Tile:
    """One tile of an undo step: where, and its pixels before and after (zlib-compressed)."""

    top: int
    left: int
    height: int
    width: int
    before: bytes
    after: bytes = b""

    def rows(self) -> slice:
        return slice(self.top, self.top + self.height)

    def columns(self) -> slice:
        return slice(self.left, self.left + self.width)

    @property
    def size(self) -> int:
        return len(self.before) + len(self.after)


def _pack(values: np.ndarray) -> bytes:
    return zlib.compress(np.ascontiguousarray(values).tobytes(), 1)


def _changed_tiles(before: np.ndarray, after: np.ndarray, rect: QRect) -> list[_Tile]:
    """The tiles within `rect` where `after` differs from `before`, with their old pixels."""
    tiles = []
    first_row, first_column = rect.top() // TILE * TILE, rect.left() // TILE * TILE
    height, width = after.shape
    for top in range(first_row, rect.bottom() + 1, TILE):
        rows = slice(top, min(top + TILE, height))
        for left in range(first_column, rect.right() + 1, TILE):
            columns = slice(left, min(left + TILE, width))
            old = before[rows, columns]
            if not np.array_equal(old, after[rows, columns]):
                tiles.append(_Tile(top, left, old.shape[0], old.shape[1], _pack(old)))
    return tiles


class MaskLayer:
    """An 8-bit mask the size of one picture, its overlay, the brush, and the undo history."""

    def __init__(self, width: int, height: int) -> None:
        self.mask = QImage(width, height, QImage.Format.Format_Grayscale8)
        self.mask.fill(0)
        self.overlay = QImage(width, height, QImage.Format.Format_ARGB32_Premultiplied)
        self.overlay.fill(0)
        self.brush_size = DEFAULT_BRUSH  # diameter, in picture pixels
        self.hardness = 0.8  # 1: a hard edge; 0: soft from the centre out
        self.erasing = False
        self.revision = 0  # goes up with every change (a cached file of the mask knows its own)
        self._undo: list[list[_Tile]] = []
        self._redo: list[list[_Tile]] = []
        # While a stroke goes on: the tiles it is about to touch, as they were before it (copied
        # on first touch, so a stroke never copies the whole mask), by (top, left).
        self._saved: dict[tuple[int, int], np.ndarray] | None = None
        self._last: QPointF | None = None  # the last dab of the stroke
        self._line_from: QPointF | None = None  # where the last stroke ended (Shift+click)

    # -- reading ----------------------------------------------------------------------------

    def size(self) -> tuple[int, int]:
        return self.mask.width(), self.mask.height()

    def rect(self) -> QRect:
        return self.mask.rect()

    def array(self) -> np.ndarray:
        """The mask as a (height, width) uint8 view (0 keep ... 255 repaint)."""
        return image_array(self.mask)

    def is_empty(self) -> bool:
        return not self.array().any()

    def value(self, x: int, y: int) -> int:
        return int(self.array()[y, x])

    # -- strokes ----------------------------------------------------------------------------

    def begin_stroke(self, point: QPointF, *, line: bool = False) -> QRect:
        """Start a stroke at `point` (picture pixels) with a dab there; with `line`, a straight
        line from where the previous stroke ended (Shift+click). Returns the changed rect."""
        self.end_stroke()
        self._saved = {}
        start = self._line_from if line and self._line_from is not None else None
        self._last = None
        if start is not None:
            self._last = start
            return self.stroke_to(point)
        return self._paint([point])

    def stroke_to(self, point: QPointF) -> QRect:
        """Continue the stroke to `point`: dabs along the segment. Returns the changed rect."""
        if self._saved is None:
            return self.begin_stroke(point)
        last = self._last if self._last is not None else point
        spacing = max(1.0, self.brush_size * DAB_SPACING)
        distance = math.hypot(point.x() - last.x(), point.y() - last.y())
        if distance < spacing and self._last is not None:
            return QRect()  # too close: the next move paints it
        steps = max(1, math.ceil(distance / spacing))
        points = [
            QPointF(
                last.x() + (point.x() - last.x()) * i / steps,
                last.y() + (point.y() - last.y()) * i / steps,
            )
            for i in range(1, steps + 1)
        ]
        return self._paint(points)

    def end_stroke(self) -> None:
        """Finish the stroke: the tiles it changed, as they were, become one undo step."""
        if self._saved is None:
            return
        saved, self._saved = self._saved, None
        self._line_from = self._last
        self._last = None
        mask = self.array()
        step = []
        for (top, left), old in saved.items():
            height, width = old.shape
            if not np.array_equal(old, mask[top : top + height, left : left + width]):
                step.append(_Tile(top, left, height, width, _pack(old)))
        self._push(step)

    def in_stroke(self) -> bool:
        return self._saved is not None

    def _save_tiles(self, area: QRect) -> None:
        """Keep the tiles under `area` as they are, unless this stroke already has them."""
        if self._saved is None:
            return
        mask = self.array()
        height, width = mask.shape
        for top in range(area.top() // TILE * TILE, area.bottom() + 1, TILE):
            for left in range(area.left() // TILE * TILE, area.right() + 1, TILE):
                if (top, left) not in self._saved:
                    tile = mask[top : min(top + TILE, height), left : min(left + TILE, width)]
                    self._saved[(top, left)] = tile.copy()

    def _paint(self, points: list[QPointF]) -> QRect:
        radius = max(MIN_BRUSH, self.brush_size) / 2
        self._last = points[-1]
        changed = QRect()
        for point in points:
            changed |= (
                QRectF(point.x() - radius, point.y() - radius, 2 * radius, 2 * radius)
                .toAlignedRect()
                .adjusted(-1, -1, 1, 1)
            )
        changed &= self.rect()
        if changed.isEmpty():
            return changed
        self._save_tiles(changed)
        painter = QPainter(self.mask)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        # Lighten (max) for the brush and Darken (min) for the eraser: opaque grey dabs, so a
        # soft brush passed twice over a spot does not build up past its own edge profile.
        painter.setCompositionMode(
            QPainter.CompositionMode.CompositionMode_Darken
            if self.erasing
            else QPainter.CompositionMode.CompositionMode_Lighten
        )
        centre, edge = (QColor(0, 0, 0), QColor(255, 255, 255))
        if not self.erasing:
            centre, edge = edge, centre
        hard = self.hardness >= 0.99 or radius < 1.5
        for point in points:
            if hard:
                painter.setBrush(centre)
            else:
                gradient = QRadialGradient(point, radius)
                gradient.setColorAt(0.0, centre)
                gradient.setColorAt(max(0.0, min(self.hardness, 0.98)), centre)
                gradient.setColorAt(1.0, edge)
                painter.setBrush(QBrush(gradient))
            painter.drawEllipse(point, radius, radius)
        painter.end()
        self._changed(changed)
        return changed

    # -- whole-mask edits (each one undo step) ------------------------------------------------

    def clear(self) -> QRect:
        return self._edit(lambda mask: mask.fill(0))

    def fill(self) -> QRect:
        return self._edit(lambda mask: mask.fill(255))

    def invert(self) -> QRect:
        return self._edit(lambda mask: np.subtract(255, mask, out=mask))

    def load(self, values: np.ndarray) -> QRect:
        """Take `values` (height, width uint8, the mask's size) as the mask: one undo step."""
        if values.shape != self.array().shape:
            raise ValueError(f"a {self.size()} mask cannot take values of shape {values.shape}")
        return self._edit(lambda mask: np.copyto(mask, values))

    def replace(self, values: np.ndarray) -> None:
        """Take `values` as the mask without an undo step (a mask loaded for a picture), and
        forget the undo history."""
        self.end_stroke()
        np.copyto(self.array(), values)
        self._undo.clear()
        self._redo.clear()
        self._line_from = None
        self._changed(self.rect())

    def _edit(self, change: Callable[[np.ndarray], object]) -> QRect:
        self.end_stroke()
        mask = self.array()
        before = mask.copy()
        change(mask)
        tiles = _changed_tiles(before, mask, self.rect())
        if not tiles:
            return QRect()
        self._push(tiles)
        return self._tiles_changed(tiles)

    # -- undo -------------------------------------------------------------------------------

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo_steps(self) -> int:
        return len(self._undo)

    def undo(self) -> QRect:
        self.end_stroke()
        if not self._undo:
            return QRect()
        step = self._undo.pop()
        mask = self.array()
        for tile in step:
            # the tile as it is now is what redo brings back
            tile.after = _pack(mask[tile.rows(), tile.columns()])
            mask[tile.rows(), tile.columns()] = self._unpack(tile, tile.before)
        self._redo.append(step)
        return self._tiles_changed(step)

    def redo(self) -> QRect:
        self.end_stroke()
        if not self._redo:
            return QRect()
        step = self._redo.pop()
        mask = self.array()
        for tile in step:
            mask[tile.rows(), tile.columns()] = self._unpack(tile, tile.after)
        self._undo.append(step)
        return self._tiles_changed(step)

    def undo_bytes(self) -> int:
        """Memory the undo and redo steps hold (compressed)."""
        return sum(tile.size for step in (*self._undo, *self._redo) for tile in step)

    def _push(self, step: list[_Tile]) -> None:
        if not step:
            return
        self._undo.append(step)
        self._redo.clear()
        total = sum(tile.size for kept in self._undo for tile in kept)
        while len(self._undo) > UNDO_STEPS or (total > UNDO_BYTES and len(self._undo) > 1):
            total -= sum(tile.size for tile in self._undo.pop(0))

    @staticmethod
    def _unpack(tile: _Tile, data: bytes) -> np.ndarray:
        values = np.frombuffer(zlib.decompress(data), dtype=np.uint8)
        return values.reshape(tile.height, tile.width)

    def _tiles_changed(self, step: list[_Tile]) -> QRect:
        changed = QRect()
        for tile in step:
            rect = QRect(tile.left, tile.top, tile.width, tile.height)
            self._changed(rect)
            changed |= rect
        return changed

    # -- overlay ----------------------------------------------------------------------------

    def _changed(self, rect: QRect) -> None:
        """The mask changed in `rect`: the overlay follows there, and only there."""
        self.revision += 1
        top, bottom = rect.top(), rect.bottom() + 1
        left, right = rect.left(), rect.right() + 1
        overlay = image_array(self.overlay)
        overlay[top:bottom, left:right] = _OVERLAY_LUT[self.array()[top:bottom, left:right]]


def mask_values_from_image(image: QImage, width: int, height: int) -> np.ndarray:
    """A mask file read as values (0 keep ... 255 repaint) at `width` × `height`.

    As the core reads masks: grey levels, white repaints; a file with transparency repaints
    where it is transparent (alpha 0). A file of another size is stretched to the picture's.
    """
    if image.size().width() != width or image.size().height() != height:
        image = image.scaled(
            width,
            height,
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
    if image.hasAlphaChannel():
        argb = image.convertToFormat(QImage.Format.Format_ARGB32)
        alpha = (image_array(argb) >> 24).astype(np.uint8)
        if (alpha < 255).any():
            return 255 - alpha
    grey = image.convertToFormat(QImage.Format.Format_Grayscale8)
    return image_array(grey).copy()  # a view would outlive `grey`
