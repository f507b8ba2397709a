"""`imagestudio backends` and `generate --backend` against the real ComfyUI server: the token
comes from an environment variable, is kept in a private file (no keyring here), and is never
printed nor written to settings.json."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from imagestudio.cli import main
from imagestudio.core.paths import app_paths
from tests.integration.conftest import RunningComfy

TOKEN = "tok-3f9a7c1e-never-shown"


def test_backends_add_list_test_generate_remove(
    comfy_server: RunningComfy,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("IMAGESTUDIO_KEYRING", "off")
    monkeypatch.setenv("BOX_TOKEN", TOKEN)
    assert main(["backends", "add", "box", comfy_server.url, "--token-env", "BOX_TOKEN"]) == 0
    assert main(["backends", "list"]) == 0
    assert main(["backends", "test", "box"]) == 0
    out = tmp_path / "made.png"
    code = main(
        [
            "generate",
            "a tiny lighthouse",
            "--backend",
            "box",
            "--model",
            comfy_server.checkpoint,
            "--size",
            "64x64",
            "--steps",
            "2",
            "--seed",
            "3",
            "--output",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert out.is_file()
    text = captured.out + captured.err
    assert TOKEN not in text
    assert "box" in text and comfy_server.url in text and "yes" in text
    assert f"checkpoints: 1 ({comfy_server.checkpoint})" in captured.out
    assert "idle" in captured.out
    settings = app_paths().settings_file.read_text("utf-8")
    assert TOKEN not in settings and comfy_server.url in settings
    assert TOKEN.encode() not in out.read_bytes()
    token_file = app_paths().config_dir / "backend-tokens.json"
    if os.name == "posix":
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert main(["backends", "remove", "box"]) == 0
    assert TOKEN not in token_file.read_text("utf-8")
    assert main(["backends", "test", "box"]) == 2  # unknown now: bad input
    assert TOKEN not in "".join(capsys.readouterr())


def test_a_missing_token_variable_is_refused(
    comfy_server: RunningComfy, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)
    code = main(["backends", "add", "box", comfy_server.url, "--token-env", "NO_SUCH_TOKEN_VAR"])
    assert code == 2
    assert "NO_SUCH_TOKEN_VAR is not set" in capsys.readouterr().err
    settings = app_paths().settings_file
    assert not settings.exists() or "box" not in settings.read_text("utf-8")
