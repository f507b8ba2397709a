"""The Style tab: the form, and style jobs run through the window's real worker and queue."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QGuiApplication, QImage

from imagestudio.core.errors import InvalidRequest
from imagestudio.core.outputs.history import HistoryStore
from imagestudio.core.outputs.metadata import IMAGESTUDIO_KEY
from imagestudio.core.paths import app_paths
from imagestudio.core.requests import StyleRequest
from imagestudio.core.settings import Settings
from imagestudio.gui.main_window import GENERATE_TAB, STYLE_TAB, MainWindow
from imagestudio.gui.panels.style import StylePanel

JOB_TIMEOUT = 120_000


@pytest.fixture
def pictures(tmp_path: Path) -> tuple[str, str]:
    """A soft gradient to repaint and a bold striped style, made here."""
    y, x = np.mgrid[0:96, 0:128]
    content = np.stack([x * 2, y * 2, np.full_like(x, 90)], axis=-1).astype(np.uint8)
    stripes = ((x // 8 + y // 8) % 2).astype(bool)
    style = np.where(stripes[..., None], [230, 40, 30], [20, 30, 200]).astype(np.uint8)
    content_path, style_path = tmp_path / "photo.png", tmp_path / "stripes.png"
    Image.fromarray(content).save(content_path)
    Image.fromarray(style).save(style_path)
    return str(content_path), str(style_path)


@pytest.fixture
def panel(qtbot) -> StylePanel:
    widget = StylePanel()
    qtbot.addWidget(widget)
    return widget


def test_the_form_needs_both_pictures(panel: StylePanel, pictures: tuple[str, str]) -> None:
    with pytest.raises(InvalidRequest, match="content picture"):
        panel.build_request()
    panel.content_slot.set_path(pictures[0])
    with pytest.raises(InvalidRequest, match="style picture"):
        panel.build_request()
    panel.style_slot.set_path(pictures[1])
    request = panel.build_request()
    assert (request.content_image, request.style_image) == pictures
    assert request.mode == "fast" and request.strength == 1.0 and request.size == 512


def test_mode_switches_the_controls_and_requests_round_trip(
    panel: StylePanel, pictures: tuple[str, str]
) -> None:
    wanted = StyleRequest(
        content_image=pictures[0],
        style_image=pictures[1],
        mode="quality",
        strength=0.4,
        content_weight=2.5,
        style_weight=0.5,
        tv_weight=0.0,
        iterations=120,
        size=256,
        preserve_colors=True,
        init="noise",
        seed=77,
    )
    panel.load_request(wanted)
    assert panel.mode_stack.currentIndex() == 1  # the quality controls show
    assert panel.build_request() == wanted
    panel.swap()
    swapped = panel.build_request()
    assert (swapped.content_image, swapped.style_image) == (pictures[1], pictures[0])
    panel.mode_combo.setCurrentIndex(0)
    assert panel.mode_stack.currentIndex() == 0 and panel.strength_label.text() == "40%"


def test_form_state_survives_and_ignores_junk(
    qtbot, panel: StylePanel, pictures: tuple[str, str]
) -> None:
    panel.content_slot.set_path(pictures[0])
    panel.mode_combo.setCurrentIndex(1)
    panel.iterations_spin.setValue(80)
    state = panel.form_state()
    other = StylePanel()
    qtbot.addWidget(other)
    other.restore_form_state({**state, "size": "huge", "seed": True, "style": "/gone.png"})
    assert other.mode() == "quality" and other.iterations_spin.value() == 80
    assert other.content_slot.path() == pictures[0]
    assert other.style_slot.path() is None  # a picture that no longer exists is not restored
    assert other.size_spin.value() == 512


def test_paste_saves_the_clipboard_picture(panel: StylePanel) -> None:
    messages: list[str] = []
    panel.message.connect(messages.append)
    QGuiApplication.clipboard().clear()
    assert not panel.style_slot.paste()
    assert messages == ["The clipboard holds no picture to paste."]
    image = QImage(40, 30, QImage.Format.Format_RGB888)
    image.fill(0x3366CC)
    QGuiApplication.clipboard().setImage(image)
    assert panel.style_slot.paste()
    path = Path(panel.style_slot.path() or "")
    assert path.parent == app_paths().cache_dir / "pasted"
    with Image.open(path) as pasted:
        assert pasted.size == (40, 30)
        assert pasted.convert("RGB").getpixel((5, 5)) == (0x33, 0x66, 0xCC)


# -- through the window ---------------------------------------------------------------------------


@pytest.fixture
def window(qtbot):
    win = MainWindow(Settings(device="cpu"))
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.isVisible():
        win.close()


def test_fast_style_job_through_the_window(
    qtbot, window: MainWindow, pictures: tuple[str, str]
) -> None:
    window.tabs.setCurrentIndex(STYLE_TAB)
    window.style_panel.content_slot.set_path(pictures[0])
    window.style_panel.style_slot.set_path(pictures[1])
    window.style_panel.size_spin.setValue(128)
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT) as done:
        assert window.start_current_tab() == 1  # Ctrl+Enter on the Style tab stylises
    assert done.args == [1, "done"], window.canvas.error_text()
    (path,) = sorted(app_paths().outputs_dir.glob("*.png"))
    assert window.canvas.current_path() == str(path)
    with Image.open(path) as result:
        assert result.size == (128, 96)
        saved = StyleRequest.from_dict(json.loads(result.text[IMAGESTUDIO_KEY]))
    assert saved == window.style_panel.build_request()
    (record,) = window.history.records()
    assert record.kind == "style" and record.outputs == (str(path),)

    # the history entry brings the form back on the Style tab, and re-runs as a style job
    window.tabs.setCurrentIndex(GENERATE_TAB)
    window.style_panel.size_spin.setValue(64)
    window.history.load_requested.emit(record)
    assert window.tabs.currentIndex() == STYLE_TAB
    assert window.style_panel.size_spin.value() == 128
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT) as done:
        window.history.rerun_requested.emit(record)
    assert done.args[1] == "done"


def test_quality_job_previews_and_cancels(
    qtbot, window: MainWindow, pictures: tuple[str, str]
) -> None:
    steps: list[tuple[int, int]] = []
    window.worker.step_done.connect(lambda j, s, t, img: steps.append((s, t)))
    request = StyleRequest(pictures[0], pictures[1], mode="quality", iterations=2000, size=128)
    window.enqueue(request)
    qtbot.waitUntil(lambda: len(steps) >= 3, timeout=JOB_TIMEOUT)
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT) as done:
        window.cancel_current()
    assert done.args[1] == "cancelled"
    assert steps[-1][0] < 2000 and all(total == 2000 for _, total in steps)
    assert not app_paths().outputs_dir.exists() or not list(app_paths().outputs_dir.glob("*.png"))
    with HistoryStore() as store:
        assert [(r.kind, r.status) for r in store.recent()] == [("style", "cancelled")]
    # the picture so far stays on the canvas, and "Keep this picture" saves it as a result
    assert window.canvas.partial_shown() and window.canvas.current_image() is not None
    with qtbot.waitSignal(window.worker.partial_kept, timeout=JOB_TIMEOUT) as kept:
        window.canvas.keep_action.trigger()
    (path,) = kept.args[1].files
    qtbot.waitUntil(lambda: window.canvas.current_path() == str(path), timeout=2000)
    assert path.is_file()
    assert not window.canvas.partial_shown() and window.gallery.paths() == [str(path)]
    with HistoryStore() as store:
        newest = store.recent()[0]
        assert (newest.status, newest.outputs) == ("done", (str(path),))
        assert newest.message.startswith("Partial picture, kept")


def test_a_broken_style_picture_is_a_sentence(
    qtbot, window: MainWindow, pictures: tuple[str, str], tmp_path: Path
) -> None:
    fake = tmp_path / "fake.png"
    fake.write_text("this is text")
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT) as done:
        window.enqueue(StyleRequest(pictures[0], str(fake), size=64))
    assert done.args[1] == "failed"
    assert "fake.png is not an image" in window.canvas.error_text()
    assert "Traceback" not in window.canvas.error_text()


def test_a_picture_slot_keeps_its_height_when_filled(qtbot, tmp_path) -> None:
    from PIL import Image

    from imagestudio.gui.widgets.image_drop import ImageDropArea

    area = ImageDropArea()
    qtbot.addWidget(area)
    area.show()
    empty = area.minimumHeight(), area.maximumHeight(), area.height()
    picture = tmp_path / "a-rather-long-file-name-for-a-content-picture-of-a-lighthouse.png"
    Image.new("RGB", (300, 200), "teal").save(picture)
    area.set_path(str(picture))
    qtbot.wait(10)
    assert (area.minimumHeight(), area.maximumHeight(), area.height()) == empty


def test_the_style_slider_spans_subtle_to_strong_and_follows_the_spin_box(
    panel: StylePanel,
) -> None:
    slider, spin = panel.style_slider, panel.style_weight
    assert spin.value() == 1.0 and slider.value() == (slider.minimum() + slider.maximum()) // 2
    slider.setValue(slider.minimum())
    assert spin.value() == pytest.approx(0.1)
    slider.setValue(slider.maximum())
    assert spin.value() == pytest.approx(10.0)
    # An exact value typed in the box stays exact; the slider moves to the nearest position.
    spin.setValue(2.37)
    assert spin.value() == pytest.approx(2.37)
    assert slider.value() == 69  # log10(2.37) = 0.375 of a decade -> 50 + 18.7
    spin.setValue(40.0)  # past the slider's end: the box keeps it, the slider sits at the end
    assert (spin.value(), slider.value()) == (40.0, slider.maximum())
    spin.setValue(0.0)
    assert slider.value() == slider.minimum()
