"""HistoryPanel against a real HistoryStore on disk, with real PNG files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QModelIndex, QPoint, Qt, QUrl
from PySide6.QtGui import QColor, QGuiApplication, QIcon
from PySide6.QtWidgets import QCheckBox, QLabel, QLineEdit, QListView, QMenu

from imagestudio.core.errors import HistoryError
from imagestudio.core.outputs.history import HistoryStore, JobRecord
from imagestudio.gui.panels import history as history_module
from imagestudio.gui.panels.history import (
    EMPTY_TEXT,
    NO_FAVOURITES_TEXT,
    STAR,
    HistoryPanel,
    detail_line,
    format_age,
)

RED = (220, 20, 20)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    with HistoryStore(tmp_path / "history.db") as opened:
        yield opened


def make_png(path: Path, colour: tuple[int, int, int] = RED, size=(200, 100)) -> str:
    Image.new("RGB", size, colour).save(path)
    return str(path)


def add(store: HistoryStore, prompt: str, age_s: float = 0.0, **fields) -> JobRecord:
    fields.setdefault("steps", 20)
    fields.setdefault("guidance", 7.5)
    fields.setdefault("seed", 1234)
    job_id = store.record(JobRecord(prompt=prompt, created_at=time.time() - age_s, **fields))
    return store.get(job_id)


def make_panel(qtbot, store: HistoryStore, show: bool = False) -> HistoryPanel:
    panel = HistoryPanel(store)
    qtbot.addWidget(panel)
    if show:
        panel.resize(360, 600)
        panel.show()
        qtbot.waitExposed(panel)
    return panel


def view(panel: HistoryPanel) -> QListView:
    found = panel.findChild(QListView, "historyList")
    assert found is not None
    return found


def message(panel: HistoryPanel) -> QLabel:
    found = panel.findChild(QLabel, "historyMessage")
    assert found is not None
    return found


def row_text(panel: HistoryPanel, row: int, role=Qt.ItemDataRole.DisplayRole):
    model = view(panel).model()
    return model.data(model.index(row, 0), role)


def prompts(panel: HistoryPanel) -> list[str]:
    return [record.prompt for record in panel.records()]


def menu_action(menu: QMenu, text: str):
    for action in menu.actions():
        if action.text() == text:
            return action
    raise AssertionError(f"no action {text!r} in {[a.text() for a in menu.actions()]}")


def is_red(icon: QIcon) -> bool:
    image = icon.pixmap(64, 64).toImage()
    assert not image.isNull()
    colour = QColor(image.pixelColor(image.width() // 2, image.height() // 2))
    return colour.red() > 180 and colour.green() < 60 and colour.blue() < 60


# --- text helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-30, "just now"),
        (10, "just now"),
        (120, "2 min ago"),
        (59 * 60, "59 min ago"),
        (3 * 3600 + 100, "3 h ago"),
        (30 * 3600, "yesterday"),
        (3 * 86400 + 5, "3 days ago"),
    ],
)
def test_format_age(seconds: float, expected: str) -> None:
    assert format_age(seconds) == expected


def test_format_age_gives_a_date_after_a_week() -> None:
    created = time.time() - 30 * 86400
    text = format_age(30 * 86400, created)
    assert "ago" not in text and text


def test_detail_line_for_each_outcome() -> None:
    now = 1_000_000.0
    done = JobRecord(prompt="p", steps=20, guidance=7.5, seed=1234, created_at=now - 120)
    # the seed has a line of its own: a 10-digit seed is never cut to "seed 3…"
    assert detail_line(done, now) == (
        "20 steps \N{MIDDLE DOT} CFG 7.5 \N{MIDDLE DOT} 2 min ago\nseed 1234"
    )
    cancelled = JobRecord(prompt="p", steps=20, status="cancelled", created_at=now)
    assert detail_line(cancelled, now).startswith("cancelled")
    assert "steps" not in detail_line(cancelled, now)
    failed = JobRecord(prompt="p", status="failed", message="Out of memory.\nTrace", created_at=now)
    assert detail_line(failed, now).startswith("failed: Out of memory.")
    assert "Trace" not in detail_line(failed, now)


# --- listing ------------------------------------------------------------------------------------


def test_lists_records_most_recent_first(qtbot, store: HistoryStore) -> None:
    add(store, "old castle", age_s=3 * 3600)
    add(store, "red fox", age_s=120)
    add(store, "new moon", age_s=5)
    panel = make_panel(qtbot, store)

    assert prompts(panel) == ["new moon", "red fox", "old castle"]
    fox = row_text(panel, 1)
    assert fox.splitlines()[0] == "red fox"
    assert fox.splitlines()[1:] == [
        "20 steps \N{MIDDLE DOT} CFG 7.5 \N{MIDDLE DOT} 2 min ago",
        "seed 1234",
    ]
    assert "2 min ago" in fox
    assert not message(panel).isVisibleTo(panel)


def test_refresh_picks_up_new_jobs(qtbot, store: HistoryStore) -> None:
    panel = make_panel(qtbot, store)
    assert panel.records() == []
    add(store, "a lighthouse")
    panel.refresh()
    assert prompts(panel) == ["a lighthouse"]


def test_shows_at_most_the_limit(qtbot, store: HistoryStore, monkeypatch) -> None:
    monkeypatch.setattr(history_module, "HISTORY_LIMIT", 3)
    for number in range(5):
        add(store, f"prompt {number}", age_s=100 - number)
    panel = make_panel(qtbot, store)
    assert prompts(panel) == ["prompt 4", "prompt 3", "prompt 2"]


def test_tooltip_has_the_full_prompt_escaped(qtbot, store: HistoryStore) -> None:
    long_prompt = "a very detailed painting of a fox " * 10 + "<b>not bold</b>"
    add(store, long_prompt, negative_prompt="blurry")
    panel = make_panel(qtbot, store)
    tooltip = row_text(panel, 0, Qt.ItemDataRole.ToolTipRole)
    assert "a very detailed painting of a fox " * 10 in tooltip
    assert "&lt;b&gt;not bold&lt;/b&gt;" in tooltip
    assert "blurry" in tooltip
    # The list line itself is one line of prompt, cut short.
    assert len(row_text(panel, 0).splitlines()[0]) <= 200


def test_failed_job_shows_its_message(qtbot, store: HistoryStore) -> None:
    add(store, "huge poster", status="failed", message="Out of GPU memory. Try a smaller size.")
    add(store, "stopped early", status="cancelled", age_s=-1)
    add(store, "a picture", age_s=100)
    panel = make_panel(qtbot, store)
    assert prompts(panel) == ["a picture"]  # jobs that made no picture are out of the way
    panel.set_show_all(True)
    assert row_text(panel, 0).splitlines()[1].startswith("cancelled")
    failed_line = row_text(panel, 1).splitlines()[1]
    assert failed_line.startswith("failed: Out of GPU memory. Try a smaller size.")


def test_thumbnail_of_the_first_output(qtbot, store: HistoryStore, tmp_path: Path) -> None:
    red = make_png(tmp_path / "red.png")
    add(store, "red square", outputs=(red,))
    panel = make_panel(qtbot, store)
    model = view(panel).model()
    icon = model.data(model.index(0, 0), Qt.ItemDataRole.DecorationRole)
    assert is_red(icon)
    # Cached by path: asking again (as every repaint does) does not read the file again.
    Path(red).unlink()
    again = model.data(model.index(0, 0), Qt.ItemDataRole.DecorationRole)
    assert again.cacheKey() == icon.cacheKey()


def test_placeholder_icons(qtbot, store: HistoryStore, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not an image")
    red = make_png(tmp_path / "red.png")
    add(store, "missing file", outputs=(str(tmp_path / "gone.png"),), age_s=40)
    add(store, "broken file", outputs=(str(broken),), age_s=30)
    add(store, "failed", status="failed", message="boom", outputs=(red,), age_s=20)
    add(store, "no outputs", age_s=10)
    add(store, "stopped", status="cancelled", age_s=5)
    panel = make_panel(qtbot, store)
    panel.set_show_all(True)
    model = view(panel).model()
    for row in range(5):
        icon = model.data(model.index(row, 0), Qt.ItemDataRole.DecorationRole)
        assert isinstance(icon, QIcon) and not icon.isNull()
        assert not is_red(icon), prompts(panel)[row]
    # in a dark palette the tiles are dark too: no glaring white file icon
    from PySide6.QtGui import QColor, QPalette

    dark = QPalette()
    for role in (QPalette.ColorRole.Window, QPalette.ColorRole.Base):
        dark.setColor(role, QColor(30, 30, 30))
    dark.setColor(QPalette.ColorRole.AlternateBase, QColor(45, 45, 45))
    dark.setColor(QPalette.ColorRole.Mid, QColor(70, 70, 70))
    dark.setColor(QPalette.ColorRole.PlaceholderText, QColor(140, 140, 140))
    panel.setPalette(dark)
    icon = model.data(model.index(0, 0), Qt.ItemDataRole.DecorationRole)  # the cancelled one
    image = icon.pixmap(64, 64).toImage()
    brightest = max(
        QColor(image.pixel(x, y)).lightness() for x in range(0, 64, 4) for y in range(0, 64, 4)
    )
    assert brightest < 160


# --- search and filter --------------------------------------------------------------------------


def test_search_is_debounced_and_filters(qtbot, store: HistoryStore) -> None:
    add(store, "a red fox in snow", age_s=30)
    add(store, "castle at dusk", age_s=20)
    add(store, "two foxes playing", age_s=10)
    panel = make_panel(qtbot, store)
    field = panel.findChild(QLineEdit, "historySearch")
    assert field.placeholderText() == "Search prompts"
    assert field.isClearButtonEnabled()

    qtbot.keyClicks(field, "fox")
    assert panel.search_text() == "fox"
    # Not yet: the query waits until typing pauses.
    assert len(panel.records()) == 3
    qtbot.waitUntil(lambda: prompts(panel) == ["two foxes playing", "a red fox in snow"])

    field.clear()
    qtbot.waitUntil(lambda: len(panel.records()) == 3)


def test_set_search_text_applies_at_once(qtbot, store: HistoryStore) -> None:
    add(store, "castle at dusk")
    add(store, "red fox")
    panel = make_panel(qtbot, store)
    panel.set_search_text("castle")
    assert panel.search_text() == "castle"
    assert prompts(panel) == ["castle at dusk"]


def test_search_with_no_match_says_so(qtbot, store: HistoryStore) -> None:
    add(store, "castle at dusk")
    panel = make_panel(qtbot, store, show=True)
    panel.set_search_text("zebra")
    assert panel.records() == []
    assert message(panel).isVisible()
    assert message(panel).text() == "Nothing matches \N{LEFT DOUBLE QUOTATION MARK}zebra" + (
        "\N{RIGHT DOUBLE QUOTATION MARK}."
    )
    assert not view(panel).isVisible()
    panel.set_search_text("")
    assert not message(panel).isVisible()
    assert view(panel).isVisible()


def test_favourites_only(qtbot, store: HistoryStore) -> None:
    add(store, "plain", age_s=20)
    loved = add(store, "loved", age_s=10)
    add(store, "also plain", age_s=5)
    store.set_favourite(loved.id)
    panel = make_panel(qtbot, store)
    assert row_text(panel, 1).startswith(f"{STAR} loved")
    assert not row_text(panel, 0).startswith(STAR)

    panel.findChild(QCheckBox, "historyFavouritesOnly").setChecked(True)
    assert prompts(panel) == ["loved"]
    panel.set_search_text("plain")
    assert panel.records() == []
    assert "No favourites match" in message(panel).text()

    panel.findChild(QCheckBox, "historyFavouritesOnly").setChecked(False)
    assert prompts(panel) == ["also plain", "plain"]


# --- empty state and errors -----------------------------------------------------------------------


def test_empty_state(qtbot, store: HistoryStore) -> None:
    panel = make_panel(qtbot, store, show=True)
    assert message(panel).isVisible()
    assert message(panel).text() == EMPTY_TEXT
    panel.findChild(QCheckBox, "historyFavouritesOnly").setChecked(True)
    assert message(panel).text() == NO_FAVOURITES_TEXT


def test_store_error_is_shown_not_raised(qtbot, store: HistoryStore) -> None:
    add(store, "red fox")
    panel = make_panel(qtbot, store, show=True)
    assert len(panel.records()) == 1
    store.close()
    panel.refresh()
    assert panel.records() == []
    assert message(panel).isVisible()
    assert "closed" in message(panel).text()


def test_action_error_is_shown_not_raised(qtbot, store: HistoryStore) -> None:
    record = add(store, "red fox")
    panel = make_panel(qtbot, store, show=True)
    store.close()
    menu = panel.build_context_menu(record)
    menu_action(menu, "Favourite").trigger()
    assert "closed" in message(panel).text()
    menu_action(menu, "Delete from history").trigger()
    assert "closed" in message(panel).text()


# --- mouse and keyboard ---------------------------------------------------------------------------


def click_pos(panel: HistoryPanel, row: int) -> QPoint:
    list_view = view(panel)
    return list_view.visualRect(list_view.model().index(row, 0)).center()


def test_click_emits_load_requested(qtbot, store: HistoryStore) -> None:
    add(store, "first", age_s=20)
    second = add(store, "second", age_s=10)
    panel = make_panel(qtbot, store, show=True)
    with qtbot.waitSignal(panel.load_requested) as blocker:
        qtbot.mouseClick(view(panel).viewport(), Qt.MouseButton.LeftButton, pos=click_pos(panel, 0))
    assert blocker.args[0] == second


def test_enter_emits_load_requested(qtbot, store: HistoryStore) -> None:
    first = add(store, "first", age_s=20)
    add(store, "second", age_s=10)
    panel = make_panel(qtbot, store, show=True)
    list_view = view(panel)
    list_view.setFocus()
    list_view.setCurrentIndex(list_view.model().index(1, 0))
    with qtbot.waitSignal(panel.load_requested) as blocker:
        qtbot.keyClick(list_view, Qt.Key.Key_Return)
    assert blocker.args[0] == first


def test_double_click_emits_rerun_requested(qtbot, store: HistoryStore) -> None:
    first = add(store, "first", age_s=20)
    add(store, "second", age_s=10)
    panel = make_panel(qtbot, store, show=True)
    viewport, pos = view(panel).viewport(), click_pos(panel, 1)
    # What a real double-click delivers: press, release, then the double-click event.
    with qtbot.waitSignal(panel.rerun_requested) as blocker:
        qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=pos)
        qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=pos)
    assert blocker.args[0] == first


def test_delete_key_deletes_the_selected_entry(qtbot, store: HistoryStore) -> None:
    first = add(store, "first", age_s=30)
    second = add(store, "second", age_s=20)
    add(store, "third", age_s=10)
    panel = make_panel(qtbot, store, show=True)
    list_view = view(panel)
    list_view.setFocus()
    list_view.setCurrentIndex(list_view.model().index(1, 0))

    qtbot.keyClick(list_view, Qt.Key.Key_Delete)
    assert prompts(panel) == ["third", "first"]
    with pytest.raises(HistoryError):
        store.get(second.id)
    # The selection moves on to the next entry, so Delete can be pressed again.
    assert panel.records()[list_view.currentIndex().row()] == first


def test_selection_survives_refresh(qtbot, store: HistoryStore) -> None:
    add(store, "first", age_s=20)
    add(store, "second", age_s=10)
    panel = make_panel(qtbot, store)
    list_view = view(panel)
    list_view.setCurrentIndex(list_view.model().index(1, 0))
    add(store, "newest")
    panel.refresh()
    assert panel.records()[list_view.currentIndex().row()].prompt == "first"


def test_refresh_does_not_emit_load(qtbot, store: HistoryStore) -> None:
    add(store, "first")
    panel = make_panel(qtbot, store, show=True)
    view(panel).setCurrentIndex(view(panel).model().index(0, 0))
    with qtbot.assertNotEmitted(panel.load_requested):
        panel.refresh()


# --- context menu ---------------------------------------------------------------------------------


def test_menu_load_and_rerun(qtbot, store: HistoryStore) -> None:
    record = add(store, "red fox")
    panel = make_panel(qtbot, store)
    menu = panel.build_context_menu(record)
    with qtbot.waitSignal(panel.load_requested) as loaded:
        menu_action(menu, "Load settings").trigger()
    assert loaded.args[0] == record
    with qtbot.waitSignal(panel.rerun_requested) as rerun:
        menu_action(menu, "Re-run").trigger()
    assert rerun.args[0] == record


def test_menu_copy_prompt(qtbot, store: HistoryStore) -> None:
    record = add(store, "a watercolor fox in a misty forest")
    panel = make_panel(qtbot, store)
    QGuiApplication.clipboard().setText("something else")
    menu_action(panel.build_context_menu(record), "Copy prompt").trigger()
    assert QGuiApplication.clipboard().text() == "a watercolor fox in a misty forest"


def test_menu_favourite_toggles_in_the_store(qtbot, store: HistoryStore) -> None:
    record = add(store, "red fox")
    panel = make_panel(qtbot, store)
    menu_action(panel.build_context_menu(record), "Favourite").trigger()
    assert store.get(record.id).favourite
    assert panel.records()[0].favourite
    assert row_text(panel, 0).startswith(STAR)

    menu_action(panel.build_context_menu(panel.records()[0]), "Unfavourite").trigger()
    assert not store.get(record.id).favourite
    assert not row_text(panel, 0).startswith(STAR)


def test_menu_delete_removes_from_store_and_list(
    qtbot, store: HistoryStore, tmp_path: Path
) -> None:
    output = make_png(tmp_path / "keep.png")
    keep = add(store, "keep me", age_s=10)
    gone = add(store, "delete me", outputs=(output,))
    panel = make_panel(qtbot, store)
    action = menu_action(panel.build_context_menu(gone), "Delete from history")
    assert "stay" in action.toolTip()
    action.trigger()
    assert panel.records() == [keep]
    with pytest.raises(HistoryError):
        store.get(gone.id)
    assert Path(output).is_file()  # the image itself is left alone


def test_menu_show_file_in_folder(qtbot, store: HistoryStore, tmp_path: Path, monkeypatch) -> None:
    opened: list[QUrl] = []

    class FakeDesktopServices:
        @staticmethod
        def openUrl(url: QUrl) -> bool:  # noqa: N802
            opened.append(url)
            return True

    monkeypatch.setattr(history_module, "QDesktopServices", FakeDesktopServices)
    folder = tmp_path / "outputs"
    folder.mkdir()
    with_file = add(store, "has a file", outputs=(make_png(folder / "a.png"),))
    without = add(store, "file gone", outputs=(str(folder / "gone.png"),))
    panel = make_panel(qtbot, store)

    titles = [action.text() for action in panel.build_context_menu(without).actions()]
    assert "Show file in folder" not in titles
    menu_action(panel.build_context_menu(with_file), "Show file in folder").trigger()
    assert [url.toLocalFile() for url in opened] == [str(folder)]


def test_menu_offers_unfavourite_for_favourites(qtbot, store: HistoryStore) -> None:
    record = add(store, "red fox", favourite=True)
    panel = make_panel(qtbot, store)
    titles = [action.text() for action in panel.build_context_menu(record).actions()]
    assert "Unfavourite" in titles and "Favourite" not in titles


def test_context_menu_on_empty_space_does_nothing(qtbot, store: HistoryStore) -> None:
    add(store, "red fox")
    panel = make_panel(qtbot, store, show=True)
    list_view = view(panel)
    # Far below the only row: no entry there, so no menu (which would block the test).
    assert list_view.indexAt(QPoint(5, list_view.viewport().height() - 2)) == QModelIndex()
    list_view.customContextMenuRequested.emit(QPoint(5, list_view.viewport().height() - 2))


def test_a_new_result_shows_at_the_top_while_an_older_entry_stays_selected(
    qtbot, store: HistoryStore
) -> None:
    for index in range(40):
        add(store, f"old job {index}", age_s=1000 - index)
    panel = make_panel(qtbot, store, show=True)
    listing = view(panel)
    oldest = listing.model().index(39, 0)
    listing.setCurrentIndex(oldest)  # the user clicks an old entry far down the list
    assert not listing.visualRect(listing.model().index(0, 0)).intersects(listing.viewport().rect())
    add(store, "the new result")
    panel.refresh()
    assert prompts(panel)[0] == "the new result"
    top = listing.visualRect(listing.model().index(0, 0))
    assert top.intersects(listing.viewport().rect()), "the newest entry is out of view"
    assert listing.currentIndex().row() == 40  # the old entry is still the selected one
    # a refresh with nothing new leaves the list where the user put it
    listing.scrollToBottom()
    panel.refresh()
    assert not listing.visualRect(listing.model().index(0, 0)).intersects(listing.viewport().rect())
