"""Mask mode: the mask layer (brush, eraser, whole-mask edits, undo) and the canvas's editor
(the mouse, the overlay at each zoom, the keys, which picture a mask belongs to)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QColor, QImage

from imagestudio.gui.panels.canvas import Canvas
from imagestudio.gui.widgets.mask_layer import (
    TILE,
    MaskLayer,
    mask_values_from_image,
)

# -- the layer ----------------------------------------------------------------------------------


def stroke(layer: MaskLayer, *points: tuple[float, float]) -> None:
    layer.begin_stroke(QPointF(*points[0]))
    for point in points[1:]:
        layer.stroke_to(QPointF(*point))
    layer.end_stroke()


def hard_layer(width: int = 200, height: int = 120, brush: int = 10) -> MaskLayer:
    layer = MaskLayer(width, height)
    layer.brush_size = brush
    layer.hardness = 1.0
    return layer


def test_a_stroke_paints_along_its_path_and_nowhere_else(qapp) -> None:
    layer = hard_layer()
    assert layer.is_empty()
    stroke(layer, (20, 30), (180, 30))
    values = layer.array()
    assert values[30, 20] == values[30, 100] == values[30, 180] == 255
    assert values[30, 3] == 0 and values[30, 197] == 0  # past the ends
    assert values[50, 100] == 0 and values[10, 100] == 0  # above and below the line
    assert values[:, 100].sum() == pytest.approx(255 * 10, abs=2 * 255)  # about 10 px wide
    assert not layer.is_empty()
    # the overlay follows: red, translucent, only where the mask is
    assert QColor.fromRgba(layer.overlay.pixel(100, 30)).alpha() == pytest.approx(115, abs=2)
    assert layer.overlay.pixel(100, 60) == 0


def test_the_eraser_takes_paint_away(qapp) -> None:
    layer = hard_layer()
    stroke(layer, (20, 30), (180, 30))
    layer.erasing = True
    layer.brush_size = 20
    stroke(layer, (100, 10), (100, 50))
    values = layer.array()
    assert values[30, 100] == 0 and values[30, 60] == 255
    assert layer.overlay.pixel(100, 30) == 0


def test_a_soft_brush_fades_to_its_edge_and_never_builds_up(qapp) -> None:
    layer = MaskLayer(100, 100)
    layer.brush_size = 40
    layer.hardness = 0.0
    stroke(layer, (50, 50))
    first = layer.array().copy()
    assert first[50, 50] > 240 and 0 < first[50, 62] < first[50, 55] < first[50, 50]
    assert first[50, 71] == 0
    stroke(layer, (50, 50))  # the same dab again: a maximum, not a sum
    # (the antialiased rim may gain a level)
    assert np.abs(layer.array().astype(int) - first).max() <= 2


def test_clear_invert_and_fill_are_each_one_undo_step(qapp) -> None:
    layer = hard_layer()
    stroke(layer, (20, 30), (180, 30))
    painted = layer.array().copy()
    layer.invert()
    assert layer.value(100, 30) == 0 and layer.value(100, 80) == 255
    layer.clear()
    assert layer.is_empty()
    layer.fill()
    assert (layer.array() == 255).all()
    assert layer.clear() and layer.is_empty()
    assert layer.fill() and not layer.fill()  # filling a full mask changes nothing: no step
    for _ in range(3):
        layer.undo()
    assert layer.is_empty()
    layer.undo()
    assert np.array_equal(layer.array(), 255 - painted)
    layer.undo()
    assert np.array_equal(layer.array(), painted)
    layer.redo()
    assert np.array_equal(layer.array(), 255 - painted)


def test_a_new_stroke_drops_the_redo_steps(qapp) -> None:
    layer = hard_layer()
    stroke(layer, (20, 30), (60, 30))
    stroke(layer, (20, 80), (60, 80))
    layer.undo()
    assert layer.can_redo()
    stroke(layer, (120, 80))
    assert not layer.can_redo() and layer.undo_steps() == 2


def test_undo_keeps_only_the_changed_tiles_so_2048_pictures_stay_small(qapp) -> None:
    layer = MaskLayer(2048, 2048)
    layer.brush_size = 60
    rng = np.random.default_rng(3)
    states = [layer.array().copy()]
    for _ in range(60):
        start = rng.uniform(0, 2048, 2)
        stroke(layer, tuple(start), tuple(start + rng.uniform(-300, 300, 2)))
        states.append(layer.array().copy())
    assert layer.undo_steps() == 60
    # 60 strokes, each holding only its tiles, compressed: well under one copy of the mask
    assert layer.undo_bytes() < 2048 * 2048 // 4
    for expected in reversed(states[:-1]):
        layer.undo()
        assert np.array_equal(layer.array(), expected)
    assert layer.is_empty() and not layer.can_undo()
    for expected in states[1:]:
        layer.redo()
        assert np.array_equal(layer.array(), expected)
    # a stroke across the whole picture: its step holds the tiles it crossed, not all 256
    stroke(layer, (0, 0), (2047, 2047))
    assert len(layer._undo[-1]) < (2048 // TILE) ** 2 // 4


def test_shift_click_draws_a_line_from_the_last_stroke(qapp) -> None:
    layer = hard_layer()
    stroke(layer, (20, 60))
    layer.begin_stroke(QPointF(180, 60), line=True)
    layer.end_stroke()
    assert layer.value(100, 60) == 255


def test_mask_files_are_read_as_the_core_reads_them(qapp) -> None:
    grey = QImage(4, 2, QImage.Format.Format_Grayscale8)
    grey.fill(0)
    grey.setPixel(1, 0, 0xFFFFFFFF)
    values = mask_values_from_image(grey, 4, 2)
    assert values.tolist() == [[0, 255, 0, 0], [0, 0, 0, 0]]
    # transparency repaints (alpha 0 = repaint), whatever the colour
    rgba = QImage(4, 2, QImage.Format.Format_ARGB32)
    rgba.fill(QColor(0, 0, 0, 255))
    rgba.setPixelColor(2, 1, QColor(0, 0, 0, 0))
    assert mask_values_from_image(rgba, 4, 2).tolist() == [[0, 0, 0, 0], [0, 0, 255, 0]]
    # another size is stretched to the picture's
    assert mask_values_from_image(grey, 8, 4).shape == (4, 8)


# -- the editor on the canvas --------------------------------------------------------------------


def picture(width: int = 400, height: int = 300) -> QImage:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(40, 160, 60))
    return image


@pytest.fixture
def canvas(qtbot) -> Canvas:
    widget = Canvas()
    qtbot.addWidget(widget)
    widget.resize(500, 360)
    widget.show()
    qtbot.waitExposed(widget)
    widget.show_image(picture(), "/pictures/field.png")
    return widget


def view_point(canvas: Canvas, x: int, y: int) -> QPoint:
    """Where the view shows picture pixel (x, y)."""
    return canvas._view.from_image(QRect(x, y, 1, 1)).center()


def drag(qtbot, canvas: Canvas, *pixels: tuple[int, int]) -> None:
    """A mouse stroke through picture pixels."""
    view = canvas._view
    points = [view_point(canvas, x, y) for x, y in pixels]
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=points[0])
    for point in points[1:]:
        qtbot.mouseMove(view, point)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=points[-1])


def overlay_red(canvas: Canvas, x: int, y: int) -> int:
    """How much redder than green the view shows picture pixel (x, y): the green picture is
    -120, under the translucent red overlay about +30."""
    shot = canvas._view.grab().toImage()
    colour = shot.pixelColor(view_point(canvas, x, y))
    return colour.red() - colour.green()


@pytest.mark.parametrize("zoom", ["fit", "100%"])
def test_the_mouse_paints_the_picture_pixels_under_it_at_each_zoom(
    qtbot, canvas: Canvas, zoom: str
) -> None:
    canvas.set_zoom(zoom)
    editor = canvas.mask_editor
    editor.set_on(True)
    editor.set_brush_size(12)
    editor.set_hardness(1.0)
    if zoom == "100%":
        canvas._scroll.horizontalScrollBar().setValue(40)  # panned: the mapping follows
        canvas._scroll.verticalScrollBar().setValue(30)
    assert canvas._view.is_fit() == (zoom == "fit")
    drag(qtbot, canvas, (150, 150), (200, 150), (250, 150))
    layer = editor.layer()
    assert layer is not None
    values = layer.array()
    assert values[150, 150] == values[150, 200] == values[150, 250] == 255
    assert values[150, 120] == 0 and values[180, 200] == 0
    # the overlay is drawn over those same pixels, and only there
    assert overlay_red(canvas, 200, 150) > 10
    assert overlay_red(canvas, 200, 200) < -80


def test_the_overlay_follows_a_zoom_change(qtbot, canvas: Canvas) -> None:
    editor = canvas.mask_editor
    editor.set_on(True)
    editor.set_brush_size(16)
    drag(qtbot, canvas, (300, 60))
    for zoom in ("100%", "fit", "100%"):
        canvas.set_zoom(zoom)
        assert overlay_red(canvas, 300, 60) > 10
        assert overlay_red(canvas, 300, 100) < -80


def test_the_brush_has_its_keys(qtbot, canvas: Canvas) -> None:
    editor = canvas.mask_editor
    canvas.activateWindow()
    qtbot.waitActive(canvas)
    qtbot.keyClick(canvas, Qt.Key.Key_M)
    assert editor.is_on() and editor.tool_row.isVisible()
    size = editor.brush_size()
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert editor.brush_size() > size
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert editor.brush_size() < size
    assert editor.size_slider.value() == editor.brush_size()
    qtbot.keyClick(canvas, Qt.Key.Key_E)
    assert editor.is_erasing() and editor.eraser_action.isChecked()
    qtbot.keyClick(canvas, Qt.Key.Key_B)
    assert not editor.is_erasing()
    editor.hardness_slider.setValue(30)
    assert editor.hardness() == pytest.approx(0.3)
    qtbot.keyClick(canvas, Qt.Key.Key_M)
    assert not editor.is_on() and editor.tool_row.isHidden()


def test_clear_invert_fill_buttons(qtbot, canvas: Canvas) -> None:
    editor = canvas.mask_editor
    editor.set_on(True)
    drag(qtbot, canvas, (100, 100))
    layer = editor.layer()
    assert layer is not None
    editor.invert_action.trigger()
    assert layer.value(100, 100) == 0 and layer.value(10, 10) == 255
    editor.clear_action.trigger()
    assert layer.is_empty() and not editor.has_mask()
    editor.fill_action.trigger()
    assert (layer.array() == 255).all()
    editor.undo_action.trigger()
    assert layer.is_empty()


def test_a_mask_stays_with_its_picture_and_goes_with_it(qtbot, canvas: Canvas) -> None:
    editor = canvas.mask_editor
    editor.set_on(True)
    drag(qtbot, canvas, (100, 100))
    editor.set_on(False)  # leaving mask mode keeps it
    assert canvas._view.tool is editor and not editor.is_active()
    editor.set_on(True)
    assert editor.has_mask()
    # a live preview is not a picture: the mask hides and waits
    preview = QImage(32, 32, QImage.Format.Format_RGB32)
    preview.fill(QColor("white"))
    canvas.show_preview(preview)
    assert not editor.is_active() and not editor.undo_action.isEnabled()
    canvas.drop_preview()
    assert editor.has_mask() and editor.is_active()
    # the same picture read again keeps it; another picture has its own (none yet)
    canvas.show_image(picture(), "/pictures/field.png")
    assert editor.has_mask()
    painted = editor.layer().array().copy()
    canvas.show_image(picture(200, 100), "/pictures/other.png")
    assert not editor.has_mask() and editor.is_on()
    assert editor.layer() is not None and editor.layer().size() == (200, 100)
    # back to the first picture: its mask is back
    canvas.show_image(picture(), "/pictures/field.png")
    assert np.array_equal(editor.layer().array(), painted)
    # a file replaced by a picture of another size is another picture
    canvas.show_image(picture(300, 300), "/pictures/field.png")
    assert not editor.has_mask()
    canvas.clear()  # nothing to paint on: mask mode ends
    assert not editor.is_on() and not editor.mask_action.isEnabled()


def test_a_double_click_paints_instead_of_zooming(qtbot, canvas: Canvas) -> None:
    editor = canvas.mask_editor
    editor.set_on(True)
    qtbot.mouseDClick(canvas._view, Qt.MouseButton.LeftButton, pos=view_point(canvas, 50, 50))
    assert canvas.zoom() == "fit"
    assert editor.has_mask()
