"""Logging: full tracebacks go to a rotating file under the user's log folder.

When that file cannot be opened (a read-only home, `logs` not a folder) or stops taking writes (a
full disk), logging goes quiet rather than printing tracebacks on stderr through
`logging.lastResort`, and `details_hint()` stops pointing at a log that does not exist.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler

from imagestudio.core.paths import app_paths

_LOGGER = "imagestudio"


class _QuietFileHandler(RotatingFileHandler):
    """A rotating log file that, when a write fails, stops writing instead of printing
    "--- Logging error ---" and a traceback on stderr (the user already got the sentence)."""

    broken = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        self.broken = True


def setup_logging() -> None:
    """Attach one rotating file handler to the `imagestudio` logger (idempotent)."""
    root = logging.getLogger(_LOGGER)
    root.setLevel(logging.INFO)
    # Some handler, even a NullHandler, keeps logging.lastResort from printing on stderr.
    if root.handlers:
        return
    log_file = app_paths().log_file
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = _QuietFileHandler(
            log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        # A read-only home must not stop the app; errors still reach the user in words.
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


def details_hint() -> str:
    """Where the traceback of an unexpected error went, as words to end a message with."""
    for handler in logging.getLogger(_LOGGER).handlers:
        if isinstance(handler, _QuietFileHandler) and not handler.broken:
            return f"details are in {handler.baseFilename}"
    return "no log file could be written, so run it again from a terminal to see more"
