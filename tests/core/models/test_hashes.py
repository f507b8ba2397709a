"""A1111's Model hash and Lora hashes: the right digests, computed once per file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from imagestudio.core.models import hashes
from imagestudio.core.models.hashes import lora_hash, model_hash


def _safetensors(path: Path, metadata: dict[str, str] | None = None) -> Path:
    save_file({"w": torch.arange(64, dtype=torch.float32)}, str(path), metadata=metadata)
    return path


def test_model_hash_is_the_file_sha256_and_lora_hash_skips_the_header(tmp_path: Path) -> None:
    path = _safetensors(tmp_path / "m.safetensors")
    data = path.read_bytes()
    assert model_hash(path, tmp_path / "cache") == hashlib.sha256(data).hexdigest()[:10]
    header = 8 + int.from_bytes(data[:8], "little")
    assert lora_hash(path, tmp_path / "cache") == hashlib.sha256(data[header:]).hexdigest()[:12]
    # the header's metadata (a title, a trigger word) is not part of a LoRA's hash
    other = _safetensors(tmp_path / "renamed.safetensors", {"ss_output_name": "something else"})
    assert lora_hash(other, tmp_path / "cache") == lora_hash(path, tmp_path / "cache")
    assert model_hash(other, tmp_path / "cache") != model_hash(path, tmp_path / "cache")


def test_hashes_are_cached_until_the_file_changes(tmp_path: Path, monkeypatch) -> None:
    path = _safetensors(tmp_path / "m.safetensors")
    cache = tmp_path / "cache"
    first = model_hash(path, cache)
    saved = json.loads((cache / hashes.CACHE_NAME).read_text())
    assert saved[str(path.resolve())]["sha256"].startswith(first)

    def refuse(*_args):
        raise AssertionError("hashed again")

    monkeypatch.setattr(hashes, "_sha256", refuse)
    assert model_hash(path, cache) == first  # from the cache
    monkeypatch.undo()
    _safetensors(path, {"changed": "yes"})
    os.utime(path, ns=(1, 1))
    assert model_hash(path, cache) != first


@pytest.mark.parametrize("damage", [b"", b"{not json", b"[1, 2]", b'{"x": 5}'])
def test_a_damaged_cache_is_rebuilt(tmp_path: Path, damage: bytes) -> None:
    path = _safetensors(tmp_path / "m.safetensors")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / hashes.CACHE_NAME).write_bytes(damage)
    assert model_hash(path, cache) == hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def test_folders_and_missing_or_truncated_files_have_no_hash(tmp_path: Path) -> None:
    assert model_hash(tmp_path, tmp_path / "cache") is None
    assert lora_hash(tmp_path / "gone.safetensors", tmp_path / "cache") is None
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"\x01")
    assert lora_hash(short, tmp_path / "cache") is None  # no header to skip: not readable


def test_a_single_file_models_picture_names_its_model_hash(tmp_path: Path) -> None:
    from imagestudio.core.generation.engine import GenerationResult
    from imagestudio.core.generation.job import lora_files, model_hashes, parameters_text
    from imagestudio.core.requests import GenerationRequest

    checkpoint = _safetensors(tmp_path / "dreamy.safetensors")
    result = GenerationResult(
        request=GenerationRequest(prompt="a kite", loras=(("gone", 0.5),)),
        images=[None],
        seeds=[3],
        width=64,
        height=64,
        scheduler="Euler",
        model_name="dreamy",
        model_path=str(checkpoint),
        family="sd15",
        device="cpu",
        duration=1.0,
        load_seconds=0.0,
    )
    files = lora_files(result.request, tmp_path / "models")
    assert files == {}
    found = model_hashes(result, files, tmp_path / "cache")
    # the LoRA file is gone: its tag is still written, without a hash
    assert found == {"Model hash": hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:10]}
    text = parameters_text(result, 0, found)
    assert f"Model hash: {found['Model hash']}, " in text and "<lora:gone:0.5>" in text
