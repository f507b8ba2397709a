"""Where a job runs ("Run on" in the Generate form): Automatic, this computer or a ComfyUI server;
and what the model picker and the LoRA rows list for that choice.

A server's checkpoints and LoRAs are the server's file names, asked in the background when the
server is chosen (the picker says "Loading…" meanwhile, and the server's sentence when it does not
answer). This computer and Automatic list the local library. The servers' states (idle, busy,
unreachable) are asked in the background too: when the list opens and every 30 s while the
window is active, never more often than every few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QLabel, QSizePolicy, QVBoxLayout, QWidget

from imagestudio.core.backendnames import AUTO, LOCAL, BackendEntry
from imagestudio.core.backends import registry
from imagestudio.gui.background import run_in_background
from imagestudio.gui.panels.loras import LoraList
from imagestudio.gui.widgets.model_picker import ModelPicker

AUTO_TEXT = "Automatic"
LOCAL_TEXT = "This computer"
STATE_INTERVAL_MS = 30_000
MIN_STATE_GAP_S = 5.0  # opening the list again within this asks no server
LOADING_TEXT = "Loading the server's models…"
NO_MODELS_TEXT = "No models: the server did not answer"


class RunOnCombo(QComboBox):
    """The Run-on list; opening it asks the servers for their state."""

    popup_opened = Signal()

    def showPopup(self) -> None:
        self.popup_opened.emit()
        super().showPopup()


class RunOnRow(QWidget):
    """The Run-on list and, under it, the chosen server's state or error in words."""

    servers_changed = Signal(bool)  # whether any server is set up (the row shows only then)

    backend_changed = Signal(str)
    models_loaded = Signal(str)  # the server whose model lists arrived (or failed): tests wait
    states_refreshed = Signal()

    def __init__(self, picker: ModelPicker, loras: LoraList, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._picker = picker
        self._loras = loras
        self._servers: tuple[BackendEntry, ...] = ()
        self._states: dict[str, registry.BackendStatus] = {}
        self._local_models: list[tuple[str, str]] = []
        self._local_loras: list[str] = []
        self._chosen_models: dict[str, str] = {}  # "local" or a server -> model chosen there
        self._shown = LOCAL  # the backend whose models the picker lists
        self._fetch = 0  # the latest model fetch: older answers are ignored
        self._asking_states = False
        self._states_asked_at = 0.0
        self._model_error = ""  # the chosen server's sentence when its models could not be had
        self.server_models: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}

        self.combo = RunOnCombo(self)
        self.combo.setObjectName("run_on_combo")
        self.combo.setAccessibleName("Run on")
        self.combo.setToolTip(
            "Where the job runs: this computer, a ComfyUI server (Settings ▸ Backends), or "
            "Automatic: an idle server that has the model, else this computer."
        )
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(12)
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.note = QLabel(self)
        self.note.setObjectName("run_on_note")
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.combo)
        layout.addWidget(self.note)

        self._timer = QTimer(self)
        self._timer.setInterval(STATE_INTERVAL_MS)
        self._timer.timeout.connect(self._on_timer)
        self.combo.popup_opened.connect(lambda: self.refresh_states(force=False))
        self._fill()
        self.combo.currentIndexChanged.connect(self._on_changed)

    # -- the list ---------------------------------------------------------------------------

    def value(self) -> str:
        """ "local", "auto" or the chosen server's name (the request's `backend`)."""
        value = self.combo.currentData()
        return value if isinstance(value, str) else LOCAL

    def select(self, value: object) -> bool:
        """Choose `value` ("local", "auto" or a listed server, in any case); False when it is
        not listed (nothing changes)."""
        if not isinstance(value, str):
            return False
        key = value.strip().lower()
        for index in range(self.combo.count()):
            data = self.combo.itemData(index)
            if isinstance(data, str) and data.lower() == key:
                self.combo.setCurrentIndex(index)
                return True
        return False

    def servers(self) -> tuple[BackendEntry, ...]:
        return self._servers

    def set_servers(self, entries: Sequence[BackendEntry]) -> None:
        """The servers in the settings; the choice is kept while its server is listed. With
        none, the row is hidden (`servers_changed`): every job runs here."""
        self._servers = tuple(entries)
        self.servers_changed.emit(bool(self._servers))
        names = {entry.name for entry in self._servers}
        self._states = {k: v for k, v in self._states.items() if k in names}
        self.server_models = {k: v for k, v in self.server_models.items() if k in names}
        current = self.value()
        self.combo.blockSignals(True)
        try:
            self._fill()
            if not self.select(current):
                self.combo.setCurrentIndex(self.combo.findData(LOCAL))
        finally:
            self.combo.blockSignals(False)
        if self._servers:
            self._timer.start()
        else:
            self._timer.stop()
        if self.value() != current or self._shown not in (LOCAL, *names):
            self._on_changed()
        elif self._servers:
            self.refresh_states(force=True)

    def _fill(self) -> None:
        self.combo.clear()
        self.combo.addItem(AUTO_TEXT, AUTO)
        self.combo.addItem(LOCAL_TEXT, LOCAL)
        for entry in self._servers:
            self.combo.addItem(self._item_text(entry.name), entry.name)
            self.combo.setItemData(self.combo.count() - 1, entry.url, Qt.ItemDataRole.ToolTipRole)
        self.combo.setCurrentIndex(self.combo.findData(LOCAL))

    def _item_text(self, name: str) -> str:
        status = self._states.get(name)
        return f"{name} ({status.state})" if status is not None else name

    def item_text(self, value: str) -> str:
        index = self.combo.findData(value)
        return self.combo.itemText(index) if index >= 0 else ""

    # -- models for the choice ------------------------------------------------------------------

    def set_local_models(self, models: list[tuple[str, str]], current: str | None) -> None:
        """The library's models (see `ModelPicker.set_models`), listed for this computer and
        Automatic."""
        self._local_models = list(models)
        if self._shown == LOCAL:
            self._picker.set_models(self._local_models, current)
        elif current:
            self._chosen_models[LOCAL] = current

    def set_local_loras(self, names: list[str]) -> None:
        self._local_loras = list(names)
        if self._shown == LOCAL:
            self._loras.set_available(self._local_loras)

    def _on_changed(self, *_: object) -> None:
        backend = self.value()
        shows = LOCAL if backend in (LOCAL, AUTO) else backend
        if shows != self._shown:
            if self._picker.value():
                self._chosen_models[self._shown] = self._picker.value()
            self._shown = shows
            if shows == LOCAL:
                self._show_local()
            else:
                self._load_server_models(shows)
        self._show_note()
        self.backend_changed.emit(backend)

    def _show_local(self) -> None:
        self._fetch += 1  # an answer on its way is for a server no longer chosen
        self._picker.setEnabled(True)
        self._picker.set_folders_allowed(True)
        wanted = self._chosen_models.get(LOCAL)
        listed = {value for _, value in self._local_models}
        self._picker.set_models(self._local_models, wanted if wanted in listed else None)
        self._loras.set_available(self._local_loras)

    def _load_server_models(self, name: str) -> None:
        entry = registry.find_backend(self._servers, name)
        if entry is None:
            return
        self._fetch += 1
        fetch = self._fetch
        self._picker.set_folders_allowed(False)
        self._picker.set_models([], None)  # no local model stays listed for a server
        cached = self.server_models.get(name)
        if cached is not None:
            self._show_server_models(name, *cached)
        else:
            self._picker.setPlaceholderText(LOADING_TEXT)
            self._picker.setEnabled(False)
            self._loras.set_available([])

        def call() -> tuple[tuple[str, ...], tuple[str, ...]]:
            client = registry.client_for(entry, timeout=10.0)
            return (
                client.checkpoints(),
                client.options("LoraLoader", "lora_name"),
            )

        def done(lists: tuple[tuple[str, ...], tuple[str, ...]]) -> None:
            if fetch != self._fetch:
                return
            self.server_models[name] = lists
            self._show_server_models(name, *lists)
            self._show_note()
            self.models_loaded.emit(name)

        def failed(message: str) -> None:
            if fetch != self._fetch:
                return
            self._picker.setEnabled(cached is not None)
            if cached is None:
                self._picker.setPlaceholderText(NO_MODELS_TEXT)
            self._model_error = message
            self._show_note()
            self.models_loaded.emit(name)

        self._model_error = ""
        self._show_note()
        run_in_background(self, call, done, failed)

    def _show_server_models(
        self, name: str, checkpoints: tuple[str, ...], loras: tuple[str, ...]
    ) -> None:
        # a model put in the picker while the list was loading (a loaded job) stays chosen
        wanted = self._picker.value() or self._chosen_models.get(name)
        self._picker.setEnabled(True)
        self._picker.setPlaceholderText("No checkpoints on the server")
        self._picker.set_models(
            [(file, file) for file in checkpoints],
            wanted if wanted and (wanted in checkpoints or self._picker.value()) else None,
        )
        self._loras.set_available(list(loras))

    def loading(self) -> bool:
        return self._shown != LOCAL and not self._picker.isEnabled()

    # -- state ------------------------------------------------------------------------------------

    def _on_timer(self) -> None:
        window = self.window()
        if window is not None and window.isActiveWindow():
            self.refresh_states(force=False)

    def refresh_states(self, force: bool = True) -> None:
        """Ask every server its state in the background (unless asked a moment ago)."""
        if not self._servers or self._asking_states:
            return
        if not force and time.monotonic() - self._states_asked_at < MIN_STATE_GAP_S:
            return
        self._asking_states = True
        self._states_asked_at = time.monotonic()
        entries = self._servers
        run_in_background(
            self, lambda: registry.backend_states(entries), self._states_arrived, self._no_states
        )

    def _states_arrived(self, statuses: list[registry.BackendStatus]) -> None:
        self._asking_states = False
        for status in statuses:
            if registry.find_backend(self._servers, status.entry.name) is not None:
                self._states[status.entry.name] = status
        for index in range(self.combo.count()):
            data = self.combo.itemData(index)
            if data in self._states:
                self.combo.setItemText(index, self._item_text(data))
        self._show_note()
        self.states_refreshed.emit()

    def _no_states(self, message: str) -> None:
        self._asking_states = False
        self.states_refreshed.emit()

    def state_of(self, name: str) -> str:
        """ "idle", "busy", "unreachable", "refused", or "" before the first answer."""
        status = self._states.get(name)
        return status.state if status is not None else ""

    def _show_note(self) -> None:
        """Under the list: the chosen server's models loading, its error, or its state when it
        is not simply idle."""
        backend = self.value()
        text = ""
        if backend not in (LOCAL, AUTO):
            status = self._states.get(backend)
            error = self._model_error
            if self.loading() and not error:
                text = f"Loading the models of {backend}…"
            elif error:
                text = error
            elif status is not None and status.state in ("unreachable", "refused"):
                text = status.message or f"{backend} is {status.state}."
            elif status is not None and status.state == "busy":
                text = (
                    f"{backend} is busy ({status.running} running, {status.waiting} waiting): "
                    "the job waits in its queue."
                )
        self.note.setText(text)
        self.note.setVisible(bool(text))
