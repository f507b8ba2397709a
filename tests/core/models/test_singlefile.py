"""Single-file checkpoints load offline through the shipped configs, fitted to the file."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from imagestudio.core.errors import ModelError
from imagestudio.core.models.library import scan_models_folder
from imagestudio.core.models.singlefile import config_folder, fitted_configs, template_dir
from imagestudio.core.requests import GenerationRequest
from tests.modelfiles import build_random_family, to_single_file

FAMILIES = ("sd1", "sd2", "sdxl")


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """family -> (diffusers folder, single .safetensors file in original layout), float32."""
    root = tmp_path_factory.mktemp("single")
    out = {}
    for family in FAMILIES:
        folder = build_random_family(root / f"{family}-folder", family, "tiny")
        file = to_single_file(
            folder, root / "models" / f"{family}.safetensors", family, torch.float32
        )
        out[family] = (folder, file)
    return out


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Any attempt to open a connection fails the test (and is recorded)."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().float() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("family", FAMILIES)
def test_single_file_is_detected_and_listed(tiny_files, family: str) -> None:
    _folder, file = tiny_files[family]
    entries = {e.name: e for e in scan_models_folder(file.parent)}
    entry = entries[family]
    assert entry.ref.layout == "single_file" and entry.ref.family == family
    assert entry.usable, entry.problem
    assert entry.precision == "fp32"


@pytest.mark.parametrize("family", FAMILIES)
def test_single_file_loads_offline_with_the_same_weights(
    tiny_files, family: str, tmp_path: Path, no_network, cpu
) -> None:
    from diffusers import DiffusionPipeline

    from imagestudio.core.generation.engine import Engine

    folder, file = tiny_files[family]
    engine = Engine(device=cpu, models_dir=file.parent, cache_dir=tmp_path / "cache")
    result = engine.generate(
        GenerationRequest(
            prompt="a red circle", model=family, steps=2, seed=3, width=64, height=64
        ),
        previews=False,
    )
    assert result.images[0].size == (64, 64) and result.family == family
    loaded = engine.pipeline
    original = DiffusionPipeline.from_pretrained(folder, local_files_only=True)
    names = ["unet", "vae", "text_encoder"] + (["text_encoder_2"] if family == "sdxl" else [])
    for name in names:
        mine, theirs = _state(getattr(loaded, name)), _state(getattr(original, name))
        assert mine.keys() == theirs.keys(), name
        for key in theirs:
            assert torch.equal(mine[key], theirs[key]), f"{name}.{key}"
    # the tokenizers are the shipped CLIP ones: same ids as the model's own
    ids = loaded.tokenizer("a photo of a cat").input_ids
    assert ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert no_network == []


def test_fitted_configs_of_full_size_files_are_the_shipped_ones(tiny_files) -> None:
    """Fitting reads shapes only: a file with SD 1.5's shapes gets SD 1.5's config unchanged."""
    from imagestudio.core.models.checkpoints import Header, TensorInfo

    template = json.loads((template_dir("sd1") / "unet" / "config.json").read_text())
    tensors = {}
    u = "model.diffusion_model."
    tensors[u + "input_blocks.0.0.weight"] = TensorInfo("F16", (320, 4, 3, 3))
    index = 1
    for level, channels in enumerate((320, 640, 1280, 1280)):
        for _ in range(2):
            tensors[f"{u}input_blocks.{index}.0.out_layers.3.weight"] = TensorInfo(
                "F16", (channels, channels, 3, 3)
            )
            if level < 3:
                block = f"{u}input_blocks.{index}.1."
                tensors[block + "proj_in.weight"] = TensorInfo("F16", (channels, channels, 1, 1))
                tensors[block + "transformer_blocks.0.attn2.to_k.weight"] = TensorInfo(
                    "F16", (channels, 768)
                )
            index += 1
        if level < 3:
            tensors[f"{u}input_blocks.{index}.0.op.weight"] = TensorInfo("F16", (1,))
            index += 1
    tensors[u + "out.2.weight"] = TensorInfo("F16", (4, 320, 3, 3))
    t = "cond_stage_model.transformer.text_model."
    tensors[t + "embeddings.token_embedding.weight"] = TensorInfo("F16", (49408, 768))
    tensors[t + "embeddings.position_embedding.weight"] = TensorInfo("F16", (77, 768))
    for layer in range(12):
        tensors[f"{t}encoder.layers.{layer}.mlp.fc1.weight"] = TensorInfo("F16", (3072, 768))
    v = "first_stage_model.encoder.down."
    for level, channels in enumerate((128, 256, 512, 512)):
        for block in range(2):
            tensors[f"{v}{level}.block.{block}.conv2.weight"] = TensorInfo("F16", (channels,))
    tensors["first_stage_model.quant_conv.weight"] = TensorInfo("F16", (8, 8, 1, 1))
    configs = fitted_configs(Header(tensors, {}), "sd1")
    unet = configs["unet/config.json"]
    for key, value in template.items():
        assert unet[key] == value, key
    text = json.loads((template_dir("sd1") / "text_encoder" / "config.json").read_text())
    assert configs["text_encoder/config.json"] == text
    vae = json.loads((template_dir("sd1") / "vae" / "config.json").read_text())
    assert configs["vae/config.json"] == vae


def test_config_folders_are_cached_per_shape(tiny_files, tmp_path: Path) -> None:
    _, file = tiny_files["sd1"]
    first, family = config_folder(file, tmp_path)
    again, _ = config_folder(file, tmp_path)
    assert first == again and family == "sd1"
    assert (first / "tokenizer" / "vocab.json").is_file()
    _, xl = tiny_files["sdxl"]
    other, _ = config_folder(xl, tmp_path)
    assert other != first and (other / "tokenizer_2" / "merges.txt").is_file()


def test_a_file_missing_weights_says_so(tiny_files, tmp_path: Path, cpu) -> None:
    from imagestudio.core.generation.engine import Engine

    _, file = tiny_files["sd1"]
    tensors = load_file(str(file))
    tensors.pop("model.diffusion_model.out.2.bias")
    damaged = tmp_path / "models" / "cut.safetensors"
    damaged.parent.mkdir()
    save_file(tensors, str(damaged))
    engine = Engine(device=cpu, models_dir=damaged.parent, cache_dir=tmp_path / "cache")
    with pytest.raises(ModelError, match="cut"):
        engine.generate(GenerationRequest(prompt="x", model="cut", steps=1), previews=False)
    truncated = tmp_path / "models" / "short.safetensors"
    truncated.write_bytes(file.read_bytes()[:5000])
    [entry] = [e for e in scan_models_folder(truncated.parent) if e.name == "short"]
    assert entry.problem and "Download it again" in entry.problem


@pytest.mark.parametrize(
    ("family", "counts"),
    [
        ("sd1", {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480}),
        ("sd2", {"unet": 865_910_724, "vae": 83_653_863, "text_encoder": 340_387_840}),
        (
            "sdxl",
            {
                "unet": 2_567_463_684,
                "vae": 83_653_863,
                "text_encoder": 123_060_480,
                "text_encoder_2": 694_659_840,
            },
        ),
    ],
)
def test_shipped_configs_describe_the_published_models(family: str, counts: dict) -> None:
    """Built on the meta device (no memory): the parameter counts of SD 1.5, 2.1 and SDXL base."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    root = template_dir(family)

    def config(name: str) -> dict:
        return json.loads((root / name / "config.json").read_text())

    with init_empty_weights():
        models = {
            "unet": UNet2DConditionModel.from_config(config("unet")),
            "vae": AutoencoderKL.from_config(config("vae")),
            "text_encoder": CLIPTextModel(CLIPTextConfig(**config("text_encoder"))),
        }
        if family == "sdxl":
            models["text_encoder_2"] = CLIPTextModelWithProjection(
                CLIPTextConfig(**config("text_encoder_2"))
            )
    found = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
    assert found == counts


