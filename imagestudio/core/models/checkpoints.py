"""Single-file checkpoints: read what a `.safetensors` file holds without loading it, tell which
model family it is from its tensor names and shapes, and turn pickle files into safetensors safely.

A model site's checkpoint is one file in the original (CompVis/Stability) key layout: the UNet
under `model.diffusion_model.`, the VAE under `first_stage_model.`, the text encoder(s) under
`cond_stage_model.` (SD 1.x: OpenAI CLIP; SD 2.x: OpenCLIP) or `conditioner.embedders.N.` (SDXL).
Those prefixes and a few shapes identify the family; the file's name is never trusted.

Pickle-based files (.ckpt, .pt, .pth, .bin) are Python programs as much as data: unpickling one
can run any code. They are never loaded as models. `convert_to_safetensors` reads one with
`torch.load(weights_only=True)`, PyTorch's restricted unpickler that builds tensors and plain
containers only and refuses everything else, and writes the tensors to a new .safetensors file.
"""

from __future__ import annotations

import json
import os
import struct
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagestudio.core.errors import ModelError
from imagestudio.core.vocabulary import Family, FileRole

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")
SAFETENSORS_SUFFIX = ".safetensors"
# A safetensors header is JSON; real ones are a few MB at most. More than this is a damaged file.
_MAX_HEADER = 256 * 2**20

_DTYPE_NAMES = {
    "F16": "fp16",
    "BF16": "bf16",
    "F32": "fp32",
    "F64": "fp64",
    "F8_E4M3": "fp8",
    "F8_E5M2": "fp8",
}
_DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "I64": 8,
    "I32": 4,
    "U64": 8,
    "U32": 4,
    "F16": 2,
    "BF16": 2,
    "I16": 2,
    "U16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}
_MAX_DIM = 2**40

UNET = "model.diffusion_model."
VAE = "first_stage_model."
SD1_TEXT = "cond_stage_model.transformer."
SD2_TEXT = "cond_stage_model.model."
SDXL_TEXT_1 = "conditioner.embedders.0.transformer."
SDXL_TEXT_2 = "conditioner.embedders.1.model."
REFINER_TEXT = "conditioner.embedders.0.model."


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Header:
    """The table of contents of a .safetensors file: tensor names, dtypes and shapes."""

    tensors: Mapping[str, TensorInfo]
    metadata: Mapping[str, str]

    def shape(self, key: str) -> tuple[int, ...] | None:
        info = self.tensors.get(key)
        return info.shape if info else None

    def has_prefix(self, prefix: str) -> bool:
        return any(key.startswith(prefix) for key in self.tensors)

    def precision(self) -> str:
        """The dtype most of the bytes are in ("fp16", "bf16", "fp32", ...), "mixed" if none is."""
        weight: Counter[str] = Counter()
        for info in self.tensors.values():
            count = 1
            for dim in info.shape:
                count *= dim
            weight[info.dtype] += count * _DTYPE_BYTES.get(info.dtype, 1)
        if not weight:
            return "unknown"
        dtype, share = weight.most_common(1)[0]
        if share < 0.9 * sum(weight.values()):
            return "mixed"
        return _DTYPE_NAMES.get(dtype, dtype.lower())


def embedding_family(shapes: Mapping[str, tuple[int, ...]]) -> Family | None:
    """The family a textual-inversion embedding's tensor shapes are for ("unknown": a width no
    known family has, as for a custom model), or None when they are no embedding: A1111's
    ``emb_params``, diffusers' one tensor named after its token, SDXL's ``clip_l``+``clip_g``."""
    if set(shapes) == {"clip_l", "clip_g"}:
        return "sdxl" if (shapes["clip_l"][-1], shapes["clip_g"][-1]) == (768, 1280) else "unknown"
    if set(shapes) != {"emb_params"} and (len(shapes) != 1 or "." in next(iter(shapes))):
        return None
    key, shape = next(iter(shapes.items()))
    if not 1 <= len(shape) <= 2:
        return None
    # one tensor under any other name: diffusers names it after its token, "<cat-toy>"; a
    # stray small tensor is no embedding
    if key != "emb_params" and not (key.startswith("<") and key.endswith(">")) and shape[-1] < 256:
        return None
    known: dict[int, Family] = {768: "sd1", 1024: "sd2"}
    return known.get(shape[-1], "unknown")


