"""Scheduler names as other tools write them."""

from __future__ import annotations

import pytest

from imagestudio.core.schedulers import sampler_from_metadata


@pytest.mark.parametrize(
    ("name", "extra", "ours"),
    [
        ("Euler a", {}, "Euler a"),
        ("k_euler_a", {}, "Euler a"),
        ("DPM++ 2M", {"Schedule type": "Karras"}, "DPM++ 2M Karras"),
        ("DPM++ 2M", {"schedule type": "Automatic"}, "DPM++ 2M"),
        ("DPM++ 2M Karras", {"Schedule type": "Karras"}, "DPM++ 2M Karras"),
        ("Euler", {"Schedule type": "Karras"}, "Euler"),  # no Karras Euler here: plain Euler
        ("Heun", {}, None),
        ("", {}, None),
        (None, {}, None),
        (42, {}, None),
    ],
)
def test_sampler_from_metadata(name: object, extra: dict, ours: str | None) -> None:
    assert sampler_from_metadata(name, extra) == ours
