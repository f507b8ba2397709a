"""`imagestudio pnginfo`: another tool's settings, on the command line as in the window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from imagestudio import cli

A1111 = (
    "a heron, <lora:ink-wash:0.8>\nNegative prompt: blurry\n"
    "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 12, "
    "Size: 512x768, Model: dreamshaper_8"
)


def _picture(path: Path, text: str) -> Path:
    info = PngInfo()
    info.add_text("parameters", text)
    Image.new("RGB", (16, 16)).save(path, pnginfo=info)
    return path


def test_pnginfo_prints_the_settings_and_our_sampler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _picture(tmp_path / "a.png", A1111)
    assert cli.main(["pnginfo", str(path)]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert "Read from: a1111" in lines and "Prompt: a heron" in lines
    assert "Our sampler: DPM++ 2M Karras" in lines and "LoRAs: ink-wash 0.8" in lines
    assert "Size: 512x768" in lines and "Model: dreamshaper_8" in lines
    assert err == ""

    assert cli.main(["pnginfo", str(path), "--json"]) == cli.EXIT_OK
    data = json.loads(capsys.readouterr().out)
    assert data["scheduler"] == "DPM++ 2M Karras" and data["loras"] == [["ink-wash", 0.8]]
    assert data["denoising_strength"] is None  # text-to-image


def test_pnginfo_says_what_has_no_match_and_what_is_not_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _picture(tmp_path / "b.png", A1111.replace("DPM++ 2M", "DPM adaptive"))
    assert cli.main(["pnginfo", str(path)]) == cli.EXIT_OK
    assert "DPM adaptive (Karras), has no match here" in capsys.readouterr().err
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    assert cli.main(["pnginfo", str(plain)]) == cli.EXIT_FAILED
    assert "carries no generation settings" in capsys.readouterr().err
    assert cli.main(["pnginfo", str(tmp_path / "gone.png")]) == cli.EXIT_BAD_INPUT
    assert "does not exist" in capsys.readouterr().err


def test_a_reader_that_goes_away_is_no_error(tmp_path: Path) -> None:
    """`imagestudio pnginfo X | head -1`: the pipe closes early; no traceback, no error line."""
    # more than a pipe holds, so that writing goes on after the reader has gone
    path = _picture(tmp_path / "c.png", A1111.replace("a heron", "a heron\n" + "word " * 60_000))
    proc = subprocess.Popen(
        [sys.executable, "-m", "imagestudio", "pnginfo", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # as `head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert "Error" not in err and "error" not in err, err
