"""The smallest random-weight model files a real ComfyUI server loads, for integration tests.

ComfyUI reads a checkpoint's architecture from its key names and shapes, but some parts are
fixed: it takes a UNet for SD 1.x only with 320 model channels and 768-wide cross-attention,
builds the full CLIP ViT-L/14 text model from its own config, and skips weight initialisation,
so every weight must be in the file. The VAE may be given as TAESD (``taesd_encoder.*`` and
``taesd_decoder.*`` keys), which it then builds instead of the 83M-parameter KL autoencoder.

So the checkpoint holds, in the original (LDM / A1111) key layout:

- a UNet with one level: 320 channels, one res block and one cross-attention transformer down,
  two res blocks up, no middle block (13.6M parameters);
- the whole CLIP-L text model, random (123M parameters);
- a TAESD autoencoder (2.4M parameters).

That is about 265 MiB in fp16, written in seconds. The pictures are noise; the code paths in the
server are those of a real SD 1.5 checkpoint. `tiny_lora` writes a kohya-style LoRA (the format
most LoRA files use) for the same checkpoint's attention and text-encoder layers.

The key names are written out here from the layout of the files model sites ship; nothing is
taken from ComfyUI (GPL-3.0), which only ever runs as a separate process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

__all__ = ["tiny_lora", "tiny_sd15_checkpoint"]

# Bump when the files change, so that cached copies (named with it) are rebuilt.
BUILD_VERSION = 1
CHECKPOINT_NAME = f"imagestudio-tiny-sd15-v{BUILD_VERSION}.safetensors"
LORA_NAME = f"imagestudio-tiny-lora-v{BUILD_VERSION}.safetensors"

_CHANNELS = 320  # ComfyUI's SD 1.x match needs exactly these two
_CONTEXT = 768
_TIME = 4 * _CHANNELS
_CLIP_LAYERS = 12
_CLIP_WIDTH = 768
_CLIP_MLP = 3072
_CLIP_VOCAB = 49408
_CLIP_POSITIONS = 77


class _Weights:
    """A state dict filled with seeded random weights: normal(0, gain / sqrt(fan_in)) for
    weights, zero biases, unit norms."""

    def __init__(self, seed: int) -> None:
        self.state: dict[str, torch.Tensor] = {}
        self.generator = torch.Generator().manual_seed(seed)

    def _random(self, shape: tuple[int, ...], std: float) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator) * std

    def linear(self, name: str, out: int, inp: int, bias: bool = True, gain: float = 1.0) -> None:
        self.state[f"{name}.weight"] = self._random((out, inp), gain / inp**0.5)
        if bias:
            self.state[f"{name}.bias"] = torch.zeros(out)

    def conv(
        self, name: str, out: int, inp: int, kernel: int, bias: bool = True, gain: float = 1.0
    ) -> None:
        fan_in = inp * kernel * kernel
        self.state[f"{name}.weight"] = self._random((out, inp, kernel, kernel), gain / fan_in**0.5)
        if bias:
            self.state[f"{name}.bias"] = torch.zeros(out)

    def norm(self, name: str, channels: int) -> None:
        self.state[f"{name}.weight"] = torch.ones(channels)
        self.state[f"{name}.bias"] = torch.zeros(channels)

    def embedding(self, name: str, rows: int, width: int, std: float) -> None:
        self.state[f"{name}.weight"] = self._random((rows, width), std)


def _res_block(w: _Weights, prefix: str, inp: int, out: int) -> None:
    w.norm(f"{prefix}in_layers.0", inp)
    w.conv(f"{prefix}in_layers.2", out, inp, 3)
    w.linear(f"{prefix}emb_layers.1", out, _TIME)
    w.norm(f"{prefix}out_layers.0", out)
    w.conv(f"{prefix}out_layers.3", out, out, 3, gain=0.1)  # near identity: stays finite
    if inp != out:
        w.conv(f"{prefix}skip_connection", out, inp, 1)


def _transformer(w: _Weights, prefix: str, channels: int) -> None:
    """An SD 1.x SpatialTransformer of depth one (1x1 conv projections in and out)."""
    w.norm(f"{prefix}norm", channels)
    w.conv(f"{prefix}proj_in", channels, channels, 1)
    block = f"{prefix}transformer_blocks.0."
    for attention, context in (("attn1", channels), ("attn2", _CONTEXT)):
        w.linear(f"{block}{attention}.to_q", channels, channels, bias=False)
        w.linear(f"{block}{attention}.to_k", channels, context, bias=False)
        w.linear(f"{block}{attention}.to_v", channels, context, bias=False)
        w.linear(f"{block}{attention}.to_out.0", channels, channels)
    w.linear(f"{block}ff.net.0.proj", 8 * channels, channels)  # GEGLU: value and gate
    w.linear(f"{block}ff.net.2", channels, 4 * channels, gain=0.1)
    for index in (1, 2, 3):
        w.norm(f"{block}norm{index}", channels)
    # full gain: the prompt (and so clip skip, a LoRA) visibly changes the picture
    w.conv(f"{prefix}proj_out", channels, channels, 1)


def unet_state(seed: int) -> dict[str, torch.Tensor]:
    """The one-level SD 1.x UNet, keyed ``model.diffusion_model.*``."""
    w = _Weights(seed)
    w.linear("time_embed.0", _TIME, _CHANNELS)
    w.linear("time_embed.2", _TIME, _TIME)
    w.conv("input_blocks.0.0", _CHANNELS, 4, 3)
    _res_block(w, "input_blocks.1.0.", _CHANNELS, _CHANNELS)
    _transformer(w, "input_blocks.1.1.", _CHANNELS)
    # Up: each res block takes the features and one skip (input_blocks.1, then .0)
    _res_block(w, "output_blocks.0.0.", 2 * _CHANNELS, _CHANNELS)
    _res_block(w, "output_blocks.1.0.", 2 * _CHANNELS, _CHANNELS)
    w.norm("out.0", _CHANNELS)
    w.conv("out.2", 4, _CHANNELS, 3)
    return {f"model.diffusion_model.{k}": v for k, v in w.state.items()}


def _clip_layers() -> Iterator[tuple[str, int, int]]:
    """(name, out, in) of every linear layer of the CLIP-L text model, as transformers names
    them under ``text_model.``."""
    for layer in range(_CLIP_LAYERS):
        prefix = f"encoder.layers.{layer}."
        for projection in ("q_proj", "k_proj", "v_proj", "out_proj"):
            yield f"{prefix}self_attn.{projection}", _CLIP_WIDTH, _CLIP_WIDTH
        yield f"{prefix}mlp.fc1", _CLIP_MLP, _CLIP_WIDTH
        yield f"{prefix}mlp.fc2", _CLIP_WIDTH, _CLIP_MLP


def clip_state(seed: int) -> dict[str, torch.Tensor]:
    """The CLIP ViT-L/14 text model, keyed ``cond_stage_model.transformer.text_model.*``."""
    w = _Weights(seed)
    w.embedding("embeddings.token_embedding", _CLIP_VOCAB, _CLIP_WIDTH, 0.02)
    w.embedding("embeddings.position_embedding", _CLIP_POSITIONS, _CLIP_WIDTH, 0.01)
    for name, out, inp in _clip_layers():
        w.linear(name, out, inp, gain=0.5)
    for layer in range(_CLIP_LAYERS):
        w.norm(f"encoder.layers.{layer}.layer_norm1", _CLIP_WIDTH)
        w.norm(f"encoder.layers.{layer}.layer_norm2", _CLIP_WIDTH)
    w.norm("final_layer_norm", _CLIP_WIDTH)
    return {f"cond_stage_model.transformer.text_model.{k}": v for k, v in w.state.items()}


# TAESD (github.com/madebyollin/taesd, MIT): two nn.Sequential stacks of 3x3 convs and residual
# blocks of three convs, 64 channels wide. Entries: ("conv", in, out, bias), ("block",), or
# None for a layer without weights (ReLU, Upsample, the decoder's input clamp).
_Layer = tuple[Any, ...] | None
_BLOCK: tuple[str] = ("block",)
_DOWN: tuple[Any, ...] = ("conv", 64, 64, False)
_TAESD_ENCODER: list[_Layer] = [
    ("conv", 3, 64, True),
    _BLOCK,
    *([_DOWN, _BLOCK, _BLOCK, _BLOCK] * 3),
    ("conv", 64, 4, True),
]
_UP: list[_Layer] = [None, ("conv", 64, 64, False)]  # Upsample, then a conv without bias
_TAESD_DECODER: list[_Layer] = [
    None,
    ("conv", 4, 64, True),
    None,
    *([_BLOCK, _BLOCK, _BLOCK, *_UP] * 3),
    _BLOCK,
    ("conv", 64, 3, True),
]


def _taesd_stack(w: _Weights, prefix: str, layers: list[_Layer], last_gain: float) -> None:
    for index, layer in enumerate(layers):
        if layer is None:
            continue
        last = index == len(layers) - 1
        if layer[0] == "block":
            for conv in (0, 2, 4):  # conv, ReLU, conv, ReLU, conv; identity skip (64 -> 64)
                gain = 0.1 if conv == 4 else 2**0.5
                w.conv(f"{prefix}{index}.conv.{conv}", 64, 64, 3, gain=gain)
        else:
            _, inp, out, bias = layer
            w.conv(f"{prefix}{index}", out, inp, 3, bias=bias, gain=last_gain if last else 2**0.5)


def taesd_state(seed: int) -> dict[str, torch.Tensor]:
    """A TAESD encoder and decoder, keyed ``first_stage_model.taesd_*``."""
    w = _Weights(seed)
    _taesd_stack(w, "taesd_encoder.", _TAESD_ENCODER, last_gain=1.0)
    _taesd_stack(w, "taesd_decoder.", _TAESD_DECODER, last_gain=0.1)
    # The decoder's output is mapped x * 2 - 1: a bias of 0.5 makes mid-grey noise, not white.
    w.state[f"taesd_decoder.{len(_TAESD_DECODER) - 1}.bias"] = torch.full((3,), 0.5)
    w.state["vae_scale"] = torch.tensor(1.0)
    return {f"first_stage_model.{k}": v for k, v in w.state.items()}


def _save(state: dict[str, torch.Tensor], path: Path) -> Path:
    """Write atomically: a half-written file never has the final name."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    save_file({k: v.contiguous() for k, v in state.items()}, str(partial), {"format": "pt"})
    os.replace(partial, path)
    return path


