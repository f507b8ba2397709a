"""LoRA files (diffusers/PEFT and kohya layouts) applied to a tiny model, weighted and removed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from imagestudio.core.errors import InvalidRequest, ModelError
from imagestudio.core.requests import GenerationRequest, parse_lora


def _attention_linears(tiny_model: Path) -> dict[str, tuple[int, int]]:
    """name -> (in, out) of the tiny UNet's attention projections."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(tiny_model / "unet")
    found = {}
    for name, module in unet.named_modules():
        if isinstance(module, torch.nn.Linear) and name.endswith(
            ("to_q", "to_k", "to_v", "to_out.0")
        ):
            found[name] = (module.in_features, module.out_features)
    return found


def write_lora(path: Path, tiny_model: Path, style: str, seed: int = 0, rank: int = 4) -> Path:
    gen = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    for name, (fan_in, fan_out) in _attention_linears(tiny_model).items():
        down = torch.randn(rank, fan_in, generator=gen) * 0.5
        up = torch.randn(fan_out, rank, generator=gen) * 0.5
        if style == "peft":
            tensors[f"unet.{name}.lora_A.weight"] = down
            tensors[f"unet.{name}.lora_B.weight"] = up
        else:  # kohya / A1111
            key = "lora_unet_" + name.replace(".", "_")
            tensors[f"{key}.lora_down.weight"] = down
            tensors[f"{key}.lora_up.weight"] = up
            tensors[f"{key}.alpha"] = torch.tensor(float(rank))
    save_file(tensors, str(path))
    return path


