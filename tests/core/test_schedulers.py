"""Scheduler names as other tools write them."""

from __future__ import annotations

import pytest

from imagestudio.core.schedulers import a1111_sampler, sampler_from_metadata, scheduler_names


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
        ("Euler", {"Schedule type": "Karras"}, "Euler Karras"),
        # no Karras twin of Euler a: plain Euler a would make another picture, so no match
        ("euler_ancestral", {"Schedule type": "karras"}, None),
        ("Euler Ancestral Karras", {}, None),  # Stability Matrix
        ("Euler", {"Schedule type": "Beta"}, None),  # a schedule we lack
        ("DPM++ SDE", {"Schedule type": "Karras"}, None),  # a sampler we lack
        ("Heun", {}, "Heun"),
        ("LMS Karras", {}, None),  # A1111 before 1.9; we lack LMS
        ("DPM2 a Karras", {}, "DPM2 a Karras"),
        ("dpm_2_ancestral", {"Schedule type": "karras"}, "DPM2 a Karras"),  # ComfyUI
        ("dpmpp_2m_sde_gpu", {"Schedule type": "karras"}, "DPM++ 2M SDE Karras"),  # Fooocus
        ("DPM++ 2M SDE", {"Schedule type": "Exponential"}, "DPM++ 2M SDE Exponential"),
        ("DPM++ 2M SDE", {"Schedule type": "Automatic"}, "DPM++ 2M SDE Exponential"),
        ("Euler", {"Schedule type": "Automatic"}, "Euler"),  # no default of its own
        # InvokeAI 3+: "_k" is the Karras schedule
        ("dpmpp_2m_k", {}, "DPM++ 2M Karras"),
        ("euler_k", {}, "Euler Karras"),
        ("kdpm_2_a_k", {}, "DPM2 a Karras"),
        ("unipc_k", {}, None),
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
        ("Euler Karras", "Euler", "Karras"),
        ("DPM++ 2M SDE", "DPM++ 2M SDE", "Uniform"),  # A1111's automatic would be exponential
        ("DPM++ 2M SDE Karras", "DPM++ 2M SDE", "Karras"),
        ("DPM++ 2M SDE Exponential", "DPM++ 2M SDE", "Exponential"),
        ("DPM2 a Karras", "DPM2 a", "Karras"),
        ("Heun", "Heun", None),
    ],
)
def test_written_in_a1111_form_and_read_back(ours: str, sampler: str, schedule: str | None) -> None:
    assert a1111_sampler(ours) == (sampler, schedule)
    extra = {"Schedule type": schedule} if schedule else {}
    assert sampler_from_metadata(sampler, extra) == ours


def test_every_scheduler_is_written_so_that_it_reads_back() -> None:
    for name in scheduler_names():
        sampler, schedule = a1111_sampler(name)
        assert sampler_from_metadata(sampler, {"Schedule type": schedule or ""}) == name
