"""Every exit path of the command line, in process and as a real subprocess."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from imagestudio import cli
from imagestudio.core.outputs.history import HistoryStore
from imagestudio.core.outputs.metadata import read_settings
from imagestudio.core.paths import app_paths


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def outputs() -> list[Path]:
    folder = app_paths().outputs_dir
    return sorted(folder.glob("*.png")) if folder.exists() else []


def history_rows() -> list:
    with HistoryStore() as store:
        return store.recent()


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("imagestudio: error: ")
    return lines[0]


def test_generate_writes_a_png_with_settings(capsys, tiny_model: Path) -> None:
    code, out, err = run(
        capsys,
        "generate",
        "a red circle",
        "--model",
        str(tiny_model),
        "--steps",
        "3",
        "--seed",
        "11",
        "--cfg",
        "5",
        "--negative",
        "green",
    )
    assert code == 0, err
    (path,) = outputs()
    assert out.strip() == str(path)
    assert "_11_a-red-circle.png" in path.name
    settings = read_settings(path)
    assert (settings.prompt, settings.negative_prompt, settings.seed) == (
        "a red circle",
        "green",
        11,
    )
    assert settings.cfg_scale == 5 and settings.steps == 3
    assert "step 3/3" in err and "done in" in err
    (row,) = history_rows()
    assert row.status == "done" and row.outputs == (str(path),)


def test_output_file_and_count(capsys, tiny_model: Path, tmp_path: Path) -> None:
    target = tmp_path / "new" / "fox.png"
    code, out, err = run(
        capsys,
        "generate",
        "fox",
        "--model",
        str(tiny_model),
        "--steps",
        "2",
        "--count",
        "2",
        "--seed",
        "1",
        "--output",
        str(target),
    )
    assert code == 0, err
    assert out.split() == [str(tmp_path / "new" / "fox-1.png"), str(tmp_path / "new" / "fox-2.png")]
    assert read_settings(tmp_path / "new" / "fox-2.png").seed == 2


def test_output_folder_and_previews(capsys, tiny_model: Path, tmp_path: Path) -> None:
    folder, previews = tmp_path / "outdir", tmp_path / "previews"
    code, _out, err = run(
        capsys,
        "generate",
        "fox",
        "--model",
        str(tiny_model),
        "--steps",
        "4",
        "--output",
        str(folder) + os.sep,
        "--previews",
        str(previews),
        "--size",
        "64x128",
    )
    assert code == 0, err
    (path,) = folder.glob("*.png")
    assert Image.open(path).size == (64, 128)
    frames = sorted(previews.glob("step_*.png"))
    assert [f.name for f in frames] == [f"step_{i:03d}.png" for i in range(1, 5)]
    assert Image.open(frames[0]).size == (32, 64)


def test_img2img(capsys, tiny_model: Path, tmp_path: Path) -> None:
    init = tmp_path / "init.png"
    Image.new("RGB", (64, 64), "orange").save(init)
    code, out, err = run(
        capsys,
        "generate",
        "fox",
        "--model",
        str(tiny_model),
        "--init",
        str(init),
        "--strength",
        "0.5",
        "--steps",
        "4",
    )
    assert code == 0, err
    assert read_settings(Path(out.strip())).denoising_strength == 0.5


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--size", "500x500"], "multiple of 8"),
        (["--size", "big"], "WIDTHxHEIGHT"),
        (["--steps", "0"], "from 1 to 150"),
        (["--steps", "many"], "not a whole number"),
        (["--cfg", "50"], "between 0 and 30"),
        (["--count", "40"], "from 1 to 16"),
        (["--seed", "-3"], "seed must be"),
        (["--scheduler", "warp"], "Unknown scheduler"),
        (["--strength", "2", "--init", "{init}"], "strength"),
        (["--init", "/no/such.png"], "does not exist"),
        (["--init", "{notimage}"], "not an image"),
        (["--output", "{existing}"], "never overwrites"),
        (["--output", "{tmp}/x.jpg"], "name the output 'x.png'"),
        (["--previews", "{existing}"], "needs a folder"),
        (["--bogus"], "unrecognized arguments"),
        (["--clip-skip", "13"], "Clip skip must be"),
        (["--variation-strength", "0.5"], "needs a variation seed"),
        (["--variation-seed", "3", "--variation-strength", "2"], "from 0 to 1"),
        (["fox __nosuchlist__"], "no wildcard file"),
        (["{{red|green"], "could not be read"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_file(
    capsys, tiny_model: Path, tmp_path: Path, args: list[str], words: str
) -> None:
    init = tmp_path / "init.png"
    Image.new("RGB", (64, 64)).save(init)
    notimage = tmp_path / "notes.png"
    notimage.write_text("text")
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"keep me")
    args = [a.format(init=init, notimage=notimage, existing=existing, tmp=tmp_path) for a in args]
    prompt = "fox"
    if args and not args[0].startswith("--"):  # a prompt of its own
        prompt, args = args[0], args[1:]
    code, out, err = run(
        capsys, "generate", prompt, "--model", str(tiny_model), "--steps", "2", *args
    )
    assert code == cli.EXIT_BAD_INPUT
    assert words in one_error_line(err)
    assert outputs() == [] and out == ""
    assert existing.read_bytes() == b"keep me"


def test_model_problems_exit_3(capsys, tiny_model: Path, tmp_path: Path, monkeypatch) -> None:
    code, _, err = run(capsys, "generate", "fox", "--model", str(tmp_path / "missing"))
    assert code == cli.EXIT_MODEL and "There is no model at" in one_error_line(err)
    # an installation whose resources lack the built-in model (a broken bundle, say)
    monkeypatch.setenv("IMAGESTUDIO_RESOURCES", str(tmp_path / "no-resources"))
    code, _, err = run(capsys, "generate", "fox")
    assert code == cli.EXIT_MODEL and "--model" in one_error_line(err)
    monkeypatch.delenv("IMAGESTUDIO_RESOURCES")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    for weights in broken.rglob("*.safetensors"):
        weights.write_bytes(b"\0" * 10)
    code, _, err = run(capsys, "generate", "fox", "--model", str(broken))
    assert code == cli.EXIT_MODEL
    assert "Could not load the model" in err and "Traceback" not in err
    assert outputs() == []
    assert [r.status for r in history_rows()] == ["failed"] * 3


def test_model_by_name_from_the_models_folder(capsys, tiny_model: Path) -> None:
    shutil.copytree(tiny_model, app_paths().models_dir / "tiny")
    code, _, err = run(capsys, "generate", "fox", "--model", "tiny", "--steps", "2")
    assert code == 0, err
    code, out, _ = run(capsys, "info")
    assert code == 0 and "tiny [custom SD-type model]" in out


def test_history_commands(capsys, tiny_model: Path) -> None:
    code, out, _ = run(capsys, "history")
    assert code == 0 and "No history yet." in out
    for prompt in ("a blue square", "a green triangle"):
        assert run(capsys, "generate", prompt, "--model", str(tiny_model), "--steps", "2")[0] == 0
    code, out, _ = run(capsys, "history", "list")
    assert code == 0 and out.index("a green triangle") < out.index("a blue square")
    code, out, _ = run(capsys, "history", "search", "squ")
    assert "a blue square" in out and "triangle" not in out
    code, out, _ = run(capsys, "history", "search", "zebra")
    assert "No matching history." in out
    job_id = history_rows()[0].id
    code, out, _ = run(capsys, "history", "show", str(job_id))
    assert code == 0 and "a green triangle" in out and "output:" in out
    assert run(capsys, "history", "favourite", str(job_id))[0] == 0
    code, out, _ = run(capsys, "history", "list", "--favourites")
    assert "a green triangle" in out and "square" not in out
    assert run(capsys, "history", "delete", str(job_id))[0] == 0
    code, _, err = run(capsys, "history", "show", str(job_id))
    assert code == cli.EXIT_FAILED and f"No history entry #{job_id}" in one_error_line(err)


def test_info_shows_device_and_reason(capsys) -> None:
    code, out, _ = run(capsys, "info")
    assert code == 0
    assert "device: " in out and "why: " in out
    assert "all under IMAGESTUDIO_HOME" in out
    assert "built-in starter model: installed" in out


def test_bad_device_setting_is_reported(capsys, monkeypatch) -> None:
    monkeypatch.setenv("IMAGESTUDIO_DEVICE", "tpu")
    code, _, _err = run(capsys, "generate", "fox", "--model", "x", "--steps", "2")
    assert code == cli.EXIT_MODEL or code == cli.EXIT_BAD_INPUT
    code, out, _ = run(capsys, "info")
    assert code == 0 and "cannot be used" in out


def test_help_lists_the_commands(capsys) -> None:
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("generate", "history", "info", "bench"))


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "imagestudio", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


def test_subprocess_bad_input_has_no_traceback() -> None:
    proc = _spawn("generate", "fox", "--size", "100x100")
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert one_error_line(err).endswith("Use 96 or 104 instead.")


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_ctrl_c_cancels_cleanly(tiny_model: Path, tmp_path: Path) -> None:
    previews = tmp_path / "previews"
    proc = _spawn(
        "generate",
        "fox",
        "--model",
        str(tiny_model),
        "--steps",
        "150",
        "--size",
        "256x256",
        "--previews",
        str(previews),
    )
    deadline = time.monotonic() + 120
    while not (previews / "step_001.png").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == cli.EXIT_CANCELLED, err
    assert "cancelling at the next step" in err and "no image was written" in err
    assert "Traceback" not in err and out == ""
    assert len(list(previews.glob("*.png"))) < 150
    assert outputs() == []
    (row,) = history_rows()
    assert row.status == "cancelled"
