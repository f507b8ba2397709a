"""`imagestudio stylize`: real style networks, real files, every exit path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagestudio import cli
from imagestudio.core.outputs.history import HistoryStore
from imagestudio.core.outputs.metadata import (
    IMAGESTUDIO_KEY,
    PARAMETERS_KEY,
    STYLE_TEXT_KEY,
    read_settings,
)
from imagestudio.core.paths import app_paths
from imagestudio.core.requests import StyleRequest


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("imagestudio: error: ")
    return lines[0]


@pytest.fixture
def pictures(tmp_path: Path) -> tuple[Path, Path]:
    y, x = np.mgrid[0:120, 0:160]
    content = np.stack([x, y * 2, np.full_like(x, 120)], axis=-1).astype(np.uint8)
    style = np.where(((x // 6) % 2 == 0)[..., None], [240, 200, 20], [30, 20, 120]).astype(np.uint8)
    content_path, style_path = tmp_path / "street.jpg", tmp_path / "poster.png"
    Image.fromarray(content).save(content_path, quality=95)
    Image.fromarray(style).save(style_path)
    return content_path, style_path


def test_fast_stylize_writes_a_png_with_its_settings(
    capsys, pictures: tuple[Path, Path], tmp_path: Path
) -> None:
    content, style = pictures
    target = tmp_path / "out" / "result.png"
    code, out, err = run(
        capsys,
        "stylize",
        "--content",
        str(content),
        "--style",
        str(style),
        "--output",
        str(target),
        "--size",
        "200",
        "--strength",
        "0.8",
    )
    assert code == 0, err
    assert out.strip() == str(target)
    with Image.open(target) as image:
        assert image.size == (200, 150)
        request = StyleRequest.from_dict(json.loads(image.text[IMAGESTUDIO_KEY]))
        assert "in the style of poster.png (fast)" in image.text[STYLE_TEXT_KEY]
        # not where A1111 and other readers look for a generation prompt
        assert PARAMETERS_KEY not in image.text
    settings = read_settings(target)
    assert settings is not None and settings.request is not None
    assert settings.request["kind"] == "style" and settings.prompt == ""
    assert request.strength == 0.8 and request.content_image == str(content)
    with HistoryStore() as store:
        (row,) = store.recent()
    assert (row.kind, row.status, row.outputs) == ("style", "done", (str(target),))


def test_quality_stylize_to_the_outputs_folder(capsys, pictures: tuple[Path, Path]) -> None:
    content, style = pictures
    code, out, err = run(
        capsys,
        "stylize",
        "--content",
        str(content),
        "--style",
        str(style),
        "--mode",
        "quality",
        "--iterations",
        "6",
        "--size",
        "96",
        "--preserve-colors",
    )
    assert code == 0, err
    (path,) = sorted(app_paths().outputs_dir.glob("*.png"))
    assert out.strip() == str(path)
    assert "iteration 6/6" in err and "quality mode" in err
    with Image.open(path) as image:
        assert image.size == (96, 72)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--strength", "1.5"], "style strength must be between 0 and 1"),
        (["--size", "20"], "from 64 to 1024 pixels"),
        (["--mode", "quality", "--content-weight", "0", "--style-weight", "0"], "both 0"),
        (["--style", "{notimage}"], "notes.png is not an image ImageStudio can read"),
        (["--style", "{tmp}/missing.jpg"], "does not exist"),
        (["--output", "{tmp}/result.jpg"], "name the output 'result.png'"),
        (["--output", "{existing}"], "already exists"),
        (["--mode", "sketchy"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_file(
    capsys, pictures: tuple[Path, Path], tmp_path: Path, args: list[str], words: str
) -> None:
    notimage = tmp_path / "notes.png"
    notimage.write_text("text")
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"keep me")
    args = [a.format(notimage=notimage, existing=existing, tmp=tmp_path) for a in args]
    content, style = pictures
    base = ["stylize", "--content", str(content), "--style", str(style), "--size", "64"]
    code, out, err = run(capsys, *base, *args)
    assert code == cli.EXIT_BAD_INPUT
    assert words in one_error_line(err)
    assert out == ""
    assert existing.read_bytes() == b"keep me"
    outputs = app_paths().outputs_dir
    assert not outputs.exists() or not list(outputs.glob("*.png"))


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_ctrl_c_cancels_a_quality_run(pictures: tuple[Path, Path]) -> None:
    content, style = pictures
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imagestudio",
            "stylize",
            "--content",
            str(content),
            "--style",
            str(style),
            "--mode",
            "quality",
            "--iterations",
            "3000",
            "--size",
            "128",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    seen = ""
    while "iteration" not in seen:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        seen += proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    err = seen + err
    assert proc.returncode == cli.EXIT_CANCELLED, err
    assert "cancelling at the next iteration" in err and "no image was written" in err
    assert "Traceback" not in err and out == ""
    with HistoryStore() as store:
        assert [(row.kind, row.status) for row in store.recent()] == [("style", "cancelled")]
