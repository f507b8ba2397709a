from __future__ import annotations

import pytest
import torch

from imagestudio.core.devices import pick_device
from imagestudio.core.errors import InvalidRequest


def test_cpu_uses_fp32_and_says_why() -> None:
    device = pick_device("cpu")
    assert device.device_type == "cpu" and device.precision == "fp32"
    assert "fp32" in device.reason and device.torch_device == "cpu"
    assert device.total_memory and device.total_memory > 0


def test_auto_picks_what_is_there() -> None:
    device = pick_device()
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else ("mps" if torch.backends.mps.is_available() else "cpu")
    )
    assert device.device_type == expected
    assert device.reason


def test_environment_wins_over_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGESTUDIO_DEVICE", "cpu")
    monkeypatch.setenv("IMAGESTUDIO_PRECISION", "bf16")
    device = pick_device("auto", "fp32")
    assert device.device_type == "cpu" and device.precision == "bf16"
    assert "IMAGESTUDIO_DEVICE" in device.reason


def test_unknown_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidRequest, match="choose one of auto, cuda, mps, cpu"):
        pick_device("tpu")
    monkeypatch.setenv("IMAGESTUDIO_PRECISION", "fp8")
    with pytest.raises(InvalidRequest, match="IMAGESTUDIO_PRECISION"):
        pick_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_an_error_not_a_silent_fallback() -> None:
    with pytest.raises(InvalidRequest, match="no CUDA GPU"):
        pick_device("cuda")
