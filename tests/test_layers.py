"""What import-linter (pyproject.toml) cannot see: which modules an import loads at run time.

The engine runs without Qt; the CLI and the window start without the model stack.
"""

from __future__ import annotations

import subprocess
import sys

QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "qtpy")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split(".")[0] for line in out.splitlines()}


def test_running_the_engine_loads_no_qt() -> None:
    loaded = _modules_after(
        "import imagestudio.core.jobs, imagestudio.dev.bench, imagestudio.cli\n"
        "import diffusers, transformers"
    )
    assert not loaded & set(QT_MODULES)


def test_cli_and_app_import_without_the_model_stack() -> None:
    loaded = _modules_after("import imagestudio.app, imagestudio.cli, imagestudio.gui.main_window")
    assert not loaded & {"torch", "diffusers", "transformers"}
