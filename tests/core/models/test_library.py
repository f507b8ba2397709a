"""The model library: the models folder, the Hugging Face cache layout, import, resolve."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from imagestudio.core.errors import ModelError
from imagestudio.core.models.library import (
    resolve_model,
    scan_hf_cache,
    scan_library,
    scan_models_folder,
)
from imagestudio.core.requests import BUILTIN_MODEL, GenerationRequest

LORA = {
    "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 32),
    "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(32, 4),
}


def make_hf_cache(cache: Path, repo_id: str, model: Path) -> Path:
    """Lay `model` out as huggingface_hub does: blobs named by hash, snapshots of symlinks."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    revision = "0123456789abcdef0123456789abcdef01234567"
    snapshot = repo / "snapshots" / revision
    for path in sorted(model.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / path.relative_to(model)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def test_models_folder_lists_folders_files_loras_and_refusals(tmp_path: Path, tiny_model: Path):
    models = tmp_path / "models"
    shutil.copytree(tiny_model, models / "tiny")
    shutil.copytree(tiny_model, models / "sd15" / "nested-tiny")
    (models / "loras").mkdir()
    save_file(LORA, str(models / "loras" / "ink.safetensors"))
    (models / "old.ckpt").write_bytes(b"not opened")
    (models / "notes.txt").write_text("ignored")
    save_file({"x": torch.zeros(2)}, str(models / "random.safetensors"))
    (models / ".partial").mkdir()
    shutil.copytree(tiny_model, models / ".partial" / "half")

    entries = {e.name: e for e in scan_models_folder(models)}
    assert set(entries) == {"tiny", "sd15/nested-tiny", "loras/ink", "old", "random"}
    tiny = entries["tiny"]
    assert tiny.usable and tiny.ref.layout == "folder" and tiny.precision == "fp32"
    assert tiny.size_bytes > 100_000
    assert entries["loras/ink"].role == "lora" and not entries["loras/ink"].usable
    assert "pickle" in (entries["old"].problem or "")
    assert "do not look like" in (entries["random"].problem or "")
    library = scan_library(models)
    assert library[0].ref.builtin and library[0].label() == "Starter (built in)"


def test_hf_cache_is_listed_read_only_and_loads(tmp_path: Path, tiny_model: Path, engine):
    cache = tmp_path / "hf" / "hub"
    snapshot = make_hf_cache(cache, "someone/tiny-sd", tiny_model)
    # a repo that is not a pipeline (a text encoder, an LLM) is skipped
    other = cache / "models--someone--llm" / "snapshots" / "abc"
    other.mkdir(parents=True)
    (other / "config.json").write_text("{}")
    before = sorted(p.name for p in cache.rglob("*"))

    [entry] = scan_hf_cache(cache)
    assert entry.name == "someone/tiny-sd" and entry.ref.source == "hf_cache"
    assert entry.ref.path == snapshot and entry.usable
    assert entry.size_bytes > 100_000  # the blobs' sizes, not the symlinks'
    ref = resolve_model("someone/tiny-sd", tmp_path / "models", cache)
    assert ref.path == snapshot

    engine.hf_cache = cache
    try:
        result = engine.generate(
            GenerationRequest(prompt="a cat", model="someone/tiny-sd", steps=2, seed=1),
            previews=False,
        )
    finally:
        engine.hf_cache = None
    assert result.images[0].size == (64, 64)
    assert sorted(p.name for p in cache.rglob("*")) == before  # nothing written to the cache


def test_fp16_variant_folders_load(tmp_path: Path, tiny_model: Path, engine):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(tiny_model, local_files_only=True)
    folder = tmp_path / "models" / "halves"
    pipe.to(torch.float16).save_pretrained(folder, variant="fp16")
    [entry] = scan_models_folder(tmp_path / "models")
    assert entry.ref.variant == "fp16" and entry.precision == "fp16" and entry.usable
    result = engine.generate(
        GenerationRequest(prompt="a cat", model=str(folder), steps=2, seed=1), previews=False
    )
    assert result.images


def test_pickle_weights_in_a_folder_are_refused_with_the_fix(tmp_path: Path, tiny_model: Path):
    folder = tmp_path / "models" / "old-style"
    shutil.copytree(tiny_model, folder)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    [entry] = scan_models_folder(tmp_path / "models")
    assert entry.problem and "pickle" in entry.problem and "models convert" in entry.problem
    with pytest.raises(ModelError, match="pickle"):
        resolve_model("old-style", tmp_path / "models")


def test_folder_problems_are_sentences(tmp_path: Path, tiny_model: Path):
    models = tmp_path / "models"
    refiner = models / "refiner"
    shutil.copytree(tiny_model, refiner)
    index = json.loads((refiner / "model_index.json").read_text())
    index["_class_name"] = "StableDiffusionXLImg2ImgPipeline"
    del index["text_encoder"]
    (refiner / "model_index.json").write_text(json.dumps(index))
    flux = models / "flux"
    flux.mkdir()
    (flux / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    inpaint = models / "inpaint"
    shutil.copytree(tiny_model, inpaint)
    config = json.loads((inpaint / "unet" / "config.json").read_text())
    config["in_channels"] = 9
    (inpaint / "unet" / "config.json").write_text(json.dumps(config))
    broken = models / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text("{not json")
    problems = {e.name: e.problem for e in scan_models_folder(models)}
    assert "refiner" in (problems["refiner"] or "")
    assert "FluxPipeline" in (problems["flux"] or "")
    assert problems["inpaint"] is None  # a dedicated inpainting model: it loads
    details = {e.name: e.detail for e in scan_models_folder(models)}
    assert details["inpaint"] == "inpainting"
    assert "damaged" in (problems["broken"] or "")


def test_resolve_by_name_path_and_unknown(tmp_path: Path, tiny_model: Path):
    models = tmp_path / "models"
    shutil.copytree(tiny_model, models / "tiny")
    assert resolve_model("tiny", models).path == models / "tiny"
    assert resolve_model(str(tiny_model), models).path == tiny_model.resolve()
    assert resolve_model(BUILTIN_MODEL, models).builtin
    with pytest.raises(ModelError, match=r"No model named 'nope'.*tiny"):
        resolve_model("nope", models)
    with pytest.raises(ModelError, match="There is no model at"):
        resolve_model("./missing-folder", models)
    save_file(LORA, str(models / "ink.safetensors"))
    with pytest.raises(ModelError, match="is a LoRA"):
        resolve_model("ink", models)


def test_single_file_repos_in_the_hf_cache_are_listed(tmp_path: Path) -> None:
    from tests.modelfiles import build_random_family, to_single_file

    folder = build_random_family(tmp_path / "f", "sd1", "tiny")
    repo = tmp_path / "repo"
    repo.mkdir()
    to_single_file(folder, repo / "dreamy-v2.safetensors", "sd1")
    save_file(LORA, str(repo / "extra-lora.safetensors"))  # not a checkpoint: left out
    (repo / "README.md").write_text("model card")
    cache = tmp_path / "hub"
    make_hf_cache(cache, "artist/dreamy", repo)
    [entry] = scan_hf_cache(cache)
    assert entry.name == "artist/dreamy/dreamy-v2" and entry.ref.layout == "single_file"
    assert entry.ref.family == "sd1" and entry.usable
    assert resolve_model("artist/dreamy/dreamy-v2", tmp_path / "models", cache) == entry.ref
