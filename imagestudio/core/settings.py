"""User settings: typed, with defaults, a schema version, and a tolerant load.

A bad or unknown value in the file never stops the app: it is replaced by the default and the
problem is reported in `Settings.problems` so the UI can say so.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagestudio.core.outputs.storage import atomic_write_bytes
from imagestudio.core.paths import AppPaths, app_paths, default_hf_cache
from imagestudio.core.vocabulary import (
    BUILTIN_MODEL,
    DEVICE_CHOICES,
    MEMORY_MODES,
    PRECISION_CHOICES,
    PREDICTIONS,
    THEMES,
)

__all__ = ["SCHEMA_VERSION", "THEMES", "Settings", "load_settings", "save_settings"]

SCHEMA_VERSION = 1


@dataclass
class Settings:
    outputs_dir: str = ""  # empty: the platform's pictures folder (or IMAGESTUDIO_HOME/outputs)
    models_dir: str = ""  # empty: the app's data folder (or IMAGESTUDIO_HOME/models)
    default_model: str = BUILTIN_MODEL
    device: str = "auto"
    precision: str = "auto"
    previews: bool = True
    theme: str = "system"
    # VGG19 ImageNet weights (torchvision format) for the quality style mode; empty: the torch hub
    # cache if it has them, else the bundled VGG16
    style_vgg_weights: str = ""
    # List (read only) the diffusers models other programs downloaded to the Hugging Face cache;
    # empty hf_cache_dir: where huggingface_hub keeps it (HF_HUB_CACHE, HF_HOME, ~/.cache)
    # auto: memory savers (slicing, tiling, CPU offload) chosen per job from the free memory
    memory_mode: str = "auto"
    # model name (or path) -> "epsilon" | "v_prediction": for SD 2.x single files, which do not
    # say which they are (they are taken as v-prediction, SD 2.1-768)
    model_prediction: dict[str, str] = field(default_factory=dict)
    scan_hf_cache: bool = True
    hf_cache_dir: str = ""
    schema_version: int = SCHEMA_VERSION
    problems: list[str] = field(default_factory=list, compare=False, repr=False)

    def resolved_outputs_dir(self, paths: AppPaths | None = None) -> Path:
        paths = paths or app_paths()
        return Path(self.outputs_dir).expanduser() if self.outputs_dir else paths.outputs_dir

    def resolved_models_dir(self, paths: AppPaths | None = None) -> Path:
        paths = paths or app_paths()
        return Path(self.models_dir).expanduser() if self.models_dir else paths.models_dir

    def resolved_hf_cache(self) -> Path | None:
        """The Hugging Face cache to list models from, or None when that is turned off."""
        if not self.scan_hf_cache:
            return None
        return Path(self.hf_cache_dir).expanduser() if self.hf_cache_dir else default_hf_cache()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("problems")
        return data


_VALIDATORS = {
    "outputs_dir": lambda v: isinstance(v, str),
    "models_dir": lambda v: isinstance(v, str),
    "default_model": lambda v: isinstance(v, str) and bool(v.strip()),
    "device": lambda v: v in DEVICE_CHOICES,
    "precision": lambda v: v in PRECISION_CHOICES,
    "previews": lambda v: isinstance(v, bool),
    "theme": lambda v: v in THEMES,
    "style_vgg_weights": lambda v: isinstance(v, str),
    "memory_mode": lambda v: v in MEMORY_MODES,
    "model_prediction": lambda v: (
        isinstance(v, dict) and all(isinstance(k, str) and p in PREDICTIONS for k, p in v.items())
    ),
    "scan_hf_cache": lambda v: isinstance(v, bool),
    "hf_cache_dir": lambda v: isinstance(v, str),
}


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older settings dict up to SCHEMA_VERSION (no older versions exist yet)."""
    data["schema_version"] = SCHEMA_VERSION
    return data


def load_settings(path: Path | None = None) -> Settings:
    path = path or app_paths().settings_file
    settings = Settings()
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return settings
    except OSError as exc:
        settings.problems.append(f"Could not read {path}: {exc.strerror}; using defaults.")
        return settings
    try:
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        settings.problems.append(f"{path} is not valid settings JSON; using defaults.")
        return settings
    version = data.get("schema_version", 1)
    if isinstance(version, int) and version > SCHEMA_VERSION:
        settings.problems.append(
            f"{path} was written by a newer ImageStudio; settings it knows are kept."
        )
    data = _migrate(data)
    for key, check in _VALIDATORS.items():
        if key not in data:
            continue
        if check(data[key]):
            setattr(settings, key, data[key])
        else:
            settings.problems.append(
                f"Setting {key!r} had an invalid value {data[key]!r}; "
                f"using the default {getattr(settings, key)!r}."
            )
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> None:
    path = path or app_paths().settings_file
    text = json.dumps(settings.to_dict(), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"), overwrite=True)