def read_header(path: Path) -> Header:
    """Read a .safetensors header (a few KB to MB) without touching the tensors."""
    try:
        with open(path, "rb") as handle:
            start = handle.read(8)
            if len(start) != 8:
                raise ModelError(
                    f"{path.name} is empty or cut short; it is not a safetensors file."
                )
            (size,) = struct.unpack("<Q", start)
            if size == 0 or size > _MAX_HEADER or size + 8 > os.fstat(handle.fileno()).st_size:
                raise ModelError(
                    f"{path.name} is not a valid safetensors file (its header is damaged, or the "
                    "download was cut short). Download it again."
                )
            raw = handle.read(size)
            file_size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise ModelError(f"Could not read {path}: {exc.strerror or exc}.") from exc
    damaged = (
        f"{path.name} is not a valid safetensors file (its header cannot be read). Download it "
        "again."
    )
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        metadata = data.pop("__metadata__", None) or {}
        if not isinstance(metadata, dict):
            raise ValueError("metadata is not an object")
        tensors = {str(key): _tensor_info(value) for key, value in data.items()}
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
        raise ModelError(damaged) from exc
    body = file_size - 8 - size
    for key, value in data.items():
        start, end = value["data_offsets"]
        if not 0 <= start <= end <= body:
            raise ModelError(
                f"{path.name} is damaged: the data of its tensor {str(key)[:80]!r} lies outside "
                "the file (the download was cut short, or the file was edited). Download it again."
            )
    return Header(tensors, {str(k): str(v)[:10_000] for k, v in metadata.items()})


def _tensor_info(value: Any) -> TensorInfo:
    """One header entry, checked: a dtype name, a shape of sizes, two data offsets."""
    dtype, shape, offsets = value["dtype"], value["shape"], value["data_offsets"]
    if not isinstance(dtype, str) or not isinstance(shape, list) or len(shape) > 16:
        raise ValueError("bad entry")
    if not isinstance(offsets, list) or len(offsets) != 2:
        raise ValueError("bad offsets")
    numbers = [*shape, *offsets]
    if any(isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < _MAX_DIM for n in numbers):
        raise ValueError("bad numbers")
    count = 1
    for dim in shape:
        count *= dim
    if dtype in _DTYPE_BYTES and count * _DTYPE_BYTES[dtype] != offsets[1] - offsets[0]:
        raise ValueError("the shape does not match the data")
    return TensorInfo(dtype, tuple(shape))


@dataclass(frozen=True)
class Signature:
    """What a single file is, read from its keys.

    `role` is "checkpoint" (a whole text-to-image model), "lora", "vae", "unet", "embedding" or
    "unknown". `family` is "sd1", "sd2", "sdxl" or "unknown"; `problem` says, as a sentence, why
    ImageStudio cannot load it as a text-to-image model (None when it can). `dims` holds the
    shapes read from the file, used to fit the shipped configs to it.
    """

    role: FileRole
    family: Family
    problem: str | None = None
    variant: str = ""
    dims: Mapping[str, int] = field(default_factory=dict)


def count_children(header: Header, prefix: str) -> int:
    """How many numbered children `prefix<N>.` exist (N = 0, 1, 2...): layers, blocks."""
    numbers = set()
    for key in header.tensors:
        if key.startswith(prefix):
            head = key[len(prefix) :].split(".", 1)[0]
            if head.isdigit():
                numbers.add(int(head))
    return max(numbers) + 1 if numbers else 0


