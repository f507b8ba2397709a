"""The built-in starter model: shipped, offline, the default, and steered by the text."""

from __future__ import annotations

import json

import pytest

from imagestudio.core.generation.engine import Engine
from imagestudio.core.models.library import builtin_model_dir, resolve_model
from imagestudio.core.requests import GenerationRequest
from imagestudio.dev.training.analyze import analyze

MAX_BYTES = 25 * 2**20


@pytest.fixture(scope="module")
def starter_engine(cpu, tmp_path_factory) -> Engine:
    root = tmp_path_factory.mktemp("starter")
    return Engine(device=cpu, models_dir=root / "models", cache_dir=root / "cache")


def test_starter_ships_safetensors_only_within_budget() -> None:
    folder = builtin_model_dir()
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert (folder / "model_index.json").is_file()
    assert sum(p.stat().st_size for p in files) <= MAX_BYTES
    assert not [p for p in files if p.suffix in (".bin", ".ckpt", ".pt", ".pth", ".pkl")]
    assert len([p for p in files if p.suffix == ".safetensors"]) == 3  # unet, vae, text encoder
    coefficients = json.loads((folder / "preview_coefficients.json").read_text())
    assert len(coefficients["weights"]) == 4
    assert (folder / "README.md").is_file()


def test_starter_is_the_default_model() -> None:
    assert GenerationRequest(prompt="a red circle").model == "starter"
    assert resolve_model("starter", builtin_model_dir().parent).builtin


PROMPTS = [
    ("a red circle on a blue background", "red", "blue", "circle"),
    ("a yellow square on a green background", "yellow", "green", "square"),
    ("a white triangle on a black background", "white", "black", "triangle"),
    ("a blue star on an orange background", "blue", "orange", "star"),
]


def test_the_text_steers_the_picture(starter_engine: Engine) -> None:
    """Background, object colour and shape follow the words. The full evaluation (240 prompts)
    reads 100% of backgrounds and colours and 99.6% of shapes as asked; these 12 images (12/12
    on each count when the model shipped) may miss one of each before the test fails, far above
    chance (1 in 9 colours, 1 in 4 shapes)."""
    backgrounds = colours = shapes = total = 0
    for prompt, colour, background, shape in PROMPTS:
        images = starter_engine.generate(
            GenerationRequest(prompt=prompt, steps=20, seed=3, count=3)
        ).images
        assert all(image.size == (64, 64) for image in images)
        found = [analyze(image) for image in images]
        backgrounds += sum(a.background == background for a in found)
        colours += sum(a.colour == colour for a in found)
        shapes += sum(a.shape == shape for a in found)
        total += len(found)
    assert backgrounds >= total - 1
    assert colours >= total - 1
    assert shapes >= total - 1
