"""Inpainting and outpainting in the window: mask mode turns the Generate form into the
inpainting form; requests built from the form and the painted mask; undo keys; history and
dropped pictures of inpaint jobs; and one real run on the tiny model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QRect, Qt

from imagestudio.core.outputs.history import HistoryStore, JobRecord
from imagestudio.core.outputs.metadata import png_text_chunks
from imagestudio.core.paths import app_paths
from imagestudio.core.requests import GenerationRequest, InpaintRequest
from imagestudio.core.settings import Settings
from imagestudio.gui.main_window import GENERATE_TAB, STYLE_TAB, MainWindow
from imagestudio.gui.panels.inpaint import EMPTY_MASK, NO_PICTURE

JOB_TIMEOUT = 60_000


@pytest.fixture
def model_name(tiny_model: Path) -> str:
    shutil.copytree(tiny_model, app_paths().models_dir / "tiny")
    return "tiny"


@pytest.fixture
def window(qtbot):
    win = MainWindow(Settings(device="cpu"))
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    if win.isVisible():
        win.close()


@pytest.fixture
def queued(window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> list:
    """Requests the window queues, caught before the worker runs them."""
    caught: list = []

    def enqueue(request) -> int:
        caught.append(request)
        return len(caught)

    monkeypatch.setattr(window, "enqueue", enqueue)
    return caught


def make_picture(path: Path, size: tuple[int, int] = (64, 64)) -> Path:
    image = Image.new("RGB", size, (40, 120, 200))
    image.paste((220, 200, 40), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2))
    image.save(path)
    return path


def fill_form(window: MainWindow, model: str = "tiny") -> None:
    window.prompt.load_request(
        GenerationRequest(prompt="a red apple", model=model, steps=4, seed=7, guidance=6.0)
    )


def paint(qtbot, window: MainWindow, *pixels: tuple[int, int], brush: int = 12) -> None:
    """A mouse stroke over the canvas through picture pixels."""
    editor = window.canvas.mask_editor
    editor.set_on(True)
    editor.set_brush_size(brush)
    editor.set_hardness(1.0)
    view = window.canvas._view
    points = [view.from_image(QRect(x, y, 1, 1)).center() for x, y in pixels]
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=points[0])
    for point in points[1:]:
        qtbot.mouseMove(view, point)
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=points[-1])


def test_mask_mode_turns_the_generate_form_into_inpainting(
    window: MainWindow, tmp_path: Path
) -> None:
    prompt = window.prompt
    assert not window.canvas.mask_editor.mask_action.isEnabled()  # nothing to mask yet
    window.tabs.setCurrentIndex(STYLE_TAB)
    window.canvas.show_result(make_picture(tmp_path / "p.png"))
    window.canvas.mask_editor.set_on(True)
    assert window.tabs.currentIndex() == GENERATE_TAB
    assert window.inpaint.group.isVisible()
    assert prompt.generate_button.text() == "Inpaint"
    assert prompt.hires_group.isHidden() and prompt.img2img_group.isHidden()
    assert not prompt.size_combo.isEnabled()
    window.canvas.mask_editor.set_on(False)
    assert window.inpaint.group.isHidden()
    assert prompt.generate_button.text() == "Generate"
    assert prompt.hires_group.isVisible() and prompt.size_combo.isEnabled()


def test_an_empty_mask_is_refused_in_words_and_queues_nothing(
    qtbot, window: MainWindow, tmp_path: Path, queued: list
) -> None:
    fill_form(window)
    window.canvas.show_result(make_picture(tmp_path / "p.png"))
    window.canvas.mask_editor.set_on(True)
    assert window.generate() is None
    assert window.canvas.error_text() == EMPTY_MASK
    assert queued == []
    # painting fixes it: the message goes by itself
    paint(qtbot, window, (20, 20))
    qtbot.waitUntil(lambda: window.canvas.error_text() == "", timeout=2000)


def test_inpaint_builds_the_request_from_the_form_and_the_mask(
    qtbot, window: MainWindow, tmp_path: Path, queued: list
) -> None:
    fill_form(window)
    picture = make_picture(tmp_path / "p.png")
    window.canvas.show_result(picture)
    window.prompt.hires_group.setChecked(True)  # not for inpainting: left out
    paint(qtbot, window, (10, 32), (50, 32))
    group = window.inpaint.group
    group.strength_slider.setValue(90)
    group.blur_spin.setValue(8)
    group.fill_combo.setCurrentIndex(group.fill_combo.findData("noise"))
    group.area_combo.setCurrentIndex(group.area_combo.findData("masked"))
    group.padding_spin.setValue(48)
    assert window.start_current_tab() == 1  # Ctrl+Enter inpaints in mask mode too
    (request,) = queued
    assert isinstance(request, InpaintRequest) and request.kind == "inpaint"
    assert (request.prompt, request.model, request.steps, request.seed) == (
        "a red apple",
        "tiny",
        4,
        7,
    )
    assert request.init_image == str(picture)
    assert (request.strength, request.mask_blur, request.fill, request.area, request.padding) == (
        0.9,
        8,
        "noise",
        "masked",
        48,
    )
    assert request.hires_scale is None and request.extend == (0, 0, 0, 0)
    assert request.describe() == "Inpaint: a red apple"
    # the mask file: the kept copy in the masks folder (named by its content, so the job's
    # history row names a file that stays), the picture's size, white where painted
    mask = Path(request.mask)
    assert mask.parent == app_paths().masks_dir and mask.name.startswith("mask-")
    values = np.asarray(Image.open(mask).convert("L"))
    assert values.shape == (64, 64)
    assert values[32, 30] == 255 and values[5, 30] == 0
    # the same mask again: the same file; a changed mask: a new one
    window.generate()
    assert queued[1].mask == request.mask
    paint(qtbot, window, (50, 50))
    window.generate()
    assert queued[2].mask != request.mask
    # both stay (history rows name them); no painted temporary file is left
    assert mask.exists() and Path(queued[2].mask).exists()
    assert all(p.name.startswith("mask-") for p in app_paths().masks_dir.iterdir())


def test_inpaint_needs_a_picture_with_a_file(window: MainWindow, queued: list) -> None:
    fill_form(window)
    assert window.outpaint((0, 0, 64, 0)) is None
    assert window.canvas.error_text() == NO_PICTURE
    assert queued == []


def test_the_outpaint_arrows_extend_the_picture_on_show(
    qtbot, window: MainWindow, tmp_path: Path, queued: list
) -> None:
    fill_form(window)
    picture = make_picture(tmp_path / "p.png")
    window.canvas.show_result(picture)
    window.canvas.mask_editor.set_on(True)
    group = window.inpaint.group
    assert group.extend_spin.value() == 128
    qtbot.mouseClick(group.extend_buttons["right"], Qt.MouseButton.LeftButton)
    group.extend_spin.setValue(64)
    qtbot.mouseClick(group.extend_buttons["top"], Qt.MouseButton.LeftButton)
    group.extend_spin.setValue(1024)
    qtbot.mouseClick(group.extend_buttons["left"], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(group.extend_buttons["bottom"], Qt.MouseButton.LeftButton)
    assert [r.extend for r in queued] == [
        (0, 0, 128, 0),
        (0, 64, 0, 0),
        (1024, 0, 0, 0),
        (0, 0, 0, 1024),
    ]
    assert all(r.mask is None and r.init_image == str(picture) for r in queued)
    assert queued[0].describe() == "Outpaint: a red apple"
    assert window.outpaint((0, 0, 100, 0)) is None  # a bad amount: the core's sentence
    assert "multiple of 8" in window.canvas.error_text()


def test_undo_and_redo_keys_take_back_many_strokes(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    window.canvas.show_result(make_picture(tmp_path / "p.png", (256, 256)))
    editor = window.canvas.mask_editor
    editor.set_on(True)
    editor.set_brush_size(4)
    layer = editor.layer()
    assert layer is not None
    states = [layer.array().copy()]
    for i in range(55):
        paint(qtbot, window, (4 + i * 4, 10 + i * 4), brush=4)
        states.append(layer.array().copy())
    window.activateWindow()
    qtbot.waitActive(window)
    window.canvas._view.setFocus()
    for expected in reversed(states[:-1]):
        qtbot.keyClick(window.canvas._view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert np.array_equal(layer.array(), expected)
    assert layer.is_empty() and not editor.undo_action.isEnabled()
    redo = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    for expected in states[1:30]:
        qtbot.keyClick(window.canvas._view, Qt.Key.Key_Z, redo)
        assert np.array_equal(layer.array(), expected)
    for expected in states[30:]:
        qtbot.keyClick(window.canvas._view, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
        assert np.array_equal(layer.array(), expected)
    # Ctrl+Z in the prompt box undoes typing, not a stroke
    window.prompt.prompt_edit.setFocus()
    qtbot.keyClicks(window.prompt.prompt_edit, "fox")
    qtbot.keyClick(window.prompt.prompt_edit, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(layer.array(), states[-1])


def _inpaint_request(picture: Path, mask: Path | None, **changes) -> InpaintRequest:
    values = {
        "prompt": "a blue door",
        "model": "tiny",
        "steps": 6,
        "seed": 3,
        "init_image": str(picture),
        "mask": str(mask) if mask else None,
        "strength": 0.85,
        "mask_blur": 10,
        "fill": "fill",
        "area": "masked",
        "padding": 64,
    }
    values.update(changes)
    return InpaintRequest(**values)


def _mask_file(size: tuple[int, int] = (64, 64)) -> Path:
    values = np.zeros((size[1], size[0]), np.uint8)
    values[10:20, 30:40] = 255
    path = app_paths().masks_dir / "mask-0123456789abcdef0123.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values).save(path)
    return path


def test_reusing_an_inpaint_history_entry_shows_its_picture_and_mask(
    window: MainWindow, tmp_path: Path, queued: list
) -> None:
    picture = make_picture(tmp_path / "p.png")
    result = make_picture(tmp_path / "result.png")
    job = _inpaint_request(picture, _mask_file())
    with HistoryStore() as store:
        store.record(
            JobRecord(
                prompt=job.prompt,
                kind="inpaint",
                request=job.to_dict(),
                outputs=(str(result),),
                **{k: v for k, v in job.history_columns().items() if k != "prompt"},
            )
        )
    window.history.refresh()
    (record,) = window.history.records()
    window.tabs.setCurrentIndex(STYLE_TAB)
    window.history.load_requested.emit(record)
    assert window.tabs.currentIndex() == GENERATE_TAB
    loaded = window.prompt.build_request()
    assert (loaded.prompt, loaded.steps, loaded.seed) == ("a blue door", 6, 3)
    assert window.canvas.current_path() == str(picture)  # the picture it changed
    editor = window.canvas.mask_editor
    assert editor.is_on() and editor.has_mask()
    layer = editor.layer()
    assert layer is not None and layer.value(35, 15) == 255 and layer.value(5, 5) == 0
    group = window.inpaint.group
    assert group.values() == {
        "strength": 0.85,
        "mask_blur": 10,
        "fill": "fill",
        "area": "masked",
        "padding": 64,
    }
    # the form gives the same job back (with a mask file of its own)
    again = window.inpaint.build_request()
    assert again.replace(mask=job.mask) == job
    # Re-run queues the entry's own request, its kept mask included
    window.history.rerun_requested.emit(record)
    assert queued[-1] == job


def test_an_entry_whose_mask_is_gone_says_so(window: MainWindow, tmp_path: Path) -> None:
    picture = make_picture(tmp_path / "p.png")
    job = _inpaint_request(picture, tmp_path / "gone.png")
    record = JobRecord(prompt=job.prompt, kind="inpaint", request=job.to_dict())
    window.history.load_requested.emit(record)
    assert window.canvas.current_path() == str(picture)
    assert window.canvas.mask_editor.is_on() and not window.canvas.mask_editor.has_mask()
    assert "is no longer there: paint it again" in window.canvas.error_text()


def test_a_dropped_inpaint_picture_restores_its_settings_and_mask(
    window: MainWindow, tmp_path: Path
) -> None:
    job = _inpaint_request(make_picture(tmp_path / "p.png"), _mask_file())
    dropped = tmp_path / "inpainted.png"
    Image.new("RGB", (64, 64), "gray").save(
        dropped, pnginfo=png_text_chunks(job.describe(), job.to_dict())
    )
    assert window.load_settings_from_image(str(dropped))
    assert window.canvas.current_path() == str(dropped)
    assert window.prompt.build_request().prompt == "a blue door"
    assert window.inpaint.group.strength() == 0.85
    editor = window.canvas.mask_editor
    assert editor.is_on() and editor.layer() is not None
    assert editor.layer().value(35, 15) == 255
    # an outpainted picture: its settings, the arrows' amount, no mask
    wide = _inpaint_request(make_picture(tmp_path / "p.png"), None, extend=(0, 0, 256, 0))
    Image.new("RGB", (320, 64), "gray").save(
        dropped, pnginfo=png_text_chunks(wide.describe(), wide.to_dict())
    )
    assert window.load_settings_from_image(str(dropped))
    assert window.inpaint.group.extend_spin.value() == 256
    assert not editor.has_mask()


def test_the_inpaint_options_are_kept_across_a_restart(qtbot, tmp_path: Path) -> None:
    first = MainWindow(Settings(device="cpu"))
    qtbot.addWidget(first)
    first.inpaint.group.blur_spin.setValue(12)
    first.inpaint.group.extend_spin.setValue(256)
    first.close()
    second = MainWindow(Settings(device="cpu"))
    qtbot.addWidget(second)
    assert second.inpaint.group.blur_spin.value() == 12
    assert second.inpaint.group.extend_spin.value() == 256
    second.close()


def test_inpaint_runs_through_the_window_on_the_tiny_model(
    qtbot, window: MainWindow, model_name: str, tmp_path: Path
) -> None:
    fill_form(window, model_name)
    picture = make_picture(tmp_path / "p.png")
    window.canvas.show_result(picture)
    paint(qtbot, window, (8, 40), (56, 40), brush=16)
    previews: list[int] = []
    window.worker.step_done.connect(lambda job, step, total, image: previews.append(step))
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT) as done:
        job_id = window.generate()
    assert job_id is not None and done.args == [job_id, "done"], window.canvas.error_text()
    assert previews  # previews came as for a generation
    (result,) = window.gallery.paths()
    assert window.canvas.current_path() == result != str(picture)
    assert Image.open(result).size == (64, 64)
    (record,) = window.history.records()
    assert record.kind == "inpaint" and record.outputs == (result,)
    kept = record.to_request()
    assert isinstance(kept, InpaintRequest) and kept.init_image == str(picture)
    # the job names the kept copy of the mask; no painted temporary file is left
    assert kept.mask is not None and Path(kept.mask).is_file()
    assert all(p.name.startswith("mask-") for p in app_paths().masks_dir.iterdir())
    # the mask stays on the result, to repaint the same part again
    editor = window.canvas.mask_editor
    assert editor.has_mask() and editor.layer() is not None
    assert editor.layer().value(32, 40) == 255 and editor.layer().value(32, 5) == 0
    # Reuse brings back the picture it changed, with its mask
    window.history.load_requested.emit(record)
    assert window.canvas.current_path() == str(picture)
    assert editor.layer() is not None and editor.layer().value(32, 40) == 255
