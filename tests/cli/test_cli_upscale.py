"""`imagestudio upscale`: a picture in, a bigger one out with its settings; bad input refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from safetensors.torch import save_file

from imagestudio import cli
from imagestudio.core.paths import app_paths
from tests.cli.test_cli import one_error_line, run
from tests.core.upscale.test_upscale import picture, tiny_compact


def test_upscale_writes_a_bigger_picture_and_lists_upscalers(capsys, tmp_path: Path) -> None:
    folder = app_paths().models_dir / "upscalers"
    folder.mkdir(parents=True)
    save_file(tiny_compact(2), str(folder / "tiny-x2.safetensors"))
    source = picture(tmp_path / "in.png")
    target = tmp_path / "out.png"
    code, out, err = run(
        capsys,
        "upscale",
        str(source),
        "--upscaler",
        "tiny-x2",
        "--scale",
        "2",
        "--output",
        str(target),
    )
    assert code == cli.EXIT_OK, err
    assert out.strip() == str(target) and "tile" in err
    assert Image.open(target).size == (160, 112)
    assert "Postprocess upscaler: tiny-x2" in Image.open(target).text["postprocessing"]
    code, out, _ = run(capsys, "models", "list")
    assert code == cli.EXIT_OK
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "×2" in rows["tiny-x2"] and "RealESRGAN Compact" in rows["tiny-x2"]
    assert "×4" in rows["realesrgan-x4plus"] and "built in" in rows["realesrgan-x4plus"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--scale", "9"], "from 1.25 to 8"),
        (["--scale", "1"], "from 1.25 to 8"),
        (["--tile", "16"], "from 32 to 2048"),
        (["--upscaler", "nope"], "No upscaler named 'nope'"),
    ],
)
def test_bad_input_is_one_line(capsys, tmp_path: Path, args: list[str], words: str) -> None:
    source = picture(tmp_path / "in.png")
    code, out, err = run(capsys, "upscale", str(source), *args)
    assert code in (cli.EXIT_BAD_INPUT, cli.EXIT_MODEL)
    assert words in one_error_line(err)
    assert out == ""