def unet_dims(header: Header) -> dict[str, int]:
    """The UNet shapes that name a model's kind: input channels, cross-attention width, LCM's
    time condition and SDXL's added embedding input, where present."""
    dims: dict[str, int] = {}
    first = header.shape(UNET + "input_blocks.0.0.weight")
    if first:
        dims["model_channels"] = first[0]
        dims["in_channels"] = first[1]
    cross = [
        info.shape[1]
        for key, info in header.tensors.items()
        if key.startswith(UNET) and key.endswith("attn2.to_k.weight") and len(info.shape) == 2
    ]
    if cross:
        dims["cross_attention_dim"] = cross[0]
    time_cond = header.shape(UNET + "time_embed.cond_proj.weight")
    if time_cond:
        dims["time_cond_proj_dim"] = time_cond[1]
    label = header.shape(UNET + "label_emb.0.0.weight")
    if label:
        dims["addition_embed_input"] = label[1]
    return dims


def text_encoder_dims(header: Header, prefix: str, open_clip: bool) -> dict[str, int]:
    """The shapes of a CLIP text encoder under `prefix`, in HF CLIP's or OpenCLIP's names:
    layers, and where present vocab, hidden, positions, mlp and projection."""
    if open_clip:
        emb = header.shape(prefix + "token_embedding.weight")
        positions = header.shape(prefix + "positional_embedding")
        layers = count_children(header, prefix + "transformer.resblocks.")
        mlp = header.shape(prefix + "transformer.resblocks.0.mlp.c_fc.weight")
        projection = header.shape(prefix + "text_projection")
    else:
        emb = header.shape(prefix + "text_model.embeddings.token_embedding.weight")
        positions = header.shape(prefix + "text_model.embeddings.position_embedding.weight")
        layers = count_children(header, prefix + "text_model.encoder.layers.")
        mlp = header.shape(prefix + "text_model.encoder.layers.0.mlp.fc1.weight")
        projection = None
    dims = {"layers": layers}
    if emb:
        dims["vocab"], dims["hidden"] = emb
    if positions:
        dims["positions"] = positions[0]
    if mlp:
        dims["mlp"] = mlp[0]
    if projection:
        dims["projection"] = projection[-1]
    return dims


def identify(header: Header) -> Signature:
    """Tell what a safetensors file holds from its tensor names and shapes."""
    keys = header.tensors
    if not keys:
        return Signature("unknown", "unknown", "The file holds no tensors.")
    if any(
        ".lora_down." in k or ".lora_up." in k or ".lora_A." in k or ".lora_B." in k or "lora_" in k
        for k in keys
    ) and not header.has_prefix(UNET):
        return Signature(
            "lora",
            "unknown",
            "This is a LoRA, a small add-on for a model; load a model, then apply the LoRA to it.",
        )
    newer = ("double_blocks.", "joint_blocks.", "transformer_blocks.")
    if any(
        k.startswith(newer) or k.startswith(UNET + newer[0]) or k.startswith(UNET + newer[1])
        for k in keys
    ):
        return Signature(
            "checkpoint",
            "unknown",
            "This is a model of a newer family (Stable Diffusion 3, Flux or similar); "
            "ImageStudio runs Stable Diffusion 1.x, 2.x and XL models.",
        )
    if not header.has_prefix(UNET):
        if any(
            k.startswith(("encoder.down.", "decoder.up.", "encoder.down_blocks.")) for k in keys
        ):
            return Signature(
                "vae",
                "unknown",
                "This file holds only a VAE (the image decoder), not a whole model.",
            )
        if any(k.startswith(("down_blocks.", "input_blocks.", "conv_in.")) for k in keys):
            return Signature(
                "unet",
                "unknown",
                "This file holds only a UNet, without text encoder or VAE; ImageStudio needs a "
                "whole checkpoint or a diffusers model folder.",
            )
        shapes = {k: info.shape for k, info in header.tensors.items()}
        if "string_to_param.*" in shapes:  # an A1111 .pt, converted
            shapes = {"emb_params": shapes["string_to_param.*"]}
        made_for = embedding_family(shapes) if len(shapes) <= 8 else None
        if made_for is not None:
            return Signature(
                "embedding",
                made_for,
                "This is a textual-inversion embedding: put it in models/embeddings and write "
                "its name in a prompt.",
            )
        return Signature(
            "unknown",
            "unknown",
            "The file's tensors do not look like a Stable Diffusion checkpoint.",
        )

    dims = unet_dims(header)
    family: Family
    if header.has_prefix(SDXL_TEXT_2) and header.has_prefix(SDXL_TEXT_1):
        family = "sdxl"
        text1 = {f"text_{k}": v for k, v in text_encoder_dims(header, SDXL_TEXT_1, False).items()}
        text2 = {f"text2_{k}": v for k, v in text_encoder_dims(header, SDXL_TEXT_2, True).items()}
        dims.update(text1 | text2)
    elif header.has_prefix(REFINER_TEXT):
        return Signature(
            "checkpoint",
            "sdxl",
            "This is an SDXL refiner, which only polishes images made by SDXL; ImageStudio does "
            "not run refiners yet. Use an SDXL base model.",
            dims=dims,
        )
    elif header.has_prefix(SD2_TEXT):
        family = "sd2"
        dims.update({f"text_{k}": v for k, v in text_encoder_dims(header, SD2_TEXT, True).items()})
    elif header.has_prefix(SD1_TEXT):
        family = "sd1"
        dims.update({f"text_{k}": v for k, v in text_encoder_dims(header, SD1_TEXT, False).items()})
    else:
        return Signature(
            "checkpoint",
            "unknown",
            "The checkpoint has no text encoder ImageStudio recognises (SD 1.x, 2.x or XL).",
            dims=dims,
        )

    variant = ""
    if "time_cond_proj_dim" in dims:
        variant = "lcm"
    if "v_pred" in keys:
        variant = "v-prediction"
    problem = None
    in_channels = dims.get("in_channels", 4)
    if in_channels == 9:
        variant = "inpainting"  # a dedicated inpainting model: noise, mask and masked picture
    elif in_channels != 4:
        problem = (
            f"The model's UNet takes {in_channels} input channels (an edit or depth model, not "
            "plain text-to-image); ImageStudio cannot run it yet."
        )
    elif not header.has_prefix(VAE):
        problem = "The checkpoint has no VAE (first_stage_model), so it cannot make pictures."
    return Signature("checkpoint", family, problem, variant, dims)


