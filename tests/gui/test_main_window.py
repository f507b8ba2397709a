"""The whole window with the real worker thread and a tiny real model (offscreen Qt)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from imagestudio.core.outputs.history import HistoryStore
from imagestudio.core.outputs.metadata import png_text_chunks
from imagestudio.core.paths import app_paths
from imagestudio.core.requests import GenerationRequest, StyleRequest
from imagestudio.core.settings import Settings
from imagestudio.gui.main_window import GENERATE_TAB, STYLE_TAB, MainWindow
from imagestudio.gui.widgets.welcome import WIDTH as WELCOME_WIDTH

JOB_TIMEOUT = 120_000


@pytest.fixture
def model_name(tiny_model: Path) -> str:
    shutil.copytree(tiny_model, app_paths().models_dir / "tiny")
    return "tiny"


@pytest.fixture
def window(qtbot, model_name: str):
    win = MainWindow(Settings(device="cpu"))
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.isVisible():
        win.close()


def request(model: str, **changes) -> GenerationRequest:
    values = {"prompt": "a green square", "model": model, "steps": 3, "seed": 9}
    values.update(changes)
    return GenerationRequest(**values)


def outputs() -> list[Path]:
    folder = app_paths().outputs_dir
    return sorted(folder.glob("*.png")) if folder.exists() else []


def test_generate_through_the_form(qtbot, window: MainWindow, model_name: str) -> None:
    steps: list[tuple[int, int, bool]] = []
    window.worker.step_done.connect(lambda j, s, t, img: steps.append((s, t, img.isNull())))
    window.prompt.load_request(request(model_name, steps=4))
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT) as done:
        assert window.generate() == 1
    assert done.args == [1, "done"]
    assert [(s, t) for s, t, _ in steps] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert not any(null for _, _, null in steps)  # a real preview every step
    (path,) = outputs()
    assert window.canvas.current_path() == str(path)
    assert window.gallery.paths() == [str(path)]
    assert [r.prompt for r in window.history.records()] == ["a green square"]
    assert window.running_job() is None and window.canvas.error_text() == ""
    assert "CPU" in window.device_label.text()


def test_invalid_form_shows_a_message_and_queues_nothing(window: MainWindow) -> None:
    window.prompt.load_request(request("tiny"))
    window.prompt.prompt_edit.setPlainText("   ")
    assert window.generate() is None
    assert "prompt is empty" in window.canvas.error_text()
    assert window.queued_jobs() == [] and window.running_job() is None


def test_a_form_error_goes_once_its_cause_is_fixed(qtbot, window: MainWindow) -> None:
    window.prompt.load_request(request("tiny"))
    window.prompt.prompt_edit.setPlainText("   ")
    assert window.generate() is None
    assert "prompt is empty" in window.canvas.error_text()
    qtbot.wait(400)
    assert "prompt is empty" in window.canvas.error_text()  # still the cause: it stays
    window.prompt.img2img_group.setChecked(True)  # a second problem, no start image
    window.prompt.prompt_edit.setPlainText("a heron")
    qtbot.waitUntil(lambda: "No start image" in window.canvas.error_text(), timeout=2000)
    window.prompt.img2img_group.setChecked(False)
    qtbot.waitUntil(lambda: window.canvas.error_text() == "", timeout=2000)
    assert window.queued_jobs() == [] and window.running_job() is None  # nothing ran


def test_queue_runs_in_order_and_jobs_can_be_removed(
    qtbot, window: MainWindow, model_name: str
) -> None:
    finished: list[tuple[int, str]] = []
    window.job_done.connect(lambda job_id, status: finished.append((job_id, status)))
    ids = [window.enqueue(request(model_name, prompt=p)) for p in ("one", "two", "three", "four")]
    assert window.running_job().id == ids[0]
    assert [job.id for job in window.queued_jobs()] == ids[1:]
    assert window.queue_list.count() == 3
    window.remove_queued(ids[2])
    assert [job.id for job in window.queued_jobs()] == [ids[1], ids[3]]
    qtbot.waitUntil(lambda: len(finished) == 3, timeout=JOB_TIMEOUT)
    assert finished == [(ids[0], "done"), (ids[1], "done"), (ids[3], "done")]
    with HistoryStore() as store:
        assert [r.prompt for r in store.recent()] == ["four", "two", "one"]
    assert len(window.gallery.paths()) == 3
    assert window.queue_list.isHidden()


def test_when_a_job_ends_the_next_one_shows_as_running_with_its_own_cancel(
    qtbot, window: MainWindow, model_name: str
) -> None:
    """The defect: after the first of four long jobs finished, the running job stayed listed as
    waiting, the count said 2 and every Cancel button was greyed out."""
    done: list[str] = []
    window.job_done.connect(lambda job_id, status: done.append(status))
    first = window.enqueue(request(model_name, prompt="one", steps=2))
    for prompt in ("two", "three", "four"):
        window.enqueue(request(model_name, prompt=prompt, steps=150, width=256, height=256))
    assert window.running_job().id == first
    assert "one" in window.running_row.text() and window.queue_list.count() == 3
    qtbot.waitUntil(lambda: len(done) == 1, timeout=JOB_TIMEOUT)
    running = window.running_job()
    assert running is not None and running.request.prompt == "two"
    assert window.running_row.isVisible() and "two" in window.running_row.text()
    waiting = [window.queue_list.item(i).text() for i in range(window.queue_list.count())]
    assert len(waiting) == 2 and not any("two" in text for text in waiting)
    assert window.prompt.queue_label.text() == "queue: 2"
    assert window.prompt.cancel_button.isEnabled()
    assert window.style_panel.cancel_button.isEnabled()
    assert window.running_row.cancel_button.isEnabled()
    for _ in range(3):  # the row's own Cancel stops each running job in turn
        with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT) as ended:
            window.running_row.cancel_button.click()
        assert ended.args[1] == "cancelled"
    assert window.running_job() is None and window.running_row.isHidden()
    assert window.queue_list.isHidden() and not window.prompt.cancel_button.isEnabled()


def test_cancel_stops_the_job_and_writes_nothing(
    qtbot, window: MainWindow, model_name: str
) -> None:
    steps: list[int] = []
    window.worker.step_done.connect(lambda j, s, t, img: steps.append(s))
    window.enqueue(request(model_name, steps=150, width=256, height=256))
    qtbot.waitUntil(lambda: len(steps) >= 1, timeout=JOB_TIMEOUT)
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT) as done:
        window.cancel_current()
    assert done.args[1] == "cancelled"
    assert len(steps) < 150 and outputs() == []
    # the last step preview does not stay on the canvas as if it were a picture
    assert window.canvas.current_image() is None or window.canvas.current_path() is not None
    with HistoryStore() as store:
        assert [r.status for r in store.recent()] == ["cancelled"]


def test_engine_error_is_shown_and_the_app_stays_usable(
    qtbot, window: MainWindow, model_name: str, tiny_model: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    for weights in broken.rglob("*.safetensors"):
        weights.write_bytes(b"\0" * 16)
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT) as done:
        window.enqueue(request(str(broken)))
    assert done.args[1] == "failed"
    assert "Could not load the model" in window.canvas.error_text()
    assert "Traceback" not in window.canvas.error_text()
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT) as done:
        window.enqueue(request(model_name))
    assert done.args[1] == "done"


def test_closing_during_a_job_cancels_and_stops_the_thread(qtbot, model_name: str) -> None:
    win = MainWindow(Settings(device="cpu"))
    qtbot.addWidget(win)
    win.show()
    steps: list[int] = []
    win.worker.step_done.connect(lambda j, s, t, img: steps.append(s))
    win.enqueue(request(model_name, steps=150, width=256, height=256))
    win.enqueue(request(model_name, prompt="queued, never run"))
    qtbot.waitUntil(lambda: len(steps) >= 1, timeout=JOB_TIMEOUT)
    started = time.perf_counter()
    win.close()
    # the window goes at once and says so; the job's step ends behind it
    assert time.perf_counter() - started < 0.5
    assert win.statusBar().currentMessage() == "Closing…"
    assert not win.isVisible()
    assert win.finish_closing(JOB_TIMEOUT)  # what the app does after its event loop ends
    assert win.worker_thread.isFinished()
    assert outputs() == []
    with HistoryStore() as store:
        assert [r.status for r in store.recent()] == ["cancelled"]


def test_history_click_loads_settings_and_rerun_queues(
    qtbot, window: MainWindow, model_name: str
) -> None:
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT):
        window.enqueue(request(model_name, prompt="a castle at dusk", seed=1234, steps=2))
    window.prompt.load_request(request(model_name, prompt="something else"))
    (record,) = window.history.records()
    window.history.load_requested.emit(record)
    loaded = window.prompt.build_request()
    assert loaded.prompt == "a castle at dusk" and loaded.seed == 1234 and loaded.steps == 2
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT) as done:
        window.history.rerun_requested.emit(record)
    assert done.args[1] == "done"
    assert len(outputs()) == 2


def test_dropping_an_a1111_png_loads_its_settings(window: MainWindow, tmp_path: Path) -> None:
    path = tmp_path / "other-tool.png"
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters",
        "a misty forest\nNegative prompt: blurry\nSteps: 31, Sampler: "
        "DPM++ 2M Karras, CFG scale: 6.5, Seed: 777, Size: 512x768, Model: sd15",
    )
    Image.new("RGB", (64, 96), "gray").save(path, pnginfo=info)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    loaded = window.prompt.build_request()
    assert (loaded.prompt, loaded.negative_prompt) == ("a misty forest", "blurry")
    assert (loaded.steps, loaded.guidance, loaded.seed) == (31, 6.5, 777)
    assert (loaded.width, loaded.height, loaded.scheduler) == (512, 768, "DPM++ 2M Karras")

    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    assert not window.load_settings_from_image(str(plain))
    assert "no generation settings" in window.canvas.error_text()


def test_another_tools_picture_restores_loras_strength_and_says_what_has_no_match(
    window: MainWindow, tmp_path: Path
) -> None:
    window.prompt.set_loras_available(["loras/Ink-Wash"])
    path = tmp_path / "a1111-img2img.png"
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters",
        "a heron, <lora:ink-wash:0.8>, <lora:paper-cut:0.5>\nSteps: 30, Sampler: DPM adaptive, "
        "CFG scale: 7, Seed: 12, Size: 512x512, Denoising strength: 0.35",
    )
    Image.new("RGB", (64, 64), "gray").save(path, pnginfo=info)
    window.tabs.setCurrentIndex(STYLE_TAB)
    assert window.load_settings_from_image(str(path))
    assert window.tabs.currentIndex() == GENERATE_TAB
    assert window.prompt.prompt_edit.toPlainText() == "a heron"
    # matched to the library by file name; the one not there is kept, and named
    assert window.prompt.lora_list.loras() == (("loras/Ink-Wash", 0.8), ("paper-cut", 0.5))
    assert window.prompt.img2img_group.strength() == 0.35
    assert window.statusBar().currentMessage() == "Loaded the settings of a1111-img2img.png."
    message = window.canvas.error_text()
    assert "DPM adaptive, has no match here" in message
    assert "Not in your library: LoRA paper-cut" in message
    assert window.prompt.sampler_combo.currentData() is None  # no other sampler in its place
    # a picture whose settings all fit clears the note
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a crane\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1")
    Image.new("RGB", (64, 64)).save(path, pnginfo=info)
    assert window.load_settings_from_image(str(path))
    assert window.canvas.error_text() == ""


def test_a_style_png_opens_the_style_tab_and_leaves_the_prompt_alone(
    window: MainWindow, tmp_path: Path, model_name: str
) -> None:
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    Image.new("RGB", (32, 24), "white").save(content)
    Image.new("RGB", (32, 32), "navy").save(style)
    job = StyleRequest(
        content_image=str(content),
        style_image=str(style),
        mode="quality",
        iterations=40,
        size=128,
        style_weight=2.5,
        preserve_colors=True,
        seed=9,
    )
    path = tmp_path / "stylised.png"
    chunks = png_text_chunks("Style transfer: content.png in the style of style.png", job.to_dict())
    Image.new("RGB", (32, 24), "gray").save(path, pnginfo=chunks)
    window.prompt.load_request(request(model_name, prompt="my own prompt", seed=5))

    assert window.load_settings_from_image(str(path))
    assert window.tabs.currentIndex() == STYLE_TAB
    assert window.style_panel.build_request() == job
    kept = window.prompt.build_request()
    assert (kept.prompt, kept.seed) == ("my own prompt", 5)


def test_our_own_png_restores_the_whole_request(
    window: MainWindow, tmp_path: Path, model_name: str
) -> None:
    ours = request(model_name, prompt="a harbour", seed=3, steps=7, guidance=4.5)
    ours = ours.replace(negative_prompt="fog", scheduler="DDIM", width=128, height=96)
    path = tmp_path / "ours.png"
    Image.new("RGB", (128, 96)).save(path, pnginfo=png_text_chunks("a harbour", ours.to_dict()))
    window.tabs.setCurrentIndex(STYLE_TAB)
    assert window.load_settings_from_image(str(path))
    assert window.tabs.currentIndex() == GENERATE_TAB
    loaded = window.prompt.build_request()
    assert loaded.replace(count=ours.count) == ours


def test_form_and_geometry_persist_across_restart(qtbot, model_name: str) -> None:
    first = MainWindow(Settings(device="cpu"))
    qtbot.addWidget(first)
    first.prompt.load_request(request(model_name, prompt="remember me", steps=33, seed=5))
    first.resize(761, 503)  # the offscreen screen is 800 wide; restored sizes fit it
    first.show()
    size = (first.size().width(), first.size().height())  # the minimum size may have grown it
    first.close()
    second = MainWindow(Settings(device="cpu"))
    qtbot.addWidget(second)
    restored = second.prompt.build_request()
    assert (restored.prompt, restored.steps, restored.seed) == ("remember me", 33, 5)
    assert (second.size().width(), second.size().height()) == size
    assert size[0] == 761
    second.close()


def test_settings_change_is_saved_and_reaches_the_worker(window: MainWindow, tmp_path) -> None:
    new = Settings(device="cpu", previews=False, outputs_dir=str(tmp_path / "elsewhere"))
    window.apply_settings(new)
    from imagestudio.core.settings import load_settings

    assert load_settings() == new
    assert window.settings == new


def test_window_shows_before_torch_is_imported(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", IMAGESTUDIO_EXIT_AFTER_SHOW="1")
    proc = subprocess.run(
        [sys.executable, "-m", "imagestudio"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "window shown after" in proc.stdout
    assert "torch imported: no" in proc.stdout


def test_theme_setting_switches_the_palette(window: MainWindow) -> None:
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    try:
        window.apply_settings(Settings(device="cpu", theme="dark"))
        assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 100
        window.apply_settings(Settings(device="cpu", theme="light"))
        assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() > 150
    finally:
        window.apply_settings(Settings(device="cpu"))


def test_the_app_has_its_icon(qapp) -> None:
    from imagestudio.gui.app import configure_application

    configure_application(qapp)
    assert not qapp.windowIcon().isNull()
    assert qapp.windowIcon().availableSizes() or qapp.windowIcon().pixmap(64, 64).width() == 64
    assert qapp.desktopFileName() == "imagestudio"


def _wheel(widget, steps: int = -3) -> None:
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_form_and_changes_only_a_focused_field(
    qtbot, window: MainWindow
) -> None:
    window.resize(1024, 640)
    qtbot.wait(50)
    scroll = window.prompt.parentWidget().parentWidget()  # viewport, then the scroll area
    bar = scroll.verticalScrollBar()
    assert bar.isVisible(), "the form must scroll at 1024x640 for this test to mean anything"
    for field in (window.prompt.steps_spin, window.prompt.sampler_combo):
        before = field.value() if hasattr(field, "value") else field.currentIndex()
        bar.setValue(0)
        _wheel(field)
        after = field.value() if hasattr(field, "value") else field.currentIndex()
        assert after == before, f"{field.objectName()} changed under a passing wheel"
        assert bar.value() > 0, "the wheel did not scroll the form"
    window.prompt.steps_spin.setFocus()
    qtbot.waitUntil(window.prompt.steps_spin.hasFocus)
    before = window.prompt.steps_spin.value()
    _wheel(window.prompt.steps_spin, steps=2)
    assert window.prompt.steps_spin.value() == before + 2  # a focused field takes the wheel
    # a LoRA row added later is guarded too
    window.prompt.set_loras_available(["ink"])
    row = window.prompt.lora_list.add_row("ink", 0.5)
    window.prompt.steps_spin.clearFocus()
    _wheel(row.weight)
    assert row.weight.value() == 0.5


def test_generate_and_cancel_stay_visible_at_small_window_sizes(qtbot, window: MainWindow) -> None:
    hint = window.minimumSizeHint()  # a 1024x640 screen takes the whole window
    assert hint.width() <= 1024 and hint.height() <= 640, hint
    for width, height in ((1024, 640), (1280, 720), (1400, 900)):
        window.resize(width, height)
        qtbot.wait(50)
        for tab, button in ((GENERATE_TAB, window.prompt.generate_button), (STYLE_TAB, None)):
            window.tabs.setCurrentIndex(tab)
            qtbot.wait(10)
            for widget in (
                [button, window.prompt.cancel_button]
                if button
                else [window.style_panel.start_button, window.style_panel.cancel_button]
            ):
                assert widget.isVisible(), (width, height, widget.text())
                top_left = widget.mapTo(window, widget.rect().topLeft())
                bottom = top_left.y() + widget.height()
                assert bottom <= window.statusBar().geometry().top(), (width, height)
                assert not widget.visibleRegion().isEmpty(), (width, height, widget.text())


def test_typing_past_a_limit_says_the_limit(qtbot, window: MainWindow) -> None:
    from PySide6.QtWidgets import QToolTip

    spin = window.prompt.steps_spin
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus)
    spin.selectAll()
    qtbot.keyClicks(spin, "300")
    assert spin.value() == 30  # Qt refuses the third digit...
    assert QToolTip.text() == f"Steps: from 1 to {spin.maximum()}."  # ...and now says why
    QToolTip.hideText()
    qtbot.waitUntil(lambda: not QToolTip.isVisible())
    spin.selectAll()
    qtbot.keyClicks(spin, "45")
    assert spin.value() == 45 and not QToolTip.isVisible()  # in range: nothing to say


def test_reuse_last_offers_the_newest_seed_after_a_restart(qtbot, model_name: str) -> None:
    from imagestudio.core.outputs.records import JobRecord

    with HistoryStore() as store:
        store.record(JobRecord(prompt="made", seed=4242, created_at=1.0))
        store.record(JobRecord(prompt="stopped", seed=7, status="cancelled", created_at=2.0))
    win = MainWindow(Settings(device="cpu"))
    qtbot.addWidget(win)
    field = win.prompt.seed_field
    assert field.reuse_button.isEnabled()
    field.reuse_button.click()
    assert field.value() == 4242


def test_the_empty_gallery_waits_hidden_until_the_first_result(
    qtbot, window: MainWindow, model_name: str
) -> None:
    assert window.gallery_dock.isHidden()  # no result yet: the canvas gets the room
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT):
        window.enqueue(request(model_name))
    assert window.gallery_dock.isVisible() and len(window.gallery.paths()) == 1


def test_a_gallery_the_user_closed_stays_closed(qtbot, model_name: str) -> None:
    first = MainWindow(Settings(device="cpu"))
    qtbot.addWidget(first)
    first.show()
    first.gallery_dock.show()
    first.gallery_dock.close()  # the user opens it from the View menu, then closes it
    first.close()
    second = MainWindow(Settings(device="cpu"))
    qtbot.addWidget(second)
    second.show()
    with qtbot.waitSignal(second.job_done, timeout=JOB_TIMEOUT):
        second.enqueue(request(model_name))
    assert second.gallery_dock.isHidden()


def test_the_empty_canvas_says_what_to_do_on_each_tab(window: MainWindow) -> None:
    window.tabs.setCurrentIndex(STYLE_TAB)
    assert "content and a style picture" in window.canvas.placeholder_text()
    window.tabs.setCurrentIndex(GENERATE_TAB)
    assert "Type a prompt" in window.canvas.placeholder_text()


def test_a_first_start_welcomes_with_prompts_to_try_and_a_way_to_a_real_model(
    qtbot, window: MainWindow, monkeypatch
) -> None:
    from imagestudio.core.models.recommended import recommended_models
    from imagestudio.gui.dialogs.models import ModelsDialog

    assert window.canvas.welcome_shown()
    welcome = window.welcome
    assert len(welcome.example_buttons) >= 3
    # it fills the canvas up to its own width (it once squeezed into a 110 px sliver)
    room = welcome.parentWidget().contentsRect().width() - 40
    assert welcome.width() >= min(WELCOME_WIDTH, room)
    assert welcome.example_buttons[0].width() >= welcome.width() - 40
    # one click on a prompt: it is in the form and the starter draws it
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT) as done:
        welcome.example_buttons[0].click()
    assert done.args[1] == "done"
    assert window.prompt.prompt_edit.toPlainText() == welcome.example_buttons[0].text()
    assert not window.canvas.welcome_shown()  # the picture replaced it

    # "Get a real model": the list, and its button starts that download in the model manager
    started: list[tuple[str, str | None]] = []
    monkeypatch.setattr(
        ModelsDialog,
        "start_download",
        lambda self, repo, variant=None: started.append((repo, variant)) or True,
    )
    monkeypatch.setattr(ModelsDialog, "exec", lambda self: qtbot.wait(50) or 0)
    welcome.get_model_button.click()
    dialog = window.recommended_dialog
    assert [b.text() for b in dialog.download_buttons] == ["Download and use"] * len(dialog.models)
    dialog.download_buttons[0].click()
    first = recommended_models()[0]
    assert started == [(first.repo_id, first.variant)]
    # once it is in the library, the form uses it at the settings it is made for
    window.use_recommended(first, "tiny")
    assert window.prompt.build_request().model == "tiny"
    assert window.prompt.steps_spin.value() == first.steps
    assert window.prompt.guidance_spin.value() == first.cfg


def test_no_welcome_once_there_is_a_picture(qtbot, model_name: str) -> None:
    from imagestudio.core.outputs.records import JobRecord

    with HistoryStore() as store:
        store.record(JobRecord(prompt="made", seed=1, created_at=1.0))
    win = MainWindow(Settings(device="cpu"))
    qtbot.addWidget(win)
    assert not win.canvas.welcome_shown()


def test_vary_queues_variations_of_a_history_picture(qtbot, window: MainWindow, model_name) -> None:
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT):
        window.enqueue(request(model_name, steps=2, clip_skip=2))
    (record,) = window.history.records()
    menu = window.history.build_context_menu(record)
    vary = next(a for a in menu.actions() if a.text().startswith("Vary"))
    assert vary.isEnabled()
    menu.deleteLater()
    window.vary_record(record, count=2)  # what the menu's action does, with fewer pictures
    for _ in range(2):
        with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT):
            pass
    done = [r.to_request() for r in window.history.records()][:2]
    assert {r.seed for r in done} == {9}  # the picture's own seed ...
    assert len({r.variation_seed for r in done}) == 2  # ... nudged toward two others
    assert {r.variation_strength for r in done} == {0.3}
    assert {r.clip_skip for r in done} == {2}  # everything else as it was
    # the form takes a variation back from its picture's settings
    window.load_settings_from_image(window.history.records()[0].outputs[0])
    values = window.prompt.advanced_group.values()
    assert values["variation_seed"] in {r.variation_seed for r in done}
    assert values["clip_skip"] == 2


def test_upscale_a_result_from_the_canvas(qtbot, window: MainWindow, model_name, monkeypatch):
    from PySide6.QtWidgets import QDialog

    from imagestudio.gui.dialogs.upscale import UpscaleDialog

    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT):
        window.enqueue(request(model_name, steps=2))
    assert window.canvas.upscale_action.isEnabled()

    def choose(dialog: UpscaleDialog) -> int:
        assert "64×64 → 256×256" in dialog.size_label.text()
        assert dialog.upscaler_combo.currentData() == "realesrgan-x4plus"
        dialog.upscaler_combo.setCurrentIndex(dialog.upscaler_combo.findData("lanczos"))
        dialog.scale_spin.setValue(2.5)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(UpscaleDialog, "exec", choose)
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT) as done:
        window.canvas.upscale_action.trigger()
    assert done.args[1] == "done"
    upscaled = window.history.records()[0]
    assert upscaled.kind == "upscale"
    assert Image.open(upscaled.outputs[0]).size == (160, 160)
    assert window.canvas.current_path() == upscaled.outputs[0]
    # the history entry of an upscale (no form of its own) shows its picture when clicked
    window.canvas.show_result(window.history.records()[1].outputs[0])
    window._load_record(upscaled)
    assert window.canvas.current_path() == upscaled.outputs[0]
    assert window.canvas.error_text() == ""
