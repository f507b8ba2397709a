"""Shared fixtures. Every test gets its own IMAGESTUDIO_HOME; nothing touches the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Property-based tests run this many examples each; raise it for a long fuzzing run.
FUZZ_EXAMPLES = int(os.environ.get("IMAGESTUDIO_FUZZ_EXAMPLES", "150"))

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Move every file the app writes under a temporary folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("IMAGESTUDIO_HOME", str(home))
    # the user's Hugging Face cache is never read: tests that need one build it here
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("IMAGESTUDIO_DEVICE", raising=False)
    monkeypatch.delenv("IMAGESTUDIO_PRECISION", raising=False)
    return home


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Stable Diffusion-architecture model folder (64x64 images)."""
    from imagestudio.dev.randommodels import build_random_sd

    return build_random_sd(tmp_path_factory.mktemp("models") / "tiny-sd", "tiny")


@pytest.fixture(scope="session")
def cpu():
    from imagestudio.core.devices import pick_device

    return pick_device("cpu", "fp32")


@pytest.fixture(scope="session")
def engine(tiny_model: Path, cpu, tmp_path_factory: pytest.TempPathFactory):
    """One CPU engine for the session, so the tiny model loads once (as in the app)."""
    from imagestudio.core.generation.engine import Engine

    root = tmp_path_factory.mktemp("engine")
    return Engine(device=cpu, models_dir=root / "models", cache_dir=root / "cache")
