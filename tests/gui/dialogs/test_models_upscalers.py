"""The Models dialog lists upscalers: the shipped Real-ESRGAN files and the user's own, with the
scale and architecture spandrel finds in the background, problems in words, and the filter."""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from imagestudio.core.paths import app_paths
from imagestudio.core.settings import Settings
from imagestudio.core.upscale import loading
from imagestudio.gui.dialogs import upscaler_rows as rows_module
from imagestudio.gui.dialogs.model_table import (
    CHECKING,
    KIND,
    NAME,
    PRECISION,
    READY,
    SIZE,
    STATUS,
    UPSCALER_ROLE,
    WHERE,
    format_size,
)
from imagestudio.gui.dialogs.model_tasks import finish_stopped_threads
from imagestudio.gui.dialogs.models import ModelsDialog
from imagestudio.gui.dialogs.upscaler_rows import NOT_AN_UPSCALER
from tests.core.upscale.test_upscale import tiny_compact
from tests.gui.dialogs.test_models_dialog import write_lora

# The first description imports torch and spandrel and builds the 33 MB Real-ESRGAN network.
DESCRIBE_TIMEOUT = 60_000
SHIPPED = ["realesr-animevideov3-x4", "realesrgan-x4plus"]


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache of upscaler descriptions for the module: the shipped files are built once."""
    return tmp_path_factory.mktemp("upscaler-cache")


@pytest.fixture
def upscalers_dir() -> Path:
    folder = Settings().resolved_models_dir() / "upscalers"  # under the test's IMAGESTUDIO_HOME
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def open_dialog(qtbot, shared_cache: Path) -> Iterator:
    opened: list[ModelsDialog] = []

    def make(cache_dir: Path | None = shared_cache) -> ModelsDialog:
        dlg = ModelsDialog(Settings(), cache_dir=cache_dir)
        qtbot.addWidget(dlg)
        opened.append(dlg)
        return dlg

    yield make
    for dlg in opened:
        dlg.shutdown()
    finish_stopped_threads()


def upscaler_item(dlg: ModelsDialog, name: str):
    for item in dlg.table.rows():
        if item.data(NAME, UPSCALER_ROLE) == name:
            return item
    raise AssertionError(f"{name} is not in the table: {dlg.visible_upscalers()}")


def wait_described(qtbot, dlg: ModelsDialog) -> None:
    qtbot.waitUntil(lambda: not dlg.is_describing(), timeout=DESCRIBE_TIMEOUT)


def test_shipped_and_user_upscalers_are_listed_with_scale_and_architecture(
    qtbot, open_dialog, upscalers_dir: Path
) -> None:
    mine = upscalers_dir / "tiny-x2.safetensors"
    save_file(tiny_compact(2), str(mine))

    dlg = open_dialog()
    # listed at once; what network each is comes from the background
    assert dlg.visible_upscalers() == [*SHIPPED, "tiny-x2"]
    assert dlg.visible_names() == ["starter"]  # the library's own rows are unchanged
    tiny = upscaler_item(dlg, "tiny-x2")
    assert (tiny.text(KIND), tiny.text(STATUS)) == ("Upscaler", CHECKING)
    assert tiny.text(SIZE) == format_size(mine.stat().st_size)
    assert tiny.text(PRECISION) == "fp32"
    assert tiny.text(WHERE) == "models folder"

    wait_described(qtbot, dlg)
    shipped = [upscaler_item(dlg, name) for name in SHIPPED]
    assert [item.text(KIND) for item in shipped] == [
        "Upscaler · ×4 RealESRGAN Compact",
        "Upscaler · ×4 ESRGAN",
    ]
    assert [item.text(WHERE) for item in shipped] == ["built in", "built in"]
    assert [item.text(PRECISION) for item in shipped] == ["fp16", "fp16"]
    assert tiny.text(KIND) == "Upscaler · ×2 RealESRGAN Compact"
    for item in [*shipped, tiny]:
        assert item.text(STATUS) == READY
    # the Kind column grew to show the architecture instead of cutting it off
    metrics = dlg.table.fontMetrics()
    assert dlg.table.columnWidth(KIND) > metrics.horizontalAdvance(shipped[0].text(KIND))

    # an upscaler is not a model to generate with; the details say what it is for
    assert dlg.select_upscaler("tiny-x2")
    assert dlg.selected_name() is None and not dlg.use_button.isEnabled()
    assert "×2 RealESRGAN Compact" in dlg.details_text()
    assert str(mine) in dlg.details_text()
    with qtbot.assertNotEmitted(dlg.use_model):
        dlg._double_clicked(tiny, 0)
    dlg.select_upscaler(SHIPPED[1])
    assert "Shipped with ImageStudio" in dlg.details_text()
    assert str(upscalers_dir) in dlg.details_text()  # where to put more

    # a refresh keeps the selection and describes again from the cache
    dlg.refresh()
    assert dlg.selected_upscaler() is not None
    assert dlg.selected_upscaler().name == SHIPPED[1]
    wait_described(qtbot, dlg)
    assert upscaler_item(dlg, SHIPPED[1]).text(KIND) == "Upscaler · ×4 ESRGAN"


def test_files_that_are_no_upscalers_say_so(qtbot, open_dialog, upscalers_dir: Path) -> None:
    (upscalers_dir / "noise.safetensors").write_bytes(os.urandom(4096))
    write_lora(upscalers_dir / "a-lora.safetensors")
    save_file({"weight": torch.zeros(3)}, str(upscalers_dir / "odd.safetensors"))

    dlg = open_dialog()
    noise = upscaler_item(dlg, "noise")
    # a damaged header is known at once: nothing for spandrel to look at
    assert "not a valid safetensors file" in noise.text(STATUS)
    assert noise.text(KIND) == "Upscaler"
    wait_described(qtbot, dlg)
    for name in ("a-lora", "odd"):
        item = upscaler_item(dlg, name)
        assert item.text(STATUS) == NOT_AN_UPSCALER
        assert item.text(KIND) == "Upscaler"
        assert NOT_AN_UPSCALER in item.toolTip(NAME)
        assert not item.icon(STATUS).isNull()
    ready = upscaler_item(dlg, SHIPPED[0])
    assert noise.foreground(NAME).color() != ready.foreground(NAME).color()  # greyed
    assert ready.icon(STATUS).isNull()
    dlg.select_upscaler("a-lora")
    assert NOT_AN_UPSCALER in dlg.details_text()
    assert "Traceback" not in dlg.details_text()


def test_the_filter_finds_upscalers_by_kind_architecture_and_place(
    qtbot, open_dialog, upscalers_dir: Path, tiny_model: Path
) -> None:
    save_file(tiny_compact(2), str(upscalers_dir / "tiny-x2.safetensors"))
    dlg = open_dialog()
    wait_described(qtbot, dlg)

    dlg.set_filter("upscaler")
    assert dlg.visible_upscalers() == [*SHIPPED, "tiny-x2"]
    assert dlg.visible_names() == []
    dlg.set_filter("esrgan")
    assert dlg.visible_upscalers() == [*SHIPPED, "tiny-x2"]
    dlg.set_filter("compact")  # only the architecture says so
    assert dlg.visible_upscalers() == [SHIPPED[0], "tiny-x2"]
    dlg.set_filter("×2")
    assert dlg.visible_upscalers() == ["tiny-x2"]
    dlg.set_filter("upscaler models folder")
    assert dlg.visible_upscalers() == ["tiny-x2"]
    dlg.set_filter("built in")
    assert dlg.visible_upscalers() == SHIPPED
    assert dlg.visible_names() == ["starter"]
    assert dlg.empty_label.isHidden()


def test_descriptions_are_kept_in_the_app_cache(
    qtbot, open_dialog, upscalers_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_file(tiny_compact(2), str(upscalers_dir / "tiny-x2.safetensors"))
    first = open_dialog(cache_dir=None)  # the app's cache folder, as the CLI uses
    wait_described(qtbot, first)
    assert any(app_paths().cache_dir.iterdir())

    def no_network(*args, **kwargs):
        raise AssertionError("described again instead of read from the cache")

    monkeypatch.setattr(loading, "load_upscaler", no_network)
    second = open_dialog(cache_dir=None)
    wait_described(qtbot, second)
    assert upscaler_item(second, "tiny-x2").text(KIND) == "Upscaler · ×2 RealESRGAN Compact"
    assert upscaler_item(second, "tiny-x2").text(STATUS) == READY


class GatedDescribe:
    """A describe_upscaler that waits until released, and counts its calls."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls: list[str] = []

    def __call__(self, path: Path, cache_dir: Path) -> tuple[int, str]:
        self.calls.append(Path(path).stem)
        self.started.set()
        self.release.wait(10)
        return 4, "Gated"


