"""Short blocking calls (a ComfyUI server's queue, its model lists, a token in the keyring) run
off the GUI thread, their result delivered back on it.

A server that does not answer takes its whole timeout: on the GUI thread that would freeze the
window. `run_in_background` runs the call on a small thread pool and calls `on_done(result)` or
`on_failed(sentence)` later, on the GUI thread, and only while `owner` (a widget) still exists.
Errors of ours (`ImageStudioError`) arrive as their sentence; anything else is logged with its
traceback and arrives as a short sentence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from imagestudio.core.errors import ImageStudioError
from imagestudio.core.logs import details_hint

log = logging.getLogger(__name__)

_pool: QThreadPool | None = None
_pending: set[_Relay] = set()  # relays waiting for their call: kept alive until it reports


def pool() -> QThreadPool:
    """The pool the calls run on: a few threads, apart from Qt's global one."""
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setMaxThreadCount(4)
        _pool.setObjectName("imagestudio-background")
    return _pool


class _Relay(QObject):
    """Lives on the GUI thread: its signals, emitted from the pool, are queued to it."""

    succeeded = Signal(object)
    failed = Signal(str)

    def __init__(
        self,
        owner: QObject,
        on_done: Callable[[Any], None],
        on_failed: Callable[[str], None] | None,
    ) -> None:
        super().__init__()
        self._owner = owner
        self._on_done = on_done
        self._on_failed = on_failed
        self.succeeded.connect(self._deliver)
        self.failed.connect(self._deliver_failure)

    def _owner_alive(self) -> bool:
        return shiboken6.isValid(self._owner)

    @Slot(object)
    def _deliver(self, result: object) -> None:
        _pending.discard(self)
        if self._owner_alive():
            self._on_done(result)

    @Slot(str)
    def _deliver_failure(self, message: str) -> None:
        _pending.discard(self)
        if self._owner_alive() and self._on_failed is not None:
            self._on_failed(message)


class _Call(QRunnable):
    def __init__(self, call: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self._call = call
        self._relay = relay

    def run(self) -> None:
        try:
            result = self._call()
        except ImageStudioError as exc:
            self._relay.failed.emit(str(exc))
        except Exception as exc:
            log.exception("a background call failed")
            self._relay.failed.emit(
                f"Something went wrong: {type(exc).__name__}: {exc}; {details_hint()}."
            )
        else:
            self._relay.succeeded.emit(result)


def run_in_background(
    owner: QObject,
    call: Callable[[], Any],
    on_done: Callable[[Any], None],
    on_failed: Callable[[str], None] | None = None,
) -> None:
    """Run `call()` on the pool; then, on the GUI thread and only while `owner` exists,
    `on_done(result)` or `on_failed(sentence)`. Returns at once."""
    relay = _Relay(owner, on_done, on_failed)
    _pending.add(relay)
    pool().start(_Call(call, relay))


def wait_for_background(msecs: int = 5_000) -> bool:
    """Wait for the calls in flight to end (tests, shutdown); True when they all did."""
    return pool().waitForDone(msecs)
