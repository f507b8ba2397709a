"""LoRA: small add-on weights that steer a loaded model, applied with a weight and taken off again.

diffusers loads a LoRA file (diffusers/PEFT keys, or the kohya / A1111 keys model sites use) as a
named PEFT adapter beside the model's own weights, which stay untouched; `set_adapters` chooses
which adapters are active and how strongly. So switching LoRAs or weights between jobs is cheap,
and a job without LoRAs gives exactly the picture the bare model gives.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagestudio.core.errors import ModelError
from imagestudio.core.models.checkpoints import PICKLE_SUFFIXES, describe_file
from imagestudio.core.models.library import LORA_FOLDER, find_named_file

log = logging.getLogger(__name__)

# Adapters kept loaded on a pipeline after they stop being used, so toggling one back is free.
KEEP_LOADED = 8


@dataclass(frozen=True)
class LoadedLora:
    adapter: str
    path: Path
    stamp: tuple[int, int]  # size and mtime: a file replaced on disk is loaded again


def resolve_lora(name_or_path: str, models_dir: Path) -> Path:
    """The file of a LoRA given by path, or by name in `models/loras/` or `models/`."""
    text = name_or_path.strip()
    path = find_named_file(text, (models_dir / LORA_FOLDER, models_dir))
    if path is None:
        raise ModelError(
            f"No LoRA named {text!r}: put its .safetensors file in {models_dir / LORA_FOLDER} or "
            "give the path of the file."
        )
    if path.suffix.lower() in PICKLE_SUFFIXES:
        _, signature = describe_file(path)
        raise ModelError(signature.problem or f"{path.name} is a pickle file.")
    _, signature = describe_file(path)
    if signature.role != "lora":
        raise ModelError(
            f"{path.name} is not a LoRA"
            + (f" ({signature.problem})" if signature.problem else "")
            + "."
        )
    return path.resolve()


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _adapter_name(path: Path) -> str:
    # PEFT adapter names become module keys: letters, digits and underscores only
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    return f"lora_{digest}"


class LoraSet:
    """The LoRAs loaded on one pipeline, and the switch between them."""

    def __init__(self) -> None:
        self.loaded: dict[str, LoadedLora] = {}  # adapter -> LoadedLora, oldest first
        self.active: tuple[tuple[str, float], ...] = ()

    def apply(
        self,
        pipe: Any,
        wanted: Sequence[tuple[Path, float]],
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        """Make exactly `wanted` (file, weight) active on `pipe`; none: the bare model."""
        adapters: list[str] = []
        for path, _weight in wanted:
            adapters.append(self._ensure_loaded(pipe, path, on_notice))
        weights = [float(w) for _, w in wanted]
        state = tuple(zip(adapters, weights, strict=True))
        if state == self.active:
            return
        if adapters:
            pipe.enable_lora()
            pipe.set_adapters(adapters, adapter_weights=weights)
        elif self.loaded:
            pipe.disable_lora()
        self.active = state
        self._trim(pipe, set(adapters))

    def _ensure_loaded(self, pipe: Any, path: Path, on_notice: Callable[[str], None] | None) -> str:
        adapter = _adapter_name(path)
        stamp = _stamp(path)
        known = self.loaded.get(adapter)
        if known is not None and known.stamp == stamp:
            self.loaded[adapter] = self.loaded.pop(adapter)  # most recently used last
            return adapter
        if known is not None:
            self._delete(pipe, adapter)
        if on_notice:
            on_notice(f"Applying LoRA {path.stem}…")
        before = _adapter_count(pipe, adapter)
        try:
            with warnings.catch_warnings():
                # PEFT warns that a model holds several adapters: that is the point here
                warnings.filterwarnings("ignore", message=".*peft_config.*", category=UserWarning)
                # and, when a load fails half-way, that diffusers removed the partial adapter
                warnings.filterwarnings("ignore", message=".*was active which is now deleted.*")
                pipe.load_lora_weights(str(path), adapter_name=adapter)
        except ModelError:
            raise
        except Exception as exc:
            self._forget_partial(pipe, adapter)
            raise ModelError(_lora_failure(path, exc)) from exc
        if _adapter_count(pipe, adapter) == before:
            self._forget_partial(pipe, adapter)
            raise ModelError(
                f"The LoRA {path.stem} changed nothing in this model: its layers do not match "
                "(it was most likely made for another model family, such as SDXL instead of "
                "SD 1.5)."
            )
        self.loaded[adapter] = LoadedLora(adapter, path, stamp)
        return adapter

    def _forget_partial(self, pipe: Any, adapter: str) -> None:
        try:
            self._delete(pipe, adapter)
        except Exception:
            log.debug("no partial adapter %s to remove", adapter)
        self.active = ()  # what diffusers left active is unknown: the next apply sets it again

    def _delete(self, pipe: Any, adapter: str) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*was active which is now deleted.*")
            pipe.delete_adapters(adapter)
        self.loaded.pop(adapter, None)
        self.active = tuple(item for item in self.active if item[0] != adapter)

    def _trim(self, pipe: Any, in_use: set[str]) -> None:
        spare = [name for name in self.loaded if name not in in_use]
        while len(self.loaded) > KEEP_LOADED and spare:
            self._delete(pipe, spare.pop(0))

    def clear(self, pipe: Any) -> None:
        """Take every LoRA off (the model's own weights were never changed)."""
        if self.loaded:
            pipe.unload_lora_weights()
        self.loaded.clear()
        self.active = ()


def _adapter_count(pipe: Any, adapter: str) -> int:
    try:
        listed = pipe.get_list_adapters()
    except Exception:
        return 0
    return sum(adapter in names for names in listed.values())


def _lora_failure(path: Path, exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if "size mismatch" in text or "shape" in text.lower():
        return (
            f"The LoRA {path.stem} does not fit this model: its layer sizes differ (it was made "
            "for another model family, such as SDXL instead of SD 1.5)."
        )
    lowered = text.lower()
    if "unable to load weights" in lowered or "safetensor" in lowered or "header" in lowered:
        return (
            f"The LoRA file {path.name} is damaged or incomplete, so it cannot be read; "
            "download it again."
        )
    if "peft" in lowered:
        return "LoRAs need the 'peft' package; reinstall ImageStudio with its dependencies."
    return f"Could not apply the LoRA {path.stem}: {text[:200]}"
