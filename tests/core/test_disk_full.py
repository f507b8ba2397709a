"""A nearly full disk, for real: a small tmpfs mounted for the test (skipped, with the reason,
where mounting is not allowed). What is on disk must be in the history, and the user is told."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagestudio import cli
from imagestudio.core.outputs.history import HistoryStore
from tests.cli.test_cli import run


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(mount)],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a small tmpfs here ({exc})")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.decode().strip()})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=20)


def fill(disk: Path, leave: int) -> None:
    """Fill `disk` until about `leave` bytes are free."""
    free = shutil.disk_usage(disk).free
    if free > leave:
        (disk / "filler").write_bytes(b"\0" * (free - leave))


def test_room_for_one_picture_of_three(capsys, small_disk: Path, tiny_model: Path) -> None:
    out = small_disk / "out"
    out.mkdir()
    fill(small_disk, 20_000)  # a 64x64 picture with its settings is about 12 KB
    code, _stdout, err = run(
        capsys,
        "generate",
        "a red circle",
        "--model",
        str(tiny_model),
        "--steps",
        "2",
        "--count",
        "3",
        "--seed",
        "4",
        "--output",
        str(out),
    )
    assert code == cli.EXIT_BAD_INPUT and "Traceback" not in err
    assert "Only 1 of 3 pictures could be saved" in err
    on_disk = sorted(out.glob("*.png"))
    assert len(on_disk) == 1 and str(on_disk[0]) in err
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # no temporary left
    with HistoryStore() as history:
        (job,) = history.recent()
    assert job.status == "failed" and job.outputs == (str(on_disk[0]),)


def generate_into(out: Path, model: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `imagestudio generate` in a child process, two steps, pictures into `out`."""
    argv = ["generate", "a red circle", "--model", str(model), "--steps", "2", "--output"]
    return subprocess.run(
        [sys.executable, "-m", "imagestudio", *argv, str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_a_full_disk_under_the_history_is_said(
    small_disk: Path, tiny_model: Path, tmp_path
) -> None:
    home = small_disk / "home"
    env = dict(os.environ, IMAGESTUDIO_HOME=str(home))
    code = "from imagestudio.core.outputs.history import HistoryStore; HistoryStore().close()"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)
    fill(small_disk, 0)
    out = tmp_path / "out"
    done = generate_into(out, tiny_model, env)
    assert done.returncode == cli.EXIT_OK, done.stderr
    assert "Traceback" not in done.stderr and "Logging error" not in done.stderr
    assert "not be in the history" in done.stderr and "disk is full" in done.stderr
    assert len(list(out.glob("*.png"))) == 1


def test_a_history_that_opens_but_cannot_take_the_row(
    small_disk: Path, tiny_model: Path, tmp_path: Path
) -> None:
    home = small_disk / "home"
    env = dict(os.environ, IMAGESTUDIO_HOME=str(home))
    with HistoryStore(home / "data" / "history.sqlite3"):  # its WAL and shm files exist now
        fill(small_disk, 0)
        out = tmp_path / "out"
        done = generate_into(out, tiny_model, env)
    assert done.returncode == cli.EXIT_OK, done.stderr
    assert "Traceback" not in done.stderr and "Logging error" not in done.stderr
    assert "history" in done.stderr and "disk is full" in done.stderr, done.stderr
    assert len(list(out.glob("*.png"))) == 1
