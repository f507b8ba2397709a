"""The window against the real ComfyUI server: Settings ▸ Backends' Test connection, "Run on"
listing the server's checkpoints, and a whole job run there from the Generate form (64x64, 2
steps on the tiny checkpoint) that lands in the gallery and the history with the server named.
Server calls run in the background: answers arrive through the event loop (qtbot.waitUntil)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from imagestudio.core.backends import registry
from imagestudio.core.requests import GenerationRequest
from imagestudio.core.settings import Settings
from imagestudio.gui.dialogs.settings import BACKENDS_PAGE, SettingsDialog
from imagestudio.gui.main_window import MainWindow
from imagestudio.gui.panels.history import detail_line
from tests.integration.conftest import RunningComfy

NAME = "gpu box"
WAIT = 30_000


@pytest.fixture(autouse=True)
def token_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGESTUDIO_KEYRING", "off")


def test_test_connection_lists_the_device_and_checkpoint(qtbot, comfy_server: RunningComfy) -> None:
    registry.add_backend(NAME, comfy_server.url)
    dialog = SettingsDialog(Settings(backends=[{"name": NAME, "url": comfy_server.url}]),
                            page=BACKENDS_PAGE)  # fmt: skip
    qtbot.addWidget(dialog)
    dialog.show()
    page = dialog.backends_page
    qtbot.waitUntil(lambda: page.state_of(NAME) == "connected, idle", timeout=WAIT)
    page.select(NAME)
    started = time.perf_counter()
    with qtbot.waitSignal(page.test_finished, timeout=WAIT) as tested:
        page.test_selected()
        assert time.perf_counter() - started < 0.5
    text = tested.args[0]
    assert text == page.result.text() and page.message.text() == ""
    assert f"{NAME} answered:" in text
    assert "CPU" in text or "GiB" in text  # the device (and its memory on a GPU)
    assert f"Checkpoints: 1 ({comfy_server.checkpoint})" in text
    assert "LoRAs: 1" in text and "Upscalers:" in text


def test_a_job_on_the_server_from_the_generate_form(qtbot, comfy_server: RunningComfy) -> None:
    registry.add_backend(NAME, comfy_server.url)
    window = MainWindow(Settings(device="cpu", backends=[{"name": NAME, "url": comfy_server.url}]))
    qtbot.addWidget(window)
    window.show()
    run_on, picker, loras = window.prompt.run_on, window.prompt.model_combo, window.prompt.lora_list
    local_models = [picker.itemData(i) for i in range(picker.count())]
    assert comfy_server.checkpoint not in local_models

    with qtbot.waitSignal(run_on.models_loaded, timeout=WAIT):
        run_on.select(NAME)
    assert picker.value() == comfy_server.checkpoint and picker.isEnabled()
    assert [picker.itemData(i) for i in range(picker.count())] == [comfy_server.checkpoint]
    assert loras.has(comfy_server.lora)  # the LoRA rows offer the server's files
    qtbot.waitUntil(lambda: run_on.state_of(NAME) == "idle", timeout=WAIT)
    assert run_on.item_text(NAME) == f"{NAME} (idle)"

    run_on.select("local")  # this computer's models come back, and the server's again
    assert [picker.itemData(i) for i in range(picker.count())] == local_models
    run_on.select(NAME)
    qtbot.waitUntil(lambda: picker.value() == comfy_server.checkpoint, timeout=WAIT)

    window.prompt.load_request(
        GenerationRequest(
            prompt="a tiny lighthouse",
            model=comfy_server.checkpoint,
            width=64,
            height=64,
            steps=2,
            seed=11,
            backend=NAME,
        )
    )
    request = window.prompt.build_request()
    assert request.backend == NAME and request.model == comfy_server.checkpoint
    steps: list[tuple[int, int]] = []
    server_worker = window.farm.stations[NAME].worker  # the server's jobs run on its own worker
    server_worker.step_done.connect(lambda job, step, total, image: steps.append((step, total)))
    with qtbot.waitSignal(window.job_done, timeout=120_000) as done:
        assert window.generate() == 1
    assert done.args == [1, "done"], window.canvas.error_text()
    assert steps and steps[-1] == (2, 2)
    (path,) = [Path(p) for p in window.gallery.paths()]
    assert path.is_file() and window.canvas.current_path() == str(path)
    (record,) = window.history.records()
    assert record.request["backend"] == NAME and record.outputs == (str(path),)
    assert f"on {NAME}" in detail_line(record)
    window.close()
