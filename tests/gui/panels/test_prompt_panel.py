"""The Generate panel: widgets <-> GenerationRequest, keys, drops, persistence (offscreen Qt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow

from imagestudio.core.errors import InvalidRequest
from imagestudio.core.outputs.metadata import ImageSettings
from imagestudio.core.requests import GenerationRequest
from imagestudio.core.schedulers import scheduler_names
from imagestudio.gui.panels.prompt import OTHER_FOLDER_TEXT, PromptPanel

MODELS = [("Starter (built in)", "starter"), ("Tiny · SD 1.5", "tiny")]


@pytest.fixture
def panel(qtbot) -> PromptPanel:
    widget = PromptPanel()
    qtbot.addWidget(widget)
    widget.set_models(list(MODELS))
    return widget


@pytest.fixture
def shown(qtbot, panel: PromptPanel) -> PromptPanel:
    """The panel in an active window, as it is in the app (shortcuts need an active window)."""
    panel.resize(320, 760)
    panel.show()
    qtbot.waitExposed(panel)
    panel.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is panel)
    return panel


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "start.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path)
    return path


def drop_files(widget, paths: list[str]) -> tuple[bool, bool]:
    """Drag `paths` onto `widget` the way Qt would: enter, then drop. Returns (entered, dropped)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    enter = QDragEnterEvent(
        QPoint(5, 5),  # QDragEnterEvent takes an integer point (QDropEvent a QPointF)
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, enter)
    drop = QDropEvent(
        QPointF(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, drop)
    return enter.isAccepted(), drop.isAccepted()


# -- building requests -------------------------------------------------------------------------


def test_defaults_build_a_valid_request(panel: PromptPanel) -> None:
    panel.prompt_edit.setPlainText("a watercolor fox")
    assert panel.build_request() == GenerationRequest(prompt="a watercolor fox", model="starter")


def test_only_the_builtin_model(qtbot) -> None:
    panel = PromptPanel()
    qtbot.addWidget(panel)
    panel.set_models([("Starter (built in)", "starter")])
    panel.prompt_edit.setPlainText("x")
    assert panel.build_request().model == "starter"
    assert panel.model_combo.itemText(panel.model_combo.count() - 1) == OTHER_FOLDER_TEXT


def test_every_widget_maps_to_its_field(panel: PromptPanel, png: Path) -> None:
    panel.prompt_edit.setPlainText("  a castle at dusk \n")
    panel.negative_edit.setPlainText("blurry")
    panel.model_combo.setCurrentIndex(panel.model_combo.findData("tiny"))
    panel.size_combo.setCurrentIndex(panel.size_combo.findData("832x1216"))
    panel.steps_spin.setValue(33)
    panel.guidance_spin.setValue(5.5)
    panel.sampler_combo.setCurrentIndex(panel.sampler_combo.findData("DPM++ 2M Karras"))
    panel.seed_edit.setText("4242")
    panel.count_spin.setValue(3)
    panel.img2img_group.setChecked(True)
    panel.image_drop.set_path(str(png))
    panel.strength_slider.setValue(45)
    assert panel.build_request() == GenerationRequest(
        prompt="a castle at dusk",
        negative_prompt="blurry",
        model="tiny",
        width=832,
        height=1216,
        steps=33,
        guidance=5.5,
        scheduler="DPM++ 2M Karras",
        seed=4242,
        count=3,
        init_image=str(png),
        strength=0.45,
    )
    assert panel.strength_label.text() == "0.45"


def test_size_presets_fill_and_lock_the_spin_boxes(panel: PromptPanel) -> None:
    panel.prompt_edit.setPlainText("x")
    assert not panel.width_spin.isEnabled() and not panel.height_spin.isEnabled()
    panel.size_combo.setCurrentIndex(panel.size_combo.findData("1216x832"))
    assert (panel.width_spin.value(), panel.height_spin.value()) == (1216, 832)
    assert not panel.width_spin.isEnabled()
    panel.size_combo.setCurrentIndex(panel.size_combo.findData("custom"))
    assert panel.width_spin.isEnabled() and panel.height_spin.isEnabled()
    panel.width_spin.setValue(640)
    request = panel.build_request()
    assert (request.width, request.height) == (640, 832)
    assert panel.width_spin.singleStep() == 8
    assert (panel.width_spin.minimum(), panel.width_spin.maximum()) == (64, 4096)
    labels = [panel.size_combo.itemText(i) for i in range(panel.size_combo.count())]
    assert labels[0] == "Model default" and labels[-1] == "Custom" and "512 × 768" in labels


def test_sampler_list_is_model_default_then_ours(panel: PromptPanel) -> None:
    combo = panel.sampler_combo
    assert combo.itemText(0) == "Model default" and combo.itemData(0) is None
    assert [combo.itemData(i) for i in range(1, combo.count())] == scheduler_names()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p.prompt_edit.setPlainText("   "), "prompt is empty"),
        (
            lambda p: (
                p.size_combo.setCurrentIndex(p.size_combo.findData("custom")),
                p.width_spin.setValue(500),
                p.height_spin.setValue(512),
            ),
            "multiple of 8",
        ),
        (lambda p: p.seed_edit.setText("12ab"), "The seed must be a whole number"),
        (lambda p: p.seed_edit.setText("4294967296"), "The seed must be a whole number"),
        (
            lambda p: (p.seed_edit.setText("4294967295"), p.count_spin.setValue(2)),
            "each image uses the next seed",
        ),
        (lambda p: p.set_models([]), "No model was chosen"),
        (lambda p: p.img2img_group.setChecked(True), "No start image"),
    ],
    ids=["empty-prompt", "size", "seed-text", "seed-range", "seed-count", "no-model", "no-image"],
)
def test_bad_values_raise_the_cores_message(panel: PromptPanel, setup, message: str) -> None:
    panel.prompt_edit.setPlainText("a fox")
    setup(panel)
    with pytest.raises(InvalidRequest, match=message):
        panel.build_request()


