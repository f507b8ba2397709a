"""The Generate form's "Hires fix" group: widgets <-> a request's hires keys (offscreen Qt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from imagestudio.core.outputs.metadata import parse_parameters
from imagestudio.core.requests import GenerationRequest
from imagestudio.core.upscale.loading import UpscalerFile
from imagestudio.gui.panels.prompt import SIZE_STARTER_HIRES, PromptPanel

MODELS = [("Starter (built in)", "starter"), ("Tiny · SD 1.5", "tiny")]
A1111 = "a fox\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, "


def library(*user: str) -> dict[str, UpscalerFile]:
    """What `upscaler_files` gives with the shipped network and the user's files `user`."""
    files = {"realesrgan-x4plus": UpscalerFile("realesrgan-x4plus", Path("x4.safetensors"), True)}
    files |= {name: UpscalerFile(name, Path(f"{name}.safetensors"), False) for name in user}
    return files


@pytest.fixture
def panel(qtbot) -> PromptPanel:
    widget = PromptPanel()
    qtbot.addWidget(widget)
    widget.set_models(list(MODELS), "tiny")
    widget.hires_group.set_upscalers(library("4x-UltraSharp"))
    widget.prompt_edit.setPlainText("a fox")
    return widget


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "start.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path)
    return path


def upscalers(panel: PromptPanel) -> list[str]:
    combo = panel.hires_group.upscaler_combo
    return [combo.itemData(i) for i in range(combo.count())]


# -- building requests -------------------------------------------------------------------------


def test_off_by_default_and_then_the_request_has_no_hires_fix(panel: PromptPanel) -> None:
    group = panel.hires_group
    assert group.isCheckable() and not group.isChecked() and group.title() == "Hires fix"
    assert panel.build_request() == GenerationRequest(prompt="a fox", model="tiny")
    # the widgets' values wait for the tick; the request keeps the core's defaults meanwhile
    group.scale_spin.setValue(3)
    group.upscaler_combo.setCurrentIndex(group.upscaler_combo.findData("latent"))
    assert panel.build_request() == GenerationRequest(prompt="a fox", model="tiny")


def test_defaults_when_ticked(panel: PromptPanel) -> None:
    group = panel.hires_group
    assert group.upscaler_combo.currentData() == "realesrgan-x4plus"
    assert group.scale_spin.value() == 2 and group.scale_spin.singleStep() == 0.25
    assert (group.scale_spin.minimum(), group.scale_spin.maximum()) == (1.25, 4)
    assert group.steps_spin.value() == 0 and group.steps_spin.text() == "Same as steps"
    assert group.denoise_spin.value() == 0.45
    group.setChecked(True)
    request = panel.build_request()
    assert (request.hires_scale, request.hires_upscaler) == (2.0, "realesrgan-x4plus")
    assert (request.hires_steps, request.hires_denoise) == (None, 0.45)


def test_each_field_reaches_the_request(panel: PromptPanel) -> None:
    group = panel.hires_group
    group.setChecked(True)
    group.upscaler_combo.setCurrentIndex(group.upscaler_combo.findData("latent"))
    group.scale_spin.setValue(2.5)
    group.steps_spin.setValue(12)
    group.denoise_spin.setValue(0.6)
    assert panel.build_request() == GenerationRequest(
        prompt="a fox",
        model="tiny",
        hires_scale=2.5,
        hires_upscaler="latent",
        hires_steps=12,
        hires_denoise=0.6,
    )
    for name in ("lanczos", "4x-UltraSharp"):
        group.upscaler_combo.setCurrentIndex(group.upscaler_combo.findData(name))
        assert panel.build_request().hires_upscaler == name
    group.steps_spin.setValue(0)
    assert panel.build_request().hires_steps is None
    group.setChecked(False)
    assert panel.build_request().hires_scale is None


def test_every_control_says_what_it_does(panel: PromptPanel) -> None:
    group = panel.hires_group
    for widget in (
        group,
        group.upscaler_combo,
        group.scale_spin,
        group.steps_spin,
        group.denoise_spin,
    ):
        assert widget.toolTip().endswith(".") and widget.accessibleName(), widget.objectName()
    combo = group.upscaler_combo
    assert all(combo.itemData(i, 3) for i in range(combo.count()))  # 3: ToolTipRole


