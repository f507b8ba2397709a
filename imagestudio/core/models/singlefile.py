"""Load a single-file Stable Diffusion checkpoint offline, with configs shipped in `resources/`.

diffusers' `from_single_file` needs the diffusers configs of the model (UNet, VAE, text
encoders, scheduler, tokenizer); by default it downloads them from the Hub. ImageStudio ships one
set per family (`resources/configs/sd1|sd2|sdxl`, the published SD 1.5, 2.1 and SDXL base
configs) and the CLIP tokenizer files (`resources/tokenizers/clip`), fits them to the file's
actual shapes (a distilled or tiny model has fewer or narrower blocks than the original), writes
the result to a cache folder and passes that folder as `config`, with `local_files_only=True`.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from imagestudio.core.errors import ModelError
from imagestudio.core.models.checkpoints import (
    SD1_TEXT,
    SD2_TEXT,
    SDXL_TEXT_1,
    SDXL_TEXT_2,
    UNET,
    VAE,
    Header,
    count_children,
    identify,
    read_header,
    text_encoder_dims,
    unet_dims,
)
from imagestudio.core.paths import resources_dir
from imagestudio.core.vocabulary import KNOWN_FAMILIES

# What a model was trained to predict (`vocabulary.PREDICTIONS`): a single file does not say, so
# SD 2.x files are taken as v-prediction (2.1-768), which the `model_prediction` setting can
# override per model.
CONFIG_VERSION = 1
CLIP_VOCAB = 49408  # bump when the fitting below changes, so cached folders are rebuilt


def template_dir(family: str) -> Path:
    return resources_dir() / "configs" / family


@functools.cache
def native_size(family: str) -> int | None:
    """The picture size a family's shipped configs describe (512, 768, 1024), None if unknown."""
    config = template_dir(family) / "vae" / "config.json"
    try:
        return int(json.loads(config.read_text(encoding="utf-8"))["sample_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def tokenizer_source() -> Path:
    return resources_dir() / "tokenizers" / "clip"


def _load_templates(family: str) -> dict[str, dict[str, Any]]:
    root = template_dir(family)
    if not (root / "model_index.json").is_file():
        raise ModelError(
            f"The configs for {family} models are missing from this installation ({root}); "
            "reinstall ImageStudio."
        )
    return {
        path.relative_to(root).as_posix(): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(root.rglob("*.json"))
    }


def _heads(channels: int, template: Any, level: int, levels_match: bool) -> int:
    if levels_match:
        return template[level] if isinstance(template, list) else int(template)
    return max(1, channels // 64)


def fit_unet(header: Header, template: dict[str, Any]) -> dict[str, Any]:
    """The UNet config of the file: levels, channels, blocks per level and attention read from
    `input_blocks.N` (resnet, optional transformer, or a downsampler `op`)."""
    config = copy.deepcopy(template)
    first = header.shape(UNET + "input_blocks.0.0.weight")
    if first is None:
        raise ModelError("The checkpoint's UNet has no input layer; the file is damaged.")
    levels: list[dict[str, Any]] = [{"channels": 0, "resnets": 0, "depth": 0}]
    for i in range(1, count_children(header, UNET + "input_blocks.")):
        block = f"{UNET}input_blocks.{i}."
        if header.shape(block + "0.op.weight") is not None:
            levels.append({"channels": 0, "resnets": 0, "depth": 0})
            continue
        out = header.shape(block + "0.out_layers.3.weight")
        if out is None:
            continue
        level = levels[-1]
        level["channels"] = out[0]
        level["resnets"] += 1
        level["depth"] = max(
            level["depth"], count_children(header, block + "1.transformer_blocks.")
        )
    levels = [level for level in levels if level["resnets"]]
    channels = [level["channels"] for level in levels]
    dims = unet_dims(header)
    linear = any(
        len(info.shape) == 2
        for key, info in header.tensors.items()
        if key.startswith(UNET) and key.endswith(".proj_in.weight")
    )
    levels_match = len(channels) == len(template["block_out_channels"])
    config["block_out_channels"] = channels
    config["layers_per_block"] = levels[0]["resnets"]
    config["in_channels"] = first[1]
    out_conv = header.shape(UNET + "out.2.weight")
    config["out_channels"] = out_conv[0] if out_conv else first[1]
    config["down_block_types"] = [
        "CrossAttnDownBlock2D" if level["depth"] else "DownBlock2D" for level in levels
    ]
    config["up_block_types"] = [
        "CrossAttnUpBlock2D" if level["depth"] else "UpBlock2D" for level in reversed(levels)
    ]
    if "cross_attention_dim" in dims:
        config["cross_attention_dim"] = dims["cross_attention_dim"]
    config["use_linear_projection"] = linear
    config["attention_head_dim"] = [
        _heads(c, template["attention_head_dim"], i, levels_match) for i, c in enumerate(channels)
    ]
    if not isinstance(template["attention_head_dim"], list) and levels_match:
        config["attention_head_dim"] = template["attention_head_dim"]
    if "transformer_layers_per_block" in template:
        config["transformer_layers_per_block"] = [max(1, level["depth"]) for level in levels]
    if "addition_embed_input" in dims:
        config["projection_class_embeddings_input_dim"] = dims["addition_embed_input"]
    if "time_cond_proj_dim" in dims:
        config["time_cond_proj_dim"] = dims["time_cond_proj_dim"]
    norm = header.shape(UNET + "input_blocks.1.0.in_layers.0.weight")
    if norm is not None and norm[0] % config.get("norm_num_groups", 32):
        config["norm_num_groups"] = _largest_divisor(norm[0], 32)
    return config


def _largest_divisor(n: int, limit: int) -> int:
    return max(d for d in range(1, limit + 1) if n % d == 0)


def fit_vae(header: Header, template: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(template)
    prefix = VAE + "encoder.down."
    levels = count_children(header, prefix)
    if levels == 0:
        return config
    channels = []
    for level in range(levels):
        shape = header.shape(f"{prefix}{level}.block.0.conv2.weight")
        if shape is None:
            raise ModelError("The checkpoint's VAE is incomplete; the file is damaged.")
        channels.append(shape[0])
    config["block_out_channels"] = channels
    config["down_block_types"] = ["DownEncoderBlock2D"] * levels
    config["up_block_types"] = ["UpDecoderBlock2D"] * levels
    config["layers_per_block"] = count_children(header, prefix + "0.block.")
    quant = header.shape(VAE + "quant_conv.weight")
    if quant is not None:
        config["latent_channels"] = quant[0] // 2
    if channels[0] % config.get("norm_num_groups", 32):
        config["norm_num_groups"] = _largest_divisor(channels[0], 32)
    return config


def fit_text(header: Header, prefix: str, open_clip: bool, template: dict[str, Any]) -> dict:
    config = copy.deepcopy(template)
    dims = text_encoder_dims(header, prefix, open_clip)
    layers = dims["layers"]
    if "hidden" not in dims or layers == 0:
        raise ModelError("The checkpoint's text encoder is incomplete; the file is damaged.")
    same_width = dims["hidden"] == template["hidden_size"]
    config["vocab_size"], config["hidden_size"] = dims["vocab"], dims["hidden"]
    for dim, key in (
        ("positions", "max_position_embeddings"),
        ("mlp", "intermediate_size"),
        ("projection", "projection_dim"),
    ):
        if dim in dims:
            config[key] = dims[dim]
    # OpenCLIP's SD 2.x encoder is used up to its penultimate layer: diffusers' config has 23
    # of the 24 layers, and the converter skips the last one
    if open_clip and template["num_hidden_layers"] == 23 and layers == 24:
        layers = 23
    config["num_hidden_layers"] = layers
    if not same_width:
        config["num_attention_heads"] = max(1, dims["hidden"] // 64)
    if config["vocab_size"] != CLIP_VOCAB:
        raise ModelError(
            f"The checkpoint's text encoder knows {config['vocab_size']} tokens, not CLIP's "
            f"{CLIP_VOCAB}; it needs its own tokenizer. Use the model as a diffusers folder."
        )
    return config


def fitted_configs(header: Header, family: str, prediction: str | None = None) -> dict[str, dict]:
    """The diffusers configs (relative path -> JSON) for the checkpoint behind `header`."""
    configs = _load_templates(family)
    configs["unet/config.json"] = fit_unet(header, configs["unet/config.json"])
    configs["vae/config.json"] = fit_vae(header, configs["vae/config.json"])
    if family == "sdxl":
        configs["text_encoder/config.json"] = fit_text(
            header, SDXL_TEXT_1, False, configs["text_encoder/config.json"]
        )
        configs["text_encoder_2/config.json"] = fit_text(
            header, SDXL_TEXT_2, True, configs["text_encoder_2/config.json"]
        )
        unet = configs["unet/config.json"]
        projection = configs["text_encoder_2/config.json"]["projection_dim"]
        added = unet.get("projection_class_embeddings_input_dim", 2816) - projection
        unet["addition_time_embed_dim"] = max(1, added // 6)
    else:
        prefix, open_clip = (SD2_TEXT, True) if family == "sd2" else (SD1_TEXT, False)
        configs["text_encoder/config.json"] = fit_text(
            header, prefix, open_clip, configs["text_encoder/config.json"]
        )
    if prediction:
        configs["scheduler/scheduler_config.json"]["prediction_type"] = prediction
    # The family's native picture size (512, 768, 1024) stays; the UNet's latent size follows
    # the VAE's downscaling, which a custom model may change.
    vae = configs["vae/config.json"]
    latent_scale = 2 ** (len(vae["block_out_channels"]) - 1)
    configs["unet/config.json"]["sample_size"] = vae["sample_size"] // latent_scale
    return configs


def _write_config_folder(configs: dict[str, dict], folder: Path) -> None:
    """Write configs and tokenizers to `folder` (via a temporary folder, renamed when done)."""
    temporary = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    for relative, data in configs.items():
        path = temporary / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for tokenizer in ("tokenizer", "tokenizer_2"):
        if (temporary / tokenizer).is_dir():
            for name in ("vocab.json", "merges.txt"):
                shutil.copyfile(tokenizer_source() / name, temporary / tokenizer / name)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(temporary, folder)


def config_folder(path: Path, cache_dir: Path, prediction: str | None = None) -> tuple[Path, str]:
    """The fitted config folder for checkpoint `path` (made once, cached); and its family."""
    header = read_header(path)
    signature = identify(header)
    if signature.problem or signature.family not in KNOWN_FAMILIES:
        raise ModelError(
            f"{path.name} cannot be loaded: "
            f"{signature.problem or 'it is not an SD 1.x, 2.x or XL checkpoint.'}"
        )
    configs = fitted_configs(header, signature.family, prediction)
    text = json.dumps(configs, sort_keys=True)
    digest = hashlib.sha256(f"{CONFIG_VERSION}{text}".encode()).hexdigest()[:16]
    folder = cache_dir / "single-file-configs" / f"{signature.family}-{digest}"
    if not (folder / "model_index.json").is_file():
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            _write_config_folder(configs, folder)
        except OSError as exc:
            raise ModelError(f"Could not write model configs to {folder}: {exc}.") from exc
    return folder, signature.family


def load_single_file(
    path: Path, family: str, dtype: Any, cache_dir: Path, prediction: str | None = None
) -> Any:
    """A text-to-image pipeline from one checkpoint file, without touching the network.

    `config` must be a local folder (a str): then diffusers reads every shape and the scheduler
    from it and never asks the Hub. The pipeline class follows the family detected here, since
    diffusers would load an SDXL file into the SD pipeline class without complaint.
    """
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    config, detected = config_folder(path, cache_dir, prediction)
    pipeline_class = StableDiffusionXLPipeline if detected == "sdxl" else StableDiffusionPipeline
    extra: dict[str, Any] = {}
    if detected != "sdxl":
        extra = {"safety_checker": None, "requires_safety_checker": False}
    try:
        return pipeline_class.from_single_file(
            str(path), config=str(config), local_files_only=True, dtype=dtype, **extra
        )
    except NotImplementedError as exc:
        if "meta tensor" in str(exc):
            # what diffusers raises when the file lacks some of the model's weights
            raise ModelError(
                f"{path.name} is missing some of the model's weights; the file is incomplete or "
                "damaged. Download it again."
            ) from exc
        raise
