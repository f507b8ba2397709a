"""LoRA rows in the Generate panel, and a LoRA job through the real window and worker."""

from __future__ import annotations

import shutil
from pathlib import Path

from imagestudio.core.outputs.metadata import read_settings
from imagestudio.core.paths import app_paths
from imagestudio.core.requests import GenerationRequest
from imagestudio.core.settings import Settings
from imagestudio.gui.main_window import MainWindow
from imagestudio.gui.panels.prompt import PromptPanel
from tests.core.generation.test_lora import write_lora


def test_rows_follow_the_library_and_round_trip(qtbot) -> None:
    panel = PromptPanel()
    qtbot.addWidget(panel)
    panel.set_models([("Starter (built in)", "starter")])
    rows = panel.lora_list
    assert not rows.add_button.isEnabled() and not rows.hint.isHidden()

    panel.set_loras_available(["loras/ink", "loras/chalk"])
    assert rows.add_button.isEnabled() and rows.hint.isHidden()
    first = rows.add_row()
    second = rows.add_row()
    assert first is not None and second is not None
    assert {first.value()[0], second.value()[0]} == {"loras/ink", "loras/chalk"}
    assert not rows.add_button.isEnabled()  # both are in use
    second.weight.setValue(-0.5)
    panel.prompt_edit.setPlainText("a fox")
    request = panel.build_request()
    assert dict(request.loras) == {first.value()[0]: 1.0, second.value()[0]: -0.5}

    second.remove.click()
    assert len(rows.rows) == 1 and len(panel.build_request().loras) == 1

    # a saved job whose LoRA left the library keeps it, marked, rather than dropping it
    panel.load_request(GenerationRequest(prompt="x", loras=(("gone", 0.7), ("loras/ink", 1.0))))
    assert panel.build_request().loras == (("gone", 0.7), ("loras/ink", 1.0))
    assert "not found" in rows.rows[0].combo.currentText()

    state = panel.form_state()
    fresh = PromptPanel()
    qtbot.addWidget(fresh)
    fresh.set_loras_available(["loras/ink"])
    fresh.restore_form_state(state)
    assert fresh.lora_list.loras() == (("gone", 0.7), ("loras/ink", 1.0))
    fresh.restore_form_state({"loras": [["ink", 99]]})  # invalid: ignored, form unchanged
    assert fresh.lora_list.loras() == (("gone", 0.7), ("loras/ink", 1.0))


def test_a_lora_job_through_the_window(qtbot, tiny_model: Path) -> None:
    models = app_paths().models_dir
    shutil.copytree(tiny_model, models / "tiny")
    (models / "loras").mkdir(parents=True)
    write_lora(models / "loras" / "ink.safetensors", tiny_model, "peft")
    window = MainWindow(Settings(device="cpu"))
    qtbot.addWidget(window)
    window.show()
    try:
        assert window.prompt.lora_list._names == ["loras/ink"]
        window.prompt.load_request(
            GenerationRequest(
                prompt="a fox", model="tiny", steps=2, seed=3, loras=(("loras/ink", 0.6),)
            )
        )
        with qtbot.waitSignal(window.job_done, timeout=120_000) as done:
            window.generate()
        assert done.args[1] == "done", window.canvas.error_text()
        [path] = sorted(app_paths().outputs_dir.glob("*.png"))
        settings = read_settings(path)
        assert settings is not None and settings.request["loras"] == [["loras/ink", 0.6]]
        # the history record re-runs with the LoRA
        [record] = window.history.records()
        assert record.to_request().loras == (("loras/ink", 0.6),)

        window._use_model("tiny")
        assert window.prompt.build_request().model == "tiny"
    finally:
        window.close()


def test_prompt_tags_are_shown_with_the_rows_and_the_tag_wins(qtbot) -> None:
    panel = PromptPanel()
    qtbot.addWidget(panel)
    panel.set_models([("Starter (built in)", "starter")])
    panel.set_loras_available(["ink", "chalk"])
    label = panel.lora_list.tags_label
    assert label.isHidden()

    panel.lora_list.add_row("ink", 0.3)
    panel.prompt_edit.setPlainText("a fox <lora:ink:0.8> <lora:moss:1>")
    text = label.text()
    assert "ink 0.8" in text and "moss 1" in text
    assert "ink (0.3 in the list) uses the tag's weight" in text
    assert "Not in your library: moss" in text
    assert not label.isHidden()

    panel.prompt_edit.setPlainText("a fox <lora:ink:0.8>")
    request = panel.build_request()
    assert request.prompt == "a fox"
    assert request.loras == (("ink", 0.8),)  # the tag's weight, the row's place

    panel.prompt_edit.setPlainText("a fox")
    assert label.isHidden()