def test_the_upscaler_list_is_latent_networks_lanczos(panel: PromptPanel) -> None:
    group = panel.hires_group
    assert upscalers(panel) == ["latent", "realesrgan-x4plus", "4x-UltraSharp", "lanczos"]
    assert group.upscaler_combo.itemText(0) == "Latent"
    assert group.upscaler_combo.itemText(1) == "Real-ESRGAN x4plus"
    group.upscaler_combo.setCurrentIndex(group.upscaler_combo.findData("4x-UltraSharp"))
    group.set_upscalers(library("4x-UltraSharp", "4x-Other"))  # a rescan keeps the choice
    assert group.upscaler_combo.currentData() == "4x-UltraSharp"
    group.set_upscalers({})  # the file has gone: the default, which is always listed
    assert upscalers(panel) == ["latent", "realesrgan-x4plus", "lanczos"]
    assert group.upscaler_combo.currentData() == "realesrgan-x4plus"


def test_the_final_size_follows_the_size_and_the_scale(panel: PromptPanel) -> None:
    label = panel.hires_group.result_label
    assert label.text() == ""  # "Model default" of a model whose size is not known
    panel.size_combo.setCurrentIndex(panel.size_combo.findData("512x768"))
    assert label.text() == "→ 1024 × 1536"
    panel.hires_group.scale_spin.setValue(1.5)
    assert label.text() == "→ 768 × 1152"
    panel.size_combo.setCurrentIndex(panel.size_combo.findData("custom"))
    panel.width_spin.setValue(104)
    assert label.text() == "→ 152 × 1152"  # down to the latent grid, as the core makes it
    panel.set_native_sizes({"tiny": 512})
    panel.size_combo.setCurrentIndex(panel.size_combo.findData("default"))
    assert label.text() == "→ 768 × 768"


# -- start image ---------------------------------------------------------------------------------


def test_a_start_image_disables_the_group_and_says_why(panel: PromptPanel, png: Path) -> None:
    group = panel.hires_group
    group.setChecked(True)
    panel.img2img_group.setChecked(True)
    panel.image_drop.set_path(str(png))
    assert not group.isEnabled() and not group.scale_spin.isEnabled()
    assert group.start_image_note.isVisibleTo(panel)
    assert "start image" in group.toolTip() and "start image" in group.start_image_note.text()
    request = panel.build_request()  # no hires fix, and none of the core's refusal
    assert request.init_image == str(png) and request.hires_scale is None
    panel.img2img_group.setChecked(False)
    assert group.isEnabled() and group.isChecked() and group.scale_spin.isEnabled()
    assert group.start_image_note.isHidden() and "second pass" in group.toolTip()
    assert panel.build_request().hires_scale == 2.0
    # unticked, its fields stay greyed out when the start image goes
    group.setChecked(False)
    panel.img2img_group.setChecked(True)
    panel.img2img_group.setChecked(False)
    assert group.isEnabled() and not group.scale_spin.isEnabled()


def test_a_start_image_request_shows_the_group_disabled(panel: PromptPanel, png: Path) -> None:
    panel.load_request(GenerationRequest(prompt="x", model="tiny", init_image=str(png)))
    assert not panel.hires_group.isEnabled()


# -- restoring ---------------------------------------------------------------------------------


def test_load_request_ticks_and_fills_the_group(panel: PromptPanel) -> None:
    group = panel.hires_group
    request = GenerationRequest(
        prompt="a heron",
        model="tiny",
        width=512,
        height=512,
        hires_scale=1.5,
        hires_upscaler="lanczos",
        hires_steps=30,
        hires_denoise=0.3,
    )
    panel.load_request(request)
    assert group.isChecked() and group.scale_spin.value() == 1.5
    assert group.upscaler_combo.currentData() == "lanczos"
    assert (group.steps_spin.value(), group.denoise_spin.value()) == (30, 0.3)
    assert panel.build_request() == request
    # a request without hires fix unticks it; the settings wait for the next tick
    panel.load_request(request.replace(hires_scale=None))
    assert not group.isChecked() and group.upscaler_combo.currentData() == "lanczos"
    assert panel.build_request() == request.replace(
        hires_scale=None, hires_upscaler="realesrgan-x4plus", hires_steps=None, hires_denoise=0.45
    )


