"""The layering rules, checked: core never imports Qt; light entry points stay light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "imagestudio" / "core"
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "qtpy")


def test_core_source_never_imports_qt() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in QT_MODULES]
    assert offenders == []


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
        "import imagestudio.core.generation.engine, imagestudio.core.jobs, imagestudio.dev.bench\n"
        "import diffusers, transformers"
    )
    assert not loaded & set(QT_MODULES)


def test_cli_and_app_import_without_the_model_stack() -> None:
    loaded = _modules_after("import imagestudio.app, imagestudio.cli")
    assert not loaded & {"torch", "diffusers", "transformers"}
