"""The ComfyUI servers in the settings: add, remove, list, their state, test a connection.

The window's Settings ▸ Backends and `imagestudio backends` both use these. Names and URLs live
in the settings file; tokens in `tokens` (the keyring or a private file), never in the settings.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from imagestudio.core.backendnames import BackendEntry, check_backend_name, check_backend_url
from imagestudio.core.backends.client import ComfyClient, ServerInfo
from imagestudio.core.backends.tokens import delete_token, has_token, load_token, save_token
from imagestudio.core.errors import BackendError, InvalidRequest
from imagestudio.core.settings import Settings, load_settings, save_settings

BackendState = Literal["idle", "busy", "unreachable", "refused"]
STATE_TIMEOUT = 3.0


@dataclass(frozen=True)
class BackendStatus:
    """A server's state now: idle, busy (jobs on it), unreachable, or refused (its token)."""

    entry: BackendEntry
    state: BackendState
    running: int = 0
    waiting: int = 0
    message: str = ""  # the sentence, when it is not idle or busy


def find_backend(entries: tuple[BackendEntry, ...], name: str) -> BackendEntry | None:
    """The server called `name` (names are unique regardless of case)."""
    key = name.strip().lower()
    return next((entry for entry in entries if entry.name.lower() == key), None)


def list_backends(settings: Settings | None = None) -> tuple[BackendEntry, ...]:
    return (settings or load_settings()).backend_entries()


def client_for(entry: BackendEntry, timeout: float | None = None) -> ComfyClient:
    """A client of `entry` with its token (read now from the keyring or the file)."""
    client = ComfyClient(entry.name, entry.url, load_token(entry.name))
    if timeout is not None:
        client.timeout = timeout
    return client


def add_backend(
    name: str,
    url: str,
    token: str | None = None,
    settings_path: Path | None = None,
) -> tuple[BackendEntry, str | None]:
    """Add (or change the URL and token of) the server `name`; saved at once. Returns the entry
    and where its token went ("the keyring", a file path) or None without one."""
    name = check_backend_name(name)
    url = check_backend_url(url)
    settings = load_settings(settings_path)
    existing = find_backend(settings.backend_entries(), name)
    kept = [item for item in settings.backends if item["name"].lower() != name.lower()]
    entry = BackendEntry(existing.name if existing else name, url)
    index = next(
        (i for i, item in enumerate(settings.backends) if item["name"].lower() == name.lower()),
        len(kept),
    )
    kept.insert(index, entry.to_dict())
    settings.backends = kept
    where = None
    if token is not None:
        where = save_token(entry.name, token)  # first: a refused token leaves settings as they were
    save_settings(settings, settings_path)
    return entry, where


def remove_backend(name: str, settings_path: Path | None = None) -> BackendEntry:
    """Forget the server `name` and its token."""
    settings = load_settings(settings_path)
    entry = find_backend(settings.backend_entries(), name)
    if entry is None:
        raise InvalidRequest(
            f"No ComfyUI server is named {name!r}; see 'imagestudio backends list'."
        )
    settings.backends = [item for item in settings.backends if item["name"] != entry.name]
    save_settings(settings, settings_path)
    delete_token(entry.name)
    return entry


def token_kept(entry: BackendEntry) -> bool:
    return has_token(entry.name)


def test_connection(entry: BackendEntry, timeout: float = 10.0) -> ServerInfo:
    """The server's device, memory and model files, or the `BackendError` sentence."""
    return client_for(entry, timeout).info()


def backend_state(entry: BackendEntry, timeout: float = STATE_TIMEOUT) -> BackendStatus:
    """Ask the server's queue (one small request): idle, busy, unreachable or refused."""
    try:
        running, waiting = client_for(entry, timeout).queue(timeout)
    except BackendError as exc:
        text = str(exc)
        state: BackendState = "refused" if "token" in text else "unreachable"
        return BackendStatus(entry, state, message=text)
    busy = bool(running or waiting)
    return BackendStatus(entry, "busy" if busy else "idle", len(running), len(waiting))


def backend_states(
    entries: tuple[BackendEntry, ...], timeout: float = STATE_TIMEOUT
) -> list[BackendStatus]:
    """Every server's state, asked at once (an unreachable one costs `timeout`, not more)."""
    if not entries:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(entries))) as pool:
        return list(pool.map(lambda entry: backend_state(entry, timeout), entries))