def test_a_saved_requests_unknown_upscaler_is_kept(panel: PromptPanel) -> None:
    """A history entry names an upscaler that has since left the library: shown as it is, so
    that "Run again" runs that request (and the job says what is missing)."""
    request = GenerationRequest(prompt="x", model="tiny", hires_scale=2, hires_upscaler="4x-Gone")
    panel.load_request(request)
    combo = panel.hires_group.upscaler_combo
    assert combo.currentData() == "4x-Gone" and "not found" in combo.currentText()
    assert panel.build_request() == request


def test_an_a1111_picture_with_hires_fix_sets_the_group(panel: PromptPanel) -> None:
    group = panel.hires_group
    group.steps_spin.setValue(7)
    found = parse_parameters(
        A1111 + "Size: 512x512, Denoising strength: 0.35, Hires upscale: 2.5, "
        "Hires upscaler: R-ESRGAN 4x+"
    )
    assert panel.load_image_settings(found) == []
    assert group.isChecked() and group.scale_spin.value() == 2.5
    assert group.upscaler_combo.currentData() == "realesrgan-x4plus"
    assert group.denoise_spin.value() == 0.35
    assert group.steps_spin.value() == 0  # A1111 leaves out "Hires steps: 0": as many as Steps
    request = panel.build_request()
    assert (request.width, request.hires_scale, request.hires_denoise) == (512, 2.5, 0.35)
    # a user's upscaler by its file name; latent modes by A1111's names
    for text, ours in (("4x-UltraSharp", "4x-UltraSharp"), ("Latent (nearest-exact)", "latent")):
        found = parse_parameters(
            A1111 + f"Size: 512x512, Hires upscale: 2, Hires steps: 15, Hires upscaler: {text}"
        )
        assert panel.load_image_settings(found) == []
        assert group.upscaler_combo.currentData() == ours and group.steps_spin.value() == 15
    # a picture without hires fix unticks it
    assert panel.load_image_settings(parse_parameters(A1111 + "Size: 512x512")) == []
    assert not group.isChecked()


def test_an_unknown_upscaler_falls_back_to_the_default_with_a_note(panel: PromptPanel) -> None:
    group = panel.hires_group
    group.upscaler_combo.setCurrentIndex(group.upscaler_combo.findData("lanczos"))
    found = parse_parameters(
        A1111 + "Size: 512x512, Hires upscale: 2, Hires upscaler: 4x-Orange, VAE: orange.pt"
    )
    notes = panel.load_image_settings(found)
    (note,) = [n for n in notes if "upscaler" in n]
    assert "4x-Orange" in note and "Real-ESRGAN x4plus is selected" in note
    assert group.isChecked() and group.upscaler_combo.currentData() == "realesrgan-x4plus"
    assert "4x-Orange" not in upscalers(panel)


def test_a_scale_beyond_the_range_is_brought_in_with_a_note(panel: PromptPanel) -> None:
    found = parse_parameters(A1111 + "Size: 256x256, Hires upscale: 6, Hires upscaler: Lanczos")
    (note,) = panel.load_image_settings(found)
    assert "×6" in note and "×4 is set" in note
    assert panel.hires_group.isChecked() and panel.hires_group.scale_spin.value() == 4


def test_the_form_state_keeps_the_group(qtbot, panel: PromptPanel) -> None:
    group = panel.hires_group
    group.upscaler_combo.setCurrentIndex(group.upscaler_combo.findData("4x-UltraSharp"))
    group.scale_spin.setValue(3)
    group.steps_spin.setValue(25)
    group.denoise_spin.setValue(0.55)
    for ticked in (True, False):
        group.setChecked(ticked)
        state = json.loads(json.dumps(panel.form_state()))
        assert state["hires"] is ticked and state["hires_scale"] == 3
        other = PromptPanel()
        qtbot.addWidget(other)
        other.set_models(list(MODELS))
        other.hires_group.set_upscalers(library("4x-UltraSharp"))
        other.restore_form_state(state)
        assert other.form_state() == state
        assert other.build_request() == panel.build_request()
        assert other.hires_group.denoise_spin.value() == 0.55  # kept while unticked too


