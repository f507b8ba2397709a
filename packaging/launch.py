"""The bundle's entry point: the same `main` as the `imagestudio` console script.

PyInstaller freezes this file into the executables (packaging/imagestudio.spec).
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def _ensure_streams() -> None:
    # A windowed Windows executable starts with no stdout/stderr at all (None); progress bars and
    # logging handlers would fail on the first write.
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


if __name__ == "__main__":
    multiprocessing.freeze_support()
    _ensure_streams()
    from imagestudio.app import main

    raise SystemExit(main())
