"""Settings ▸ Backends and "Run on" without a server: a closed loopback port is a server that
does not answer (refused at once). Every server call runs in the background: the calls return
at once and the answers arrive through the event loop (qtbot.waitUntil). The real server's
part is in tests/integration/test_backends_window.py."""

from __future__ import annotations

import socket
import time

import pytest
import shiboken6

from imagestudio.core.backendnames import BackendEntry
from imagestudio.core.backends import registry
from imagestudio.core.outputs.records import JobRecord
from imagestudio.core.paths import app_paths
from imagestudio.core.settings import Settings, load_settings
from imagestudio.gui.dialogs.backends import TOKEN_COLUMN, BackendsPage
from imagestudio.gui.dialogs.settings import BACKENDS_PAGE, SettingsDialog
from imagestudio.gui.main_window import MainWindow
from imagestudio.gui.panels.history import detail_line
from imagestudio.gui.widgets.run_on import LOCAL_TEXT, NO_MODELS_TEXT

TOKEN = "s3cret-Token-77"
WAIT = 15_000


@pytest.fixture(autouse=True)
def token_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGESTUDIO_KEYRING", "off")  # tokens in the private file, not the OS's


def closed_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def page_text(page: BackendsPage) -> str:
    cells = [
        page.table.item(row, column).text()
        for row in range(page.table.rowCount())
        for column in range(page.table.columnCount())
    ]
    return "\n".join([*cells, page.result.text(), page.message.text()])


def test_add_edit_and_remove_a_server(qtbot) -> None:
    dialog = SettingsDialog(Settings(), page=BACKENDS_PAGE)
    qtbot.addWidget(dialog)
    dialog.show()
    page = dialog.backends_page
    assert page.cell("This computer", 0) == "This computer"

    add = page.open_server_dialog(None)
    add.name_edit.setText("local")  # a reserved name: said inline, nothing saved
    add.url_edit.setText(closed_url())
    add.save()
    assert "means this computer" in add.error_text() and add.isVisible()
    add.name_edit.setText("gpu box")
    add.url_edit.setText("ftp://example.org")
    add.save()
    assert "must start with http:// or https://" in add.error_text()
    url = closed_url()
    add.url_edit.setText(url)
    add.token_edit.setText(TOKEN)
    assert add.token_edit.echoMode() == add.token_edit.EchoMode.Password
    started = time.perf_counter()
    add.save()  # the keyring/file write runs in the background
    assert time.perf_counter() - started < 0.5
    qtbot.waitUntil(lambda: [e.name for e in page.entries] == ["gpu box"], timeout=WAIT)
    assert not shiboken6.isValid(add) or not add.isVisible()  # closed (and deleted)

    # the state and the token's presence arrive in the background; the token itself never shows
    qtbot.waitUntil(lambda: page.state_of("gpu box") == "unreachable", timeout=WAIT)
    assert page.cell("gpu box", TOKEN_COLUMN) == "set"
    assert TOKEN not in page_text(page)
    settings_text = app_paths().settings_file.read_text("utf-8")
    assert url in settings_text and TOKEN not in settings_text
    assert dialog.settings().backends == [{"name": "gpu box", "url": url}]

    # a second server of the same name is refused; Edit changes the URL and can drop the token
    again = page.open_server_dialog(None)
    again.name_edit.setText("GPU BOX")
    again.url_edit.setText(url)
    again.save()
    assert "set up already" in again.error_text()
    again.reject()
    page.select("gpu box")
    edit = page.edit_selected()
    assert edit is not None and edit.name_edit.isReadOnly() and edit.token_edit.text() == ""
    new_url = closed_url().replace("127.0.0.1", "localhost")
    edit.url_edit.setText(new_url)
    edit.forget_token.setChecked(True)
    edit.save()
    qtbot.waitUntil(lambda: page.entries == (BackendEntry("gpu box", new_url),), timeout=WAIT)
    qtbot.waitUntil(lambda: page.cell("gpu box", TOKEN_COLUMN) == "not set", timeout=WAIT)
    assert load_settings().backend_entries() == (BackendEntry("gpu box", new_url),)

    # Test connection: the server's sentence, inline
    page.select("gpu box")
    with qtbot.waitSignal(page.test_finished, timeout=WAIT) as tested:
        page.test_selected()
    assert "gpu box" in tested.args[0] and page.message.text() == tested.args[0]
    assert "Traceback" not in page_text(page)

    # Remove asks first: No keeps it, Yes removes it (and its token)
    page.ask = lambda title, text: False  # type: ignore[method-assign]
    page.remove_selected()
    assert [e.name for e in page.entries] == ["gpu box"]
    page.ask = lambda title, text: True  # type: ignore[method-assign]
    page.remove_selected()
    qtbot.waitUntil(lambda: page.entries == (), timeout=WAIT)
    assert registry.list_backends() == ()
    assert page.table.rowCount() == 1


def test_run_on_an_unreachable_server_says_so_and_this_computer_comes_back(qtbot) -> None:
    url = closed_url()
    registry.add_backend("far box", url)
    window = MainWindow(Settings(device="cpu", backends=[{"name": "far box", "url": url}]))
    qtbot.addWidget(window)
    window.show()
    run_on = window.prompt.run_on
    picker = window.prompt.model_combo
    local_models = [picker.itemData(i) for i in range(picker.count())]
    assert [run_on.combo.itemText(i) for i in range(3)][:2] == ["Automatic", LOCAL_TEXT]
    assert run_on.value() == "local"

    started = time.perf_counter()
    with qtbot.waitSignal(run_on.models_loaded, timeout=WAIT):
        assert run_on.select("far box")
        assert time.perf_counter() - started < 0.5  # the window did not wait for the server
        assert run_on.loading() and "Loading" in run_on.note.text()
    assert picker.placeholderText() == NO_MODELS_TEXT and not picker.isEnabled()
    assert "far box" in run_on.note.text() and "Traceback" not in run_on.note.text()
    qtbot.waitUntil(lambda: run_on.state_of("far box") == "unreachable", timeout=WAIT)
    assert run_on.item_text("far box") == "far box (unreachable)"

    window.prompt.prompt_edit.setPlainText("a lighthouse")
    assert window.prompt.shared_values()["backend"] == "far box"
    assert window.generate() is None  # no model: said in the banner, nothing queued
    assert "No model" in window.canvas.error_text() and window.queued_jobs() == []
    state = window.prompt.form_state()
    assert state["backend"] == "far box"

    run_on.select("local")
    assert picker.isEnabled() and not run_on.note.isVisible()
    assert [picker.itemData(i) for i in range(picker.count())] == local_models
    assert window.prompt.build_request().backend == "local"
    window.prompt.restore_form_state(state)  # saved with the form
    assert run_on.value() == "far box"
    run_on.select("auto")
    assert window.prompt.build_request().backend == "auto"
    window.close()


def test_history_names_the_server_a_job_ran_on() -> None:
    now = time.time()
    record = JobRecord(
        prompt="a fox", steps=2, guidance=7.0, seed=5, created_at=now,
        request={"backend": "gpu box"},
    )  # fmt: skip
    assert detail_line(record, now).splitlines()[1] == "seed 5 · on gpu box"
    local = JobRecord(prompt="a fox", seed=5, created_at=now, request={"backend": "local"})
    assert "on " not in detail_line(local, now)