def test_a_refresh_while_describing_drops_the_older_request(
    qtbot, open_dialog, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated = GatedDescribe()
    monkeypatch.setattr(rows_module, "describe_upscaler", gated)
    dlg = open_dialog()
    assert gated.started.wait(10)
    dlg.refresh()  # the first describer stops after the file it is on; a second one starts
    gated.release.set()
    wait_described(qtbot, dlg)
    assert gated.calls == [SHIPPED[0], *SHIPPED]
    assert [upscaler_item(dlg, n).text(KIND) for n in SHIPPED] == ["Upscaler · ×4 Gated"] * 2


def test_closing_while_describing_returns_at_once_and_does_not_crash(
    qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated = GatedDescribe()
    monkeypatch.setattr(rows_module, "describe_upscaler", gated)
    dlg = ModelsDialog(Settings())
    dlg.show()
    qtbot.waitExposed(dlg)
    assert gated.started.wait(10)
    describer = dlg._describer
    assert describer is not None and describer.isRunning()
    assert describer.parent() is not dlg  # the application's: it may outlive the dialog

    started = time.perf_counter()
    dlg.close()
    assert time.perf_counter() - started < 2.0  # did not wait for the network being built
    assert not dlg.isVisible()
    dlg.deleteLater()  # gone before the answer arrives
    qtbot.wait(50)

    gated.release.set()
    finish_stopped_threads()
    qtbot.wait(50)  # the late answer finds no dialog: nothing happens
    assert gated.calls == [SHIPPED[0]]  # the rest was not described


def test_a_dialog_dropped_while_describing_does_not_take_the_process_down(
    qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated = GatedDescribe()
    monkeypatch.setattr(rows_module, "describe_upscaler", gated)
    dlg = ModelsDialog(Settings())  # no parent, never closed: Python deletes it
    assert gated.started.wait(10)
    del dlg
    gc.collect()
    qtbot.wait(50)
    gated.release.set()
    finish_stopped_threads()
    qtbot.wait(50)
    assert gated.calls == SHIPPED  # it finished its request, then ended


def test_refresh_finds_a_new_file_and_tells_the_window(
    qtbot, open_dialog, upscalers_dir: Path
) -> None:
    """A file dropped in by hand while the dialog is open: Refresh lists it, and the window's
    pickers (the Hires fix and Upscale lists) are told to scan again."""
    dlg = open_dialog()
    wait_described(qtbot, dlg)
    assert "late-x2" not in dlg.visible_upscalers()
    save_file(tiny_compact(2), str(upscalers_dir / "late-x2.safetensors"))
    with qtbot.waitSignal(dlg.library_changed, timeout=2000):
        dlg.refresh_button.click()
    assert "late-x2" in dlg.visible_upscalers()
    wait_described(qtbot, dlg)
