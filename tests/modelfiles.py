"""Random-weight Stable Diffusion models as original single-file checkpoints, for tests.

`build_random_family` writes a diffusers folder (SD 1.x, SD 2.x or SDXL structure, tiny or
full-size); `to_single_file` turns it into one `.safetensors` file in the layout model sites ship
(the LDM / CompVis / A1111 key names): UNet under `model.diffusion_model.`, VAE under
`first_stage_model.`, text encoders under `cond_stage_model.` (SD 1/2) or `conditioner.embedders.`
(SDXL). The key mapping is the inverse of diffusers' `loaders/single_file_utils.py`, written out
here so the files do not depend on the code that reads them.

`load_single_file` is the offline diffusers call that reads such a file back with the folder as
its config. Nothing here touches the network.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch

FAMILIES = ("sd1", "sd2", "sdxl")
SIZES = ("tiny", "full")
CLIP_VOCAB = Path(__file__).resolve().parents[1] / "resources" / "tokenizers" / "clip"

# --- configurations --------------------------------------------------------------------------

_TINY_TEXT = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2}
_TINY_UNET = {
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "sample_size": 32,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "attention_head_dim": (2, 4),
    "norm_num_groups": 8,
}
_TINY_VAE = {
    "block_out_channels": (32, 64),
    "norm_num_groups": 8,
    "down_block_types": ("DownEncoderBlock2D",) * 2,
    "up_block_types": ("UpDecoderBlock2D",) * 2,
    "sample_size": 64,
}
_FULL_VAE = {
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
}
_VIT_L = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "hidden_act": "quick_gelu",
}


def _family_configs(family: str, size: str) -> dict[str, Any]:
    """Text encoder(s), UNet, VAE and scheduler settings of one family at one size."""
    tiny = size == "tiny"
    if family == "sd1":
        if tiny:
            text = {**_TINY_TEXT, "num_attention_heads": 4, "hidden_act": "quick_gelu"}
            unet = {**_TINY_UNET, "cross_attention_dim": 32}
        else:  # SD 1.5: the 860M-parameter UNet is diffusers' default
            text = dict(_VIT_L)
            unet = {"sample_size": 64, "cross_attention_dim": 768, "attention_head_dim": 8}
        vae = dict(_TINY_VAE) if tiny else {**_FULL_VAE, "sample_size": 512}
        return {"text": [text], "unet": unet, "vae": vae, "prediction_type": "epsilon"}
    if family == "sd2":  # SD 2.1 768-v: OpenCLIP ViT-H text encoder, linear projections
        if tiny:
            text = {**_TINY_TEXT, "num_attention_heads": 4, "hidden_act": "gelu"}
            unet = {**_TINY_UNET, "cross_attention_dim": 32}
        else:
            text = {
                "hidden_size": 1024,
                "intermediate_size": 4096,
                "num_hidden_layers": 23,  # the 24th OpenCLIP block is never used
                "num_attention_heads": 16,
                "hidden_act": "gelu",
                "projection_dim": 512,
            }
            unet = {
                "sample_size": 96,
                "cross_attention_dim": 1024,
                "attention_head_dim": (5, 10, 20, 20),
            }
        unet.update(use_linear_projection=True, upcast_attention=True)
        vae = dict(_TINY_VAE) if tiny else {**_FULL_VAE, "sample_size": 768}
        return {"text": [text], "unet": unet, "vae": vae, "prediction_type": "v_prediction"}
    if family == "sdxl":
        if tiny:
            # The two encoders must differ in width: diffusers tells them apart by that.
            # Ten OpenCLIP blocks, so that diffusers' own sniffing calls the file "xl_base".
            text1 = {**_TINY_TEXT, "num_attention_heads": 4, "hidden_act": "quick_gelu"}
            text2 = {
                "hidden_size": 64,
                "intermediate_size": 37,
                "num_hidden_layers": 10,
                "num_attention_heads": 4,
                "hidden_act": "gelu",
                "projection_dim": 32,
            }
            unet = {
                **_TINY_UNET,
                "cross_attention_dim": 32 + 64,
                "transformer_layers_per_block": (1, 2),
                "addition_time_embed_dim": 8,
                "projection_class_embeddings_input_dim": 6 * 8 + 32,
            }
            vae = dict(_TINY_VAE)
        else:
            text1 = dict(_VIT_L)
            text2 = {
                "hidden_size": 1280,
                "intermediate_size": 5120,
                "num_hidden_layers": 32,
                "num_attention_heads": 20,
                "hidden_act": "gelu",
                "projection_dim": 1280,
            }
            unet = {
                "sample_size": 128,
                "block_out_channels": (320, 640, 1280),
                "layers_per_block": 2,
                "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                "attention_head_dim": (5, 10, 20),
                "cross_attention_dim": 2048,
                "transformer_layers_per_block": (1, 2, 10),
                "addition_time_embed_dim": 256,
                "projection_class_embeddings_input_dim": 2816,
            }
            vae = {**_FULL_VAE, "sample_size": 1024}
        unet.update(use_linear_projection=True, addition_embed_type="text_time")
        vae.update(scaling_factor=0.13025, force_upcast=True)
        return {"text": [text1, text2], "unet": unet, "vae": vae, "prediction_type": "epsilon"}
    raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")


def _write_tokenizer(folder: Path, size: str) -> int:
    """The real CLIP vocabulary, for every size: single-file checkpoints carry no tokenizer, so
    the app tokenizes with the CLIP files it ships, and a tiny model must read the same ids."""
    shutil.copytree(CLIP_VOCAB, folder, ignore=shutil.ignore_patterns("LICENSE"))
    return 49408


def build_random_family(
    folder: Path, family: str, size: str = "tiny", seed: int = 0, dtype: torch.dtype | None = None
) -> Path:
    """Save a random-weight SD 1.x / SD 2.x / SDXL pipeline as a diffusers folder (safetensors).

    Weights are saved in float32 for "tiny" and float16 for "full" unless `dtype` says otherwise.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    from imagestudio.core.generation.engine import prepare_model_stack

    prepare_model_stack()
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from diffusers.utils import logging as diffusers_logging
    from transformers import (
        CLIPTextConfig,
        CLIPTextModel,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
    )

    cfg = _family_configs(family, size)
    folder = Path(folder)
    dtype = dtype or (torch.float32 if size == "tiny" else torch.float16)
    torch.manual_seed(seed)
    parts: dict[str, Any] = {}
    # Full-size models are made directly in their dtype: SDXL's UNet alone is 10 GB in fp32.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype if size == "full" else torch.float32)
    try:
        for index, text_cfg in enumerate(cfg["text"]):
            suffix = f"_{index + 1}" if index else ""
            tok_dir = folder / f"tokenizer{suffix}"
            vocab_size = _write_tokenizer(tok_dir, size)
            text_config = CLIPTextConfig(
                **text_cfg,
                vocab_size=vocab_size,
                max_position_embeddings=77,
                bos_token_id=vocab_size - 2,
                eos_token_id=vocab_size - 1,
                pad_token_id=vocab_size - 1,
            )
            model_cls: Any = CLIPTextModelWithProjection if index else CLIPTextModel
            parts[f"text_encoder{suffix}"] = model_cls(text_config).to(dtype)
            parts[f"tokenizer{suffix}"] = CLIPTokenizer.from_pretrained(
                tok_dir, local_files_only=True
            )
        unet: Any = UNet2DConditionModel(in_channels=4, out_channels=4, **cfg["unet"])
        vae: Any = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, **cfg["vae"])
    finally:
        torch.set_default_dtype(previous)
    parts.update(unet=unet.to(dtype), vae=vae.to(dtype))
    parts["scheduler"] = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
        prediction_type=cfg["prediction_type"],
    )
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    pipe: Any
    if family == "sdxl":
        pipe = StableDiffusionXLPipeline(**parts)
    else:
        pipe = StableDiffusionPipeline(
            **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
        )
    diffusers_logging.disable_progress_bar()
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def copy_configs(folder: Path, dest: Path) -> Path:
    """Copy only a pipeline folder's configs and tokenizers (no weights): a `config=` folder."""
    folder, dest = Path(folder), Path(dest)
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".txt"):
            target = dest / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return dest


