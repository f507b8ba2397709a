"""The shapes analyzer on ground-truth renders, and the evaluation's prompt selection."""

from __future__ import annotations

import random
from dataclasses import asdict

import numpy as np
import pytest
from PIL import Image, ImageFilter

from imagestudio.dev.training.analyze import (
    Analysis,
    analyze,
    ground_truth_samples,
    nearest_colour,
    score_samples,
    validate,
)
from imagestudio.dev.training.evaluate_starter import (
    all_cases,
    contact_sheet,
    format_report,
    select_cases,
    summarise,
)
from imagestudio.dev.training.shapes import (
    COLOURS,
    SHAPES,
    SIZE,
    Sample,
    ShapeSpec,
    caption_for,
    single_shape_sample,
)


def shape_sample(colour: str, shape: str, background: str, size: str = "", position: str = ""):
    spec = ShapeSpec(colour, shape, size, position)
    return Sample(caption_for((spec,), background), background, (spec,))


def noisy(sigma: float = 8.0, blur: float = 0.7, seed: int = 0):
    rng = np.random.default_rng(seed)

    def transform(image: Image.Image) -> Image.Image:
        pixels = np.asarray(image.filter(ImageFilter.GaussianBlur(blur)), dtype=np.float64)
        pixels = pixels + rng.normal(0.0, sigma, pixels.shape)
        return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8))

    return transform


# -- accuracy on ground truth ---------------------------------------------------------------------


def test_validate_is_at_least_98_percent_per_attribute() -> None:
    scores = validate(n=600, seed=0)  # 600 random single-shape samples + all 360 plain prompts
    assert set(scores) == {"background", "colour", "shape"}
    for attribute, accuracy in scores.items():
        assert accuracy >= 0.98, (attribute, scores)


def test_every_plain_prompt_combination_is_read_right() -> None:
    samples = [
        single_shape_sample(colour, shape, background)
        for colour in COLOURS
        for shape in SHAPES
        for background in COLOURS
        if colour != background
    ]
    assert len(samples) == 360
    scores = score_samples(samples)
    for attribute, accuracy in scores.items():
        assert accuracy >= 0.98, (attribute, scores)


def test_mild_noise_and_blur_keep_accuracy_above_95_percent() -> None:
    samples = ground_truth_samples(n=300, seed=1)
    scores = score_samples(samples, noisy(sigma=8.0, blur=0.7))
    for attribute, accuracy in scores.items():
        assert accuracy >= 0.95, (attribute, scores)


# -- specific cases -------------------------------------------------------------------------------


def test_red_circle_on_blue() -> None:
    result = analyze(single_shape_sample("red", "circle", "blue").render())
    assert (result.background, result.colour, result.shape) == ("blue", "red", "circle")
    # a circle of radius 0.21 * 64 covers about 14% of the picture
    assert result.object_fraction == pytest.approx(np.pi * 0.21**2, abs=0.02)


@pytest.mark.parametrize("colour,background", [("yellow", "purple"), ("orange", "yellow")])
def test_star_and_triangle_are_told_apart(colour: str, background: str) -> None:
    for shape in ("star", "triangle"):
        for size in ("small", "", "large"):
            result = analyze(shape_sample(colour, shape, background, size).render())
            assert result.shape == shape, (shape, size, result)
            assert (result.colour, result.background) == (colour, background)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("position", ["at the top left", "on the right", "at the bottom"])
def test_small_shapes_anywhere(shape: str, position: str) -> None:
    sample = shape_sample("pink", shape, "gray", "small", position)
    result = analyze(sample.render())
    assert (result.background, result.colour, result.shape) == ("gray", "pink", shape)
    assert 0.01 < result.object_fraction < 0.1


def test_large_shapes_near_the_border() -> None:
    for shape in SHAPES:
        sample = shape_sample("black", shape, "white", "large", "at the bottom right")
        result = analyze(sample.render())
        assert (result.background, result.colour, result.shape) == ("white", "black", shape)


