from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from imagestudio.core.generation.previews import (
    SD_LATENT_RGB,
    SDXL_LATENT_RGB,
    LatentRGB,
    PreviewMapper,
    fit_latent_rgb,
    latent_rgb_for_model,
)
from imagestudio.core.models.library import detect_family


def write_configs(folder: Path, cross: int, cls: str = "StableDiffusionPipeline") -> Path:
    for sub in ("unet", "vae"):
        (folder / sub).mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": cls}))
    (folder / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": cross}))
    (folder / "vae" / "config.json").write_text(json.dumps({"latent_channels": 4}))
    return folder


@pytest.mark.parametrize(
    ("cross", "cls", "family"),
    [
        (768, "StableDiffusionPipeline", "sd1"),
        (1024, "StableDiffusionPipeline", "sd2"),
        (2048, "StableDiffusionXLPipeline", "sdxl"),
        (32, "StableDiffusionPipeline", "unknown"),
    ],
)
def test_family_from_configs(tmp_path: Path, cross: int, cls: str, family: str) -> None:
    assert detect_family(write_configs(tmp_path / "m", cross, cls)) == family


def test_known_families_use_published_maps(tmp_path: Path) -> None:
    folder = write_configs(tmp_path / "sd", 768)
    assert latent_rgb_for_model(folder, "sd1", None, tmp_path) is SD_LATENT_RGB
    assert latent_rgb_for_model(folder, "sdxl", None, tmp_path) is SDXL_LATENT_RGB


def test_shipped_map_wins(tmp_path: Path) -> None:
    folder = write_configs(tmp_path / "m", 32)
    shipped = {"weights": [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], "bias": [0, 0, 0]}
    (folder / "preview_coefficients.json").write_text(json.dumps(shipped))
    found = latent_rgb_for_model(folder, "unknown", None, tmp_path)
    assert found.source == "shipped" and found.weights[1] == (0.0, 1.0, 0.0)


def test_preview_maps_linear_and_lays_batch_side_by_side() -> None:
    mapper = PreviewMapper(LatentRGB(((1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, 0))))
    latents = torch.zeros(2, 4, 3, 5)
    latents[0, 0] = 1.0  # first image: red +1 -> 255
    latents[1, 2] = -1.0  # second image: blue -1 -> 0
    preview = mapper(latents)
    assert preview.shape == (3, 10, 3) and preview.dtype == np.uint8
    assert tuple(preview[0, 0]) == (255, 127, 127)
    assert tuple(preview[0, 5]) == (127, 127, 0)


def test_wrong_channel_count_is_refused() -> None:
    with pytest.raises(ValueError, match="channels"):
        PreviewMapper(SD_LATENT_RGB)(torch.zeros(1, 16, 4, 4))


def test_fitted_map_predicts_the_decoder(engine, tiny_model: Path) -> None:
    engine.load(str(tiny_model))
    vae = engine.pipeline.vae
    fitted = fit_latent_rgb(vae, seed=1)
    # check on fresh latents: the fitted map must explain the decode better than its mean
    gen = torch.Generator().manual_seed(99)
    latents = torch.nn.functional.interpolate(
        torch.randn(3, 4, 6, 6, generator=gen), size=(24, 24), mode="bilinear"
    )
    with torch.no_grad():
        decoded = vae.decode(latents / vae.config.scaling_factor).sample
    target = torch.nn.functional.adaptive_avg_pool2d(decoded, (24, 24)).permute(0, 2, 3, 1)
    weights = torch.tensor(fitted.weights)
    predicted = torch.einsum("bchw,cr->bhwr", latents, weights) + torch.tensor(fitted.bias)
    residual = ((predicted - target) ** 2).mean()
    baseline = ((target - target.mean(dim=(0, 1, 2))) ** 2).mean()
    assert residual < 0.9 * baseline
