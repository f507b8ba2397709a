"""Hires fix on the tiny model: sizes, the two passes as one job, the upscalers, metadata written
and read back (ours and A1111's), determinism, cancel, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagestudio.core.errors import InvalidRequest, JobCancelled, ModelError
from imagestudio.core.generation.engine import Engine
from imagestudio.core.jobs import run_job
from imagestudio.core.outputs.metadata import parse_parameters, read_settings
from imagestudio.core.requests import GenerationRequest, hires_length
from tests.core.test_jobs import workspace


def make(tiny_model: Path, **changes) -> GenerationRequest:
    values = {
        "prompt": "a small yellow star",
        "model": str(tiny_model),
        "steps": 6,
        "seed": 11,
        "scheduler": "Euler",
        "hires_scale": 2.0,
        "hires_upscaler": "latent",
    }
    return GenerationRequest(**(values | changes))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("upscaler", ["latent", "lanczos", "realesr-animevideov3-x4"])
def test_two_passes_make_the_bigger_size_as_one_job(
    engine: Engine, tiny_model: Path, upscaler: str
) -> None:
    steps: list[tuple[int, int, tuple[int, ...] | None]] = []
    notices: list[str] = []
    result = engine.generate(
        make(tiny_model, count=2, hires_upscaler=upscaler, hires_denoise=0.5),
        on_step=lambda i, n, p: steps.append((i, n, None if p is None else p.shape)),
        on_notice=notices.append,
    )
    assert (result.width, result.height) == (64, 64)  # the first pass's size, as A1111 writes it
    assert [image.size for image in result.images] == [(128, 128)] * 2
    # 6 steps, then int(6 x 0.5) = 3 at the bigger size: one progress from 1 to 9
    assert [(i, n) for i, n, _ in steps] == [(i, 9) for i in range(1, 10)]
    small, big = steps[0][2], steps[-1][2]
    assert small is not None and big is not None and big[0] == 2 * small[0]  # previews grow
    assert any("Hires fix: enlarging to 128x128" in text for text in notices)
    assert (
        result.hires_upscaler
        == {
            "latent": "Latent",
            "lanczos": "Lanczos",
            "realesr-animevideov3-x4": "R-ESRGAN AnimeVideo",
        }[upscaler]
    )


def test_sizes_follow_the_scale_on_a_multiple_of_eight(engine: Engine, tiny_model: Path) -> None:
    result = engine.generate(make(tiny_model, width=64, height=48, hires_scale=1.25))
    assert result.images[0].size == (80, 56) == (hires_length(64, 1.25), hires_length(48, 1.25))
    assert hires_length(72, 1.5) == 104  # 108 down to the latent grid


def test_a_seed_gives_the_same_pixels_and_the_second_pass_repaints(
    engine: Engine, tiny_model: Path
) -> None:
    request = make(tiny_model, hires_upscaler="lanczos", hires_denoise=0.6)
    first, again = engine.generate(request), engine.generate(request)
    assert np.array_equal(pixels(first.images[0]), pixels(again.images[0]))
    plain = engine.generate(request.replace(hires_scale=None))
    enlarged = plain.images[0].resize((128, 128), Image.Resampling.LANCZOS)
    change = np.abs(pixels(first.images[0]) - pixels(enlarged)).mean()
    assert change > 1  # the second pass painted over the enlargement
    other = engine.generate(request.replace(seed=12))
    assert not np.array_equal(pixels(first.images[0]), pixels(other.images[0]))


def test_hires_steps_set_the_second_pass(engine: Engine, tiny_model: Path) -> None:
    totals: list[int] = []
    engine.generate(
        make(tiny_model, steps=4, hires_steps=10, hires_denoise=0.3),
        on_step=lambda i, n, p: totals.append(n),
    )
    assert totals[-1] == 4 + 3 and len(totals) == 7


def test_cancel_between_the_passes(engine: Engine, tiny_model: Path) -> None:
    done: list[int] = []
    with pytest.raises(JobCancelled, match="between the two passes"):
        engine.generate(
            make(tiny_model, steps=3),
            on_step=lambda i, n, p: done.append(i),
            is_cancelled=lambda: len(done) >= 3,
        )
    assert done == [1, 2, 3]


def test_an_unknown_upscaler_is_said_before_a_model_loads(cpu, tmp_path: Path) -> None:
    fresh = Engine(device=cpu, models_dir=tmp_path / "models", cache_dir=tmp_path / "cache")
    with pytest.raises(ModelError, match=r"No upscaler named 'nope'.*latent works too"):
        fresh.generate(
            GenerationRequest(
                prompt="x", model="missing-model", hires_scale=2, hires_upscaler="nope"
            )
        )
    assert fresh.loaded_model is None


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"hires_scale": 1.0}, "from 1.25 to 4"),
        ({"hires_scale": 4.5}, "from 1.25 to 4"),
        ({"hires_scale": float("nan")}, "from 1.25 to 4"),
        ({"hires_scale": True}, "from 1.25 to 4"),
        ({"hires_denoise": -0.1}, "from 0 \\(enlarge only\\) to 1"),
        ({"hires_denoise": 1.5}, "from 0 \\(enlarge only\\) to 1"),
        ({"hires_denoise": 0, "hires_upscaler": "latent"}, "Latent upscaling needs a second"),
        ({"hires_steps": 0}, "Hires steps must be a whole number"),
        ({"hires_steps": 2.5}, "Hires steps must be a whole number"),
        ({"hires_upscaler": "  "}, "No hires fix upscaler"),
        ({"steps": 4, "hires_denoise": 0.2}, "would run no step"),
        ({"width": 4096, "hires_scale": 4}, "more than 8192"),
        ({"init_image": "start.png"}, "Hires fix enlarges a text-to-image picture"),
    ],
)
def test_bad_hires_settings_are_refused_in_a_sentence(changes: dict, words: str) -> None:
    values = {"prompt": "x", "hires_scale": 2.0} | changes
    with pytest.raises(InvalidRequest, match=words):
        GenerationRequest(**values)


def test_without_hires_the_other_fields_are_not_checked() -> None:
    request = GenerationRequest(prompt="x", init_image="start.png", hires_denoise=0)
    assert request.hires_scale is None


def test_the_picture_carries_hires_and_restores_it(
    engine: Engine, tiny_model: Path, tmp_path: Path
) -> None:
    request = make(tiny_model, hires_scale=1.5, hires_steps=8, hires_denoise=0.4)
    request = request.replace(hires_upscaler="realesr-animevideov3-x4")
    outcome = run_job(request, workspace(engine, None, tmp_path))
    assert (outcome.width, outcome.height) == (96, 96) and "64x64 → 96x96" in outcome.summary
    picture = Image.open(outcome.files[0])
    assert picture.size == (96, 96)
    text = picture.text["parameters"]
    assert "Size: 64x64" in text
    assert "Denoising strength: 0.4, Hires upscale: 1.5, Hires steps: 8" in text
    assert "Hires upscaler: R-ESRGAN AnimeVideo" in text
    # our JSON re-makes it; its settings say the same as the text
    again = engine.generate(GenerationRequest.from_dict(json.loads(picture.text["imagestudio"])))
    assert np.array_equal(pixels(again.images[0]), pixels(picture))
    settings = read_settings(outcome.files[0])
    assert settings is not None and settings.extra["Denoising strength"] == "0.4"
    # the A1111 text alone gives the same hires settings back
    values = parse_parameters(text).request_values()
    assert values["hires_scale"] == 1.5 and values["hires_steps"] == 8
    assert values["hires_upscaler"] == "realesr-animevideov3-x4"
    assert values["hires_denoise"] == 0.4 and "strength" not in values
    # ComfyUI's graph: a second KSampler after the network and a resize to the exact size
    graph = json.loads(picture.text["prompt"])
    kinds = {node["class_type"] for node in graph.values()}
    assert {"UpscaleModelLoader", "ImageUpscaleWithModel", "ImageScale"} <= kinds
    samplers = [node for node in graph.values() if node["class_type"] == "KSampler"]
    assert [node["inputs"]["denoise"] for node in samplers] == [1.0, 0.4]
    scale = next(node for node in graph.values() if node["class_type"] == "ImageScale")
    assert (scale["inputs"]["width"], scale["inputs"]["height"]) == (96, 96)
    loader = next(node for node in graph.values() if node["class_type"] == "UpscaleModelLoader")
    assert loader["inputs"]["model_name"] == "realesr-animevideov3-x4.safetensors"


def test_a_latent_hires_graph_resizes_the_latents(
    engine: Engine, tiny_model: Path, tmp_path: Path
) -> None:
    outcome = run_job(make(tiny_model), workspace(engine, None, tmp_path))
    graph = json.loads(Image.open(outcome.files[0]).text["prompt"])
    latent = next(node for node in graph.values() if node["class_type"] == "LatentUpscale")
    assert (latent["inputs"]["width"], latent["inputs"]["height"]) == (128, 128)
    assert "Hires upscaler: Latent" in Image.open(outcome.files[0]).text["parameters"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "Steps: 20, Sampler: Euler a, Size: 512x512, Denoising strength: 0.7, "
            "Hires upscale: 2, Hires steps: 15, Hires upscaler: Latent (nearest-exact)",
            {
                "hires_scale": 2.0,
                "hires_steps": 15,
                "hires_upscaler": "latent",
                "hires_denoise": 0.7,
            },
        ),
        (
            "Steps: 20, Size: 512x768, Denoising strength: 0.5, Hires resize: 1024x1536, "
            "Hires steps: 0, Hires upscaler: R-ESRGAN 4x+",
            {"hires_scale": 2.0, "hires_upscaler": "realesrgan-x4plus", "hires_denoise": 0.5},
        ),
        (
            "Steps: 20, Size: 512x512, Denoising strength: 0.3, Hires upscale: 1.5, "
            "Hires upscaler: 4x-UltraSharp",
            {"hires_scale": 1.5, "hires_upscaler": "4x-UltraSharp", "hires_denoise": 0.3},
        ),
        (
            "Steps: 20, Size: 512x512, Hires upscale: 2, Hires upscaler: None",
            {"hires_scale": 2.0, "hires_upscaler": "lanczos"},
        ),
        ("Steps: 20, Size: 512x512, Denoising strength: 0.3", {}),
        ("Steps: 20, Size: 512x512, Hires upscale: abc, Hires upscaler: Latent", {}),
    ],
)
def test_a1111_hires_keys_become_ours(line: str, expected: dict) -> None:
    values = parse_parameters(f"a castle\n{line}").request_values()
    hires = {key: value for key, value in values.items() if key.startswith("hires")}
    assert hires == expected
    if expected:
        # and a request takes them as they are
        GenerationRequest(**({"prompt": "a castle"} | hires))
        assert "strength" not in values  # the second pass's, not an img2img job's


def test_denoise_zero_enlarges_only(engine: Engine, tiny_model: Path, tmp_path: Path) -> None:
    """The upscaler's picture is the result: no second pass (the starter model, made for 64 px,
    draws nonsense at 256 px even at a low strength)."""
    steps: list[tuple[int, int]] = []
    request = make(tiny_model, hires_upscaler="lanczos", hires_denoise=0)
    result = engine.generate(request, on_step=lambda i, n, p: steps.append((i, n)))
    plain = engine.generate(request.replace(hires_scale=None))
    enlarged = plain.images[0].resize((128, 128), Image.Resampling.LANCZOS)
    assert np.array_equal(pixels(result.images[0]), pixels(enlarged))
    assert steps[-1] == (6, 6)  # the first pass's steps only
    outcome = run_job(request, workspace(engine, None, tmp_path))
    graph = json.loads(Image.open(outcome.files[0]).text["prompt"])
    samplers = [node for node in graph.values() if node["class_type"] == "KSampler"]
    assert len(samplers) == 1  # and ComfyUI's graph has no second pass either
