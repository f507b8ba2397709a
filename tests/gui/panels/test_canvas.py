"""The canvas: previews, results, zoom, progress, errors and the actions on a shown file."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from PySide6.QtCore import QObject, QPoint, Qt, QUrl, Slot
from PySide6.QtGui import QColor, QDesktopServices, QGuiApplication, QImage, QPalette

from imagestudio.gui.panels import canvas as canvas_module
from imagestudio.gui.panels.canvas import Canvas, _ImageView, format_seconds


@pytest.fixture
def canvas(qtbot) -> Canvas:
    widget = Canvas()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _png(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((30, 30, 200), (size[0] // 2, 0, size[0], size[1]))
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a watercolor fox; steps 20")
    image.save(path, pnginfo=info)
    return path


@pytest.fixture
def png(tmp_path: Path) -> Path:
    return _png(tmp_path / "fox.png")


def _file_actions(widget: Canvas) -> list:
    return [widget.copy_action, widget.save_action, widget.show_in_folder_action]


def _half_red_half_blue(size: int = 32) -> QImage:
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor(255, 0, 0))
    for y in range(size):
        for x in range(size // 2, size):
            image.setPixelColor(x, y, QColor(0, 0, 255))
    return image


def test_empty_state_shows_the_placeholder(canvas: Canvas) -> None:
    assert canvas._placeholder.isVisible()
    assert canvas.placeholder_text() == "Type a prompt and press Ctrl+Enter"
    canvas.set_placeholder("Drop an image here")
    assert canvas._placeholder.text() == "Drop an image here"
    assert canvas.current_path() is None and canvas.current_image() is None
    assert not any(action.isEnabled() for action in _file_actions(canvas))
    assert canvas._drag_mime() is None


def test_tiny_preview_is_scaled_up_smoothly_to_fill_the_view(canvas: Canvas, qtbot) -> None:
    canvas.show_preview(_half_red_half_blue(32))
    assert not canvas._placeholder.isVisible()
    rect = canvas._view.image_rect()
    view = canvas._view.size()
    assert rect.width() > 32 and rect.height() > 32
    assert rect.width() == rect.height()  # aspect ratio kept
    assert rect.height() == view.height() or rect.width() == view.width()  # fills one side
    assert rect.center().x() == pytest.approx(view.width() / 2, abs=1)  # centred

    shot = canvas._view.grab().toImage()
    y = rect.center().y()
    left = shot.pixelColor(rect.left() + rect.width() // 8, y)
    right = shot.pixelColor(rect.right() - rect.width() // 8, y)
    assert left.red() > 200 and left.blue() < 50
    assert right.blue() > 200 and right.red() < 50
    # Smooth scaling blends the two halves at the seam; nearest-neighbour would not.
    row = [shot.pixelColor(x, y) for x in range(rect.left(), rect.right())]
    assert any(60 < c.red() < 200 and 60 < c.blue() < 200 for c in row)

    assert canvas.current_path() is None
    assert canvas.current_image().size().width() == 32
    assert not any(action.isEnabled() for action in _file_actions(canvas))
    assert canvas._drag_mime() is None


def test_preview_fills_the_view_even_at_100_percent(canvas: Canvas) -> None:
    canvas.set_zoom("100%")
    canvas.show_preview(_half_red_half_blue(32))
    assert canvas.zoom() == "100%"
    assert canvas._view.image_rect().width() > 32


def test_show_result_sets_the_path_and_enables_the_actions(canvas: Canvas, png: Path) -> None:
    canvas.show_preview(_half_red_half_blue(32))
    canvas.show_result(str(png))
    assert canvas.current_path() == str(png)
    assert canvas.current_image().width() == 64 and canvas.current_image().height() == 48
    assert all(action.isEnabled() for action in _file_actions(canvas))
    assert canvas.error_text() == ""
    assert canvas._view.draggable


def test_zoom_switches_between_fit_and_actual_pixels(canvas: Canvas, tmp_path: Path, qtbot):
    canvas.show_result(str(_png(tmp_path / "big.png", (900, 700))))
    view = canvas._view
    assert canvas.zoom() == "fit" and canvas.fit_action.isChecked()
    fitted = view.image_rect()
    assert fitted.width() <= canvas._scroll.viewport().width()
    assert fitted.height() <= canvas._scroll.viewport().height()

    with qtbot.waitSignal(canvas.zoom_changed) as blocker:
        canvas.set_zoom("100%")
    assert blocker.args == ["100%"]
    assert canvas.zoom() == "100%" and canvas.actual_size_action.isChecked()
    qtbot.waitUntil(lambda: canvas._scroll.horizontalScrollBar().maximum() > 0)
    assert view.image_rect().size().width() == round(900 / view.devicePixelRatioF())
    assert canvas._scroll.verticalScrollBar().maximum() > 0  # can be panned

    canvas.set_zoom("fit")
    assert view.image_rect() == fitted
    with pytest.raises(ValueError):
        canvas.set_zoom("200%")


def test_keyboard_shortcuts_switch_zoom(canvas: Canvas, png: Path, qtbot) -> None:
    canvas.show_result(str(png))
    canvas.activateWindow()
    qtbot.waitUntil(lambda: QGuiApplication.focusWindow() is canvas.windowHandle())
    qtbot.keyClick(canvas, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == "100%"
    qtbot.keyClick(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == "fit"


def test_unreadable_file_shows_an_error_instead_of_raising(canvas: Canvas, tmp_path: Path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a PNG")
    canvas.show_result(str(broken))
    assert "broken.png" in canvas.error_text()
    assert canvas._banner.isVisible()
    assert canvas.current_path() is None

    canvas.show_result(str(tmp_path / "gone.png"))
    assert "gone.png" in canvas.error_text() and "moved or deleted" in canvas.error_text()


def test_error_banner_shows_and_is_dismissed(canvas: Canvas, qtbot) -> None:
    assert not canvas._banner.isVisible() and canvas.error_text() == ""
    canvas.show_error("The GPU ran out of memory. Try a smaller size.")
    assert canvas._banner.isVisible()
    assert canvas.error_text() == "The GPU ran out of memory. Try a smaller size."
    qtbot.mouseClick(canvas._banner.close_button, Qt.MouseButton.LeftButton)
    assert not canvas._banner.isVisible() and canvas.error_text() == ""

    canvas.show_error("<b>not markup</b>")
    assert canvas._banner.message.textFormat() == Qt.TextFormat.PlainText
    canvas.clear_error()
    assert canvas.error_text() == ""


def test_progress_row(canvas: Canvas) -> None:
    assert not canvas._progress_row.isVisible() and canvas.progress_text() == ""
    canvas.set_progress(3, 10, 0.8, 0.5)
    assert canvas._progress_row.isVisible()
    assert "step 3/10" in canvas.progress_text()
    assert "0.8 s" in canvas.progress_text() and "~0.5 s left" in canvas.progress_text()
    assert canvas._progress_bar.maximum() == 10 and canvas._progress_bar.value() == 3

    canvas.set_progress(1, 10, 0.1, None)
    assert "left" not in canvas.progress_text()

    canvas.set_status("Loading model…")
    assert canvas.progress_text() == "Loading model…"
    assert canvas._progress_bar.maximum() == 0  # busy indicator

    canvas.clear_progress()
    assert not canvas._progress_row.isVisible() and canvas.progress_text() == ""


def test_format_seconds() -> None:
    assert format_seconds(0.84) == "0.8 s"
    assert format_seconds(12.4) == "12 s"
    assert format_seconds(125) == "2 min 05 s"
    assert format_seconds(-1) == "0.0 s"


def test_copy_image_puts_the_result_on_the_clipboard(canvas: Canvas, png: Path) -> None:
    clipboard = QGuiApplication.clipboard()
    clipboard.clear()
    canvas.copy_image()  # nothing shown: nothing copied
    assert clipboard.image().isNull()
    canvas.show_result(str(png))
    canvas.copy_image()
    copied = clipboard.image()
    assert (copied.width(), copied.height()) == (64, 48)
    assert copied.pixelColor(5, 5).red() == 200


def test_save_as_copies_the_file_bytes_with_metadata(canvas: Canvas, png: Path, tmp_path: Path):
    canvas.show_result(str(png))
    target = tmp_path / "saved" / "copy.png"
    target.parent.mkdir()
    assert canvas.save_as(str(target)) is True
    assert target.read_bytes() == png.read_bytes()
    with Image.open(target) as saved:
        assert saved.text["parameters"] == "a watercolor fox; steps 20"
    assert canvas.error_text() == ""
    # Saving over an existing file replaces it (the dialog asked already).
    target.write_bytes(b"old")
    assert canvas.save_as(str(target)) is True
    assert target.read_bytes() == png.read_bytes()


def test_save_as_into_a_bad_folder_shows_an_error(canvas: Canvas, png: Path, tmp_path: Path):
    canvas.show_result(str(png))
    missing = tmp_path / "no" / "such" / "folder" / "fox.png"
    assert canvas.save_as(str(missing)) is False
    assert not missing.exists()
    assert "Could not save" in canvas.error_text()

    canvas.clear_error()
    a_file = tmp_path / "plain.txt"
    a_file.write_text("x")
    assert canvas.save_as(str(a_file / "fox.png")) is False
    assert "Could not save" in canvas.error_text()


def test_save_as_reports_a_source_that_disappeared(canvas: Canvas, png: Path, tmp_path: Path):
    canvas.show_result(str(png))
    png.unlink()
    assert canvas.save_as(str(tmp_path / "copy.png")) is False
    assert "moved or deleted" in canvas.error_text()


def test_save_as_asks_with_the_current_file_name(
    canvas: Canvas, png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    target = tmp_path / "chosen.png"

    def fake_dialog(parent, caption, directory, filter_):
        asked.append(directory)
        return str(target), filter_

    monkeypatch.setattr(canvas_module.QFileDialog, "getSaveFileName", staticmethod(fake_dialog))
    assert canvas.save_as() is False  # nothing shown: no dialog
    assert asked == []
    canvas.show_result(str(png))
    assert canvas.save_as() is True
    assert Path(asked[0]).name == "fox.png"
    assert target.read_bytes() == png.read_bytes()
    # The next dialog starts in the folder used last.
    canvas.save_as()
    assert Path(asked[1]).parent == tmp_path

    monkeypatch.setattr(
        canvas_module.QFileDialog, "getSaveFileName", staticmethod(lambda *a: ("", ""))
    )
    assert canvas.save_as() is False  # cancelled


def test_drag_mime_holds_the_file_url_and_the_image(canvas: Canvas, png: Path) -> None:
    canvas.show_result(str(png))
    mime = canvas._drag_mime()
    assert mime is not None
    assert [url.toLocalFile() for url in mime.urls()] == [str(png.resolve())]
    assert mime.hasImage()
    assert QImage(mime.imageData()).size() == canvas.current_image().size()


def test_dragging_the_view_requests_a_drag_only_for_files(qtbot) -> None:
    view = _ImageView()
    qtbot.addWidget(view)
    view.resize(200, 200)
    view.show()
    qtbot.waitExposed(view)
    start, end = QPoint(50, 50), QPoint(120, 120)

    with qtbot.assertNotEmitted(view.drag_requested):
        qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
        qtbot.mouseMove(view, end)
        qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=end)

    view.draggable = True
    with qtbot.waitSignal(view.drag_requested, timeout=1000):
        qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
        qtbot.mouseMove(view, end)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=end)


class _UrlCatcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def catch(self, url: QUrl) -> None:
        self.urls.append(url)


def test_show_in_folder_opens_the_files_folder(canvas: Canvas, png: Path) -> None:
    catcher = _UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "catch")
    try:
        canvas.show_in_folder()  # nothing shown: nothing opened
        assert catcher.urls == []
        canvas.show_result(str(png))
        canvas.show_in_folder_action.trigger()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [Path(url.toLocalFile()) for url in catcher.urls] == [png.parent]


def test_context_menu_offers_the_actions(qtbot, canvas: Canvas, png: Path) -> None:
    canvas.show_result(str(png))
    menu = canvas._context_menu()
    texts = [action.text() for action in menu.actions() if not action.isSeparator()]
    assert texts == ["Fit", "100%", "Copy image", "Save as…", "Show in folder", "Upscale…"]
    with qtbot.waitSignal(canvas.upscale_requested) as asked:
        menu.actions()[-1].trigger()
    assert asked.args == [str(png)]
    menu.deleteLater()


def test_banner_uses_the_palette_tooltip_colours(canvas: Canvas) -> None:
    canvas.show_error("x")
    palette = canvas.palette()
    banner = canvas._banner.palette()
    assert banner.color(QPalette.ColorRole.Window) == palette.color(QPalette.ColorRole.ToolTipBase)
    message = canvas._banner.message.palette()
    assert message.color(QPalette.ColorRole.WindowText) == palette.color(
        QPalette.ColorRole.ToolTipText
    )

    # A palette change (e.g. switching to dark) is followed.
    dark = QPalette(palette)
    dark.setColor(QPalette.ColorRole.ToolTipBase, QColor(40, 40, 40))
    dark.setColor(QPalette.ColorRole.ToolTipText, QColor(230, 230, 230))
    canvas.setPalette(dark)
    assert canvas._banner.palette().color(QPalette.ColorRole.Window) == QColor(40, 40, 40)
    button = canvas._banner.close_button.palette()
    assert button.color(QPalette.ColorRole.ButtonText) == QColor(230, 230, 230)


def test_a_job_that_ends_without_a_picture_takes_its_preview_away(
    canvas: Canvas, png: Path
) -> None:
    canvas.show_result(png)
    canvas.show_preview(_half_red_half_blue())
    assert canvas.current_path() is None and not any(a.isEnabled() for a in _file_actions(canvas))
    canvas.drop_preview()  # cancelled: the picture shown before comes back, with its actions
    assert canvas.current_path() == str(png)
    assert all(a.isEnabled() for a in _file_actions(canvas))
    canvas.clear()
    canvas.show_preview(_half_red_half_blue())
    canvas.drop_preview()  # nothing before it: the empty state
    assert canvas.current_image() is None


def test_at_100_percent_previews_are_as_big_as_the_picture_they_become(
    canvas: Canvas, tmp_path: Path
) -> None:
    result = _png(tmp_path / "result.png", size=(96, 64))
    canvas.set_zoom("100%")
    canvas.set_expected_size((96, 64))
    canvas.show_preview(_half_red_half_blue(12))
    preview_rect = canvas._view.image_rect()
    canvas.show_result(result)
    assert canvas._view.image_rect().size() == preview_rect.size()  # no jump
    canvas.set_expected_size(None)  # size unknown: the preview fills the view as before
    canvas.show_preview(_half_red_half_blue(12))
    assert canvas._view.is_fit()
