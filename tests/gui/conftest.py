"""Qt tests run headless on the offscreen platform (pytest-qt provides qtbot and qapp)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
