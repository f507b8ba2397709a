"""User settings: typed, with defaults, a schema version, and a tolerant load.

A bad or unknown value in the file never stops the app: the default is used and the problem is
reported in `Settings.problems` so the UI can say so. Nothing the file holds is lost: an
unreadable file is renamed aside, and unknown keys and unusable values are written back as they
were; the previous file is kept as `.bak` on every save, and a newer schema is never downgraded.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagestudio.core.backendnames import BackendEntry, check_backend_name, check_backend_url
from imagestudio.core.errors import InvalidRequest, StorageError
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
    # ComfyUI servers jobs can run on: [{"name", "url"}] (their tokens are kept apart, in the
    # OS keyring or a private file: core.backends.tokens)
    backends: list[dict[str, str]] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    problems: list[str] = field(default_factory=list, compare=False, repr=False)
    # what the file held that this version cannot use, written back as it was (see to_dict),
    # and the defaults used instead of its unusable values
    kept: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    substituted: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

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

    def backend_entries(self) -> tuple[BackendEntry, ...]:
        """The ComfyUI servers, in the order the user added them."""
        return tuple(BackendEntry(item["name"], item["url"]) for item in self.backends)

    def to_dict(self) -> dict[str, Any]:
        """What the file holds: every setting, and what the loaded file held that this version
        cannot use (keys of newer versions, values it could not read), kept as they were."""
        data = dict(self.kept)
        for item in dataclasses.fields(self):
            if item.name in _NOT_SAVED:
                continue
            value = getattr(self, item.name)
            if item.name in self.kept and value == self.substituted.get(item.name, _UNSET):
                continue  # an unreadable value the user has not replaced: keep it as it was
            data[item.name] = copy.deepcopy(value)
        return data


_UNSET = object()
_NOT_SAVED = {"problems", "kept", "substituted"}


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
    "backends": lambda v: _valid_backends(v),
}


def _valid_backends(value: object) -> bool:
    """A list of {"name", "url"} with valid, unique names and valid URLs (as entered)."""
    if not isinstance(value, list):
        return False
    names = set()
    for item in value:
        if not isinstance(item, dict) or set(item) != {"name", "url"}:
            return False
        try:
            name = check_backend_name(item["name"])
            url = check_backend_url(item["url"])
        except InvalidRequest:
            return False
        if name != item["name"] or url != item["url"] or name.lower() in names:
            return False
        names.add(name.lower())
    return True


# A settings file is a few hundred bytes; one larger than this is not settings.
_MAX_FILE_BYTES = 4 * 2**20


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older settings dict up to SCHEMA_VERSION (no older versions exist yet). A newer
    file keeps its version: saving must never pass it off as an older one."""
    version = data.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < SCHEMA_VERSION:
        data["schema_version"] = SCHEMA_VERSION
    return data


def _set_aside(path: Path) -> Path | None:
    """Rename an unreadable settings file to `settings.unreadable-<time>.json`; None if it could
    not be moved (it then stays, and is never written over: see save_settings)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for number in range(100):
        suffix = f"-{number}" if number else ""
        target = path.with_name(f"{path.stem}.unreadable-{stamp}{suffix}{path.suffix}")
        if target.exists():
            continue
        try:
            os.rename(path, target)
        except OSError:
            return None
        return target
    return None


def _read(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The file's settings dict, or None and why it cannot be read (None, None: no file)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None, None
    except IsADirectoryError:
        return None, "it is a folder"
    except OSError as exc:
        return None, f"it cannot be opened ({exc.strerror or exc})"
    if len(raw) > _MAX_FILE_BYTES:
        return None, "it is far larger than any settings file"
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "it is not UTF-8 text"
    except RecursionError:
        return None, "it is nested too deeply"
    except ValueError as exc:
        return None, f"it is not valid JSON ({str(exc).split(':')[0]})"
    if not isinstance(data, dict):
        return None, "it is not a JSON object"
    return data, None


def load_settings(path: Path | None = None) -> Settings:
    """The settings in `path` (default: the app's settings file), tolerantly.

    A file that cannot be read at all is renamed aside (never deleted) and said once in
    `problems`; the defaults are used. Values that cannot be used fall back to their defaults,
    each said in `problems`; they and any keys of a newer version are kept in `kept` and written
    back unchanged by save_settings.
    """
    path = path or app_paths().settings_file
    settings = Settings()
    data, why = _read(path)
    if data is None:
        if why is not None:
            kept = _set_aside(path) if path.is_file() else None
            where = f"it was kept as {kept}" if kept else "it was left as it is"
            settings.problems.append(
                f"The settings file {path} could not be read ({why}); {where}, and the "
                "default settings are used."
            )
            if kept is None:
                settings.kept = {_UNREADABLE: True}
        return settings
    data = _migrate(data)
    settings.kept = {k: v for k, v in data.items() if k not in _VALIDATORS}
    version = data.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        settings.problems.append(
            f"{path} was written by a newer ImageStudio; the settings this version knows are "
            "used, and the others are kept."
        )
    settings.kept.pop("schema_version", None)
    if isinstance(version, int) and not isinstance(version, bool):
        settings.schema_version = max(version, SCHEMA_VERSION)
    for key, check in _VALIDATORS.items():
        if key not in data:
            continue
        if check(data[key]):
            setattr(settings, key, data[key])
            continue
        default = getattr(settings, key)
        settings.kept[key] = data[key]
        settings.substituted[key] = copy.deepcopy(default)
        shown = repr(data[key])
        shown = shown if len(shown) <= 60 else shown[:59] + "…"
        settings.problems.append(
            f"Setting {key!r} had a value this version cannot use ({shown}); the default "
            f"{default!r} is used, and the file keeps the value."
        )
    return settings


# Marks settings whose file could not be read nor moved aside: saving must not replace it.
_UNREADABLE = "\x00unreadable"


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write the settings atomically; the previous file is kept as `settings.json.bak` first.

    A file that could not be read nor moved aside is never replaced (StorageError says so).
    """
    path = path or app_paths().settings_file
    if settings.kept.get(_UNREADABLE):
        raise StorageError(
            f"The settings file {path} could not be read, so it is not written over; move it "
            "away (or fix it), then change the settings again."
        )
    text = json.dumps(settings.to_dict(), indent=2, sort_keys=True, default=str) + "\n"
    try:
        previous = path.read_bytes()
    except OSError:
        previous = None
    if previous is not None and previous != text.encode("utf-8"):
        backup = path.with_name(path.name + ".bak")
        atomic_write_bytes(backup, previous, overwrite=True)
    atomic_write_bytes(path, text.encode("utf-8"), overwrite=True)
