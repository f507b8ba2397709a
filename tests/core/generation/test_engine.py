"""The engine on a tiny random-weight SD pipeline, on the CPU: real diffusers code, 2-4 steps."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagestudio.core.errors import ImageError, InvalidRequest, JobCancelled, ModelError
from imagestudio.core.generation.engine import Engine
from imagestudio.core.generation.memory import check_fits, estimate_job_memory
from imagestudio.core.requests import GenerationRequest
from imagestudio.core.schedulers import scheduler_names


def request(model: Path, **changes) -> GenerationRequest:
    values = {
        "prompt": "a red circle on a blue background",
        "model": str(model),
        "steps": 3,
        "seed": 42,
    }
    values.update(changes)
    return GenerationRequest(**values)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


class DecodeCounter:
    """Counts real calls of the VAE decoder through a forward hook (no stand-in objects)."""

    def __init__(self, engine: Engine) -> None:
        self.calls = 0
        self.handle = engine.pipeline.vae.decoder.register_forward_pre_hook(self._hook)

    def _hook(self, module, args) -> None:
        self.calls += 1

    def close(self) -> None:
        self.handle.remove()


def test_generates_native_size_and_reports_what_it_used(engine: Engine, tiny_model: Path) -> None:
    result = engine.generate(request(tiny_model))
    assert len(result.images) == 1
    assert result.images[0].size == (64, 64)
    assert (result.width, result.height) == (64, 64)
    assert result.seeds == [42]
    assert result.scheduler == "Euler"  # the model's own
    used = result.used_request()
    assert used.seed == 42 and used.width == 64 and used.scheduler == "Euler"


def test_same_request_and_seed_give_identical_pixels(engine: Engine, tiny_model: Path) -> None:
    first = engine.generate(request(tiny_model, scheduler="Euler a"))
    engine.generate(request(tiny_model, seed=7))  # something else in between
    second = engine.generate(request(tiny_model, scheduler="Euler a"))
    assert np.array_equal(pixels(first.images[0]), pixels(second.images[0]))
    other = engine.generate(request(tiny_model, scheduler="Euler a", seed=43))
    assert not np.array_equal(pixels(first.images[0]), pixels(other.images[0]))


def test_random_seed_is_recorded_and_reproduces(engine: Engine, tiny_model: Path) -> None:
    result = engine.generate(request(tiny_model, seed=None))
    again = engine.generate(result.used_request())
    assert np.array_equal(pixels(result.images[0]), pixels(again.images[0]))


def test_batch_items_use_consecutive_seeds(engine: Engine, tiny_model: Path) -> None:
    batch = engine.generate(request(tiny_model, count=3, seed=100, scheduler="Euler a"))
    assert batch.seeds == [100, 101, 102]
    single = engine.generate(request(tiny_model, seed=101, scheduler="Euler a"))
    assert np.allclose(pixels(batch.images[1]), pixels(single.images[0]), atol=1)


def test_every_step_gives_a_cheap_preview(engine: Engine, tiny_model: Path) -> None:
    seen: list[tuple[int, int, np.ndarray]] = []
    engine.generate(
        request(tiny_model, steps=4, count=2), on_step=lambda s, t, p: seen.append((s, t, p))
    )
    assert [(s, t) for s, t, _ in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    for _, _, preview in seen:
        # latent resolution (64 px / VAE factor 2), the two images side by side
        assert preview.shape == (32, 64, 3) and preview.dtype == np.uint8
    assert not np.array_equal(seen[0][2], seen[-1][2])


def test_previews_can_be_turned_off(engine: Engine, tiny_model: Path) -> None:
    seen = []
    engine.generate(request(tiny_model), on_step=lambda s, t, p: seen.append(p), previews=False)
    assert seen == [None, None, None]


def test_no_vae_decode_per_step(engine: Engine, tiny_model: Path) -> None:
    engine.load(str(tiny_model))
    counter = DecodeCounter(engine)
    try:
        engine.generate(request(tiny_model, steps=5), on_step=lambda *a: None)
    finally:
        counter.close()
    assert counter.calls == 1  # the final image only


@pytest.mark.parametrize("cancel_after", [0, 1, 2])
def test_cancel_between_steps_skips_the_decode(
    engine: Engine, tiny_model: Path, cancel_after: int
) -> None:
    engine.load(str(tiny_model))
    steps_done: list[int] = []
    counter = DecodeCounter(engine)
    try:
        with pytest.raises(JobCancelled):
            engine.generate(
                request(tiny_model, steps=5),
                on_step=lambda s, t, p: steps_done.append(s),
                is_cancelled=lambda: len(steps_done) >= cancel_after,
            )
    finally:
        counter.close()
    assert len(steps_done) == cancel_after
    assert counter.calls == 0
    # the engine is still usable
    assert engine.generate(request(tiny_model)).images


def test_switching_scheduler_does_not_reload(engine: Engine, tiny_model: Path) -> None:
    engine.generate(request(tiny_model))
    pipe, unet = engine.pipeline, engine.pipeline.unet
    for name in scheduler_names():
        result = engine.generate(request(tiny_model, scheduler=name, steps=4))
        assert result.load_seconds == 0.0
        assert result.scheduler == name
        assert engine.pipeline is pipe and engine.pipeline.unet is unet


def test_scheduler_options_do_not_leak_between_jobs(engine: Engine, tiny_model: Path) -> None:
    engine.generate(request(tiny_model, scheduler="DPM++ 2M Karras"))
    assert engine.generate(request(tiny_model)).scheduler == "Euler"
    assert engine.generate(request(tiny_model, scheduler="DPM++ 2M")).scheduler == "DPM++ 2M"


def test_too_large_for_memory_is_refused_before_any_step(engine: Engine, tiny_model: Path) -> None:
    steps: list[int] = []
    with pytest.raises(InvalidRequest, match="smaller size or fewer images"):
        engine.generate(
            request(tiny_model, width=8192, height=8192, count=16),
            on_step=lambda s, t, p: steps.append(s),
        )
    assert steps == []


def test_memory_estimate_scales_and_check_explains(engine: Engine, tiny_model: Path, cpu) -> None:
    engine.load(str(tiny_model))
    pipe = engine.pipeline
    off = {"vae_slicing": False, "vae_tiling": False}  # whatever the last job's plan left on
    small = estimate_job_memory(64, 64, 1, 7.5, pipe, 4, **off)
    assert estimate_job_memory(128, 128, 1, 7.5, pipe, 4, **off) > 3.9 * small
    assert estimate_job_memory(64, 64, 2, 7.5, pipe, 4, **off) > 1.9 * small
    assert estimate_job_memory(64, 64, 1, 7.5, pipe, 2, **off) < small
    assert estimate_job_memory(64, 64, 2, 7.5, pipe, 4, vae_slicing=True) < 1.9 * small
    check_fits(small, small * 2, 64, 64, 1, cpu)
    check_fits(small, None, 64, 64, 1, cpu)  # unknown free memory: no refusal
    with pytest.raises(InvalidRequest, match=r"only 0.0 GiB is free on the CPU"):
        check_fits(small, small // 2, 64, 64, 1, cpu)


def test_missing_model_is_a_clear_error(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="There is no model at"):
        engine.generate(request(tmp_path / "nowhere"))
    with pytest.raises(ModelError, match="No model named 'nothing-here'"):
        engine.generate(request(Path("x")).replace(model="nothing-here"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"no model_index.json"):
        engine.generate(request(tmp_path / "empty"))


def test_builtin_model_absent_says_what_to_do(engine: Engine, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("IMAGESTUDIO_RESOURCES", str(tmp_path))
    with pytest.raises(ModelError, match="--model"):
        engine.generate(GenerationRequest(prompt="a fox"))


def test_pickle_checkpoints_are_refused(engine: Engine, tmp_path: Path) -> None:
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"\x80\x04pickle")
    with pytest.raises(ModelError, match="can run any program"):
        engine.generate(request(ckpt))


def test_broken_model_fails_cleanly_and_engine_stays_usable(
    engine: Engine, tiny_model: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    weights = next((broken / "unet").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])  # truncated download
    with pytest.raises(ModelError, match="Could not load the model"):
        engine.generate(request(broken))
    no_unet = tmp_path / "no-unet"
    shutil.copytree(tiny_model, no_unet)
    shutil.rmtree(no_unet / "unet")
    with pytest.raises(ModelError):
        engine.generate(request(no_unet))
    damaged_index = tmp_path / "damaged-index"
    shutil.copytree(tiny_model, damaged_index)
    (damaged_index / "model_index.json").write_text("{oops")
    with pytest.raises(ModelError, match="damaged"):
        engine.generate(request(damaged_index))
    assert engine.generate(request(tiny_model)).images


def test_pickle_only_weights_in_a_folder_are_refused(
    engine: Engine, tiny_model: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "bin-weights"
    shutil.copytree(tiny_model, folder)
    for weights in (folder / "unet").glob("*.safetensors"):
        weights.rename(weights.with_name("diffusion_pytorch_model.bin"))
    with pytest.raises(ModelError, match=r"pickle files.*models convert"):
        engine.generate(request(folder))


def test_img2img_uses_the_init_image(engine: Engine, tiny_model: Path, tmp_path: Path) -> None:
    init = tmp_path / "init.png"
    Image.new("RGB", (80, 72), (200, 30, 30)).save(init)
    steps: list[tuple[int, int]] = []
    result = engine.generate(
        request(tiny_model, init_image=str(init), strength=0.5, steps=6),
        on_step=lambda s, t, p: steps.append((s, t)),
    )
    assert result.images[0].size == (80, 72)
    assert steps[-1] == (3, 3)  # strength 0.5 of 6 steps
    resized = engine.generate(
        request(tiny_model, init_image=str(init), width=64, height=64, strength=0.5)
    )
    assert resized.images[0].size == (64, 64)
    assert any("resized" in w for w in resized.warnings)
    again = engine.generate(
        request(tiny_model, init_image=str(init), width=64, height=64, strength=0.5)
    )
    assert np.array_equal(pixels(resized.images[0]), pixels(again.images[0]))


def test_bad_init_image_is_a_clear_error(engine: Engine, tiny_model: Path, tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    with pytest.raises(ImageError, match="not an image ImageStudio can read"):
        engine.generate(request(tiny_model, init_image=str(bad)))
    assert engine.generate(request(tiny_model)).images


def test_no_network_is_touched(tiny_model: Path, cpu, tmp_path: Path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    fresh = Engine(device=cpu, models_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert fresh.generate(request(tiny_model)).images


def test_fitted_preview_map_is_cached(tiny_model: Path, cpu, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    Engine(device=cpu, models_dir=tmp_path, cache_dir=cache).load(str(tiny_model))
    files = list((cache / "previews").glob("*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert len(data["weights"]) == 4 and len(data["bias"]) == 3
