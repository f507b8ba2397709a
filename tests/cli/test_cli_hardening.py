"""Bad arguments and odd files on the command line: one sentence, the right exit code, nothing
written, nothing recorded. Real subprocesses where bytes matter (non-UTF-8 argv)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from imagestudio import cli
from imagestudio.core.paths import app_paths
from tests.cli.test_cli import history_rows, one_error_line, outputs, run


def run_bytes(*argv: bytes, home: Path) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, IMAGESTUDIO_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "imagestudio", *argv], capture_output=True, env=env, timeout=120
    )


@pytest.mark.parametrize(
    "argv",
    [
        (b"generate", b"a \xff\xfe cat"),
        (b"generate", b"a cat", b"--negative", b"\xc3\x28"),
        (b"generate", b"a cat", b"--init", b"/tmp/\xff.png"),
        (b"generate", b"a cat", b"--output", b"/tmp/out\xff/"),
        (b"stylize", b"--content", b"\xffc.png", b"--style", b"s.png"),
        (b"history", b"search", b"fox\xff"),
    ],
)
def test_arguments_that_are_not_utf8(argv: tuple[bytes, ...], tmp_path: Path) -> None:
    done = run_bytes(*argv, home=tmp_path / "home")
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == cli.EXIT_BAD_INPUT, err
    assert "Traceback" not in err and "not valid UTF-8" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "home" / "outputs").exists()


@pytest.mark.parametrize("where", ["folder", "device", "missing"])
def test_init_that_is_not_a_picture_file(capsys, tmp_path: Path, tiny_model: Path, where) -> None:
    path = {"folder": str(tmp_path), "device": "/dev/zero", "missing": str(tmp_path / "x.png")}
    code, _, err = run(
        capsys, "generate", "a cat", "--model", str(tiny_model), "--init", path[where]
    )
    line = one_error_line(err)
    assert code == cli.EXIT_BAD_INPUT
    words = {"folder": "is a folder", "device": "not a regular file", "missing": "does not exist"}
    assert words[where] in line
    assert outputs() == []


def test_a_decompression_bomb_is_a_sentence(capsys, tmp_path: Path, tiny_model: Path) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("1", (14_000, 14_000)).save(bomb)  # 196 Mpx: past Pillow's guard
    code, _, err = run(capsys, "generate", "a cat", "--model", str(tiny_model), "--init", str(bomb))
    assert code == cli.EXIT_BAD_INPUT and "too large to open safely" in one_error_line(err)
    code, _, err = run(capsys, "stylize", "--content", str(bomb), "--style", str(bomb))
    assert code == cli.EXIT_BAD_INPUT and "too large to open safely" in one_error_line(err)
    assert outputs() == [] and all(row.status == "failed" for row in history_rows())


def test_bench_refuses_zero_repeats(capsys) -> None:
    code, _, err = run(capsys, "bench", "--repeats", "0")
    assert code == cli.EXIT_BAD_INPUT and "at least 1" in one_error_line(err)


def test_stylize_uses_the_vgg_weights_setting(capsys, tmp_path: Path) -> None:
    import json

    settings = app_paths().settings_file
    settings.parent.mkdir(parents=True)
    missing = tmp_path / "no-such-vgg19.pth"
    settings.write_text(json.dumps({"style_vgg_weights": str(missing)}))
    picture = tmp_path / "p.png"
    Image.new("RGB", (64, 64), "red").save(picture)
    code, _, err = run(
        capsys,
        "stylize",
        "--content",
        str(picture),
        "--style",
        str(picture),
        "--mode",
        "quality",
        "--iterations",
        "1",
        "--size",
        "64",
    )
    assert code != cli.EXIT_OK and "no-such-vgg19" in err


@pytest.mark.parametrize("raw", [b"\xff\xfe not utf-8", b"[" * 50_000 + b"]" * 50_000])
def test_a_broken_settings_file_breaks_no_command(capsys, raw: bytes) -> None:
    path = app_paths().settings_file
    path.parent.mkdir(parents=True)
    path.write_bytes(raw)
    code, out, err = run(capsys, "info")
    assert code == cli.EXIT_OK and "could not be read" in out + err
    assert "Traceback" not in out + err
    code, out, err = run(capsys, "models", "list")
    assert code == cli.EXIT_OK and "starter" in out


def test_models_set_keeps_what_it_does_not_know(capsys) -> None:
    import json

    path = app_paths().settings_file
    path.parent.mkdir(parents=True)
    original = {"schema_version": 99, "from_the_future": [1], "previews": "maybe"}
    path.write_text(json.dumps(original))
    code, _, err = run(capsys, "models", "set", "starter", "--prediction", "epsilon")
    assert code == cli.EXIT_OK, err
    data = json.loads(path.read_text())
    assert data["schema_version"] == 99 and data["from_the_future"] == [1]
    assert data["previews"] == "maybe" and data["model_prediction"] == {"starter": "epsilon"}
    assert json.loads(path.with_name("settings.json.bak").read_text()) == original


def test_history_commands_say_a_damaged_file_was_kept_and_salvaged(capsys) -> None:
    from imagestudio.core.outputs.history import HistoryStore, JobRecord

    path = app_paths().history_file
    with HistoryStore(path) as store:
        for i in range(30):
            store.record(JobRecord(prompt=f"fox {i}"))
    raw = bytearray(path.read_bytes())
    raw[100:116] = b"\xff" * 16  # the header's tail: SQLite finds the file malformed
    path.write_bytes(bytes(raw))
    code, _out, err = run(capsys, "history", "list")
    assert code == cli.EXIT_OK and "Traceback" not in err
    assert "damaged" in err and "kept as" in err
    kept = [p for p in path.parent.glob("history.sqlite3.damaged-*") if "-wal" not in p.name[-5:]]
    kept = [p for p in kept if not p.name.endswith(("-shm", "-journal"))]
    assert len(kept) == 1 and str(kept[0]) in err
