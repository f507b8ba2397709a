"""The Models dialog with real model files: listing, filtering, imports, conversion, downloads."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from imagestudio.core.models.checkpoints import pickle_refusal
from imagestudio.core.settings import Settings
from imagestudio.gui.dialogs import model_tasks
from imagestudio.gui.dialogs import models as models_panel
from imagestudio.gui.dialogs.model_table import KIND, READY, SIZE, STATUS, format_size
from imagestudio.gui.dialogs.models import PAUSED_TEXT, ModelsDialog
from tests.modelfiles import build_random_family, to_single_file

TASK_TIMEOUT = 20_000
LORA_KEYS = ("lora_unet_x.lora_down.weight", "lora_unet_x.lora_up.weight")


def write_lora(path: Path, big: bool = False) -> Path:
    tensors = {LORA_KEYS[0]: torch.zeros(4, 8), LORA_KEYS[1]: torch.zeros(8, 4)}
    if big:  # 24 MB: three of import_model's 8 MB copy chunks, so there is time to cancel
        tensors["lora_unet_y.lora_down.weight"] = torch.zeros(3 * 2**20, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path


@pytest.fixture(scope="module")
def single_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("single")
    folder = build_random_family(root / "sd1", "sd1", "tiny")
    return to_single_file(folder, root / "tiny-sd1.safetensors", "sd1")


@pytest.fixture
def models_dir() -> Path:
    return Settings().resolved_models_dir()  # under the test's own IMAGESTUDIO_HOME


@pytest.fixture
def dialog(qtbot) -> Iterator[ModelsDialog]:
    dlg = ModelsDialog(Settings())
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    yield dlg
    dlg.ask = lambda title, text: True  # type: ignore[method-assign]
    dlg.shutdown()


def wait_idle(qtbot, dlg: ModelsDialog) -> None:
    qtbot.waitUntil(lambda: not dlg.is_busy(), timeout=TASK_TIMEOUT)


def row(dlg: ModelsDialog, name: str):
    for index in range(dlg.table.topLevelItemCount()):
        item = dlg.table.topLevelItem(index)
        if item.text(0) == name:
            return item
    raise AssertionError(f"{name} is not in the table: {dlg.visible_names()}")


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def slow_imports(monkeypatch: pytest.MonkeyPatch, delay: float) -> None:
    """Make each 8 MB chunk of a real import take `delay` seconds."""
    real = model_tasks.import_model

    def slow(source, models_dir, *, on_progress=None, **kwargs):
        def slowed(done: int, total: int) -> None:
            time.sleep(delay)
            on_progress(done, total)

        return real(source, models_dir, on_progress=slowed, **kwargs)

    monkeypatch.setattr(model_tasks, "import_model", slow)


def test_table_lists_every_kind_of_entry(
    qtbot, tiny_model: Path, single_file: Path, models_dir: Path
) -> None:
    shutil.copytree(tiny_model, models_dir / "tiny")
    shutil.copy(single_file, models_dir / "sd1-single.safetensors")
    write_lora(models_dir / "loras" / "detail.safetensors")
    (models_dir / "old.ckpt").write_bytes(b"not opened: pickles are refused unread")

    started = time.perf_counter()
    dlg = ModelsDialog(Settings())
    opened = time.perf_counter() - started
    qtbot.addWidget(dlg)
    assert opened < 2.0  # headers and configs only

    assert dlg.visible_names() == ["starter", "loras/detail", "old", "sd1-single", "tiny"]
    assert row(dlg, "starter").text(KIND) == "Starter (built in)"
    assert row(dlg, "sd1-single").text(KIND) == "Stable Diffusion 1.x"
    assert row(dlg, "loras/detail").text(KIND) == "LoRA"
    for name in ("starter", "tiny", "sd1-single", "loras/detail"):
        assert row(dlg, name).text(STATUS) == READY
    refusal = pickle_refusal(models_dir / "old.ckpt")
    old = row(dlg, "old")
    assert old.text(STATUS) == refusal
    assert refusal in old.toolTip(STATUS)
    assert old.foreground(0).color() != row(dlg, "tiny").foreground(0).color()  # greyed

    dlg.select("old")
    assert refusal in dlg.details_text()
    assert not dlg.use_button.isEnabled()
    dlg.select("loras/detail")
    assert not dlg.use_button.isEnabled()  # a LoRA is not a model to generate with
    dlg.select("sd1-single")
    assert dlg.use_button.isEnabled()
    assert str(models_dir) in dlg.folder_label.text()

    with qtbot.waitSignal(dlg.use_model) as used:
        dlg.use_button.click()
    assert used.args == ["sd1-single"]

    # sorting by size puts the small LoRA first
    dlg.table.sortByColumn(SIZE, models_panel.Qt.SortOrder.AscendingOrder)
    assert dlg.visible_names()[0] == "old"
    assert dlg.visible_names()[1] == "loras/detail"


def test_filter_hides_rows_that_do_not_match(qtbot, tiny_model: Path, models_dir: Path) -> None:
    shutil.copytree(tiny_model, models_dir / "tiny")
    write_lora(models_dir / "loras" / "detail.safetensors")
    dlg = ModelsDialog(Settings())
    qtbot.addWidget(dlg)
    dlg.set_filter("lora")
    assert dlg.visible_names() == ["loras/detail"]
    dlg.set_filter("built in")  # matches the Where column
    assert dlg.visible_names() == ["starter"]
    dlg.set_filter("nothing-like-this")
    assert dlg.visible_names() == []
    assert not dlg.empty_label.isHidden()
    assert "nothing-like-this" in dlg.empty_label.text()
    dlg.set_filter("")
    assert dlg.visible_names() == ["starter", "loras/detail", "tiny"]
    assert dlg.empty_label.isHidden()


def test_import_a_folder_and_a_single_file(
    qtbot, dialog: ModelsDialog, tiny_model: Path, single_file: Path, models_dir: Path
) -> None:
    with qtbot.waitSignal(dialog.library_changed, timeout=TASK_TIMEOUT):
        assert dialog.import_path(tiny_model)
    assert (models_dir / tiny_model.name / "model_index.json").is_file()
    assert tiny_model.name in dialog.visible_names()
    assert dialog.selected_name() == tiny_model.name
    assert "Imported" in dialog.message_text()
    assert dialog.task_row.isHidden()

    with qtbot.waitSignal(dialog.library_changed, timeout=TASK_TIMEOUT):
        assert dialog.import_path(str(single_file))
    assert (models_dir / single_file.name).is_file()
    assert row(dialog, single_file.stem).text(STATUS) == READY

    # importing it again says why not, in words, and changes nothing
    with qtbot.assertNotEmitted(dialog.library_changed):
        dialog.import_path(single_file)
        wait_idle(qtbot, dialog)
    assert "already has" in dialog.message_text()
    assert "Traceback" not in dialog.message_text()
    assert dialog.import_button.isEnabled()


def test_cancelling_an_import_leaves_nothing_behind(
    qtbot, dialog: ModelsDialog, tmp_path: Path, models_dir: Path, monkeypatch
) -> None:
    slow_imports(monkeypatch, 0.2)
    big = write_lora(tmp_path / "big-lora.safetensors", big=True)
    with qtbot.assertNotEmitted(dialog.library_changed):
        dialog.import_path(big)
        assert dialog.is_busy() and not dialog.import_button.isEnabled()
        qtbot.waitUntil(lambda: dialog.progress_bar.value() > 0, timeout=TASK_TIMEOUT)
        assert "MB of" in dialog.progress_label.text()
        dialog.cancel_button.click()
        wait_idle(qtbot, dialog)
    assert files_in(models_dir) == []
    assert "Cancelled" in dialog.message_text()
    assert big.is_file()


def test_a_pickle_checkpoint_is_converted_then_imported(
    qtbot, dialog: ModelsDialog, tmp_path: Path, models_dir: Path, monkeypatch
) -> None:
    checkpoint = tmp_path / "old-lora.ckpt"
    torch.save({"state_dict": {k: torch.ones(2, 2) for k in LORA_KEYS}, "step": 7}, checkpoint)

    questions: list[str] = []
    monkeypatch.setattr(dialog, "ask", lambda title, text: questions.append(text) or False)
    assert not dialog.import_path(checkpoint)
    assert "can run" in questions[0] and "Convert it to .safetensors" in questions[0]
    assert files_in(models_dir) == []
    assert "not imported" in dialog.message_text()

    monkeypatch.setattr(dialog, "ask", lambda title, text: True)
    with qtbot.waitSignal(dialog.library_changed, timeout=TASK_TIMEOUT):
        assert dialog.import_path(checkpoint)
    assert files_in(models_dir) == [models_dir / "loras" / "old-lora.safetensors"]
    assert "loras/old-lora" in dialog.visible_names()
    assert "Converted old-lora.ckpt" in dialog.message_text()
    assert checkpoint.is_file()  # the original is left alone


def test_download_while_offline_says_so_and_the_dialog_stays_usable(
    qtbot, dialog: ModelsDialog, tiny_model: Path, models_dir: Path, monkeypatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    asked = []
    monkeypatch.setattr(dialog, "ask", lambda title, text: asked.append(text) or True)

    dialog.download_button.click()
    assert dialog.download_form.isVisible()
    dialog.repo_edit.setText("owner/some-model")
    dialog.start_download_button.click()
    wait_idle(qtbot, dialog)
    assert "offline" in dialog.message_text()
    assert "Traceback" not in dialog.message_text()
    assert asked == []  # nothing to confirm without a plan
    assert dialog.start_download_button.isEnabled() and dialog.import_button.isEnabled()

    dialog.start_download("not a repo id")
    wait_idle(qtbot, dialog)
    assert "not a Hugging Face model id" in dialog.message_text()

    with qtbot.waitSignal(dialog.library_changed, timeout=TASK_TIMEOUT):
        dialog.import_path(tiny_model)  # still works
    assert (models_dir / tiny_model.name).is_dir()


class _OneFileHub(BaseHTTPRequestHandler):
    """Just enough of the Hub for a single-file repo: the file list and one file."""

    data = b""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/api/models/owner/lora-repo/revision/"):
            siblings = [{"rfilename": "detail.safetensors", "size": len(self.data)}]
            body = json.dumps({"sha": "a" * 40, "siblings": siblings}).encode()
        elif self.path.endswith("/resolve/" + "a" * 40 + "/detail.safetensors"):
            body = self.data
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_download_is_confirmed_pauses_resumes_and_lands_in_the_library(
    qtbot, dialog: ModelsDialog, tmp_path: Path, models_dir: Path, monkeypatch
) -> None:
    _OneFileHub.data = write_lora(tmp_path / "detail.safetensors").read_bytes()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OneFileHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        asked: list[str] = []
        monkeypatch.setattr(dialog, "ask", lambda title, text: asked.append(text) or True)
        real = model_tasks.download_model

        def wait_for_pause(plan, models_dir, *, is_cancelled, **kwargs):
            deadline = time.monotonic() + 10
            while not is_cancelled() and time.monotonic() < deadline:
                time.sleep(0.01)
            return real(plan, models_dir, is_cancelled=is_cancelled, **kwargs)

        monkeypatch.setattr(model_tasks, "download_model", wait_for_pause)
        dialog.start_download("https://huggingface.co/owner/lora-repo")
        qtbot.waitUntil(lambda: dialog.cancel_button.text() == "Pause", timeout=TASK_TIMEOUT)
        dialog.cancel_button.click()
        wait_idle(qtbot, dialog)
        assert dialog.message_text() == PAUSED_TEXT
        assert not (models_dir / "lora-repo").exists()

        monkeypatch.setattr(model_tasks, "download_model", real)
        with qtbot.waitSignal(dialog.downloaded, timeout=TASK_TIMEOUT) as arrived:
            dialog.start_download_button.click()  # the form still holds the repo: resume
        assert arrived.args == ["lora-repo"]  # the window selects it by this name
    finally:
        server.shutdown()
        server.server_close()
    size = format_size(len(_OneFileHub.data))
    confirmation = (
        f"owner/lora-repo: 1 file, {size} from 127.0.0.1.\n\n"
        f"It will be saved as {models_dir / 'lora-repo'}."
    )
    assert asked == [confirmation, confirmation]
    assert (models_dir / "lora-repo" / "detail.safetensors").is_file()
    assert "lora-repo/detail" in dialog.visible_names()
    assert "Downloaded owner/lora-repo" in dialog.message_text()


def test_closing_while_an_import_runs_stops_it_cleanly(
    qtbot, tmp_path: Path, models_dir: Path, monkeypatch
) -> None:
    slow_imports(monkeypatch, 0.3)
    big = write_lora(tmp_path / "big-lora.safetensors", big=True)
    dlg = ModelsDialog(Settings())
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.import_path(big)
    thread = dlg._thread
    assert thread is not None and thread.isRunning()

    monkeypatch.setattr(dlg, "ask", lambda title, text: False)
    dlg.close()  # "Stop and close?" No: the dialog stays, the import goes on
    assert dlg.isVisible() and dlg.is_busy()

    monkeypatch.setattr(dlg, "ask", lambda title, text: True)
    dlg.close()
    assert not dlg.isVisible()
    assert thread.isFinished()
    assert files_in(models_dir) == []


def test_sizes_read_like_a_file_manager() -> None:
    assert format_size(820_000) == "820 KB"
    assert format_size(48_240_000) == "48.2 MB"
    assert format_size(6_938_000_000) == "6.94 GB"


def test_an_sd2_single_file_can_be_told_what_it_predicts(qtbot, models_dir: Path) -> None:
    import torch

    from tests.modelfiles import build_random_family, to_single_file

    folder = build_random_family(models_dir.parent / "sd2-folder", "sd2", "tiny")
    to_single_file(folder, models_dir / "old-sd2.safetensors", "sd2", torch.float16)
    folder1 = build_random_family(models_dir.parent / "sd1-folder", "sd1", "tiny")
    to_single_file(folder1, models_dir / "plain.safetensors", "sd1", torch.float16)
    dlg = ModelsDialog(Settings())
    qtbot.addWidget(dlg)
    dlg.show()
    edited: list[Settings] = []
    dlg.settings_edited.connect(edited.append)
    assert dlg.select("plain") and dlg.prediction_row.isHidden()
    assert dlg.select("old-sd2") and not dlg.prediction_row.isHidden()
    assert dlg.prediction_combo.currentData() == ""  # assumed, not chosen
    dlg.prediction_combo.setCurrentIndex(dlg.prediction_combo.findData("epsilon"))
    dlg.prediction_combo.activated.emit(dlg.prediction_combo.currentIndex())
    assert edited and edited[-1].model_prediction == {"old-sd2": "epsilon"}
    dlg.select("plain")
    dlg.select("old-sd2")
    assert dlg.prediction_combo.currentData() == "epsilon"  # the choice is shown again
    dlg.set_prediction("old-sd2", "")
    assert edited[-1].model_prediction == {}