def test_core_message_is_passed_through_unchanged(panel: PromptPanel) -> None:
    panel.prompt_edit.setPlainText("a fox")
    panel.size_combo.setCurrentIndex(panel.size_combo.findData("custom"))
    panel.height_spin.setValue(500)
    with pytest.raises(InvalidRequest) as caught:
        panel.build_request()
    with pytest.raises(InvalidRequest) as core:
        GenerationRequest(prompt="a fox", width=panel.width_spin.value(), height=500)
    assert str(caught.value) == str(core.value)


def test_seed_validator_refuses_letters_and_too_large(qtbot, shown: PromptPanel) -> None:
    shown.seed_edit.setFocus()
    qtbot.keyClicks(shown.seed_edit, "12x3")
    assert shown.seed_edit.text() == "123"
    shown.seed_edit.setText("429496729")
    shown.seed_edit.end(False)
    qtbot.keyClicks(shown.seed_edit, "9")  # 4294967299 > 2**32 - 1: refused
    assert shown.seed_edit.text() == "429496729"
    qtbot.keyClicks(shown.seed_edit, "5")
    assert shown.seed_edit.text() == "4294967295"


# -- loading -----------------------------------------------------------------------------------


def round_trip_requests(png: Path, folder: Path) -> list[GenerationRequest]:
    return [
        GenerationRequest(prompt="a fox", model="starter"),
        GenerationRequest(
            prompt="a castle",
            negative_prompt="fog",
            model="tiny",
            width=512,
            height=768,
            steps=7,
            guidance=3.0,
            seed=123,
            scheduler="euler_a",
            count=4,
        ),
        GenerationRequest(prompt="custom size", width=640, height=384, guidance=0.0, seed=0),
        GenerationRequest(prompt="unknown model", model="some-model-i-deleted"),
        GenerationRequest(prompt="folder model", model=str(folder), scheduler="DDIM"),
        GenerationRequest(
            prompt="from an image",
            init_image=str(png),
            strength=0.35,
            steps=30,
            seed=4294967295,
            scheduler="LCM",
            guidance=1.5,
        ),
        GenerationRequest(prompt="max", steps=150, guidance=30.0, count=16, strength=1.0),
        GenerationRequest(prompt="odd strength", init_image=str(png), strength=0.57),
    ]