@pytest.fixture(scope="module")
def loras(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with loras/ink (PEFT keys) and loras/chalk (kohya keys)."""
    models = tmp_path_factory.mktemp("lora-models")
    (models / "loras").mkdir()
    write_lora(models / "loras" / "ink.safetensors", tiny_model, "peft", seed=1)
    write_lora(models / "loras" / "chalk.safetensors", tiny_model, "kohya", seed=2)
    return models


@pytest.fixture
def lora_engine(loras: Path, cpu, tmp_path: Path):
    from imagestudio.core.generation.engine import Engine

    return Engine(device=cpu, models_dir=loras, cache_dir=tmp_path / "cache")


def _image(engine, tiny_model: Path, **changes) -> np.ndarray:
    request = GenerationRequest(prompt="a fox", model=str(tiny_model), steps=3, seed=5)
    result = engine.generate(request.replace(**changes), previews=False)
    return np.asarray(result.images[0], dtype=np.int16)


def test_lora_changes_the_picture_and_comes_off_cleanly(lora_engine, tiny_model: Path) -> None:
    bare = _image(lora_engine, tiny_model)
    inked = _image(lora_engine, tiny_model, loras=(("ink", 1.0),))
    assert np.abs(inked - bare).mean() > 2
    half = _image(lora_engine, tiny_model, loras=(("ink", 0.5),))
    assert 0 < np.abs(half - bare).mean() < np.abs(inked - bare).mean()
    assert np.array_equal(_image(lora_engine, tiny_model, loras=(("ink", 0.0),)), bare)
    # removed: the bare model's picture again, to the pixel
    assert np.array_equal(_image(lora_engine, tiny_model), bare)
    # and back on, without loading the file again
    loaded = dict(lora_engine._loaded.loras.loaded)
    assert np.array_equal(_image(lora_engine, tiny_model, loras=(("ink", 1.0),)), inked)
    assert lora_engine._loaded.loras.loaded == loaded


def test_kohya_layout_and_two_loras_at_once(lora_engine, tiny_model: Path) -> None:
    bare = _image(lora_engine, tiny_model)
    chalk = _image(lora_engine, tiny_model, loras=(("chalk", 1.0),))
    both = _image(lora_engine, tiny_model, loras=(("chalk", 1.0), ("ink", 1.0)))
    assert np.abs(chalk - bare).mean() > 2
    assert np.abs(both - chalk).mean() > 2


def test_lora_by_path_and_refusals(lora_engine, tiny_model: Path, loras: Path, tmp_path: Path):
    by_path = _image(
        lora_engine, tiny_model, loras=((str(loras / "loras" / "ink.safetensors"), 1),)
    )
    assert np.array_equal(by_path, _image(lora_engine, tiny_model, loras=(("ink", 1.0),)))
    with pytest.raises(ModelError, match="No LoRA named 'nope'"):
        _image(lora_engine, tiny_model, loras=(("nope", 1.0),))
    not_lora = tmp_path / "weights.safetensors"
    save_file({"x": torch.zeros(3)}, str(not_lora))
    with pytest.raises(ModelError, match="is not a LoRA"):
        _image(lora_engine, tiny_model, loras=((str(not_lora), 1.0),))
    pickle_lora = tmp_path / "old.pt"
    pickle_lora.write_bytes(b"\x80\x04")
    with pytest.raises(ModelError, match="pickle"):
        _image(lora_engine, tiny_model, loras=((str(pickle_lora), 1.0),))
    # a LoRA for a wider model (an SDXL LoRA on an SD 1.5 model, say)
    wide = tmp_path / "wide.safetensors"
    name = next(iter(_attention_linears(tiny_model)))
    save_file(
        {
            f"unet.{name}.lora_A.weight": torch.zeros(4, 640),
            f"unet.{name}.lora_B.weight": torch.zeros(640, 4),
        },
        str(wide),
    )
    with pytest.raises(ModelError, match=r"does not fit|changed nothing"):
        _image(lora_engine, tiny_model, loras=((str(wide), 1.0),))
    # the engine is still fine, and the bare model still gives the bare picture
    assert _image(lora_engine, tiny_model).shape == (64, 64, 3)


def test_lora_list_is_validated_in_the_request() -> None:
    base = GenerationRequest(prompt="x")
    assert base.replace(loras=[["ink", 1]]).loras == (("ink", 1.0),)
    with pytest.raises(InvalidRequest, match="from -4 to 4"):
        base.replace(loras=(("ink", 9.0),))
    with pytest.raises(InvalidRequest, match="twice"):
        base.replace(loras=(("ink", 1.0), ("ink", 0.5)))
    with pytest.raises(InvalidRequest, match="no name"):
        base.replace(loras=(("  ", 1.0),))
    with pytest.raises(InvalidRequest, match="At most 8"):
        base.replace(loras=tuple((f"l{i}", 1.0) for i in range(9)))
    assert GenerationRequest.from_dict(base.replace(loras=(("ink", 0.5),)).to_dict()).loras == (
        ("ink", 0.5),
    )
    assert parse_lora("ink:0.7") == ("ink", 0.7)
    assert parse_lora("ink") == ("ink", 1.0)
    assert parse_lora(r"C:\loras\ink.safetensors") == (r"C:\loras\ink.safetensors", 1.0)
    assert parse_lora("/x/ink.safetensors:-0.5") == ("/x/ink.safetensors", -0.5)


def test_a_lora_job_writes_its_tags_and_hashes_for_other_tools(
    lora_engine, tiny_model: Path, loras: Path, tmp_path: Path
) -> None:
    """A1111, Civitai and other readers know our LoRAs only from `<lora:>` tags and hashes."""
    import hashlib
    import json

    from PIL import Image

    from imagestudio.core.generation.job import DIFFUSION
    from imagestudio.core.jobs import run_job
    from imagestudio.core.outputs.metadata import parse_parameters, read_settings
    from imagestudio.core.workspace import EngineConfig, Workspace

    config = EngineConfig(
        models_dir=loras, cache_dir=lora_engine.cache_dir, outputs_dir=tmp_path / "out"
    )
    request = GenerationRequest(
        prompt="a fox", model=str(tiny_model), steps=2, seed=5, loras=(("ink", 0.7),)
    )
    outcome = run_job(request, Workspace(config, None, engines={DIFFUSION: lora_engine}))
    (path,) = outcome.files
    text = Image.open(path).text["parameters"]
    assert text.splitlines()[0] == "a fox <lora:ink:0.7>"
    data = (loras / "loras" / "ink.safetensors").read_bytes()
    tensors = data[8 + int.from_bytes(data[:8], "little") :]
    # quoted, as A1111 writes it: the value holds a colon
    assert f'Lora hashes: "ink: {hashlib.sha256(tensors).hexdigest()[:12]}"' in text
    assert "Model hash" not in text  # a folder model: A1111 hashes single files only
    # other readers take the tags out again; ours reads the request
    assert parse_parameters(text).loras == (("ink", 0.7),)
    assert parse_parameters(text).prompt == "a fox"
    assert read_settings(path).loras == (("ink", 0.7),)
    # ComfyUI loads its `prompt` graph before any A1111 text: it holds the same job
    from imagestudio.core.outputs import comfyui

    graph = json.loads(Image.open(path).text["prompt"])
    fields = comfyui.settings_fields(graph, None, (64, 64))
    assert fields is not None and fields["loras"] == (("ink", 0.7),)
    assert (fields["prompt"], fields["seed"], fields["steps"]) == ("a fox", 5, 2)
    assert fields["model"] == tiny_model.name


def test_a_lora_tag_in_the_prompt_is_the_lora_itself(lora_engine, tiny_model: Path) -> None:
    listed = _image(lora_engine, tiny_model, loras=(("ink", 0.8),))
    tagged = _image(lora_engine, tiny_model, prompt="a fox <lora:ink:0.8>")
    assert np.array_equal(tagged, listed)
    with pytest.raises(ModelError, match="No LoRA named 'nope'"):
        _image(lora_engine, tiny_model, prompt="<lora:nope:1> a fox")


def test_lora_tags_leave_the_prompt_and_win_over_the_list() -> None:
    request = GenerationRequest(
        prompt="<lora:ink:0.8> a fox, <lora:chalk>", loras=(("/m/loras/ink.safetensors", 0.3),)
    )
    assert request.prompt == "a fox"
    assert request.loras == (("/m/loras/ink.safetensors", 0.8), ("chalk", 1.0))
    assert request.replace(steps=4) == request.replace(steps=4).replace()  # stable once taken
    with pytest.raises(InvalidRequest, match="only LoRA tags"):
        GenerationRequest(prompt="<lora:ink:0.8>")
    with pytest.raises(InvalidRequest, match="weight of LoRA 'ink'"):
        GenerationRequest(prompt="a fox <lora:ink:99>")