def describe_file(path: Path) -> tuple[Header | None, Signature]:
    """Header and signature of a single file; pickle files get a refusal without being opened."""
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return None, Signature("unknown", "unknown", pickle_refusal(path))
    if suffix != SAFETENSORS_SUFFIX:
        return None, Signature(
            "unknown", "unknown", f"{path.name} is not a .safetensors file or a model folder."
        )
    header = read_header(path)
    return header, identify(header)


def pickle_refusal(path: Path) -> str:
    return (
        f"{path.name} is a pickle-based file, and opening one can run any program hidden in it. "
        "ImageStudio does not load such files. Convert it once to .safetensors (tensors only, "
        f'nothing runs): imagestudio models convert "{path}"'
    )


# -- pickle -> safetensors ---------------------------------------------------------------------


def _flatten_tensors(obj: Any, prefix: str, out: dict[str, Any], skipped: list[str]) -> None:
    import torch

    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            _flatten_tensors(value, name, out, skipped)
    elif prefix:
        skipped.append(prefix)


@dataclass(frozen=True)
class Conversion:
    output: Path
    tensors: int
    skipped: tuple[str, ...]  # non-tensor entries dropped (training step counters and the like)


def convert_to_safetensors(
    source: Path,
    output: Path | None = None,
    *,
    overwrite: bool = False,
    on_notice: Callable[[str], None] | None = None,
) -> Conversion:
    """Write the tensors of a pickle checkpoint to a .safetensors file, running none of its code.

    `torch.load(weights_only=True)` refuses any pickled object that is not a tensor, a number, a
    string or a plain container, so a planted payload fails the load instead of running; such a
    file is refused as a whole (fail closed). A checkpoint's `state_dict` wrapper is unwrapped.
    The output is written next to the source (same name, .safetensors) unless `output` is given,
    atomically: a temporary file renamed into place.
    """
    import pickle

    import torch
    from safetensors.torch import save_file

    source = Path(source)
    if not source.is_file():
        raise ModelError(f"There is no file at {source}.")
    if source.suffix.lower() == SAFETENSORS_SUFFIX:
        raise ModelError(f"{source.name} is already a .safetensors file; nothing to convert.")
    output = Path(output) if output else source.with_suffix(SAFETENSORS_SUFFIX)
    if output.suffix.lower() != SAFETENSORS_SUFFIX:
        raise ModelError(f"The output {output.name} must end in .safetensors.")
    if output.exists() and not overwrite:
        raise ModelError(f"{output} already exists; choose another output or remove it first.")
    try:
        data = torch.load(source, map_location="cpu", weights_only=True, mmap=False)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, ValueError) as exc:
        text = " ".join(str(exc).split())
        if "weights only" in text.lower() or "unsupported global" in text.lower():
            raise ModelError(
                f"{source.name} contains Python objects other than tensors, which could run code "
                "when loaded; it was not converted. Get a .safetensors version of this model from "
                "its author."
            ) from exc
        raise ModelError(
            f"{source.name} could not be read as a PyTorch checkpoint ({text[:200]})."
        ) from exc
    except (EOFError, OSError) as exc:
        raise ModelError(f"{source.name} is damaged or cut short: {exc}.") from exc
    except (KeyError, IndexError, OverflowError, MemoryError, RecursionError, ImportError) as exc:
        # a file that is not a pickle at all trips the unpickler in many ways
        raise ModelError(
            f"{source.name} is not a PyTorch checkpoint (it could not be read as one); "
            "nothing in it was run."
        ) from exc
    if isinstance(data, Mapping) and isinstance(data.get("state_dict"), Mapping):
        data = data["state_dict"]
    tensors: dict[str, Any] = {}
    skipped: list[str] = []
    _flatten_tensors(data, "", tensors, skipped)
    if not tensors:
        raise ModelError(f"{source.name} holds no tensors; there is nothing to convert.")
    # safetensors stores each tensor once: clone views that share storage with another tensor
    seen: set[tuple[int, int]] = set()
    for key, tensor in tensors.items():
        tensor = tensor.contiguous()
        ident = (tensor.untyped_storage().data_ptr(), tensor.storage_offset())
        if ident in seen or tensor.untyped_storage().nbytes() != tensor.nbytes:
            tensor = tensor.clone()
        seen.add(ident)
        tensors[key] = tensor
    if skipped and on_notice:
        on_notice(f"Dropped {len(skipped)} entries that are not tensors: {', '.join(skipped[:5])}.")
    temporary = output.with_name(output.name + ".part")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(temporary), metadata={"converted_from": source.name})
        os.replace(temporary, output)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ModelError(f"Could not write {output}: {exc.strerror or exc}.") from exc
    return Conversion(output, len(tensors), tuple(skipped))


