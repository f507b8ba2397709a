"""`imagestudio inpaint` and `imagestudio outpaint`: pictures with A1111's inpaint keys; bad
input refused in one line, with nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from imagestudio import cli
from tests.cli.test_cli import one_error_line, run
from tests.core.generation.test_inpaint import H, W, mask_file, picture


def test_inpaint_and_outpaint_write_pictures(capsys, tiny_model: Path, tmp_path: Path) -> None:
    image, mask = picture(tmp_path / "p.png"), mask_file(tmp_path / "m.png")
    common = ["--model", str(tiny_model), "--steps", "3", "--seed", "2"]
    code, out, err = run(
        capsys,
        "inpaint",
        "a ball",
        "--image",
        str(image),
        "--mask",
        str(mask),
        "--area",
        "masked",
        "--fill",
        "noise",
        *common,
        "--output",
        str(tmp_path / "in.png"),
    )
    assert code == cli.EXIT_OK, err
    assert out.strip() == str(tmp_path / "in.png") and "inpainted, only masked" in err
    text = Image.open(tmp_path / "in.png").text["parameters"]
    assert "Inpaint area: Only masked" in text and "Masked content: latent noise" in text
    code, out, err = run(
        capsys,
        "outpaint",
        "sky",
        "--image",
        str(image),
        "--extend",
        "left=64,top=16",
        *common,
        "--output",
        str(tmp_path / "out.png"),
    )
    assert code == cli.EXIT_OK, err
    saved = Image.open(tmp_path / "out.png")
    assert saved.size == (W + 64, H + 16) and "Outpaint: left=64 top=16" in saved.text["parameters"]
    assert "Denoising strength: 1.0" in saved.text["parameters"]  # outpaint's default


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["inpaint", "x", "--mask", "{empty}"], "The mask is empty: paint the part to repaint"),
        (["inpaint", "x", "--mask", "{wide}"], "needs the picture's shape"),
        (["inpaint", "x", "--mask", "{missing}"], "does not exist"),
        (["inpaint", "x", "--mask", "{mask}", "--mask-blur", "80"], "from 0 to 64"),
        (["inpaint", "x", "--mask", "{mask}", "--padding", "600"], "from 0 to 512"),
        (["outpaint", "x", "--extend", "right=100"], "Try 104"),
        (["outpaint", "x", "--extend", "right=0"], "Extend at least one side"),
        (["outpaint", "x", "--extend", "right=2048"], "from 8 to 1024"),
        (["outpaint", "x", "--extend", "middle=64"], "not a side"),
    ],
)
def test_bad_input_is_one_line(
    capsys, tiny_model: Path, tmp_path: Path, args: list[str], words: str
) -> None:
    image = picture(tmp_path / "p.png")
    paths = {
        "mask": mask_file(tmp_path / "m.png"),
        "empty": mask_file(tmp_path / "e.png", box=(0, 0, 0, 0)),
        "wide": mask_file(tmp_path / "w.png", size=(W, 40)),
        "missing": tmp_path / "nope.png",
    }
    argv = [part.format(**paths) for part in args]
    code, out, err = run(
        capsys,
        *argv,
        "--image",
        str(image),
        "--model",
        str(tiny_model),
        "--steps",
        "2",
        "--output",
        str(tmp_path / "result.png"),
    )
    assert code in (cli.EXIT_BAD_INPUT, cli.EXIT_MODEL)
    assert words in one_error_line(err)
    assert out == "" and not (tmp_path / "result.png").exists()
