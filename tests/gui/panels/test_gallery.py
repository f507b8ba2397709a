"""GalleryStrip: this session's results, newest on the left."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QPalette

from imagestudio.gui.panels.gallery import GalleryStrip


def make_png(path: Path, colour: tuple[int, int, int] = (30, 160, 40)) -> str:
    Image.new("RGB", (160, 120), colour).save(path)
    return str(path)


def make_strip(qtbot, show: bool = False) -> GalleryStrip:
    strip = GalleryStrip()
    qtbot.addWidget(strip)
    if show:
        strip.resize(640, strip.height())
        strip.show()
        qtbot.waitExposed(strip)
    return strip


def centre_of(strip: GalleryStrip, row: int) -> QPoint:
    return strip.visualItemRect(strip.item(row)).center()


def test_newest_on_the_left(qtbot, tmp_path: Path) -> None:
    strip = make_strip(qtbot)
    first = make_png(tmp_path / "first.png")
    second = make_png(tmp_path / "second.png")
    third = make_png(tmp_path / "third.png")
    for path in (first, second, third):
        strip.add_image(path)
    assert strip.paths() == [third, second, first]
    assert strip.item(0).toolTip() == "third.png"


def test_shape(qtbot) -> None:
    strip = make_strip(qtbot)
    assert 100 <= strip.height() <= 140
    assert strip.iconSize().width() == 96
    assert not strip.isWrapping()


def test_thumbnail_shows_the_image(qtbot, tmp_path: Path) -> None:
    strip = make_strip(qtbot)
    strip.add_image(make_png(tmp_path / "green.png", (30, 160, 40)))
    image = strip.item(0).icon().pixmap(96, 96).toImage()
    colour = QColor(image.pixelColor(image.width() // 2, image.height() // 2))
    assert (colour.red(), colour.green(), colour.blue()) == (30, 160, 40)


def test_unreadable_files_get_a_placeholder(qtbot, tmp_path: Path) -> None:
    strip = make_strip(qtbot)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    missing = str(tmp_path / "missing.png")
    strip.add_image(str(broken))
    strip.add_image(missing)
    assert strip.paths() == [missing, str(broken)]
    for row in range(2):
        assert not strip.item(row).icon().isNull()


def test_same_path_twice_moves_to_the_front(qtbot, tmp_path: Path) -> None:
    strip = make_strip(qtbot)
    first = make_png(tmp_path / "first.png")
    second = make_png(tmp_path / "second.png")
    strip.add_image(first)
    strip.add_image(second)
    strip.add_image(first)
    assert strip.paths() == [first, second]


def test_adding_does_not_select(qtbot, tmp_path: Path) -> None:
    strip = make_strip(qtbot)
    with qtbot.assertNotEmitted(strip.image_selected):
        strip.add_image(make_png(tmp_path / "a.png"))
        strip.add_image(make_png(tmp_path / "b.png"))


def test_click_selects(qtbot, tmp_path: Path) -> None:
    strip = make_strip(qtbot, show=True)
    older = make_png(tmp_path / "older.png")
    newer = make_png(tmp_path / "newer.png")
    strip.add_image(older)
    strip.add_image(newer)
    selected: list[str] = []
    strip.image_selected.connect(selected.append)

    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=centre_of(strip, 1))
    assert selected == [older]  # once, though both the current item changed and a click came
    # Clicking the current one again shows it again (the canvas may have moved on).
    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=centre_of(strip, 1))
    assert selected == [older, older]
    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=centre_of(strip, 0))
    assert selected == [older, older, newer]


def test_keyboard_selection(qtbot, tmp_path: Path) -> None:
    strip = make_strip(qtbot, show=True)
    older = make_png(tmp_path / "older.png")
    strip.add_image(older)
    strip.add_image(make_png(tmp_path / "newer.png"))
    strip.setCurrentRow(0)
    with qtbot.waitSignal(strip.image_selected) as blocker:
        qtbot.keyClick(strip, Qt.Key.Key_Right)
    assert blocker.args == [older]


def test_drag_data_is_the_file_url(qtbot, tmp_path: Path) -> None:
    strip = make_strip(qtbot)
    path = make_png(tmp_path / "result.png")
    strip.add_image(path)
    data = strip.mimeData([strip.item(0)])
    assert data.hasUrls()
    assert [url.toLocalFile() for url in data.urls()] == [path]
    # Through the model too, which is what a real drag asks.
    model_data = strip.model().mimeData([strip.model().index(0, 0)])
    assert [url.toLocalFile() for url in model_data.urls()] == [path]
    # Never a move: a file manager would take the file away.
    assert strip.model().supportedDragActions() == Qt.DropAction.CopyAction


def _differs_from_base(strip: GalleryStrip) -> int:
    image = strip.viewport().grab().toImage()
    base = strip.palette().color(QPalette.ColorRole.Base)
    y = image.height() // 2
    return sum(
        1 for x in range(image.width()) if QColor(image.pixelColor(x, y)).rgb() != base.rgb()
    )


def test_empty_state_is_painted(qtbot, tmp_path: Path) -> None:
    strip = make_strip(qtbot, show=True)
    assert strip.count() == 0
    assert _differs_from_base(strip) > 0  # the hint text crosses the middle line

    strip.add_image(make_png(tmp_path / "a.png", (255, 255, 255)))
    strip.clear()
    assert _differs_from_base(strip) > 0


def test_a_thumbnail_offers_upscale(qtbot, tmp_path) -> None:
    from PIL import Image

    from imagestudio.gui.panels.gallery import GalleryStrip

    strip = GalleryStrip()
    qtbot.addWidget(strip)
    path = tmp_path / "one.png"
    Image.new("RGB", (8, 8)).save(path)
    strip.add_image(str(path))
    menu = strip.build_context_menu(str(path))
    (upscale,) = [a for a in menu.actions() if a.text() == "Upscale…"]
    with qtbot.waitSignal(strip.upscale_requested) as asked:
        upscale.trigger()
    assert asked.args == [str(path)]
