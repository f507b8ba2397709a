"""Upscaling: tiles, passes, alpha, cancel and refusals on a tiny random spandrel network; the
shipped Real-ESRGAN files against ncnn's own output; a whole upscale job."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from imagestudio.core.errors import (
    ImageError,
    InvalidRequest,
    JobCancelled,
    ModelError,
    OutOfMemory,
)
from imagestudio.core.requests import UpscaleRequest
from imagestudio.core.upscale.job import UpscaleEngine
from imagestudio.core.upscale.loading import load_upscaler, shipped_dir, upscaler_files
from imagestudio.core.upscale.tiles import network_runner, plan_tiles, upscale_tensor

REFERENCES = Path(__file__).resolve().parents[2] / "data" / "upscalers"


def tiny_compact(scale: int = 2, features: int = 8, convs: int = 2, seed: int = 0) -> dict:
    """A random Real-ESRGAN compact network (SRVGGNetCompact) in BasicSR's keys."""
    generator = torch.Generator().manual_seed(seed)
    state, index = {}, 0

    def conv(out_ch: int, in_ch: int) -> None:
        nonlocal index
        state[f"body.{index}.weight"] = torch.randn(out_ch, in_ch, 3, 3, generator=generator) * 0.2
        state[f"body.{index}.bias"] = torch.zeros(out_ch)
        index += 1

    def prelu() -> None:
        nonlocal index
        state[f"body.{index}.weight"] = torch.full((features,), 0.1)
        index += 1

    conv(features, 3)
    prelu()
    for _ in range(convs):
        conv(features, features)
        prelu()
    conv(3 * scale * scale, features)
    return state


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models" / "upscalers"
    folder.mkdir(parents=True)
    save_file(tiny_compact(2), str(folder / "tiny-x2.safetensors"))
    return tmp_path / "models"


def picture(path: Path, width: int = 80, height: int = 56, mode: str = "RGB") -> Path:
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 3 % 256, y * 4 % 256, (x * y) % 256], axis=-1).astype(np.uint8)
    image = Image.fromarray(rgb)
    if mode == "RGBA":
        image.putalpha(Image.fromarray(((x > width // 2) * 255).astype(np.uint8)))
    image.save(path)
    return path


def test_sizes_and_passes(models: Path, tmp_path: Path) -> None:
    engine = UpscaleEngine(models, "cpu")
    source = picture(tmp_path / "in.png")
    two = engine.upscale(UpscaleRequest(image=str(source), scale=2, upscaler="tiny-x2"))
    assert two.image.size == (160, 112) and two.upscaler == "tiny-x2"
    steps: list[tuple[int, int]] = []
    # 3x from a 2x network: two passes (4x), then a Lanczos resize to exactly 3x
    three = engine.upscale(
        UpscaleRequest(image=str(source), scale=3, upscaler="tiny-x2", tile=32),
        on_step=lambda step, total, preview: steps.append((step, total)),
    )
    assert three.image.size == (240, 168)
    assert steps[-1][0] == steps[-1][1] and len(steps) == steps[-1][1]  # every tile reported
    lanczos = engine.upscale(UpscaleRequest(image=str(source), scale=1.5, upscaler="lanczos"))
    assert lanczos.image.size == (120, 84)


def test_tiles_blend_to_the_untiled_picture(models: Path) -> None:
    upscaler = load_upscaler(models / "upscalers" / "tiny-x2.safetensors", "cpu")
    run = network_runner(upscaler.model, upscaler.dtype)
    image = torch.rand(1, 3, 70, 90, generator=torch.Generator().manual_seed(1))
    whole = upscale_tensor(run, image, 2, plan_tiles(90, 70, 256))
    plan = plan_tiles(90, 70, 32)
    assert plan.count > 4
    tiled = upscale_tensor(run, image, 2, plan)
    assert tiled.shape == whole.shape == (3, 140, 180)
    # the network sees 4 px around each pixel; the overlap is wider, so no seam remains
    assert float((tiled - whole).abs().max()) < 1e-5


def test_cancel_between_tiles_and_alpha(models: Path, tmp_path: Path) -> None:
    engine = UpscaleEngine(models, "cpu")
    source = picture(tmp_path / "in.png", mode="RGBA")
    calls = []

    def cancel_after_two() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(JobCancelled, match="after 2 of"):
        engine.upscale(
            UpscaleRequest(image=str(source), scale=2, upscaler="tiny-x2", tile=32),
            is_cancelled=cancel_after_two,
        )
    result = engine.upscale(UpscaleRequest(image=str(source), scale=2, upscaler="tiny-x2"))
    assert result.image.mode == "RGBA" and result.image.size == (160, 112)
    alpha = np.asarray(result.image.getchannel("A"))
    assert alpha[:, :70].max() < 10 and alpha[:, 90:].min() > 245  # the left half stays clear


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"scale": 0}, "from 1.25 to 8"),
        ({"scale": 1}, "from 1.25 to 8"),
        ({"scale": 9}, "from 1.25 to 8"),
        ({"tile": 16}, "from 32 to 2048"),
        ({"upscaler": " "}, "No upscaler was chosen"),
    ],
)
def test_bad_options_are_sentences(tmp_path: Path, changes: dict, words: str) -> None:
    values = {"image": str(picture(tmp_path / "in.png")), **changes}
    with pytest.raises(InvalidRequest, match=words):
        UpscaleRequest(**values)


