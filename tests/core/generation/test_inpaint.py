"""Inpainting and outpainting on tiny random models (an ordinary 4-channel one and a dedicated
9-channel inpainting one): pixels outside the mask kept exactly, "only masked" placement,
outpaint sizes, determinism, metadata, the kept mask, and every bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagestudio.core.errors import ImageError, InvalidRequest
from imagestudio.core.generation.engine import Engine
from imagestudio.core.generation.inpaint import (
    extend_canvas,
    fill_masked,
    masked_box,
    working_size,
)
from imagestudio.core.jobs import run_job
from imagestudio.core.outputs.history import HistoryStore
from imagestudio.core.paths import app_paths
from imagestudio.core.requests import InpaintRequest, parse_extend, request_from_dict
from tests.core.test_jobs import workspace

W, H = 128, 96
BOX = (40, 30, 80, 60)  # the painted rectangle (left, top, right, bottom)


def picture(path: Path) -> Path:
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.stack([x * 2 % 256, y * 2 % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def mask_file(path: Path, box=BOX, size=(W, H), mode="L") -> Path:
    mask = np.zeros((size[1], size[0]), np.uint8)
    left, top, right, bottom = box
    mask[top:bottom, left:right] = 255
    if mode == "RGBA":  # transparent repaints
        rgba = np.zeros((size[1], size[0], 4), np.uint8)
        rgba[..., 3] = 255 - mask
        Image.fromarray(rgba, "RGBA").save(path)
    else:
        Image.fromarray(mask).save(path)
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return picture(tmp_path / "picture.png"), mask_file(tmp_path / "mask.png")


def make(model: Path, files: tuple[Path, Path], **changes) -> InpaintRequest:
    image, mask = files
    values = {
        "prompt": "a red ball",
        "model": str(model),
        "steps": 4,
        "seed": 7,
        "scheduler": "Euler",
        "init_image": str(image),
        "mask": str(mask),
    }
    return InpaintRequest(**(values | changes))


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def far_from(box: tuple[int, int, int, int], margin: int, size=(W, H)) -> np.ndarray:
    """True where a pixel is more than `margin` px outside `box`."""
    keep = np.ones((size[1], size[0]), bool)
    left, top, right, bottom = box
    keep[max(0, top - margin) : bottom + margin, max(0, left - margin) : right + margin] = False
    return keep


@pytest.mark.parametrize("area", ["whole", "masked"])
@pytest.mark.parametrize("fill", ["original", "fill", "noise"])
def test_outside_the_mask_is_kept_and_inside_changes(
    engine: Engine, tiny_model: Path, files, area: str, fill: str
) -> None:
    steps: list[tuple[int, ...] | None] = []
    result = engine.generate(
        make(tiny_model, files, area=area, fill=fill, padding=8),
        on_step=lambda i, n, p: steps.append(None if p is None else p.shape),
    )
    source = pixels(Image.open(files[0]))
    out = pixels(result.images[0])
    assert out.shape == source.shape  # the picture's size, whatever the model worked at
    outside = far_from(BOX, margin=3 * 4)  # beyond the blur (4 px, ~3 sigma)
    assert np.array_equal(out[outside], source[outside])
    left, top, right, bottom = BOX
    assert (
        np.abs(
            out[top + 5 : bottom - 5, left + 5 : right - 5]
            - source[top + 5 : bottom - 5, left + 5 : right - 5]
        ).mean()
        > 5
    )
    # previews show the whole picture (the composite), not the model's crop
    assert steps and steps[0] is not None and steps[0][1] / steps[0][0] == pytest.approx(W / H, 0.1)


def test_only_masked_works_on_a_crop_at_the_models_size(
    engine: Engine, tiny_model: Path, files
) -> None:
    result = engine.generate(make(tiny_model, files, area="masked", padding=4))
    # the crop (40+2*4 by 30+2*4 px) at the tiny model's 64-px area, its shape kept
    assert (result.width, result.height) == working_size(48, 38, 64)
    assert masked_box(Image.open(files[1]).convert("L"), 4, (W, H)) == (36, 26, 84, 64)
    # a mask at an edge: the box grows inward and stays inside the picture
    edge = Image.fromarray(np.pad(np.full((10, 10), 255, np.uint8), ((0, H - 10), (0, W - 10))))
    assert masked_box(edge, 8, (W, H)) == (0, 0, 18, 18)
    thin = np.zeros((H, W), np.uint8)
    thin[40:42, 10:110] = 255
    left, top, right, bottom = masked_box(Image.fromarray(thin), 0, (W, H))
    assert (right - left) / (bottom - top) <= 2.0  # at most 2:1, so the model sees context


def test_same_seed_same_pixels_and_rgba_masks(
    engine: Engine, tiny_model: Path, files, tmp_path: Path
) -> None:
    request = make(tiny_model, files)
    first, again = engine.generate(request), engine.generate(request)
    assert np.array_equal(pixels(first.images[0]), pixels(again.images[0]))
    rgba = mask_file(tmp_path / "alpha.png", mode="RGBA")  # alpha 0 repaints: the same mask
    third = engine.generate(request.replace(mask=str(rgba)))
    assert np.array_equal(pixels(first.images[0]), pixels(third.images[0]))


def test_a_mask_of_another_size_but_the_same_shape_is_resized(
    engine: Engine, tiny_model: Path, files, tmp_path: Path
) -> None:
    half = mask_file(tmp_path / "half.png", box=(20, 15, 40, 30), size=(W // 2, H // 2))
    notices: list[str] = []
    result = engine.generate(make(tiny_model, files, mask=str(half)), on_notice=notices.append)
    assert any("resized to the picture's 128x96" in text for text in notices)
    assert result.images[0].size == (W, H)


def test_outpaint_sizes_and_two_extensions_in_a_row(
    engine: Engine, tiny_model: Path, files, tmp_path: Path
) -> None:
    image, _ = files
    first = engine.generate(
        InpaintRequest(
            prompt="sky",
            model=str(tiny_model),
            steps=3,
            seed=1,
            init_image=str(image),
            extend=(0, 0, 32, 0),
            strength=1.0,
        )
    )
    assert first.images[0].size == (W + 32, H)
    source, out = pixels(Image.open(image)), pixels(first.images[0])
    # the old pixels are kept except a feathered band (32 px + the blur) along the seam
    assert np.array_equal(out[:, : W - 32 - 12], source[:, : W - 32 - 12])
    first.images[0].save(tmp_path / "wider.png")
    second = engine.generate(
        InpaintRequest(
            prompt="sky",
            model=str(tiny_model),
            steps=3,
            seed=1,
            init_image=str(tmp_path / "wider.png"),
            extend=(0, 8, 32, 16),
        )
    )
    assert second.images[0].size == (W + 64, H + 24)


def test_outpaint_canvas_fills_from_the_edges() -> None:
    solid = Image.new("RGB", (100, 80), (200, 40, 40))
    canvas, mask = extend_canvas(solid, (16, 0, 0, 8), seed=1)
    assert canvas.size == (116, 88) and mask.size == (116, 88)
    new_part = np.asarray(canvas)[:, :16].astype(int)
    assert abs(new_part[..., 0].mean() - 200) < 15  # the edge's colour, plus some noise
    mask_array = np.asarray(mask)
    assert mask_array[:, :16].min() == 255 and mask_array[80:].min() == 255  # the new part
    assert mask_array[:48, 48:].max() == 0  # the old picture beyond the 32-px band
    assert mask_array[:48, 16:48].min() == 255  # the band


def test_fill_spreads_the_surrounding_colour_and_noise_is_seeded() -> None:
    image = Image.new("RGB", (64, 64), (10, 200, 30))
    image.paste((250, 250, 250), (20, 20, 44, 44))  # what the mask hides
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (20, 20, 44, 44))
    filled = np.asarray(fill_masked(image, mask, "fill", seed=1)).astype(int)
    assert np.abs(filled[32, 32] - [10, 200, 30]).max() < 8
    noise = fill_masked(image, mask, "noise", seed=1)
    assert np.array_equal(np.asarray(noise), np.asarray(fill_masked(image, mask, "noise", seed=1)))
    assert np.asarray(noise)[25:40, 25:40].std() > 20
    assert fill_masked(image, mask, "original", seed=1) is image


def test_a_whole_job_keeps_its_mask_writes_a1111_keys_and_reruns(
    engine: Engine, tiny_model: Path, files, tmp_path: Path
) -> None:
    mask = files[1]
    with HistoryStore(tmp_path / "history.sqlite3") as history:
        request = make(tiny_model, files, area="masked", padding=16, fill="fill", mask_blur=6)
        outcome = run_job(request, workspace(engine, history, tmp_path / "out"))
        assert outcome.kind == "inpaint" and outcome.status == "done"
        saved = Image.open(outcome.files[0])
        text = saved.text["parameters"]
        for key in (
            "Denoising strength: 0.75",
            "Mask blur: 6",
            "Inpaint area: Only masked",
            "Masked area padding: 16",
            "Masked content: fill",
        ):
            assert key in text
        data = json.loads(saved.text["imagestudio"])
        kept = Path(data["mask"])
        assert data["kind"] == "inpaint" and kept.parent == app_paths().masks_dir
        assert kept.read_bytes() == mask.read_bytes()
        graph = json.loads(saved.text["prompt"])
        assert {"LoadImageMask", "SetLatentNoiseMask"} <= {n["class_type"] for n in graph.values()}
        # the history re-runs it from the kept mask after the painted file is gone
        mask.unlink()
        record = history.get(outcome.history_id)
        again = record.to_request()
        assert isinstance(again, InpaintRequest) and again.mask == str(kept)
        rerun = engine.generate(again)
        assert np.array_equal(pixels(rerun.images[0]), pixels(saved))
        assert isinstance(request_from_dict(data), InpaintRequest)


def test_an_inpainting_model_inpaints_and_makes_pictures_from_text(
    cpu, tiny_model: Path, files, tmp_path: Path
) -> None:
    model = inpainting_model(tiny_model, tmp_path / "tiny-inpaint")
    engine = Engine(device=cpu, models_dir=tmp_path / "models", cache_dir=tmp_path / "cache")
    result = engine.generate(make(model, files))
    assert engine.pipeline.unet.config.in_channels == 9
    source, out = pixels(Image.open(files[0])), pixels(result.images[0])
    outside = far_from(BOX, 12)
    assert np.array_equal(out[outside], source[outside])
    # a plain text-to-image job on it runs (everything masked), at the model's size
    from imagestudio.core.requests import GenerationRequest

    plain = engine.generate(GenerationRequest(prompt="a ball", model=str(model), steps=2, seed=3))
    assert plain.images[0].size == (64, 64)
    with pytest.raises(InvalidRequest, match="inpainting model, which hires fix cannot use"):
        engine.generate(
            GenerationRequest(prompt="a ball", model=str(model), steps=4, hires_scale=2)
        )


def inpainting_model(tiny_model: Path, target: Path) -> Path:
    """The tiny model with a 9-channel UNet (noise, mask, masked picture), random weights."""
    import torch
    from diffusers import UNet2DConditionModel

    shutil.copytree(tiny_model, target)
    config = json.loads((target / "unet" / "config.json").read_text())
    config["in_channels"] = 9
    torch.manual_seed(0)
    unet = UNet2DConditionModel.from_config(
        {k: v for k, v in config.items() if not k.startswith("_")}
    )
    shutil.rmtree(target / "unet")
    unet.save_pretrained(target / "unet", safe_serialization=True)
    index = json.loads((target / "model_index.json").read_text())
    index["_class_name"] = "StableDiffusionInpaintPipeline"
    (target / "model_index.json").write_text(json.dumps(index))
    return target


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"init_image": None}, "Inpainting needs a picture"),
        ({"mask": None}, "The mask is empty: paint the part to repaint"),
        ({"extend": (0, 0, 64, 0)}, "not both"),
        ({"mask_blur": 65}, "mask blur must be a whole number of pixels from 0 to 64"),
        ({"mask_blur": 2.5}, "mask blur must be a whole number"),
        ({"area": "half"}, "inpaint area must be one of whole, masked"),
        ({"padding": -1}, "padding must be a whole number"),
        ({"fill": "blur"}, "masked content must be one of original, fill, noise"),
        ({"strength": 0}, "strength must be above 0"),
        ({"hires_scale": 2}, "Hires fix does not apply to inpainting"),
    ],
)
def test_bad_requests_are_sentences(changes: dict, words: str) -> None:
    values = {"prompt": "x", "init_image": "p.png", "mask": "m.png"} | changes
    with pytest.raises(InvalidRequest, match=words):
        InpaintRequest(**values)


@pytest.mark.parametrize(
    ("extend", "words"),
    [
        ((0, 0, 100, 0), "multiple of 8 pixels; 100 was given. Try 104"),
        ((0, 0, 1030, 0), "from 8 to 1024"),
        ((-8, 0, 0, 0), "from 8 to 1024"),
        ((0, 0, 0), "four amounts"),
        ((0, 0, 0, 0), "The mask is empty"),
    ],
)
def test_bad_extensions_are_sentences(extend: tuple, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        InpaintRequest(prompt="x", init_image="p.png", extend=extend)


def test_extension_text() -> None:
    assert parse_extend("left=128, right=64") == (128, 0, 64, 0)
    for bad, words in (
        ("", "Extend at least one side"),
        ("up=8", "not a side"),
        ("left=x", "not a whole number"),
        ("left=0", "Extend at least one"),
    ):
        with pytest.raises(InvalidRequest, match=words):
            parse_extend(bad)


@pytest.mark.parametrize(
    ("make_mask", "words"),
    [
        (lambda p: Image.new("L", (W, H), 0).save(p), "The mask is empty"),
        (lambda p: Image.new("L", (W, 40), 255).save(p), "needs the picture's shape"),
        (lambda p: p.write_text("not a picture"), "is not an image ImageStudio can read"),
    ],
)
def test_bad_masks_are_said_before_a_model_loads(
    cpu, files, tmp_path: Path, make_mask, words: str
) -> None:
    bad = tmp_path / "bad-mask.png"
    make_mask(bad)
    fresh = Engine(device=cpu, models_dir=tmp_path / "models", cache_dir=tmp_path / "cache")
    with pytest.raises(ImageError, match=words):
        fresh.generate(make(Path("no-such-model"), files, mask=str(bad)))
    assert fresh.loaded_model is None


def test_sdxl_inpaints_through_its_own_pipeline(cpu, files, tmp_path: Path) -> None:
    """SDXL (a tiny random one): its inpainting pipeline from the loaded one, pixels kept."""
    from imagestudio.core.generation.engine import prepare_model_stack

    prepare_model_stack()
    from tests.modelfiles import build_random_family

    model = build_random_family(tmp_path / "xl", "sdxl", "tiny")
    engine = Engine(device=cpu, models_dir=tmp_path / "models", cache_dir=tmp_path / "cache")
    result = engine.generate(make(model, files, steps=3, area="masked"))
    assert type(engine._loaded.inpaint).__name__ == "StableDiffusionXLInpaintPipeline"
    assert engine._loaded.inpaint.unet is engine.pipeline.unet  # the same weights
    source, out = pixels(Image.open(files[0])), pixels(result.images[0])
    outside = far_from(BOX, 12)
    assert np.array_equal(out[outside], source[outside])


def test_a_single_file_inpainting_checkpoint_loads_and_inpaints(cpu, files, tmp_path: Path) -> None:
    """A 9-channel SD 1.x checkpoint in one .safetensors file (the original layout)."""
    import torch

    from imagestudio.core.generation.engine import prepare_model_stack

    prepare_model_stack()
    from tests.modelfiles import build_random_family, to_single_file

    folder = build_random_family(tmp_path / "sd1", "sd1", "tiny")
    inpainting = inpainting_model(folder, tmp_path / "sd1-inpainting")
    file = to_single_file(
        inpainting, tmp_path / "m" / "tiny-inpainting.safetensors", "sd1", torch.float32
    )
    engine = Engine(device=cpu, models_dir=tmp_path / "models", cache_dir=tmp_path / "cache")
    result = engine.generate(make(file, files, steps=3))
    assert engine.pipeline.unet.config.in_channels == 9
    assert engine.loaded_model is not None and engine.loaded_model.layout == "single_file"
    source, out = pixels(Image.open(files[0])), pixels(result.images[0])
    outside = far_from(BOX, 12)
    assert np.array_equal(out[outside], source[outside])
