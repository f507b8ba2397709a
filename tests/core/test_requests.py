from __future__ import annotations

from pathlib import Path

import pytest

from imagestudio.core.errors import InvalidRequest
from imagestudio.core.requests import (
    GenerationRequest,
    StyleRequest,
    parse_size,
    request_from_dict,
)


def test_defaults_are_valid() -> None:
    request = GenerationRequest(prompt="a fox")
    assert request.model == "starter"
    assert request.width is None and request.seed is None and request.count == 1
    assert not request.is_img2img


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"prompt": "   "}, "prompt is empty"),
        ({"prompt": 5}, "must be text"),
        ({"width": 500}, "multiple of 8"),
        ({"height": 777}, "Use 776 or 784"),
        ({"width": 0}, "between 8 and 8192"),
        ({"width": 8200}, "between 8 and 8192"),
        ({"width": 512.0}, "whole number"),
        ({"steps": 0}, "from 1 to 150"),
        ({"steps": 151}, "from 1 to 150"),
        ({"steps": True}, "from 1 to 150"),
        ({"guidance": -1}, "between 0 and 30"),
        ({"guidance": 30.5}, "between 0 and 30"),
        ({"guidance": "7"}, "between 0 and 30"),
        ({"seed": -1}, "seed must be"),
        ({"seed": 2**32}, "seed must be"),
        ({"seed": 2**32 - 1, "count": 2}, "seed can be at most"),
        ({"count": 0}, "from 1 to 16"),
        ({"count": 17}, "from 1 to 16"),
        ({"strength": 0}, "strength"),
        ({"strength": 1.5}, "strength"),
        ({"scheduler": "warp drive"}, "Unknown scheduler"),
        ({"model": " "}, "No model was chosen"),
        ({"init_image": "  "}, "path to an image file"),
        ({"init_image": "a\x00b.png"}, "NUL character"),
        ({"prompt": "x" * 20_001}, "limit is 20000"),
    ],
)
def test_bad_values_are_refused_with_a_sentence(changes: dict, words: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        GenerationRequest(**{"prompt": "a fox", **changes})
    assert words in str(info.value)
    assert str(info.value).endswith(".")
    assert isinstance(info.value, ValueError)  # the GUI can catch ValueError alone


def test_multiple_of_eight_is_not_silently_changed() -> None:
    assert GenerationRequest(prompt="a", width=72, height=64).width == 72


def test_img2img_with_too_few_effective_steps_is_refused(tmp_path: Path) -> None:
    image = tmp_path / "in.png"
    image.write_bytes(b"not checked here")
    with pytest.raises(InvalidRequest, match="no denoising step"):
        GenerationRequest(prompt="a", init_image=str(image), steps=4, strength=0.2)
    ok = GenerationRequest(prompt="a", init_image=str(image), steps=5, strength=0.2)
    assert ok.is_img2img and Path(ok.init_image).is_absolute()


def test_scheduler_names_are_canonicalised() -> None:
    assert GenerationRequest(prompt="a", scheduler="euler_a").scheduler == "Euler a"
    assert GenerationRequest(prompt="a", scheduler="dpm++ 2m karras").scheduler == (
        "DPM++ 2M Karras"
    )


def test_round_trip_through_dict() -> None:
    request = GenerationRequest(prompt="a", negative_prompt="b", seed=4, steps=7, count=2)
    assert GenerationRequest.from_dict(request.to_dict()) == request
    assert request_from_dict(request.to_dict()) == request
    style = StyleRequest("c.png", "s.png", mode="quality", seed=3)
    assert request_from_dict(style.to_dict()) == style and style.to_dict()["kind"] == "style"
    assert request_from_dict({"prompt": "old entries have no kind"}).kind == "generate"
    with pytest.raises(InvalidRequest, match="does not know"):
        request_from_dict({"kind": "teleport"})
    assert GenerationRequest.from_dict({**request.to_dict(), "future_field": 1}) == request
    with pytest.raises(InvalidRequest):
        GenerationRequest.from_dict(["not", "a", "dict"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "size"), [("512x768", (512, 768)), ("640", (640, 640)), (" 64 X 128 ", (64, 128))]
)
def test_parse_size(text: str, size: tuple[int, int]) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["big", "512x", "1x2x3", ""])
def test_parse_size_errors(text: str) -> None:
    with pytest.raises(InvalidRequest, match="WIDTHxHEIGHT"):
        parse_size(text)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"strength": True}, "strength"),
        ({"iterations": True}, "Iterations"),
        ({"size": True}, "output size"),
        ({"seed": False}, "seed"),
        ({"content_weight": float("nan")}, "content weight"),
        ({"style_weight": 10**400}, "style weight"),
        ({"preserve_colors": "yes"}, "Preserve colours"),
        ({"mode": "slow"}, "fast or quality"),
    ],
)
def test_style_values_use_the_same_checks(changes: dict, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        StyleRequest(**{"content_image": "c.png", "style_image": "s.png", **changes})
