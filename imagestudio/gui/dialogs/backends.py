"""Settings ▸ Backends: this computer and the ComfyUI servers jobs can run on.

Servers are added, changed and removed through `core.backends.registry`, which saves them at
once (the token in the keyring or a private file, never in the settings file): the page is not
part of the dialog's OK/Cancel. Every call that may wait (a server's state, "Test connection",
the keyring) runs in the background; the window never waits for a server.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from imagestudio.core.backendnames import BackendEntry, check_backend_name, check_backend_url
from imagestudio.core.backends import registry
from imagestudio.core.backends.client import ServerInfo
from imagestudio.core.errors import InvalidRequest
from imagestudio.gui.background import run_in_background
from imagestudio.gui.widgets.forms import ask_yes_no
from imagestudio.gui.widgets.message_row import MessageRow

THIS_COMPUTER = "This computer"
NAME_COLUMN, URL_COLUMN, TOKEN_COLUMN, STATE_COLUMN = range(4)
CHECKING = "checking…"
SHOWN_NAMES = 3  # model files named by "Test connection" in each list


def state_text(status: registry.BackendStatus) -> str:
    """A server's state in a few words: "connected, idle", "busy (1 running, 2 waiting)"."""
    if status.state == "idle":
        return "connected, idle"
    if status.state == "busy":
        return f"busy ({status.running} running, {status.waiting} waiting)"
    if status.state == "refused":
        return "refused (token)"
    return "unreachable"


def short_state(status: registry.BackendStatus) -> str:
    """One word, for the Run-on list: idle, busy, unreachable, refused."""
    return status.state


def _names(what: str, names: Sequence[str]) -> str:
    if not names:
        return f"{what}: none"
    shown = ", ".join(names[:SHOWN_NAMES])
    more = f", … ({len(names) - SHOWN_NAMES} more)" if len(names) > SHOWN_NAMES else ""
    return f"{what}: {len(names)} ({shown}{more})"


def describe_info(entry: BackendEntry, info: ServerInfo) -> str:
    """What "Test connection" found, in lines: the device and its memory, then the model files."""
    device = info.device_text()
    if info.devices and info.devices[0].vram_free and info.devices[0].kind != "cpu":
        device += f", {info.devices[0].vram_free / 2**30:.1f} GiB free"
    lines = [
        f"{entry.name} answered: {device}.",
        _names("Checkpoints", info.checkpoints),
        _names("LoRAs", info.loras),
        _names("Upscalers", info.upscalers),
    ]
    return "\n".join(lines)