def test_garbage_in_the_saved_form_leaves_the_group(panel: PromptPanel) -> None:
    before = panel.form_state()
    garbage = {
        "hires": "yes",
        "hires_scale": "big",
        "hires_steps": -3,
        "hires_denoise": float("nan"),
    }
    panel.restore_form_state(garbage)
    assert panel.form_state() == before


# -- the starter model's preset ------------------------------------------------------------------


def size_keys(panel: PromptPanel) -> list[str]:
    return [panel.size_combo.itemData(i) for i in range(panel.size_combo.count())]


@pytest.fixture
def starter(panel: PromptPanel) -> PromptPanel:
    panel.set_native_sizes({"starter": 64, "tiny": 512})
    panel.model_combo.select("starter", add=False)
    return panel


def test_the_starter_offers_64_px_with_hires_fix_x4(starter: PromptPanel) -> None:
    panel, group = starter, starter.hires_group
    index = panel.size_combo.findData(SIZE_STARTER_HIRES)
    assert index == 1  # first after "Model default"
    assert panel.size_combo.itemText(index) == "256 × 256 (64 px + hires fix ×4)"
    panel.size_combo.setCurrentIndex(index)
    assert (panel.width_spin.value(), panel.height_spin.value()) == (64, 64)
    assert not panel.width_spin.isEnabled()
    assert group.isChecked() and group.scale_spin.value() == 4
    assert group.upscaler_combo.currentData() == "realesrgan-x4plus"
    # enlarge only: the starter repaints a 256-px picture into a grid of small shapes
    assert group.denoise_spin.value() == 0 and group.result_label.text() == "→ 256 × 256"
    assert group.denoise_spin.text() == "0 (enlarge only)"
    request = panel.build_request()
    assert (request.model, request.width, request.height) == ("starter", 64, 64)
    assert (request.hires_scale, request.hires_upscaler) == (4.0, "realesrgan-x4plus")
    assert request.hires_denoise == 0
    # other models have no such preset
    panel.model_combo.select("tiny", add=False)
    assert SIZE_STARTER_HIRES not in size_keys(panel)


def test_the_starter_preset_and_hires_fix_stay_in_step(starter: PromptPanel) -> None:
    panel, group = starter, starter.hires_group
    panel.size_combo.setCurrentIndex(panel.size_combo.findData(SIZE_STARTER_HIRES))
    group.denoise_spin.setValue(0.3)  # the preset's own settings can be tuned
    assert panel.size_combo.currentData() == SIZE_STARTER_HIRES
    group.setChecked(False)  # no longer what the preset says: the plain size it draws at
    assert panel.size_combo.currentData() == "64x64" and not group.isChecked()
    panel.size_combo.setCurrentIndex(panel.size_combo.findData(SIZE_STARTER_HIRES))
    assert group.isChecked() and group.scale_spin.value() == 4
    group.scale_spin.setValue(2)
    assert panel.size_combo.currentData() == "64x64" and group.isChecked()
    panel.size_combo.setCurrentIndex(panel.size_combo.findData(SIZE_STARTER_HIRES))
    assert group.scale_spin.value() == 4
    # another size leaves the preset's hires fix behind with it
    panel.size_combo.setCurrentIndex(panel.size_combo.findData("64x64"))
    assert not group.isChecked()
    panel.size_combo.setCurrentIndex(panel.size_combo.findData(SIZE_STARTER_HIRES))
    panel.model_combo.select("tiny", add=False)
    assert panel.size_combo.currentData() == "custom" and not group.isChecked()


def test_the_starter_preset_survives_a_restart(qtbot, starter: PromptPanel) -> None:
    starter.size_combo.setCurrentIndex(starter.size_combo.findData(SIZE_STARTER_HIRES))
    starter.hires_group.denoise_spin.setValue(0.3)
    state = json.loads(json.dumps(starter.form_state()))
    other = PromptPanel()
    qtbot.addWidget(other)
    other.set_models(list(MODELS))
    other.set_native_sizes({"starter": 64, "tiny": 512})
    other.restore_form_state(state)
    assert other.size_combo.currentData() == SIZE_STARTER_HIRES
    assert other.hires_group.denoise_spin.value() == 0.3  # not reset by the preset
    assert other.form_state() == state