def test_load_request_round_trips(panel: PromptPanel, png: Path, tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    for request in round_trip_requests(png, folder):
        panel.load_request(request)
        assert panel.build_request() == request


def test_load_request_fills_every_widget(panel: PromptPanel, png: Path) -> None:
    panel.load_request(
        GenerationRequest(
            prompt="p", model="other", width=768, height=768, init_image=str(png), strength=0.8
        )
    )
    assert panel.model_combo.currentText() == "other"
    assert panel.model_combo.itemText(panel.model_combo.count() - 1) == OTHER_FOLDER_TEXT
    assert panel.size_combo.currentData() == "768x768"
    assert panel.sampler_combo.currentText() == "Model default"
    assert panel.img2img_group.isChecked()
    assert panel.image_drop.name_label.text() == "start.png"
    assert panel.strength_label.text() == "0.80"
    panel.load_request(GenerationRequest(prompt="p", width=1000, height=512))
    assert panel.size_combo.currentData() == "custom" and panel.width_spin.isEnabled()
    assert not panel.img2img_group.isChecked() and panel.image_drop.path() is None


def a1111(**fields) -> ImageSettings:
    values = dict(
        prompt="a misty forest",
        negative_prompt="blurry",
        steps=31,
        sampler="DPM++ 2M Karras",
        cfg_scale=6.5,
        seed=777,
        width=512,
        height=768,
        model="sd15",
    )
    values.update(fields)
    return ImageSettings(**values)


def test_load_image_settings_from_a1111(panel: PromptPanel) -> None:
    panel.model_combo.setCurrentIndex(panel.model_combo.findData("tiny"))
    panel.load_image_settings(a1111())
    request = panel.build_request()
    assert (request.prompt, request.negative_prompt) == ("a misty forest", "blurry")
    assert (request.steps, request.guidance, request.seed) == (31, 6.5, 777)
    assert (request.width, request.height, request.scheduler) == (512, 768, "DPM++ 2M Karras")
    assert request.model == "tiny"  # the library has no "sd15": the form keeps its model


def test_load_image_settings_finds_the_pictures_model_by_file_name(panel: PromptPanel) -> None:
    panel.set_models([*MODELS, ("DreamShaper 8", "checkpoints/DreamShaper_8.safetensors")])
    panel.model_combo.setCurrentIndex(panel.model_combo.findData("tiny"))
    # ComfyUI names the file with its folder, A1111 without suffix: both are the library's file
    for named in ("SD1.5/dreamshaper_8.safetensors", "dreamshaper_8"):
        panel.model_combo.setCurrentIndex(panel.model_combo.findData("tiny"))
        assert panel.load_image_settings(a1111(model=named, sampler="Euler")) == []
        assert panel.build_request().model == "checkpoints/DreamShaper_8.safetensors"
    notes = panel.load_image_settings(a1111(model="juggernautXL_v9", sampler="Euler"))
    assert notes == [
        "The picture was made with the model juggernautXL_v9, which is not in your library: "
        "the form keeps the model it had."
    ]
    assert panel.build_request().model == "checkpoints/DreamShaper_8.safetensors"


def test_load_image_settings_sampler_must_be_ours(panel: PromptPanel) -> None:
    panel.sampler_combo.setCurrentIndex(panel.sampler_combo.findData("DDIM"))
    panel.load_image_settings(a1111(sampler="DPM adaptive"))
    assert panel.sampler_combo.currentData() is None
    panel.load_image_settings(a1111(sampler="Euler a"))
    assert panel.sampler_combo.currentData() == "Euler a"
    panel.load_image_settings(a1111(sampler="DPM++ 2M", extra={"Schedule type": "Karras"}))
    assert panel.sampler_combo.currentData() == "DPM++ 2M Karras"


def test_load_image_settings_keeps_what_it_cannot_use(panel: PromptPanel) -> None:
    panel.load_request(GenerationRequest(prompt="old", steps=12, seed=5, width=768, height=768))
    panel.load_image_settings(
        ImageSettings(prompt="new", steps=999, seed=-1, cfg_scale=None, width=None)
    )
    request = panel.build_request()
    assert (request.prompt, request.steps, request.seed) == ("new", 12, 5)
    assert (request.width, request.guidance) == (768, 7.5)


def test_load_image_settings_model_only_from_our_json(panel: PromptPanel, tmp_path: Path) -> None:
    panel.load_image_settings(a1111(source="imagestudio", request={"model": "tiny"}))
    assert panel.build_request().model == "tiny"
    panel.load_image_settings(a1111(source="imagestudio", request={"model": "nowhere"}))
    assert panel.build_request().model == "tiny"
    folder = tmp_path / "downloaded-model"
    folder.mkdir()
    panel.load_image_settings(a1111(source="imagestudio", request={"model": str(folder)}))
    assert panel.build_request().model == str(folder)
    assert panel.model_combo.currentText() == "downloaded-model"


# -- models --------------------------------------------------------------------------------------


def test_set_models_selects_and_keeps_other_folder_last(panel: PromptPanel) -> None:
    combo = panel.model_combo
    panel.set_models(list(MODELS), current="tiny")
    assert combo.currentData() == "tiny"
    panel.set_models([("New", "new"), *MODELS])  # None: keep the selection
    assert combo.currentData() == "tiny"
    panel.set_models(list(MODELS), current="absent")
    assert combo.currentData() == "absent"
    assert combo.itemText(combo.count() - 1) == OTHER_FOLDER_TEXT
    panel.set_models([("Only", "only")])  # "absent" is no folder: not kept
    assert combo.currentData() == "only"
    assert [combo.itemText(i) for i in range(combo.count()) if combo.itemText(i)] == [
        "Only",
        OTHER_FOLDER_TEXT,
    ]


def test_other_folder_adds_and_selects_the_folder(
    panel: PromptPanel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "sdxl-turbo"
    folder.mkdir()
    answers = [str(folder), ""]
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: answers.pop(0))
    combo = panel.model_combo
    other = combo.count() - 1
    combo.setCurrentIndex(other)
    combo.activated.emit(other)
    assert combo.currentData() == str(folder.absolute())
    assert combo.currentText() == "sdxl-turbo"
    assert combo.itemText(combo.count() - 1) == OTHER_FOLDER_TEXT
    # Cancelling the dialog goes back to the model chosen before.
    other = combo.count() - 1
    combo.setCurrentIndex(other)
    combo.activated.emit(other)
    assert combo.currentData() == str(folder.absolute())
    # A picked folder survives a refresh of the model list.
    panel.set_models(list(MODELS), current="starter")
    assert combo.findData(str(folder.absolute())) >= 0
    assert answers == []


# -- keys, buttons, status ---------------------------------------------------------------------


def test_ctrl_enter_in_the_prompt_emits_generate(qtbot, shown: PromptPanel) -> None:
    shown.prompt_edit.setFocus()
    qtbot.keyClicks(shown.prompt_edit, "a fox")
    with qtbot.waitSignal(shown.generate_requested, timeout=1000):
        qtbot.keyClick(shown.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert shown.prompt_edit.toPlainText() == "a fox"  # no newline slipped in


@pytest.mark.parametrize("key", [Qt.Key.Key_Return, Qt.Key.Key_Enter])
def test_ctrl_enter_anywhere_in_the_panel(qtbot, shown: PromptPanel, key: Qt.Key) -> None:
    for widget in (shown.negative_edit, shown.steps_spin, shown.seed_edit, shown.model_combo):
        widget.setFocus()
        with qtbot.waitSignal(shown.generate_requested, timeout=1000):
            qtbot.keyClick(widget, key, Qt.KeyboardModifier.ControlModifier)


def test_plain_return_does_not_generate(qtbot, shown: PromptPanel) -> None:
    fired: list[bool] = []
    shown.generate_requested.connect(lambda: fired.append(True))
    shown.prompt_edit.setFocus()
    qtbot.keyClick(shown.prompt_edit, Qt.Key.Key_Return)
    assert fired == [] and shown.prompt_edit.toPlainText() == "\n"


def test_escape_in_the_panel_emits_cancel(qtbot, shown: PromptPanel) -> None:
    shown.steps_spin.setFocus()
    with qtbot.waitSignal(shown.cancel_requested, timeout=1000):
        qtbot.keyClick(shown.steps_spin, Qt.Key.Key_Escape)


def test_keys_work_beside_the_windows_own_shortcuts(qtbot) -> None:
    """The main window binds Ctrl+Enter and Esc too; inside the panel exactly one fires."""
    window = QMainWindow()
    qtbot.addWidget(window)
    panel = PromptPanel()
    window.setCentralWidget(panel)
    fired: list[str] = []
    for keys, name in (("Ctrl+Return", "window-generate"), ("Esc", "window-cancel")):
        shortcut = QShortcut(QKeySequence(keys), window)
        shortcut.activated.connect(lambda name=name: fired.append(name))
        shortcut.activatedAmbiguously.connect(lambda name=name: fired.append(name + "-ambiguous"))
    panel.generate_requested.connect(lambda: fired.append("generate"))
    panel.cancel_requested.connect(lambda: fired.append("cancel"))
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    panel.steps_spin.setFocus()
    for _ in range(2):
        qtbot.keyClick(panel.steps_spin, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyClick(panel.steps_spin, Qt.Key.Key_Escape)
    assert fired == ["generate", "cancel", "generate", "cancel"]


def test_buttons_emit_and_set_busy(qtbot, panel: PromptPanel) -> None:
    with qtbot.waitSignal(panel.generate_requested, timeout=1000):
        qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    assert not panel.cancel_button.isEnabled() and panel.queue_label.isHidden()
    panel.set_busy(True, 2)
    assert panel.cancel_button.isEnabled()
    assert not panel.queue_label.isHidden() and panel.queue_label.text() == "queue: 2"
    with qtbot.waitSignal(panel.cancel_requested, timeout=1000):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    panel.set_busy(False, 0)
    assert not panel.cancel_button.isEnabled() and panel.queue_label.isHidden()
    assert "Ctrl+Enter" in panel.generate_button.toolTip()
    assert "Esc" in panel.cancel_button.toolTip()


def test_reuse_last_seed_and_random(qtbot, panel: PromptPanel) -> None:
    panel.prompt_edit.setPlainText("x")
    assert not panel.reuse_seed_button.isEnabled()
    panel.set_last_seed(98765)
    assert panel.reuse_seed_button.isEnabled()
    qtbot.mouseClick(panel.reuse_seed_button, Qt.MouseButton.LeftButton)
    assert panel.build_request().seed == 98765
    qtbot.mouseClick(panel.random_seed_button, Qt.MouseButton.LeftButton)
    assert panel.seed_edit.text() == "" and panel.build_request().seed is None


def test_prompt_suggestions_pop_up_and_replace_the_text(qtbot, shown: PromptPanel) -> None:
    shown.set_suggestions(["a red fox in the snow", "castle at dusk", "", "a red fox in the snow"])
    suggestions = shown.prompt_edit.suggestions
    assert suggestions.prompts() == ["a red fox in the snow", "castle at dusk"]
    shown.prompt_edit.setPlainText("castle")  # set by code: no popup
    assert not suggestions.popup_visible()
    shown.prompt_edit.clear()
    shown.prompt_edit.setFocus()
    qtbot.keyClicks(shown.prompt_edit, "FOX")  # anywhere in the prompt, any case
    qtbot.waitUntil(suggestions.popup_visible, timeout=1000)
    popup = suggestions.completer().popup()
    assert popup.model().rowCount() == 1
    popup.setCurrentIndex(popup.model().index(0, 0))
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert shown.prompt_edit.toPlainText() == "a red fox in the snow"
    assert not suggestions.popup_visible()


def test_escape_closes_the_suggestions_before_cancelling(qtbot, shown: PromptPanel) -> None:
    shown.set_suggestions(["castle at dusk"])
    suggestions = shown.prompt_edit.suggestions
    cancelled: list[bool] = []
    shown.cancel_requested.connect(lambda: cancelled.append(True))
    shown.prompt_edit.setFocus()
    qtbot.keyClicks(shown.prompt_edit, "cas")
    qtbot.waitUntil(suggestions.popup_visible, timeout=1000)
    qtbot.keyClick(suggestions.completer().popup(), Qt.Key.Key_Escape)
    assert not suggestions.popup_visible() and cancelled == []
    assert shown.prompt_edit.toPlainText() == "cas"


def test_keyboard_reachability(panel: PromptPanel) -> None:
    focusable = [
        panel.prompt_edit,
        panel.negative_edit,
        panel.model_combo,
        panel.size_combo,
        panel.steps_spin,
        panel.guidance_spin,
        panel.sampler_combo,
        panel.seed_edit,
        panel.count_spin,
        panel.lora_list.add_button,
        panel.img2img_group,
        panel.generate_button,
    ]
    for widget in focusable:
        assert widget.focusPolicy() & Qt.FocusPolicy.TabFocus, widget.objectName()
        assert widget.toolTip() and widget.accessibleName(), widget.objectName()
    assert panel.prompt_edit.tabChangesFocus()
    order = [panel.prompt_edit]
    while len(order) < 80 and order[-1].nextInFocusChain() is not panel.prompt_edit:
        order.append(order[-1].nextInFocusChain())
    positions = [order.index(w) for w in focusable if w in order]
    assert positions == sorted(positions) and len(positions) == len(focusable)


# -- img2img -------------------------------------------------------------------------------------


def test_img2img_is_off_by_default_with_strength_060(panel: PromptPanel) -> None:
    assert panel.img2img_group.isCheckable() and not panel.img2img_group.isChecked()
    assert panel.strength_label.text() == "0.60"
    assert (panel.strength_slider.minimum(), panel.strength_slider.maximum()) == (1, 100)
    assert not panel.choose_image_button.isEnabled() and not panel.image_drop.isEnabled()


def test_dropping_an_image_sets_the_init_image(panel: PromptPanel, png: Path) -> None:
    panel.prompt_edit.setPlainText("x")
    panel.img2img_group.setChecked(True)
    assert drop_files(panel.image_drop, [str(png)]) == (True, True)
    assert panel.img2img_group.isChecked()
    assert panel.image_drop.path() == str(png)
    assert panel.image_drop.name_label.text() == "start.png"
    pixmap = panel.image_drop.thumbnail_label.pixmap()
    assert not pixmap.isNull() and pixmap.width() == 96
    assert panel.build_request().init_image == str(png.resolve())
    panel.clear_image_button.click()
    assert panel.image_drop.path() is None
    with pytest.raises(InvalidRequest, match="No start image"):
        panel.build_request()


def test_dropping_on_the_unticked_group_turns_img2img_on(
    qtbot, shown: PromptPanel, png: Path
) -> None:
    shown.prompt_edit.setPlainText("x")
    assert not shown.image_drop.acceptDrops()  # disabled: drops go through to the group
    assert drop_files(shown.img2img_group, [str(png)]) == (True, True)
    assert shown.img2img_group.isChecked() and shown.image_drop.isEnabled()
    assert shown.image_drop.acceptDrops()
    assert shown.build_request().init_image == str(png.resolve())


def test_dropping_a_non_image_is_refused(panel: PromptPanel, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert drop_files(panel.img2img_group, [str(text)]) == (False, False)
    panel.img2img_group.setChecked(True)
    assert drop_files(panel.image_drop, [str(text)]) == (False, False)
    assert panel.image_drop.path() is None


def test_prompt_edits_leave_file_drops_to_the_window(panel: PromptPanel, png: Path) -> None:
    for edit in (panel.prompt_edit, panel.negative_edit):
        assert drop_files(edit.viewport(), [str(png)]) == (False, False)
        assert edit.toPlainText() == ""
    mime = QMimeData()
    mime.setText("a dragged phrase")
    assert panel.prompt_edit.canInsertFromMimeData(mime)


def test_choose_button_uses_the_file_dialog(
    panel: PromptPanel, png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(png), ""))
    panel.img2img_group.setChecked(True)
    panel.choose_image_button.click()
    assert panel.image_drop.path() == str(png)


# -- persistence ---------------------------------------------------------------------------------


def test_form_state_round_trip(qtbot, panel: PromptPanel, png: Path) -> None:
    panel.load_request(
        GenerationRequest(
            prompt="remember me",
            negative_prompt="text",
            model="tiny",
            width=640,
            height=384,
            steps=44,
            guidance=9.0,
            seed=31337,
            scheduler="UniPC",
            count=2,
            init_image=str(png),
            strength=0.25,
        )
    )
    state = json.loads(json.dumps(panel.form_state()))  # JSON-able
    other = PromptPanel()
    qtbot.addWidget(other)
    other.set_models(list(MODELS))
    other.restore_form_state(state)
    assert other.build_request() == panel.build_request()
    assert other.form_state() == state


def test_restore_form_state_ignores_garbage(panel: PromptPanel) -> None:
    panel.load_request(GenerationRequest(prompt="keep", steps=12, seed=5, model="tiny"))
    before = panel.form_state()
    for garbage in (
        None,
        [],
        "text",
        {"unknown": 1},
        {
            "prompt": 3,
            "model": ["x"],
            "size": "13x13",
            "width": "wide",
            "height": 10**9,
            "steps": 0,
            "guidance": float("nan"),
            "scheduler": "Nonsense",
            "seed": "-5",
            "count": True,
            "img2img": "yes",
            "init_image": "/no/such/file.png",
            "strength": 2,
        },
        {"seed": "99999999999", "steps": 1.5, "model": "not-a-model"},
    ):
        panel.restore_form_state(garbage)  # type: ignore[arg-type]
        assert panel.form_state() == before
    panel.restore_form_state({"steps": 9, "bogus": object()})
    assert panel.build_request().steps == 9


def test_gui_module_does_not_import_the_model_stack() -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import imagestudio.gui.panels.prompt, sys; "
            "print(sorted(m for m in ('torch', 'diffusers') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "[]"


def test_panel_claims_only_its_own_keys_from_shortcuts(panel: PromptPanel) -> None:
    other = QKeyEvent(
        QEvent.Type.ShortcutOverride, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier
    )
    other.ignore()
    QApplication.sendEvent(panel, other)
    assert not other.isAccepted()
    ours = QKeyEvent(
        QEvent.Type.ShortcutOverride, Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier
    )
    ours.ignore()
    QApplication.sendEvent(panel, ours)
    assert ours.isAccepted()


def test_model_default_shows_the_models_native_size(panel: PromptPanel) -> None:
    panel.set_native_sizes({"starter": 64, "tiny": 1024})
    panel.model_combo.select("starter", add=False)
    assert (panel.width_spin.value(), panel.height_spin.value()) == (64, 64)
    assert not panel.width_spin.isEnabled()
    panel.model_combo.select("tiny", add=False)
    assert (panel.width_spin.value(), panel.height_spin.value()) == (1024, 1024)
    panel.prompt_edit.setPlainText("a fox")
    assert panel.build_request().width is None  # still "the model's own size"
    panel.set_models(list(MODELS), "starter")  # a refresh of the list keeps it right
    assert panel.width_spin.value() == 64


def _size_keys(panel: PromptPanel) -> list[str]:
    return [panel.size_combo.itemData(i) for i in range(panel.size_combo.count())]


def test_size_presets_follow_the_model_and_far_sizes_are_said(panel: PromptPanel) -> None:
    panel.set_native_sizes({"starter": 64, "tiny": 1024})
    panel.model_combo.select("starter", add=False)
    keys = _size_keys(panel)
    assert "64x64" in keys and "512x512" not in keys  # the 64-px model's own shapes
    assert panel.size_hint.isHidden()
    panel.size_combo.setCurrentIndex(panel.size_combo.findData("custom"))
    panel.width_spin.setValue(512)
    panel.height_spin.setValue(512)
    assert panel.size_hint.isVisibleTo(panel)
    assert "far larger than this model's native 64×64" in panel.size_hint.text()
    assert "tiled" in panel.size_hint.text()
    panel.model_combo.select("tiny", add=False)  # an SDXL-sized model: 512 is now small
    assert "832x1216" in _size_keys(panel)
    assert panel.size_combo.currentData() == "custom" and panel.width_spin.value() == 512
    assert "far smaller" in panel.size_hint.text()
    panel.size_combo.setCurrentIndex(panel.size_combo.findData("832x1216"))
    assert panel.size_hint.isHidden() and panel.width_spin.value() == 832
    panel.model_combo.select("starter", add=False)  # its preset is not the starter's: kept
    assert panel.size_combo.currentData() == "custom"
    assert (panel.width_spin.value(), panel.height_spin.value()) == (832, 1216)


def test_embedding_and_wildcard_names_complete_word_by_word(qtbot, panel: PromptPanel) -> None:
    panel.set_prompt_words(["bad-hands", "ink-wash", "__colour__"])
    panel.set_suggestions(["a fox in the snow"])
    edit = panel.prompt_edit
    panel.show()
    edit.setFocus()
    qtbot.keyClicks(edit, "a fox, in")
    suggestions = edit.suggestions
    assert suggestions is not None and suggestions.popup_visible()
    assert suggestions.completer().currentCompletion() == "ink-wash"
    popup = suggestions.completer().popup()
    popup.setCurrentIndex(popup.model().index(0, 0))
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert edit.toPlainText() == "a fox, ink-wash"  # only the word was replaced
    qtbot.keyClicks(edit, " __co")
    assert suggestions.completer().currentCompletion() == "__colour__"
    # the negative box completes the same words
    negative = panel.negative_edit
    negative.setFocus()
    qtbot.keyClicks(negative, "bad")
    assert negative.suggestions is not None
    assert negative.suggestions.completer().currentCompletion() == "bad-hands"
    # a whole previous prompt is still offered when no word matches
    edit.clear()
    qtbot.keyClicks(edit, "in the")
    assert suggestions.completer().currentCompletion() == "a fox in the snow"


def test_the_vae_box_lists_the_library_and_round_trips(panel: PromptPanel) -> None:
    from imagestudio.core.outputs.metadata import parse_parameters

    group = panel.advanced_group
    group.set_vaes(["vae-ft-mse", "sdxl-fixed"])
    assert group.vae_combo.count() == 3 and group.values()["vae"] is None
    panel.prompt_edit.setPlainText("a fox")
    group.vae_combo.setCurrentIndex(group.vae_combo.findData("sdxl-fixed"))
    request = panel.build_request()
    assert request.vae == "sdxl-fixed"
    panel.load_request(request.replace(vae=None))
    assert group.values()["vae"] is None
    panel.load_request(request)
    assert group.values()["vae"] == "sdxl-fixed"
    # a picture that names its VAE by file name: found in the library, or said
    found = parse_parameters("a fox\nSteps: 20, Seed: 1, VAE: vae-ft-mse.safetensors, Clip skip: 2")
    assert panel.load_image_settings(found) == []
    assert group.values()["vae"] == "vae-ft-mse" and group.values()["clip_skip"] == 2
    missing = parse_parameters("a fox\nSteps: 20, Seed: 1, VAE: orange.safetensors")
    (note,) = panel.load_image_settings(missing)
    assert "orange.safetensors" in note and group.values()["vae"] is None


def test_run_on_shows_only_with_a_server_set_up(shown: PromptPanel) -> None:
    from imagestudio.core.backendnames import BackendEntry

    assert not shown.run_on.isVisible()  # no server: every job runs here, nothing to choose
    shown.run_on.set_servers([BackendEntry("gpu-box", "http://127.0.0.1:9")])
    assert shown.run_on.isVisible()
    shown.run_on.set_servers([])
    assert not shown.run_on.isVisible()
    shown.prompt_edit.setPlainText("a fox")
    assert shown.build_request().backend == "local"