# --- diffusers -> original key names -----------------------------------------------------------

_UNET_TOP = {
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",
    "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
}
_UNET_RESNET = {
    "norm1.": "in_layers.0.",
    "conv1.": "in_layers.2.",
    "time_emb_proj.": "emb_layers.1.",
    "norm2.": "out_layers.0.",
    "conv2.": "out_layers.3.",
    "conv_shortcut.": "skip_connection.",
}
_UNET_BLOCK = re.compile(
    r"(down_blocks|up_blocks)\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.*)"
)
_UNET_MID = re.compile(r"mid_block\.(resnets|attentions)\.(\d+)\.(.*)")


def _resnet(rest: str) -> str:
    for old, new in _UNET_RESNET.items():
        if rest.startswith(old):
            return new + rest[len(old) :]
    raise KeyError(rest)


def _unet_key(key: str, config: dict[str, Any]) -> str:
    """One diffusers UNet2DConditionModel key as its `model.diffusion_model.` name."""
    for old, new in _UNET_TOP.items():
        if key.startswith(old):
            return new + key[len(old) :]
    per_level = config["layers_per_block"] + 1
    if match := _UNET_MID.fullmatch(key):
        kind, index, rest = match.groups()
        if kind == "attentions":
            return f"middle_block.1.{rest}"
        return f"middle_block.{2 * int(index)}.{_resnet(rest)}"
    match = _UNET_BLOCK.fullmatch(key)
    if match is None:
        raise KeyError(f"no original name for UNet key {key!r}")
    side, level_text, kind, index_text, rest = match.groups()
    level, index = int(level_text), int(index_text)
    if side == "down_blocks":
        if kind == "downsamplers":  # conv "op" after the level's resnets
            block = level * per_level + per_level
            return f"input_blocks.{block}.0.op.{rest.removeprefix('conv.')}"
        block = 1 + level * per_level + index
        return f"input_blocks.{block}.{'0.' + _resnet(rest) if kind == 'resnets' else '1.' + rest}"
    if kind == "upsamplers":  # after the attention when the level has one
        has_attention = "CrossAttn" in config["up_block_types"][level]
        return (
            f"output_blocks.{level * per_level + per_level - 1}.{2 if has_attention else 1}.{rest}"
        )
    block = level * per_level + index
    return f"output_blocks.{block}.{'0.' + _resnet(rest) if kind == 'resnets' else '1.' + rest}"


