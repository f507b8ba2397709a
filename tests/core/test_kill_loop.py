"""kill -9 at moments spread over whole jobs (loading, stepping, writing, recording): the history
stays a healthy database, no partial or temporary file is left once the next job has run, and
every history entry points at pictures that are there."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from imagestudio.core.outputs.history import HistoryStore


def _kill_at(argv: list[str], env: dict[str, str], delay: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagestudio", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_kill_nine_during_generate_and_stylize(tiny_model: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = dict(os.environ, IMAGESTUDIO_HOME=str(home))
    content, style = tmp_path / "c.png", tmp_path / "s.png"
    Image.new("RGB", (96, 64), "red").save(content)
    Image.effect_noise((64, 64), 60).convert("RGB").save(style)
    generate = ["generate", "a red circle", "--model", str(tiny_model), "--steps", "8"]
    stylize = ["stylize", "--content", str(content), "--style", str(style), "--size", "64"]
    chance = random.Random(1234)
    deadline = time.monotonic() + 120  # bounded: CI time matters more than the 20th kill
    for round_ in range(16):
        if time.monotonic() > deadline:
            break
        argv = [*(generate if round_ % 2 == 0 else stylize), "--count", "2"][:None]
        if argv[0] == "stylize":
            argv = argv[:-2]  # stylize makes one picture
        _kill_at(argv, env, chance.uniform(0.3, 4.0))

    # the next job cleans up after the killed ones, and works
    done = subprocess.run(
        [sys.executable, "-m", "imagestudio", *generate], env=env, capture_output=True, timeout=300
    )
    assert done.returncode == 0, done.stderr

    db = home / "data" / "history.sqlite3"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    outputs = home / "outputs"
    leftovers = [p.name for p in outputs.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    for picture in outputs.glob("*.png"):
        with Image.open(picture) as image:
            image.load()  # complete files only: a write is a rename of a finished file
    with HistoryStore(db) as history:
        entries = history.recent(limit=100)
    assert entries, "the last job at least is recorded"
    for entry in entries:
        assert entry.status in ("done", "failed", "cancelled")
        for path in entry.outputs:
            assert Path(path).is_file(), f"history entry {entry.id} points at a missing {path}"