def test_sd2_prediction_is_assumed_and_can_be_overridden(tiny_files, tmp_path: Path, cpu) -> None:
    from imagestudio.core.generation.engine import Engine

    _, file = tiny_files["sd2"]
    request = GenerationRequest(prompt="a fox", model="sd2", steps=1, seed=1, width=64, height=64)
    engine = Engine(device=cpu, models_dir=file.parent, cache_dir=tmp_path / "cache")
    engine.generate(request, previews=False)
    assert engine.pipeline.scheduler.config.prediction_type == "v_prediction"
    fixed = Engine(
        device=cpu,
        models_dir=file.parent,
        cache_dir=tmp_path / "cache",
        prediction_overrides={"sd2": "epsilon"},
    )
    fixed.generate(request, previews=False)
    assert fixed.pipeline.scheduler.config.prediction_type == "epsilon"
    # a scheduler chosen by the user keeps the model's prediction type too
    fixed.generate(request.replace(scheduler="DPM++ 2M"), previews=False)
    assert fixed.pipeline.scheduler.config.prediction_type == "epsilon"


def test_models_set_prediction_through_the_cli(tiny_files, capsys) -> None:
    import shutil

    from imagestudio import cli
    from imagestudio.core.paths import app_paths
    from imagestudio.core.settings import load_settings

    _, file = tiny_files["sd2"]
    models = app_paths().models_dir
    models.mkdir(parents=True)
    shutil.copy(file, models / "sd2.safetensors")
    assert cli.main(["models", "info", "sd2"]) == 0
    assert "v_prediction, assumed" in capsys.readouterr().out
    assert cli.main(["models", "set", "sd2", "--prediction", "epsilon"]) == 0
    assert load_settings().model_prediction == {"sd2": "epsilon"}
    assert cli.main(["models", "info", "sd2"]) == 0
    assert "prediction: epsilon (set with" in capsys.readouterr().out
    assert cli.main(["models", "set", "sd2", "--prediction", "auto"]) == 0
    assert load_settings().model_prediction == {}
    assert cli.main(["models", "set", "nope", "--prediction", "epsilon"]) == cli.EXIT_MODEL
