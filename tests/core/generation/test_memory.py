"""Memory plans: savers chosen from the numbers (or the setting), with reasons, and applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagestudio.core.generation.memory import (
    MEMORY_MODES,
    TILE_PIXELS,
    out_of_memory_advice,
    plan_job,
    plan_offload,
)
from imagestudio.core.requests import GenerationRequest

GIB = 2**30


def test_offload_follows_the_free_memory() -> None:
    # SDXL in fp16: about 6.5 GiB of weights, 5 GiB of them the UNet
    args = {"weights": int(6.5 * GIB), "largest": 5 * GIB, "working": 1 * GIB}
    assert plan_offload("auto", "cuda", free=24 * GIB, **args) == ("none", None)
    offload, why = plan_offload("auto", "cuda", free=8 * GIB, **args)
    assert offload == "model" and why and "8.0 GiB free" in why
    offload, why = plan_offload("auto", "cuda", free=4 * GIB, **args)
    assert offload == "sequential" and why and "layer by layer" in why
    assert plan_offload("auto", "cpu", free=1 * GIB, **args) == ("none", None)
    assert plan_offload("fast", "cuda", free=1 * GIB, **args) == ("none", None)
    assert plan_offload("low", "cuda", free=80 * GIB, **args)[0] == "model"
    assert plan_offload("minimum", "mps", free=80 * GIB, **args)[0] == "sequential"
    assert plan_offload("auto", "cuda", free=None, **args) == ("none", None)


def test_job_savers_only_when_needed_and_always_with_a_reason() -> None:
    roomy = plan_job("auto", "cuda", 20 * GIB, 3 * GIB, 1 * GIB, 1024 * 1024, 1)
    assert not (roomy.attention_slicing or roomy.vae_slicing or roomy.vae_tiling)
    assert roomy.describe() == "Memory: no memory savers (fastest)."
    tight = plan_job("auto", "cuda", 2 * GIB, 3 * GIB, 1 * GIB, 1024 * 1024, 4)
    assert tight.attention_slicing and tight.vae_slicing and tight.vae_tiling
    assert "needs about 3.0 GiB but 2.0 GiB is free" in tight.describe()
    large = plan_job("auto", "cuda", 40 * GIB, 3 * GIB, 1 * GIB, TILE_PIXELS + 1, 1)
    assert large.vae_tiling and not large.attention_slicing and "tiles" in large.describe()
    cpu = plan_job("auto", "cpu", 1 * GIB, 3 * GIB, 1 * GIB, 512 * 512, 2)
    assert not cpu.attention_slicing and cpu.vae_slicing  # SDPA needs no slicing on the CPU
    fixed = plan_job("balanced", "cuda", 80 * GIB, 1, 1, 512 * 512, 2)
    assert fixed.attention_slicing and fixed.vae_slicing and "'balanced'" in fixed.describe()
    assert not plan_job("fast", "cuda", 1, 3 * GIB, 2 * GIB, TILE_PIXELS * 2, 4).vae_tiling


@pytest.mark.parametrize("mode", MEMORY_MODES)
def test_out_of_memory_advice_names_a_setting(mode: str) -> None:
    advice = out_of_memory_advice(mode, "cuda")
    assert advice.endswith(".")
    if mode != "minimum":
        assert "Set Memory to" in advice
    assert "Memory" not in out_of_memory_advice(mode, "cpu")


def test_engine_applies_the_plan_and_says_why(
    tiny_model: Path, cpu, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagestudio.core.generation import engine as engine_module
    from imagestudio.core.generation.engine import Engine

    engine = Engine(device=cpu, models_dir=tmp_path, cache_dir=tmp_path / "cache")
    request = GenerationRequest(prompt="a fox", model=str(tiny_model), steps=2, seed=1, count=2)
    plain = engine.generate(request, previews=False)
    assert not engine.pipeline.vae.use_slicing and not plain.warnings

    # the machine's free memory drops: the same job now needs the savers, and says so
    from imagestudio.core.generation.memory import estimate_job_memory

    needed = estimate_job_memory(64, 64, 2, 7.5, engine.pipeline, 4)
    monkeypatch.setattr(engine_module, "available_memory", lambda *a: int(needed * 0.8))
    monkeypatch.setattr(engine_module, "check_fits", lambda *a: None)
    tight = engine.generate(request, previews=False)
    assert engine.pipeline.vae.use_slicing and engine.pipeline.vae.use_tiling
    assert any(w.startswith("Memory: VAE slicing, VAE tiling because") for w in tight.warnings)
    assert len(tight.images) == 2

    balanced = Engine(
        device=cpu, models_dir=tmp_path, cache_dir=tmp_path / "c2", memory_setting="balanced"
    )
    balanced.generate(request, previews=False)
    assert balanced.pipeline.vae.use_slicing and not balanced.pipeline.vae.use_tiling


def test_out_of_memory_is_a_sentence_and_the_engine_recovers(
    tiny_model: Path, cpu, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from imagestudio.core.errors import OutOfMemory
    from imagestudio.core.generation import engine as engine_module
    from imagestudio.core.generation.engine import Engine

    engine = Engine(device=cpu, models_dir=tmp_path, cache_dir=tmp_path / "cache")
    request = GenerationRequest(prompt="a fox", model=str(tiny_model), steps=2, seed=1)
    engine.load(str(tiny_model))
    released: list[object] = []
    monkeypatch.setattr(engine_module, "release_memory", released.append)
    pipe_class = type(engine.pipeline)
    real_call = pipe_class.__call__

    def exhausted(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(pipe_class, "__call__", exhausted)
    with pytest.raises(OutOfMemory) as caught:
        engine.generate(request, previews=False)
    assert "Ran out of memory on the CPU" in str(caught.value)
    assert "smaller size or fewer images" in str(caught.value)
    assert "Traceback" not in str(caught.value) and released
    monkeypatch.setattr(pipe_class, "__call__", real_call)
    assert engine.generate(request, previews=False).images  # same engine, model still loaded