def tiny_sd15_checkpoint(path: Path, seed: int = 0, dtype: torch.dtype = torch.float16) -> Path:
    """Write the smallest SD 1.x single-file checkpoint ComfyUI accepts (see the module)."""
    state = {**unet_state(seed), **taesd_state(seed + 1), **clip_state(seed + 2)}
    return _save({k: v.to(dtype) for k, v in state.items()}, path)


def tiny_lora(path: Path, seed: int = 0, rank: int = 4) -> Path:
    """Write a kohya-style LoRA for `tiny_sd15_checkpoint`: every attention projection of the
    UNet (named as diffusers names the layers, like most LoRA files) and every linear layer of
    the text encoder, each as ``lora_down``, ``lora_up`` and ``alpha``."""
    w = _Weights(seed)
    layers: list[tuple[str, int, int]] = []
    block = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_"
    for attention, context in (("attn1", _CHANNELS), ("attn2", _CONTEXT)):
        layers.append((f"{block}{attention}_to_q", _CHANNELS, _CHANNELS))
        layers.append((f"{block}{attention}_to_k", _CHANNELS, context))
        layers.append((f"{block}{attention}_to_v", _CHANNELS, context))
        layers.append((f"{block}{attention}_to_out_0", _CHANNELS, _CHANNELS))
    for name, out, inp in _clip_layers():
        layers.append((f"lora_te_text_model_{name.replace('.', '_')}", out, inp))
    for name, out, inp in layers:
        w.linear(f"{name}.lora_down", rank, inp, bias=False)
        w.linear(f"{name}.lora_up", out, rank, bias=False, gain=0.1)
        w.state[f"{name}.alpha"] = torch.tensor(float(rank))
    return _save({k: v.to(torch.float16) for k, v in w.state.items()}, path)
