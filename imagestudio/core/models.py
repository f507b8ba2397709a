"""Find and describe models: the built-in starter model, folders in the models folder, or a path.

Everything here reads small JSON files only; loading weights is the engine's job. The full model
library (single files, the Hugging Face cache, LoRA, import) grows from this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from imagestudio.core.errors import ModelError
from imagestudio.core.paths import resources_dir
from imagestudio.core.requests import BUILTIN_MODEL

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")
SINGLE_FILE_SUFFIXES = (".safetensors",)

FAMILY_LABELS = {
    "sd1": "Stable Diffusion 1.x",
    "sd2": "Stable Diffusion 2.x",
    "sdxl": "Stable Diffusion XL",
    "unknown": "unknown family",
}


@dataclass(frozen=True)
class ModelRef:
    """A model that can be loaded: its display name, folder and detected family."""

    name: str
    path: Path
    family: str
    builtin: bool = False


def builtin_model_dir() -> Path:
    return resources_dir() / "models" / BUILTIN_MODEL


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def detect_family(folder: Path) -> str:
    """Family from the model's own configs (never from its name).

    SDXL has two text encoders and a 2048-wide cross attention; SD 2.x uses a 1024-wide OpenCLIP
    encoder; SD 1.x a 768-wide CLIP encoder. Anything else (a custom or tiny model) is "unknown",
    and gets its preview map fitted instead of borrowed.
    """
    index = _read_json(folder / "model_index.json")
    unet = _read_json(folder / "unet" / "config.json")
    vae = _read_json(folder / "vae" / "config.json")
    if vae.get("latent_channels", 4) != 4:
        return "unknown"
    cross = unet.get("cross_attention_dim")
    pipeline_class = str(index.get("_class_name", ""))
    if "XL" in pipeline_class or cross == 2048:
        return "sdxl" if cross == 2048 else "unknown"
    if cross == 768:
        return "sd1"
    if cross == 1024:
        return "sd2"
    return "unknown"


def check_model_folder(folder: Path) -> None:
    """Raise ModelError with the reason if `folder` cannot be a diffusers model."""
    if not folder.exists():
        raise ModelError(f"The model folder {folder} does not exist.")
    if folder.is_file():
        suffix = folder.suffix.lower()
        if suffix in PICKLE_SUFFIXES:
            raise ModelError(
                f"{folder.name} is a pickle-based checkpoint, which can run code when loaded; "
                "ImageStudio refuses such files. Use a .safetensors version of the model."
            )
        if suffix in SINGLE_FILE_SUFFIXES:
            raise ModelError(
                f"{folder.name} is a single-file checkpoint; this version loads diffusers model "
                "folders only (a folder with model_index.json)."
            )
        raise ModelError(f"{folder} is a file, not a diffusers model folder.")
    if not (folder / "model_index.json").is_file():
        raise ModelError(f"{folder} is not a diffusers model folder: it has no model_index.json.")
    if not _read_json(folder / "model_index.json"):
        raise ModelError(f"The model_index.json in {folder} is damaged or empty.")


def list_models(models_dir: Path) -> list[ModelRef]:
    """The built-in model (when installed) and every diffusers folder directly in `models_dir`."""
    found: list[ModelRef] = []
    builtin = builtin_model_dir()
    if (builtin / "model_index.json").is_file():
        found.append(ModelRef(BUILTIN_MODEL, builtin, detect_family(builtin), builtin=True))
    if models_dir.is_dir():
        for child in sorted(models_dir.iterdir(), key=lambda p: p.name.lower()):
            if child.is_dir() and (child / "model_index.json").is_file():
                found.append(ModelRef(child.name, child, detect_family(child)))
    return found


def resolve_model(name_or_path: str, models_dir: Path) -> ModelRef:
    """Turn what the user typed (a name, or a path) into a loadable model, or say why not."""
    text = name_or_path.strip()
    if text == BUILTIN_MODEL:
        folder = builtin_model_dir()
        if not (folder / "model_index.json").is_file():
            raise ModelError(
                "The built-in starter model is not part of this installation yet "
                f"({folder} is missing). Pass --model with a diffusers model folder."
            )
        return ModelRef(BUILTIN_MODEL, folder, detect_family(folder), builtin=True)
    candidate = Path(text).expanduser()
    looks_like_path = candidate.is_absolute() or any(sep in text for sep in ("/", "\\"))
    if candidate.exists() or looks_like_path:
        folder = candidate.resolve()
        check_model_folder(folder)
        return ModelRef(folder.name, folder, detect_family(folder))
    in_library = models_dir / text
    if in_library.is_dir():
        check_model_folder(in_library)
        return ModelRef(text, in_library, detect_family(in_library))
    known = ", ".join(ref.name for ref in list_models(models_dir)) or "none yet"
    raise ModelError(
        f"No model named {text!r}. Give the path of a diffusers model folder, or put one in "
        f"{models_dir}. Models found: {known}."
    )
