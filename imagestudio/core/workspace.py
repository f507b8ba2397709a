"""Where jobs run: the engines (built from the settings, once, and kept), the history, the outputs.

`EngineConfig.from_settings` is the one place that turns settings into what engines are built
from; the CLI and the window's worker both use it. Each engine is an `EngineSlot`: how to build it
from a config, and which part of the config it depends on. `Workspace.reconfigure` compares that
part of the old and new config and drops only the engines it changed, so a new theme keeps the
loaded model and a new models folder does not reload the style networks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

from imagestudio.core.backendnames import BackendEntry
from imagestudio.core.paths import AppPaths, app_paths
from imagestudio.core.settings import Settings
from imagestudio.core.vocabulary import DeviceChoice, MemoryMode, PrecisionChoice, Prediction

log = logging.getLogger(__name__)

E = TypeVar("E")


@dataclass(frozen=True)
class EngineConfig:
    """Everything engines and jobs are built from, as plain values (comparable, hashable)."""

    models_dir: Path
    cache_dir: Path
    outputs_dir: Path
    hf_cache: Path | None = None
    device: DeviceChoice = "auto"
    precision: PrecisionChoice = "auto"
    memory_mode: MemoryMode = "auto"
    # model name or path -> what it predicts, for files that do not say (SD 2.x single files)
    predictions: tuple[tuple[str, Prediction], ...] = ()
    style_vgg_weights: Path | None = None
    previews: bool = True
    wildcards_dir: Path | None = None
    # the ComfyUI servers a job may run on (names and URLs; tokens are read when a job starts)
    backends: tuple[BackendEntry, ...] = ()

    @classmethod
    def from_settings(
        cls, settings: Settings, paths: AppPaths | None = None, **overrides: Any
    ) -> EngineConfig:
        paths = paths or app_paths()
        vgg = settings.style_vgg_weights.strip()
        config = cls(
            models_dir=settings.resolved_models_dir(paths),
            cache_dir=paths.cache_dir,
            outputs_dir=settings.resolved_outputs_dir(paths),
            hf_cache=settings.resolved_hf_cache(),
            device=settings.device,  # type: ignore[arg-type]
            precision=settings.precision,  # type: ignore[arg-type]
            memory_mode=settings.memory_mode,  # type: ignore[arg-type]
            predictions=tuple(sorted(settings.model_prediction.items())),  # type: ignore[arg-type]
            style_vgg_weights=Path(vgg).expanduser() if vgg else None,
            previews=settings.previews,
            wildcards_dir=paths.wildcards_dir,
            backends=settings.backend_entries(),
        )
        return replace(config, **overrides) if overrides else config

    def prediction_for(self, *names: str) -> Prediction | None:
        chosen = dict(self.predictions)
        return next((chosen[name] for name in names if name in chosen), None)


@dataclass(frozen=True, eq=False)
class EngineSlot(Generic[E]):
    """One engine a workspace can hold: how to build it, and what in the config it depends on.

    `key(config)` picks the values the engine is built from; two configs with the same key give
    the same engine, so no reload is needed between them. `close(engine)` releases it (the loaded
    model, device memory).
    """

    name: str
    key: Callable[[EngineConfig], Hashable]
    build: Callable[[EngineConfig], E]
    close: Callable[[E], None] = field(default=lambda engine: None)

    def needs_rebuild(self, old: EngineConfig, new: EngineConfig) -> bool:
        return self.key(old) != self.key(new)


class Workspace:
    """The engines, the history store and the outputs folder that `run_job` uses.

    Engines are built on first use (so the window opens before torch loads) and kept across jobs.
    `history` may be None (nothing is recorded: benchmarks, some tests).
    """

    def __init__(
        self,
        config: EngineConfig,
        history: Any = None,
        engines: dict[EngineSlot[Any], Any] | None = None,
    ) -> None:
        self.config = config
        self.history = history
        self._engines: dict[str, tuple[EngineSlot[Any], Hashable, Any]] = {}
        self._lock = threading.Lock()
        # engines made elsewhere (a benchmark's, a test session's): used as if built here
        for slot, engine in (engines or {}).items():
            self._engines[slot.name] = (slot, slot.key(config), engine)

    @property
    def outputs_dir(self) -> Path:
        return self.config.outputs_dir

    def engine(self, slot: EngineSlot[E]) -> E:
        """The engine of `slot`, built now if it is not built yet (or its config changed)."""
        with self._lock:
            key = slot.key(self.config)
            held = self._engines.get(slot.name)
            if held is not None and held[1] == key:
                return held[2]
            if held is not None:
                self._close(slot.name)
            engine = slot.build(self.config)
            self._engines[slot.name] = (slot, key, engine)
            return engine

    def built(self) -> list[Any]:
        """The engines built so far (for status reports)."""
        with self._lock:
            return [engine for _, _, engine in self._engines.values()]

    def reconfigure(self, config: EngineConfig) -> list[str]:
        """Take a new config; close the engines it changes. Returns their names."""
        with self._lock:
            dropped = [
                name for name, (slot, key, _) in self._engines.items() if slot.key(config) != key
            ]
            for name in dropped:
                self._close(name)
            self.config = config
            return dropped

    def close(self) -> None:
        """Close every engine and the history store."""
        with self._lock:
            for name in list(self._engines):
                self._close(name)
        if self.history is not None:
            self.history.close()
            self.history = None

    def _close(self, name: str) -> None:
        slot, _, engine = self._engines.pop(name)
        try:
            slot.close(engine)
        except Exception:  # releasing memory must never stop a reconfigure or a shutdown
            log.exception("could not close the %s engine", name)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
