"""The models ImageStudio suggests for a first real model (`resources/catalog/`).

A small curated file: what each model is good at, what it needs, its licence in words and
about how much it downloads, so that a new user can choose without reading model pages first.
Loaded tolerantly: an entry with a missing or wrong field is left out, never a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from imagestudio.core.paths import resources_dir

__all__ = ["RecommendedModel", "recommended_models"]

CATALOG = Path("catalog") / "recommended_models.json"


@dataclass(frozen=True)
class RecommendedModel:
    repo_id: str
    name: str
    family: str
    variant: str | None
    download_gb: float
    native_size: int
    steps: int
    cfg: float
    licence: str
    hardware: str
    good_at: str

    @property
    def download_bytes(self) -> int:
        return int(self.download_gb * 1000**3)


_TEXT_FIELDS = ("repo_id", "name", "family", "licence", "hardware", "good_at")


def _entry(raw: object) -> RecommendedModel | None:
    if not isinstance(raw, dict):
        return None
    if not all(isinstance(raw.get(key), str) and raw[key].strip() for key in _TEXT_FIELDS):
        return None
    numbers = (raw.get("download_gb"), raw.get("native_size"), raw.get("steps"), raw.get("cfg"))
    if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers):
        return None
    variant = raw.get("variant")
    return RecommendedModel(
        repo_id=raw["repo_id"].strip(),
        name=raw["name"].strip(),
        family=raw["family"].strip(),
        variant=variant if isinstance(variant, str) and variant else None,
        download_gb=float(raw["download_gb"]),
        native_size=int(raw["native_size"]),
        steps=int(raw["steps"]),
        cfg=float(raw["cfg"]),
        licence=raw["licence"].strip(),
        hardware=raw["hardware"].strip(),
        good_at=raw["good_at"].strip(),
    )


def recommended_models(path: Path | None = None) -> list[RecommendedModel]:
    """The curated models, in the order the file gives them (fastest first); [] when the file
    is missing or unreadable."""
    try:
        data = json.loads((path or resources_dir() / CATALOG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    models = data.get("models") if isinstance(data, dict) else None
    found = [_entry(raw) for raw in models] if isinstance(models, list) else []
    return [model for model in found if model is not None]