_VAE_ATTENTION = {
    "group_norm.": "norm.",
    "to_q.": "q.",
    "to_k.": "k.",
    "to_v.": "v.",
    "to_out.0.": "proj_out.",
}
_VAE_BLOCK = re.compile(
    r"(encoder|decoder)\.(down_blocks|up_blocks|mid_block)\.(\d+\.)?(resnets|attentions|downsamplers|upsamplers)"
    r"\.(\d+)\.(.*)"
)


def _vae_key(key: str, levels: int) -> str:
    """One diffusers AutoencoderKL key as its `first_stage_model.` name."""
    for part in ("encoder", "decoder"):
        if key.startswith(f"{part}.conv_norm_out."):
            return f"{part}.norm_out.{key.rsplit('.', 1)[1]}"
    if key.startswith(("encoder.conv_", "decoder.conv_", "quant_conv.", "post_quant_conv.")):
        return key
    match = _VAE_BLOCK.fullmatch(key)
    if match is None:
        raise KeyError(f"no original name for VAE key {key!r}")
    part, blocks, level_text, kind, index, rest = match.groups()
    rest = rest.replace("conv_shortcut.", "nin_shortcut.")
    if blocks == "mid_block":
        if kind == "attentions":
            for old, new in _VAE_ATTENTION.items():
                if rest.startswith(old):
                    return f"{part}.mid.attn_1.{new}{rest[len(old) :]}"
            raise KeyError(key)
        return f"{part}.mid.block_{int(index) + 1}.{rest}"
    level = int(level_text.rstrip("."))
    if blocks == "up_blocks":  # the original counts decoder levels from the bottom
        level = levels - 1 - level
    sampler = "downsample" if kind == "downsamplers" else "upsample"
    name = "down" if blocks == "down_blocks" else "up"
    if kind in ("downsamplers", "upsamplers"):
        return f"{part}.{name}.{level}.{sampler}.{rest}"
    return f"{part}.{name}.{level}.block.{index}.{rest}"


