"""One odd file in the models folder, the LoRA folder or the Hugging Face cache marks that entry
only; the safetensors header reader lets only ModelError out, whatever the bytes."""

from __future__ import annotations

import contextlib
import json
import shutil
import struct
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagestudio import cli
from imagestudio.core.errors import ModelError
from imagestudio.core.models.checkpoints import read_header
from imagestudio.core.models.library import resolve_model, scan_library
from imagestudio.core.paths import app_paths
from tests.cli.test_cli import run
from tests.conftest import FUZZ_EXAMPLES


def safetensors_with_header(path: Path, header: bytes, body: bytes = b"") -> Path:
    path.write_bytes(struct.pack("<Q", len(header)) + header + body)
    return path


DEEP = b"[" * 100_000 + b"]" * 100_000
BAD_FILES = {
    "deep header": DEEP,
    "deep in object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "offsets outside": json.dumps(
        {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 10**9]}}
    ).encode(),
    "offsets backwards": json.dumps(
        {"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}
    ).encode(),
    "huge numbers": json.dumps(
        {"w": {"dtype": "F32", "shape": [10**400], "data_offsets": [0, 0]}}
    ).encode(),
    "negative shape": json.dumps(
        {"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}
    ).encode(),
    "metadata not an object": b'{"__metadata__": [1]}',
    "entry not an object": b'{"w": 5}',
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_headers_are_model_errors(tmp_path: Path, name: str) -> None:
    path = safetensors_with_header(tmp_path / "x.safetensors", BAD_FILES[name], b"\0" * 16)
    with pytest.raises(ModelError) as caught:
        read_header(path)
    assert "index out of range" not in str(caught.value) and str(caught.value).endswith(".")


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(header=st.binary(max_size=2000), body=st.binary(max_size=64))
def test_any_header_bytes(tmp_path: Path, header: bytes, body: bytes) -> None:
    path = safetensors_with_header(tmp_path / "x.safetensors", header, body)
    started = time.perf_counter()
    with contextlib.suppress(ModelError):
        read_header(path)
    assert time.perf_counter() - started < 0.5


def test_one_bad_file_anywhere_marks_only_that_entry(
    capsys, tmp_path: Path, tiny_model: Path
) -> None:
    models = app_paths().models_dir
    (models / "loras").mkdir(parents=True)
    shutil.copytree(tiny_model, models / "good")
    for name, header in BAD_FILES.items():
        safetensors_with_header(models / f"{name.replace(' ', '-')}.safetensors", header)
    safetensors_with_header(models / "loras" / "broken-lora.safetensors", DEEP)
    deep_folder = models / "deep-folder"
    shutil.copytree(tiny_model, deep_folder)
    (deep_folder / "model_index.json").write_bytes(b'{"a":' * 50_000 + b"1" + b"}" * 50_000)
    weird = models / "weird-configs"
    shutil.copytree(tiny_model, weird)
    (weird / "vae" / "config.json").write_text('{"block_out_channels": 5, "sample_size": "x"}')
    # and the Hugging Face cache
    snapshot = tmp_path / "hf" / "hub" / "models--evil--deep" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    safetensors_with_header(snapshot / "model.safetensors", DEEP)

    entries = {e.name: e for e in scan_library(models, tmp_path / "hf" / "hub")}
    assert entries["good"].usable
    usable = [n for n, e in entries.items() if e.usable]
    assert usable == ["starter", "good", "weird-configs"]  # odd values: refused when loaded
    assert resolve_model("good", models).name == "good"

    code, out, err = run(capsys, "models", "list", "--all")
    assert code == cli.EXIT_OK and "good" in out and "Traceback" not in out + err
    code, out, err = run(capsys, "models", "info", "deep-header")
    assert code == cli.EXIT_MODEL and "cannot load" in out
    code, out, err = run(
        capsys, "generate", "a cat", "--model", "good", "--steps", "1", "--lora", "broken-lora"
    )
    assert code == cli.EXIT_MODEL and "not a valid safetensors" in err
    code, out, err = run(capsys, "generate", "a cat", "--model", "good", "--steps", "1")
    assert code == cli.EXIT_OK, err
    code, out, err = run(capsys, "generate", "a cat", "--model", "weird-configs", "--steps", "1")
    assert code == cli.EXIT_MODEL and "Traceback" not in err and len(err.splitlines()) <= 2
