"""Logging: full tracebacks go to a rotating file under the user's log folder."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler

from imagestudio.core.paths import app_paths


def setup_logging() -> None:
    """Attach one rotating file handler to the `imagestudio` logger (idempotent)."""
    root = logging.getLogger("imagestudio")
    root.setLevel(logging.INFO)
    if any(isinstance(h, RotatingFileHandler) for h in root.handlers):
        return
    log_file = app_paths().log_file
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return  # a read-only home must not stop the app; errors still reach the user
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
