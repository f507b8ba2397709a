"""Random-weight Stable Diffusion-architecture models, built locally, for tests and benchmarks.

Nothing here downloads: the tokenizer is a byte-level CLIP BPE vocabulary with no merges (every
character is a token), which CLIPTokenizer loads like the real one. The weights are random, so the
pictures are noise; the code paths are exactly those of a real model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ARCHES = ("tiny", "small", "sd15", "sdxl")


def byte_unicode_alphabet() -> list[str]:
    """The 256 printable stand-ins CLIP's byte-level BPE uses for raw bytes."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def write_byte_level_tokenizer(folder: Path, max_length: int = 77) -> int:
    """Write vocab.json, merges.txt and tokenizer_config.json; return the vocabulary size."""
    folder.mkdir(parents=True, exist_ok=True)
    alphabet = byte_unicode_alphabet()
    tokens = alphabet + [ch + "</w>" for ch in alphabet] + ["<|startoftext|>", "<|endoftext|>"]
    (folder / "vocab.json").write_text(
        json.dumps({tok: i for i, tok in enumerate(tokens)}, ensure_ascii=False), "utf-8"
    )
    (folder / "merges.txt").write_text("#version: 0.2\n", "utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": max_length,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2), "utf-8")
    return len(tokens)


def _configs(arch: str, vocab_size: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    text: dict[str, Any]
    unet: dict[str, Any]
    vae: dict[str, Any]
    if arch == "tiny":  # seconds on a CPU: for tests
        text = {
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
        }
        unet = {
            "block_out_channels": (32, 64),
            "layers_per_block": 1,
            "sample_size": 32,
            "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
            "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
            "cross_attention_dim": 32,
            "attention_head_dim": (2, 4),
            "norm_num_groups": 8,
        }
        vae = {
            "block_out_channels": (32, 64),
            "norm_num_groups": 8,
            "down_block_types": ("DownEncoderBlock2D",) * 2,
            "up_block_types": ("UpDecoderBlock2D",) * 2,
        }
    elif arch == "small":  # a CPU benchmark model: real work per step, 256 px
        text = {
            "hidden_size": 128,
            "intermediate_size": 512,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
        }
        unet = {
            "block_out_channels": (64, 128, 256),
            "layers_per_block": 1,
            "sample_size": 32,
            "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            "cross_attention_dim": 128,
            "attention_head_dim": 8,
            "norm_num_groups": 32,
        }
        vae = {
            "block_out_channels": (32, 64, 64, 64),
            "norm_num_groups": 32,
            "down_block_types": ("DownEncoderBlock2D",) * 4,
            "up_block_types": ("UpDecoderBlock2D",) * 4,
        }
    elif arch == "sd15":  # the real SD 1.5 shapes (860M-parameter UNet): for GPU benchmarks
        text = {
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "hidden_act": "quick_gelu",
        }
        unet = {"sample_size": 64, "cross_attention_dim": 768, "attention_head_dim": 8}
        vae = {
            "block_out_channels": (128, 256, 512, 512),
            "sample_size": 512,
            "down_block_types": ("DownEncoderBlock2D",) * 4,
            "up_block_types": ("UpDecoderBlock2D",) * 4,
            "layers_per_block": 2,
        }
    else:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHES)}")
    text.update(
        vocab_size=vocab_size,
        max_position_embeddings=77,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
    )
    vae.update(in_channels=3, out_channels=3, latent_channels=4)
    return text, unet, vae


def assemble_sd_pipeline(vae: Any, text_encoder: Any, tokenizer: Any, unet: Any) -> Any:
    """A StableDiffusionPipeline from components, with SD's own Euler scheduler settings."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def build_random_sdxl(folder: Path, seed: int = 0) -> Path:
    """Save a random-weight SDXL base pipeline, in the real shapes, as a diffusers folder.

    The shapes are the shipped single-file configs (`resources/configs/sdxl`, the SDXL 1.0 base
    configs) and the tokenizers the shipped CLIP vocabulary, so nothing is downloaded. The
    weights are made and saved in float16 (the UNet alone would be 10 GB in float32); building
    took 116 s and 7.2 GB of RAM on a 2-core CPU (6.5 GB on disk). For GPU benchmarks.
    """
    import shutil

    from imagestudio.core.generation.engine import prepare_model_stack
    from imagestudio.core.paths import resources_dir

    prepare_model_stack()
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = Path(folder)
    shutil.copytree(resources_dir() / "configs" / "sdxl", folder)
    vocabulary = resources_dir() / "tokenizers" / "clip"
    for tokenizer in ("tokenizer", "tokenizer_2"):
        for name in ("vocab.json", "merges.txt"):
            shutil.copyfile(vocabulary / name, folder / tokenizer / name)
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float16)
    try:
        parts: list[tuple[str, Any]] = [
            (
                "text_encoder",
                CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder")),
            ),
            (
                "text_encoder_2",
                CLIPTextModelWithProjection(
                    CLIPTextConfig.from_pretrained(folder / "text_encoder_2")
                ),
            ),
            (
                "unet",
                UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet")),
            ),
            ("vae", AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))),
        ]
    finally:
        torch.set_default_dtype(previous)
    for name, model in parts:
        model.to(torch.float16).save_pretrained(folder / name, safe_serialization=True)
    return folder


def build_random_sd(folder: Path, arch: str = "tiny", seed: int = 0) -> Path:
    """Save a random-weight Stable Diffusion pipeline as a diffusers folder (safetensors).

    `arch` "sdxl" builds SDXL base in its real shapes (`build_random_sdxl`); the others SD 1.x.
    """
    if arch == "sdxl":
        return build_random_sdxl(folder, seed)
    from imagestudio.core.generation.engine import prepare_model_stack

    prepare_model_stack()
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = Path(folder)
    tok_dir = folder / "tokenizer"
    vocab_size = write_byte_level_tokenizer(tok_dir)
    text_cfg, unet_cfg, vae_cfg = _configs(arch, vocab_size)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_cfg))
    unet = UNet2DConditionModel(in_channels=4, out_channels=4, **unet_cfg)
    vae = AutoencoderKL(**vae_cfg)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir, local_files_only=True)
    pipe = assemble_sd_pipeline(vae, text_encoder, tokenizer, unet)
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()
    pipe.save_pretrained(folder, safe_serialization=True)  # type: ignore[attr-defined]
    return folder