@pytest.mark.parametrize("background", ["white", "black", "gray", "orange"])
def test_plain_picture_has_no_object(background: str) -> None:
    image = Image.new("RGB", (SIZE, SIZE), COLOURS[background])
    assert analyze(image) == Analysis(background, None, None, 0.0)
    noisy_image = noisy(sigma=8.0)(image)
    result = analyze(noisy_image)
    assert (result.background, result.colour, result.shape) == (background, None, None)


def test_pure_noise_is_no_shape() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    assert analyze(Image.fromarray(pixels)).shape is None


def test_larger_images_are_reduced_first() -> None:
    image = single_shape_sample("green", "square", "white").render().resize((512, 512))
    result = analyze(image)
    assert (result.background, result.colour, result.shape) == ("white", "green", "square")


def test_two_shapes_report_the_larger_one() -> None:
    specs = (
        ShapeSpec("red", "star", "large", "on the left"),
        ShapeSpec("blue", "square", "small", "on the right"),
    )
    result = analyze(Sample(caption_for(specs, "white"), "white", specs).render())
    assert (result.colour, result.shape) == ("red", "star")


def test_nearest_colour_tolerates_off_colours() -> None:
    for name, rgb in COLOURS.items():
        assert nearest_colour(rgb) == name
    assert nearest_colour((200, 50, 45)) == "red"
    assert nearest_colour((230, 150, 40)) == "orange"
    assert nearest_colour((235, 210, 60)) == "yellow"
    assert nearest_colour((110, 110, 115)) == "gray"
    assert nearest_colour((250, 140, 180)) == "pink"
    assert nearest_colour((40, 40, 40)) == "black"
    assert nearest_colour(np.array([50, 80, 200])) == "blue"


# -- evaluate_starter's prompt selection (no generation) ------------------------------------------


def test_case_selection_is_deterministic_and_keeps_held_out_triples() -> None:
    cases = all_cases()
    held = {case for case in cases if case.held_out}
    assert len(cases) == 360 and 0 < len(held) < 60

    chosen = select_cases(240, seed=0)
    assert chosen == select_cases(240, seed=0)
    assert chosen != select_cases(240, seed=1)
    assert len(chosen) == len(set(chosen)) == 240
    assert held <= set(chosen)  # every held-out triple when the count allows
    assert all(case.colour != case.background for case in chosen)
    first = chosen[0]
    assert first.caption == single_shape_sample(first.colour, first.shape, first.background).caption


def test_case_selection_for_small_and_large_counts() -> None:
    few = select_cases(10, seed=3)
    assert len(few) == 10 and sum(case.held_out for case in few) == 5
    assert len(select_cases(1000, seed=0)) == 360
    assert select_cases(0) == []


def test_summary_table_and_contact_sheet() -> None:
    rng = random.Random(0)
    records = []
    for case in select_cases(12, seed=0):
        ok = rng.random() < 0.5
        colour = case.colour if ok else "red"
        analysis = asdict(Analysis(case.background, colour, case.shape, 0.1))
        hits = {"colour": ok, "background": True, "shape": True}
        records.append(
            {"held_out": case.held_out, "colour": case.colour, "shape": case.shape}
            | {"background": case.background, "analysis": analysis, "hits": hits, "seconds": 0.5}
        )
    summary = summarise(records)
    assert summary["all"]["n"] == 12 and summary["held_out"]["n"] == 6
    assert summary["all"]["background"] == 1.0 and summary["all"]["seconds"] == 0.5
    report = {"model": "m", "device": "CPU", "steps": 2, "guidance": 7.5, "seed": 0}
    report |= {"load_seconds": 1.0, "summary": summary, "validation": None}
    text = format_report(report)
    assert "held-out" in text and "100.0%" in text
    images = [Image.new("RGB", (64, 64), (0, 0, 0))] * len(records)
    assert contact_sheet(images, records).size == (8 * 128, 2 * (128 + 26))
