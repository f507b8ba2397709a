"""Every place the app writes, in one module.

`IMAGESTUDIO_HOME` moves all of them under one folder (tests always set it); otherwise they follow
the platform's conventions through platformdirs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "ImageStudio"
HOME_ENV = "IMAGESTUDIO_HOME"
RESOURCES_ENV = "IMAGESTUDIO_RESOURCES"


def resources_dir() -> Path:
    """The bundled resources (built-in model, configs, licences).

    In a wheel they sit inside the package (`imagestudio/resources`, see pyproject's force-include);
    in a source checkout or an editable install they are the repository's top-level `resources/`.
    `IMAGESTUDIO_RESOURCES` points elsewhere (a bundle's own layout, or tests).
    """
    override = os.environ.get(RESOURCES_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    package = Path(__file__).resolve().parent.parent
    inside = package / "resources"
    return inside if inside.is_dir() else package.parent / "resources"


@dataclass(frozen=True)
class AppPaths:
    config_dir: Path
    data_dir: Path
    cache_dir: Path
    log_dir: Path
    outputs_dir: Path
    models_dir: Path

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def history_file(self) -> Path:
        return self.data_dir / "history.sqlite3"

    @property
    def wildcards_dir(self) -> Path:
        """Wildcard files for dynamic prompts: ``__name__`` picks a line of ``name.txt`` here."""
        return self.data_dir / "wildcards"

    @property
    def masks_dir(self) -> Path:
        """Inpainting masks kept with their jobs (named by their content's hash), so a history
        entry re-runs with its mask after the painted or given file is gone."""
        return self.data_dir / "masks"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "imagestudio.log"


def app_paths() -> AppPaths:
    """Return the app's folders; read the environment on every call so tests can change it."""
    home = os.environ.get(HOME_ENV, "").strip()
    if home:
        root = Path(home).expanduser().resolve()
        return AppPaths(
            config_dir=root / "config",
            data_dir=root / "data",
            cache_dir=root / "cache",
            log_dir=root / "logs",
            outputs_dir=root / "outputs",
            models_dir=root / "models",
        )
    import platformdirs

    data = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return AppPaths(
        config_dir=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        data_dir=data,
        cache_dir=Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False)),
        log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        outputs_dir=Path(platformdirs.user_pictures_dir()) / APP_NAME,
        models_dir=data / "models",
    )


def default_hf_cache() -> Path:
    """Where huggingface_hub keeps downloads, as it decides it (HF_HUB_CACHE, HF_HOME)."""
    explicit = os.environ.get("HF_HUB_CACHE", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME", "").strip()
    if home:
        return Path(home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"
