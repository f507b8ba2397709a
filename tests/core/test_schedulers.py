"""Scheduler names as other tools write them."""

from __future__ import annotations

import pytest

from imagestudio.core.schedulers import a1111_sampler, sampler_from_metadata


@pytest.mark.parametrize(
    ("name", "extra", "ours"),
    [
        ("Euler a", {}, "Euler a"),
        ("k_euler_a", {}, "Euler a"),
        ("DPM++ 2M", {"Schedule type": "Karras"}, "DPM++ 2M Karras"),
        ("DPM++ 2M", {"schedule type": "Automatic"}, "DPM++ 2M Karras"),  # A1111's automatic
        ("DPM++ 2M", {"Schedule type": "Uniform"}, "DPM++ 2M"),
        ("DPM++ 2M", {}, "DPM++ 2M"),  # A1111 before 1.9: the schedule is in the name
        ("PLMS", {}, "PNDM"),
        ("dpmpp_2m", {"Schedule type": "karras"}, "DPM++ 2M Karras"),  # ComfyUI, SwarmUI
        ("euler_ancestral", {"Schedule type": "normal"}, "Euler a"),
        ("k_euler_ancestral", {}, "Euler a"),  # NovelAI
        ("uni_pc", {}, "UniPC"),
        ("DPM++ 2M Karras", {"Schedule type": "Karras"}, "DPM++ 2M Karras"),
        # no Karras Euler here: plain Euler would make another picture, so no match
        ("Euler", {"Schedule type": "Karras"}, None),
        ("Heun", {}, None),
        ("", {}, None),
        (None, {}, None),
        (42, {}, None),
    ],
)
def test_sampler_from_metadata(name: object, extra: dict, ours: str | None) -> None:
    assert sampler_from_metadata(name, extra) == ours


@pytest.mark.parametrize(
    ("ours", "sampler", "schedule"),
    [
        ("DPM++ 2M Karras", "DPM++ 2M", "Karras"),
        ("DPM++ 2M", "DPM++ 2M", "Uniform"),  # A1111's automatic would be Karras
        ("PNDM", "PLMS", None),
        ("Euler a", "Euler a", None),
    ],
)
def test_written_in_a1111_form_and_read_back(ours: str, sampler: str, schedule: str | None) -> None:
    assert a1111_sampler(ours) == (sampler, schedule)
    extra = {"Schedule type": schedule} if schedule else {}
    assert sampler_from_metadata(sampler, extra) == ours