def test_bad_pictures_and_files_are_sentences(models: Path, tmp_path: Path) -> None:
    engine = UpscaleEngine(models, "cpu")
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    with pytest.raises(ImageError, match="not an image"):
        engine.upscale(UpscaleRequest(image=str(notes), upscaler="tiny-x2"))
    dot = tmp_path / "dot.png"
    Image.new("RGB", (1, 1)).save(dot)
    with pytest.raises(ImageError, match="too small"):
        engine.upscale(UpscaleRequest(image=str(dot), upscaler="tiny-x2"))
    huge = tmp_path / "wide.png"
    Image.new("RGB", (8000, 8000)).save(huge)
    with pytest.raises(InvalidRequest, match="megapixels"):
        engine.upscale(UpscaleRequest(image=str(huge), scale=4, upscaler="lanczos"))
    good = str(picture(tmp_path / "in.png"))
    with pytest.raises(ModelError, match="No upscaler named 'nope'"):
        engine.upscale(UpscaleRequest(image=good, upscaler="nope"))
    pickle = tmp_path / "old.pth"
    torch.save({"w": torch.zeros(1)}, pickle)
    with pytest.raises(ModelError, match="pickle"):
        engine.upscale(UpscaleRequest(image=good, upscaler=str(pickle)))
    damaged = models / "upscalers" / "damaged.safetensors"
    damaged.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ModelError, match="could not be read"):
        engine.upscale(UpscaleRequest(image=good, upscaler="damaged"))
    lora = models / "upscalers" / "a-lora.safetensors"
    save_file({"unet.down.lora_A.weight": torch.zeros(4, 8)}, str(lora))
    with pytest.raises(ModelError, match="not an upscaler"):
        engine.upscale(UpscaleRequest(image=good, upscaler="a-lora"))


@pytest.mark.parametrize("name", ["realesrgan-x4plus", "realesr-animevideov3-x4"])
def test_the_shipped_upscalers_match_ncnns_output(name: str) -> None:
    assert name in upscaler_files(Path("/nonexistent"))  # shipped, found offline
    upscaler = load_upscaler(shipped_dir() / f"{name}.safetensors", "cpu", torch.float32)
    assert (upscaler.scale, upscaler.architecture) == (
        4,
        "ESRGAN" if "x4plus" in name else "RealESRGAN Compact",
    )
    y, x = np.mgrid[0:32, 0:32] / 32  # scripts/convert_realesrgan_ncnn.reference_input
    source = np.stack([np.sin(9 * x) * 0.5 + 0.5, y, np.abs(x - y)], axis=-1).astype(np.float32)
    with torch.no_grad():
        ours = upscaler.model(torch.from_numpy(source).permute(2, 0, 1)[None])[0].numpy()
    reference = np.load(REFERENCES / f"{name}.ncnn.npy").astype(np.float32)
    assert ours.shape == reference.shape == (3, 128, 128)
    assert float(np.abs(ours - reference).max()) < 0.004  # under one 8-bit level


