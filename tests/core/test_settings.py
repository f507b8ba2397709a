from __future__ import annotations

import json
from pathlib import Path

from imagestudio.core.paths import app_paths
from imagestudio.core.settings import SCHEMA_VERSION, Settings, load_settings, save_settings


def test_defaults_when_no_file() -> None:
    settings = load_settings()
    assert settings == Settings()
    assert settings.problems == []


def test_round_trip_is_atomic_and_versioned(isolated_home: Path) -> None:
    settings = Settings(device="cpu", previews=False, outputs_dir=str(isolated_home / "o"))
    save_settings(settings)
    data = json.loads(app_paths().settings_file.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert "problems" not in data
    assert load_settings() == settings
    assert load_settings().resolved_outputs_dir() == isolated_home / "o"


def test_bad_values_fall_back_to_defaults_with_a_reason() -> None:
    path = app_paths().settings_file
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps({"device": "quantum", "previews": "yes", "theme": "dark", "unknown": 1})
    )
    settings = load_settings()
    assert settings.device == "auto" and settings.previews is True
    assert settings.theme == "dark"
    assert len(settings.problems) == 2
    assert any("'device'" in p and "quantum" in p for p in settings.problems)


def test_damaged_file_gives_defaults() -> None:
    path = app_paths().settings_file
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    settings = load_settings()
    assert settings == Settings()
    assert "not valid settings JSON" in settings.problems[0]


def test_home_moves_every_folder(isolated_home: Path) -> None:
    paths = app_paths()
    for folder in (
        paths.config_dir,
        paths.data_dir,
        paths.cache_dir,
        paths.log_dir,
        paths.outputs_dir,
        paths.models_dir,
    ):
        assert isolated_home in folder.parents