# diffusers / transformers weight file names: pickle name -> safetensors name
_FOLDER_NAMES = {
    "diffusion_pytorch_model.bin": "diffusion_pytorch_model.safetensors",
    "pytorch_model.bin": "model.safetensors",
}


def convert_folder(
    folder: Path, on_notice: Callable[[str], None] | None = None
) -> list[Conversion]:
    """Convert the pickle weights of a diffusers folder in place (each beside its .bin file),
    with the same refusal as `convert_to_safetensors`. The .bin files are left for the user to
    delete; diffusers prefers the .safetensors ones from then on."""
    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise ModelError(f"{folder} is not a diffusers model folder (it has no model_index.json).")
    sources = sorted(p for p in folder.glob("*/*.bin") if p.is_file())
    if not sources:
        raise ModelError(f"{folder} has no .bin weights to convert.")
    plans = []
    for source in sources:
        name = _FOLDER_NAMES.get(source.name)
        if name is None:
            raise ModelError(
                f"{source.relative_to(folder)} is split into parts or named unusually; "
                "ImageStudio converts single diffusion_pytorch_model.bin / pytorch_model.bin "
                "files only."
            )
        plans.append((source, source.with_name(name)))
    return [
        convert_to_safetensors(source, target, overwrite=True, on_notice=on_notice)
        for source, target in plans
        if not target.exists()
    ]
