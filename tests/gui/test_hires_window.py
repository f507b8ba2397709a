"""Hires fix through the whole window: the library's upscalers in the form, and a job made with
hires fix on a tiny real model (offscreen Qt, real worker thread)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from imagestudio.core.models.library import UPSCALER_FOLDER
from imagestudio.core.paths import app_paths
from imagestudio.core.settings import Settings
from imagestudio.gui.main_window import MainWindow

JOB_TIMEOUT = 120_000


@pytest.fixture
def window(qtbot, tiny_model: Path):
    models = app_paths().models_dir
    shutil.copytree(tiny_model, models / "tiny")
    (models / UPSCALER_FOLDER).mkdir(parents=True)
    (models / UPSCALER_FOLDER / "4x-Mine.safetensors").write_bytes(b"")
    win = MainWindow(Settings(device="cpu"))
    qtbot.addWidget(win)
    win.show()
    yield win
    if win.isVisible():
        win.close()


def test_the_form_lists_the_librarys_upscalers(window: MainWindow) -> None:
    combo = window.prompt.hires_group.upscaler_combo
    names = [combo.itemData(i) for i in range(combo.count())]
    assert names[0] == "latent" and names[-1] == "lanczos"
    assert "realesrgan-x4plus" in names and "4x-Mine" in names
    assert combo.currentData() == "realesrgan-x4plus"


def test_generate_with_hires_fix_through_the_form(qtbot, window: MainWindow) -> None:
    panel = window.prompt
    panel.model_combo.select("tiny", add=False)
    panel.prompt_edit.setPlainText("a green square")
    panel.steps_spin.setValue(2)
    panel.seed_edit.setText("9")
    group = panel.hires_group
    group.setChecked(True)
    group.upscaler_combo.setCurrentIndex(group.upscaler_combo.findData("latent"))
    group.denoise_spin.setValue(0.5)
    with qtbot.waitSignal(window.job_done, timeout=JOB_TIMEOUT) as done:
        assert window.generate() == 1
    assert done.args == [1, "done"], window.canvas.error_text()
    (record,) = window.history.records()
    (path,) = record.outputs
    with Image.open(path) as image:
        assert image.size == (128, 128)  # the tiny model's 64 px, ×2
    request = record.to_request()
    assert (request.hires_scale, request.hires_upscaler) == (2.0, "latent")
    # "Reuse settings" brings the group back as it was
    group.setChecked(False)
    window.history.load_requested.emit(record)
    assert group.isChecked() and group.upscaler_combo.currentData() == "latent"
    assert group.denoise_spin.value() == 0.5