def test_an_upscale_job_keeps_the_pictures_settings(models: Path, tmp_path: Path) -> None:
    from PIL.PngImagePlugin import PngInfo

    from imagestudio.core.jobs import run_job
    from imagestudio.core.outputs.history import HistoryStore
    from imagestudio.core.outputs.metadata import parse_parameters, read_settings
    from imagestudio.core.upscale.job import UPSCALE
    from imagestudio.core.workspace import EngineConfig, Workspace

    source = tmp_path / "made.png"
    info = PngInfo()
    info.add_text("parameters", "a fox\nSteps: 20, Seed: 5, Size: 80x56")
    info.add_text("imagestudio", json.dumps({"kind": "generate", "prompt": "a fox", "seed": 5}))
    Image.open(picture(tmp_path / "plain.png")).save(source, pnginfo=info)
    config = EngineConfig(models_dir=models, cache_dir=tmp_path / "c", outputs_dir=tmp_path / "o")
    with HistoryStore(tmp_path / "h.sqlite3") as history:
        workspace = Workspace(config, history, engines={UPSCALE: UpscaleEngine(models, "cpu")})
        outcome = run_job(UpscaleRequest(image=str(source), upscaler="tiny-x2", scale=2), workspace)
        record = history.get(outcome.history_id)
    (path,) = outcome.files
    text = Image.open(path).text["parameters"]
    settings = parse_parameters(text)
    assert settings.prompt == "a fox" and settings.seed == 5
    assert settings.extra["Postprocess upscale by"] == "2"
    assert settings.extra["Postprocess upscaler"] == "tiny-x2"
    assert read_settings(path).request["prompt"] == "a fox"  # the picture's own settings
    assert record.kind == "upscale" and record.status == "done"
    assert Image.open(path).size == (160, 112)


def test_out_of_memory_halves_the_tile_and_goes_on(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device that holds tiles of at most 40x40 pixels: 128 -> 64 -> 32, same picture."""
    import imagestudio.core.upscale.job as job

    sizes: list[tuple[int, int]] = []

    def small_memory(model, dtype):
        run = network_runner(model, dtype)

        def guarded(piece: torch.Tensor) -> torch.Tensor:
            sizes.append(tuple(piece.shape[2:]))
            if piece.shape[2] * piece.shape[3] > 40 * 40:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return run(piece)

        return guarded

    source = picture(tmp_path / "in.png")
    engine = UpscaleEngine(models, "cpu")
    whole = engine.upscale(UpscaleRequest(image=str(source), scale=2, upscaler="tiny-x2"))
    monkeypatch.setattr(job, "network_runner", small_memory)
    halved = engine.upscale(
        UpscaleRequest(image=str(source), scale=2, upscaler="tiny-x2", tile=128)
    )
    assert sizes[0] == (56, 80) and max(h * w for h, w in sizes[-6:]) <= 32 * 32
    difference = np.abs(
        np.asarray(halved.image, dtype=np.int16) - np.asarray(whole.image, dtype=np.int16)
    )
    assert difference.max() <= 2  # the tiny network sees 3 px around: seams blend away

    def no_memory(model, dtype):
        def never(piece: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 9 GB")

        return never

    monkeypatch.setattr(job, "network_runner", no_memory)
    with pytest.raises(OutOfMemory, match="Even 32-pixel tiles do not fit"):
        engine.upscale(UpscaleRequest(image=str(source), scale=2, upscaler="tiny-x2"))
