"""`imagestudio generate --hires-*`: a two-pass picture at the bigger size; options refused in a
sentence when they make no job."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from imagestudio import cli
from tests.cli.test_cli import one_error_line, run


def test_hires_options_make_the_bigger_picture(capsys, tiny_model: Path, tmp_path: Path) -> None:
    target = tmp_path / "big.png"
    code, out, err = run(
        capsys,
        "generate",
        "a red circle",
        "--model",
        str(tiny_model),
        "--steps",
        "4",
        "--seed",
        "3",
        "--hires-scale",
        "2",
        "--hires-upscaler",
        "lanczos",
        "--hires-denoise",
        "0.5",
        "--hires-steps",
        "6",
        "--output",
        str(target),
    )
    assert code == cli.EXIT_OK, err
    assert out.strip() == str(target)
    assert "Hires fix: enlarging to 128x128" in err and "64x64 → 128x128" in err
    picture = Image.open(target)
    assert picture.size == (128, 128)
    text = picture.text["parameters"]
    assert "Size: 64x64" in text and "Denoising strength: 0.5" in text
    assert "Hires upscale: 2, Hires steps: 6, Hires upscaler: Lanczos" in text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--hires-denoise", "0.3"], "--hires-denoise belongs to hires fix: give --hires-scale"),
        (["--hires-upscaler", "latent"], "--hires-upscaler belongs to hires fix"),
        (["--hires-scale", "8"], "from 1.25 to 4"),
        (["--hires-scale", "2", "--hires-denoise", "2"], "from 0 (enlarge only) to 1"),
        (["--hires-scale", "2", "--hires-steps", "0"], "Hires steps must be"),
        (["--hires-scale", "2", "--hires-upscaler", "nope"], "No upscaler named 'nope'"),
        (["--hires-scale", "2", "--init", "start.png"], "Hires fix enlarges a text-to-image"),
    ],
)
def test_bad_hires_options_are_one_line(
    capsys, tiny_model: Path, args: list[str], words: str
) -> None:
    code, out, err = run(capsys, "generate", "x", "--model", str(tiny_model), *args)
    assert code in (cli.EXIT_BAD_INPUT, cli.EXIT_MODEL)
    assert words in one_error_line(err)
    assert out == ""
