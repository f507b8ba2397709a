from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagestudio.core.paths import app_paths
from imagestudio.core.settings import SCHEMA_VERSION, Settings, load_settings, save_settings
from tests.conftest import FUZZ_EXAMPLES


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
    assert "could not be read (it is not valid JSON" in settings.problems[0]


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


def _write(raw: bytes) -> Path:
    path = app_paths().settings_file
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\xfe{bad bytes",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"device": "cpu",}',  # a hand edit with a trailing comma
        b"[1, 2]",
        b"",
    ],
)
def test_an_unreadable_file_is_kept_aside_said_once_and_defaults_used(raw: bytes) -> None:
    path = _write(raw)
    first = load_settings()
    assert first == Settings() and len(first.problems) == 1
    kept = list(path.parent.glob("settings.unreadable-*.json"))
    assert len(kept) == 1 and kept[0].read_bytes() == raw  # byte for byte, never deleted
    assert str(kept[0]) in first.problems[0]
    assert load_settings().problems == []  # said once
    save_settings(Settings(device="cpu"))
    assert kept[0].read_bytes() == raw


def test_saving_keeps_unknown_keys_unusable_values_and_a_newer_schema() -> None:
    path = _write(
        json.dumps(
            {
                "schema_version": SCHEMA_VERSION + 3,
                "future_setting": {"nested": [1, 2]},
                "device": "quantum",
                "theme": "dark",
            }
        ).encode()
    )
    settings = load_settings()
    assert settings.device == "auto" and settings.theme == "dark"
    settings.model_prediction = {"sd2-file": "epsilon"}
    save_settings(settings)
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION + 3  # never downgraded
    assert data["future_setting"] == {"nested": [1, 2]}  # kept
    assert data["device"] == "quantum"  # the user never replaced it: kept as it was
    assert data["model_prediction"] == {"sd2-file": "epsilon"} and data["theme"] == "dark"
    backup = json.loads(path.with_name("settings.json.bak").read_text())
    assert backup["device"] == "quantum" and "model_prediction" not in backup
    settings.device = "cpu"  # now the user chose: the new value is written
    save_settings(settings)
    assert json.loads(path.read_text())["device"] == "cpu"


def test_a_file_that_cannot_be_moved_aside_is_never_written_over(monkeypatch) -> None:
    from imagestudio.core import settings as settings_module
    from imagestudio.core.errors import StorageError

    path = _write(b"{oops")
    monkeypatch.setattr(settings_module.os, "rename", _refuse)
    settings = load_settings()
    assert "left as it is" in settings.problems[0]
    with pytest.raises(StorageError, match="not written over"):
        save_settings(settings)
    assert path.read_bytes() == b"{oops"


def _refuse(*args: object) -> None:
    raise PermissionError(13, "Permission denied")


JSON_VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "device",
        "precision",
        "previews",
        "theme",
        "model_prediction",
        "schema_version",
        "outputs_dir",
        "memory_mode",
        "future_key",
        "scan_hf_cache",
    ]
)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(
    raw=st.one_of(
        st.binary(max_size=500),
        st.dictionaries(KEYS, JSON_VALUES).map(lambda d: json.dumps(d).encode()),
    )
)
def test_any_settings_file_loads_and_saving_loses_nothing(raw: bytes) -> None:
    import shutil

    folder = app_paths().config_dir
    shutil.rmtree(folder, ignore_errors=True)
    path = _write(raw)
    started = time.perf_counter()
    loaded = load_settings()  # never raises
    assert time.perf_counter() - started < 0.5
    try:
        original = json.loads(raw)
    except ValueError:
        original = None
    if not isinstance(original, dict):
        assert list(folder.glob("settings.unreadable-*.json")) or not path.exists()
        return
    save_settings(loaded)
    saved = json.loads(path.read_text())
    for key, value in original.items():
        assert key in saved  # nothing dropped
        if key not in ("schema_version",) and key not in _known_valid(original, loaded):
            assert saved[key] == value  # unknown keys and unusable values kept as they were
    assert saved["schema_version"] >= min(
        SCHEMA_VERSION,
        original.get("schema_version", SCHEMA_VERSION)
        if isinstance(original.get("schema_version"), int)
        else SCHEMA_VERSION,
    )


def _known_valid(original: dict, loaded: Settings) -> set[str]:
    return {key for key in original if key not in loaded.kept}