class ServerDialog(QDialog):
    """Add a server (name, URL, optional token) or change one's URL and token. OK saves it in
    the background; a refused value is said under the fields and the dialog stays open."""

    saved = Signal(object)  # the BackendEntry

    def __init__(
        self,
        existing: tuple[BackendEntry, ...],
        entry: BackendEntry | None = None,
        token_set: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._existing = existing
        self._entry = entry
        self.setWindowTitle("Change the server" if entry else "Add a ComfyUI server")
        self.setMinimumWidth(460)
        self.name_edit = QLineEdit(entry.name if entry else "", self)
        self.name_edit.setPlaceholderText("gpu-box")
        self.name_edit.setReadOnly(entry is not None)
        self.url_edit = QLineEdit(entry.url if entry else "", self)
        self.url_edit.setPlaceholderText("http://192.168.1.20:8188")
        self.token_edit = QLineEdit(self)
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText(
            "set: leave empty to keep it" if token_set else "optional (ComfyUI-Login, proxies)"
        )
        self.token_edit.setToolTip(
            "A bearer token, sent in the Authorization header. Kept in the system keyring or a "
            "file only you can read; never in the settings file."
        )
        self.forget_token = QCheckBox("Forget the saved token", self)
        self.forget_token.setVisible(token_set)
        self.message = MessageRow(self)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("&Name", self.name_edit)
        form.addRow("&URL", self.url_edit)
        form.addRow("&Token", self.token_edit)
        form.addRow("", self.forget_token)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

    def error_text(self) -> str:
        return self.message.text()

    def save(self) -> None:
        """Check the fields here (plain checks), then save in the background."""
        try:
            name = check_backend_name(self.name_edit.text())
            url = check_backend_url(self.url_edit.text())
        except InvalidRequest as exc:
            self.message.show_message(str(exc))
            return
        taken = registry.find_backend(self._existing, name)
        if self._entry is None and taken is not None:
            self.message.show_message(
                f"A server named {taken.name!r} is set up already; choose it and press Edit to "
                "change it, or give this one another name."
            )
            return
        token = self.token_edit.text().strip() or None
        forget = self.forget_token.isChecked() and token is None

        def call() -> BackendEntry:
            entry, _where = registry.add_backend(name, url, token)
            if forget:
                from imagestudio.core.backends.tokens import delete_token

                delete_token(entry.name)
            return entry

        self.buttons.setEnabled(False)
        self.message.clear_message()
        run_in_background(self, call, self._saved, self._refused)

    def _saved(self, entry: BackendEntry) -> None:
        self.buttons.setEnabled(True)
        self.token_edit.clear()
        self.saved.emit(entry)
        self.accept()

    def _refused(self, message: str) -> None:
        self.buttons.setEnabled(True)
        self.message.show_message(message)


class BackendsPage(QWidget):
    """The Backends page of the settings dialog."""

    servers_changed = Signal(object)  # the new tuple of BackendEntry
    states_refreshed = Signal()
    test_finished = Signal(str)  # what the test found, or its error sentence

    def __init__(self, entries: tuple[BackendEntry, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries = tuple(entries)
        self._states: dict[str, str] = {}
        self._tokens: dict[str, bool] = {}
        self._refreshing = False
        self.changed = False  # servers were added, changed or removed (saved already)
        self.table = QTableWidget(0, 4, self)
        self.table.setHorizontalHeaderLabels(["Name", "URL", "Token", "State"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(NAME_COLUMN, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(URL_COLUMN, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(TOKEN_COLUMN, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(STATE_COLUMN, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda *_: self.edit_selected())

        self.add_button = QPushButton("&Add…", self)
        self.edit_button = QPushButton("&Edit…", self)
        self.remove_button = QPushButton("&Remove", self)
        self.test_button = QPushButton("&Test connection", self)
        self.refresh_button = QPushButton("Re&fresh", self)
        self.refresh_button.setToolTip("Ask every server for its state again")
        self.add_button.clicked.connect(lambda: self.open_server_dialog(None))
        self.edit_button.clicked.connect(self.edit_selected)
        self.remove_button.clicked.connect(self.remove_selected)
        self.test_button.clicked.connect(self.test_selected)
        self.refresh_button.clicked.connect(self.refresh_states)

        intro = QLabel(
            "Jobs run on this computer or on ComfyUI servers (a GPU box, a rented GPU). "
            "Choose where each job runs with “Run on” in the Generate form.",
            self,
        )
        intro.setWordWrap(True)
        self.result = QLabel(self)
        self.result.setObjectName("backend_test_result")
        self.result.setWordWrap(True)
        self.result.setTextFormat(Qt.TextFormat.PlainText)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message = MessageRow(self)

        buttons = QHBoxLayout()
        for button in (self.add_button, self.edit_button, self.remove_button, self.test_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.result)
        layout.addWidget(self.message)
        self._fill()

    # -- the table ----------------------------------------------------------------------------

    def _fill(self) -> None:
        selected = self.selected()
        self.table.setRowCount(1 + len(self.entries))
        local = (THIS_COMPUTER, "—", "—", "ready")
        for column, text in enumerate(local):
            self.table.setItem(0, column, QTableWidgetItem(text))
        for row, entry in enumerate(self.entries, start=1):
            token = self._tokens.get(entry.name)
            cells = (
                entry.name,
                entry.url,
                "…" if token is None else ("set" if token else "not set"),
                self._states.get(entry.name, CHECKING),
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, entry.name)
                self.table.setItem(row, column, item)
        names = [e.name for e in self.entries]
        self.table.selectRow(names.index(selected.name) + 1 if selected in self.entries else 0)
        self._update_buttons()

    def selected(self) -> BackendEntry | None:
        """The server whose row is selected (None for this computer or no row)."""
        row = self.table.currentRow()
        return self.entries[row - 1] if 1 <= row <= len(self.entries) else None

    def select(self, name: str) -> None:
        entry = registry.find_backend(self.entries, name)
        self.table.selectRow(self.entries.index(entry) + 1 if entry else 0)

    def state_of(self, name: str) -> str:
        """The State cell of server `name` ("" when it is not listed)."""
        return self.cell(name, STATE_COLUMN, first_row=1)

    def cell(self, name: str, column: int, first_row: int = 0) -> str:
        """The text in `column` of the row named `name` ("" when there is none)."""
        for row in range(first_row, self.table.rowCount()):
            if self._text(row, NAME_COLUMN) == name:
                return self._text(row, column)
        return ""

    def _text(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text() if item is not None else ""

    def _update_buttons(self) -> None:
        server = self.selected() is not None
        for button in (self.edit_button, self.remove_button, self.test_button):
            button.setEnabled(server)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh_states()

    # -- background -----------------------------------------------------------------------------

    def refresh_states(self) -> None:
        """Ask every server its state (and whether a token is kept), in the background."""
        if self._refreshing or not self.entries:
            return
        self._refreshing = True
        self.refresh_button.setEnabled(False)
        entries = self.entries

        def call() -> tuple[list[registry.BackendStatus], dict[str, bool]]:
            tokens = {entry.name: registry.token_kept(entry) for entry in entries}
            return registry.backend_states(entries), tokens

        run_in_background(self, call, self._states_arrived, self._states_failed)

    def _states_arrived(self, found: tuple[list[registry.BackendStatus], dict[str, bool]]) -> None:
        statuses, tokens = found
        self._refreshing = False
        self.refresh_button.setEnabled(True)
        self._tokens.update(tokens)
        for status in statuses:
            self._states[status.entry.name] = state_text(status)
        self._fill()
        self.states_refreshed.emit()

    def _states_failed(self, message: str) -> None:
        self._refreshing = False
        self.refresh_button.setEnabled(True)
        self.message.show_message(message)
        self.states_refreshed.emit()

    def test_selected(self) -> None:
        """Test connection: the device, its memory and the model files, or the sentence."""
        entry = self.selected()
        if entry is None:
            return
        self.test_button.setEnabled(False)
        self.message.clear_message()
        self.result.setText(f"Asking {entry.name} at {entry.url}…")

        def done(info: ServerInfo) -> None:
            self.test_button.setEnabled(self.selected() is not None)
            text = describe_info(entry, info)
            self.result.setText(text)
            self.test_finished.emit(text)

        def failed(message: str) -> None:
            self.test_button.setEnabled(self.selected() is not None)
            self.result.clear()
            self.message.show_message(message)
            self.test_finished.emit(message)

        run_in_background(self, lambda: registry.test_connection(entry), done, failed)

    # -- add, edit, remove ----------------------------------------------------------------------

    def open_server_dialog(self, entry: BackendEntry | None) -> ServerDialog:
        """The Add (or Edit) dialog, opened window-modal; returns it (tests fill it in)."""
        token_set = bool(entry and self._tokens.get(entry.name))
        dialog = ServerDialog(self.entries, entry, token_set, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.saved.connect(self._server_saved)
        self.server_dialog = dialog
        dialog.open()
        return dialog

    def edit_selected(self) -> ServerDialog | None:
        entry = self.selected()
        return self.open_server_dialog(entry) if entry is not None else None

    def _server_saved(self, entry: BackendEntry) -> None:
        self._reload(select=entry.name)
        self._states.pop(entry.name, None)
        self._tokens.pop(entry.name, None)
        self._fill()
        self.refresh_states()

    def ask(self, title: str, text: str) -> bool:
        """A yes/no question (No by default: removing is not undone); tests replace it."""
        return ask_yes_no(self, title, text, default_yes=False)

    def remove_selected(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        if not self.ask(
            "Remove the server",
            f"Remove the ComfyUI server {entry.name!r} ({entry.url}) and its saved token? "
            "Its pictures and history stay.",
        ):
            return
        self.remove_button.setEnabled(False)
        run_in_background(
            self,
            lambda: registry.remove_backend(entry.name),
            lambda _removed: self._reload(),
            self._failed,
        )

    def _failed(self, message: str) -> None:
        self._update_buttons()
        self.message.show_message(message)

    def _reload(self, select: str | None = None) -> None:
        """The servers as saved now (the registry wrote them)."""
        self.entries = registry.list_backends()
        self.changed = True
        self._fill()
        if select:
            self.select(select)
        self.servers_changed.emit(self.entries)