def _hf_clip(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Text-model weights keyed `text_model.*` (transformers 5.6+ saves CLIPTextModel flat)."""
    out = {}
    for key, value in state.items():
        keep = key.startswith(("text_model.", "text_projection.")) or key.endswith("position_ids")
        out[key if keep else f"text_model.{key}"] = value
    return out


_OPEN_CLIP_LAYER = {
    "layer_norm1.": "ln_1.",
    "layer_norm2.": "ln_2.",
    "mlp.fc1.": "mlp.c_fc.",
    "mlp.fc2.": "mlp.c_proj.",
    "self_attn.out_proj.": "attn.out_proj.",
}


def _open_clip(
    state: dict[str, torch.Tensor], extra_block: bool = False
) -> dict[str, torch.Tensor]:
    """An HF CLIP text model in OpenCLIP names (`in_proj` = q, k, v stacked)."""
    state = _hf_clip(state)
    out: dict[str, torch.Tensor] = {
        "token_embedding.weight": state["text_model.embeddings.token_embedding.weight"],
        "positional_embedding": state["text_model.embeddings.position_embedding.weight"],
        "ln_final.weight": state["text_model.final_layer_norm.weight"],
        "ln_final.bias": state["text_model.final_layer_norm.bias"],
    }
    hidden = out["token_embedding.weight"].shape[1]
    # OpenCLIP applies x @ text_projection, so it stores the transpose of HF's Linear weight.
    projection = state.get(
        "text_projection.weight", torch.eye(hidden, dtype=out["ln_final.weight"].dtype)
    )
    out["text_projection"] = projection.T.contiguous()
    layers = sorted(
        {int(k.split(".")[3]) for k in state if k.startswith("text_model.encoder.layers.")}
    )
    for n in layers:
        src = f"text_model.encoder.layers.{n}."
        dst = f"transformer.resblocks.{n}."
        for kind in ("weight", "bias"):
            out[f"{dst}attn.in_proj_{kind}"] = torch.cat(
                [state[f"{src}self_attn.{p}_proj.{kind}"] for p in ("q", "k", "v")]
            )
        for old, new in _OPEN_CLIP_LAYER.items():
            for kind in ("weight", "bias"):
                out[f"{dst}{new}{kind}"] = state[f"{src}{old}{kind}"]
    if extra_block:  # SD 2 ships all 24 OpenCLIP blocks; diffusers uses 23 and skips the last
        last = f"transformer.resblocks.{layers[-1]}."
        for key in [k for k in out if k.startswith(last)]:
            out[key.replace(last, f"transformer.resblocks.{layers[-1] + 1}.")] = out[key].clone()
    out["logit_scale"] = torch.tensor(4.6052)
    return out


def _ldm_schedule() -> dict[str, torch.Tensor]:
    """The DDPM buffers CompVis checkpoints carry (scaled-linear betas); loaders ignore them."""
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, 0)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
    buffers = {
        "betas": betas,
        "alphas_cumprod": alphas_cumprod,
        "alphas_cumprod_prev": prev,
        "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
        "sqrt_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).sqrt(),
        "log_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).log(),
        "sqrt_recip_alphas_cumprod": alphas_cumprod.rsqrt(),
        "sqrt_recipm1_alphas_cumprod": (1.0 / alphas_cumprod - 1).sqrt(),
    }
    return {k: v.float() for k, v in buffers.items()}


def _read_component(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of one saved component (all safetensors shards in its subfolder)."""
    from safetensors.torch import load_file

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no .safetensors weights in {folder}")
    state: dict[str, torch.Tensor] = {}
    for file in files:
        state.update(load_file(file))
    return state


def single_file_state_dict(folder: Path, family: str) -> dict[str, torch.Tensor]:
    """A diffusers SD 1/2/XL folder's weights under their original single-file names."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
    folder = Path(folder)
    out: dict[str, torch.Tensor] = {}

    unet_config = json.loads((folder / "unet" / "config.json").read_text("utf-8"))
    for key, value in _read_component(folder / "unet").items():
        out["model.diffusion_model." + _unet_key(key, unet_config)] = value
    del unet_config

    vae_config = json.loads((folder / "vae" / "config.json").read_text("utf-8"))
    levels = len(vae_config["block_out_channels"])
    for key, value in _read_component(folder / "vae").items():
        name = _vae_key(key, levels)
        if ".mid.attn_1." in name and name.endswith("weight") and value.ndim == 2:
            value = value[:, :, None, None]  # Linear -> the original 1x1 conv
        out["first_stage_model." + name] = value

    text = _read_component(folder / "text_encoder")
    if family == "sd1":
        prefix = "cond_stage_model.transformer."
        out.update({prefix + k: v for k, v in _hf_clip(text).items()})
    elif family == "sd2":
        layers = json.loads((folder / "text_encoder" / "config.json").read_text("utf-8"))
        extra = layers["num_hidden_layers"] == 23
        out.update({"cond_stage_model.model." + k: v for k, v in _open_clip(text, extra).items()})
    else:
        prefix = "conditioner.embedders.0.transformer."
        out.update({prefix + k: v for k, v in _hf_clip(text).items()})
        text_2 = _read_component(folder / "text_encoder_2")
        out.update({"conditioner.embedders.1.model." + k: v for k, v in _open_clip(text_2).items()})
    return {k: v for k, v in out.items() if not k.endswith("position_ids")}


def to_single_file(
    folder: Path, out_file: Path, family: str, dtype: torch.dtype = torch.float16
) -> Path:
    """Write a diffusers SD 1/2/XL folder as one original-layout `.safetensors` checkpoint."""
    from safetensors.torch import save_file

    state = {k: v.to(dtype).contiguous() for k, v in single_file_state_dict(folder, family).items()}
    state.update(_ldm_schedule())  # float32, as in the originals
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out_file), metadata={"format": "pt"})
    return out_file


# --- reading back -----------------------------------------------------------------------------


def load_single_file(
    file: Path, config: Path, family: str, dtype: torch.dtype = torch.float32, **kwargs: Any
) -> Any:
    """Load an original-layout checkpoint with diffusers, offline, `config` giving every shape."""
    from imagestudio.core.generation.engine import prepare_model_stack

    prepare_model_stack()
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    # The class decides the pipeline: an SDXL file through StableDiffusionPipeline would load too.
    pipeline_cls: Any = StableDiffusionXLPipeline if family == "sdxl" else StableDiffusionPipeline
    return pipeline_cls.from_single_file(
        str(file),
        config=str(config),  # must be a str: the model loaders reject a Path
        local_files_only=True,
        dtype=dtype,
        **kwargs,
    )
