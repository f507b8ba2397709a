"""A VAE in place of the model's own: both file layouts, a refusal, the picture and its record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import save_file

from imagestudio.core.devices import pick_device
from imagestudio.core.errors import ModelError
from imagestudio.core.generation.engine import Engine
from imagestudio.core.generation.job import DIFFUSION
from imagestudio.core.jobs import run_job
from imagestudio.core.outputs.metadata import parse_parameters
from imagestudio.core.requests import GenerationRequest
from imagestudio.core.workspace import EngineConfig, Workspace
from tests.modelfiles import build_random_family, single_file_state_dict


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Path]:
    root = tmp_path_factory.mktemp("vae")
    model = build_random_family(root / "model", "sd1", "tiny")
    vaes = root / "models" / "vae"
    vaes.mkdir(parents=True)
    # the model's own VAE in the original (LDM) layout, as VAE files ship
    ldm = {
        k.removeprefix("first_stage_model."): v.contiguous()
        for k, v in single_file_state_dict(model, "sd1").items()
        if k.startswith("first_stage_model.")
    }
    save_file(ldm, str(vaes / "same-ldm.safetensors"))
    # a brighter decoder, in diffusers' layout
    from safetensors.torch import load_file

    own = load_file(str(model / "vae" / "diffusion_pytorch_model.safetensors"))
    own["decoder.conv_out.bias"] = own["decoder.conv_out.bias"] + 0.5
    save_file(own, str(vaes / "bright.safetensors"))
    # a VAE of another width: another family's
    from diffusers import AutoencoderKL

    other = AutoencoderKL(block_out_channels=(16, 16), latent_channels=4, norm_num_groups=8)
    save_file(
        {k: v.contiguous() for k, v in other.state_dict().items()}, str(vaes / "other.safetensors")
    )
    engine = Engine(
        device=pick_device("cpu", "fp32"), models_dir=root / "models", cache_dir=root / "cache"
    )
    return engine, model


def picture(engine: Engine, model: Path, vae: str | None = None) -> np.ndarray:
    request = GenerationRequest(prompt="a fox", model=str(model), steps=2, seed=3, vae=vae)
    return np.asarray(engine.generate(request).images[0]).astype(int)


def test_a_vae_decodes_the_picture_and_the_models_own_comes_back(setup) -> None:
    engine, model = setup
    own = picture(engine, model)
    # the model's own VAE, from an LDM-layout file: the same picture
    assert np.abs(picture(engine, model, "same-ldm") - own).max() <= 1
    bright = picture(engine, model, "bright")
    assert (bright - own).mean() > 20
    assert np.array_equal(picture(engine, model), own)  # back to the model's own
    with pytest.raises(ModelError, match=r"other\.safetensors does not fit this model"):
        picture(engine, model, "other")
    with pytest.raises(ModelError, match="No VAE named 'nope'"):
        picture(engine, model, "nope")
    assert np.array_equal(picture(engine, model), own)  # a refusal leaves the model as it was


def test_the_vae_is_recorded_as_a1111_records_it(setup, tmp_path: Path) -> None:
    engine, model = setup
    config = EngineConfig(
        models_dir=engine.models_dir, cache_dir=engine.cache_dir, outputs_dir=tmp_path
    )
    workspace = Workspace(config, None, engines={DIFFUSION: engine})
    request = GenerationRequest(prompt="a fox", model=str(model), steps=2, seed=3, vae="bright")
    (path,) = run_job(request, workspace).files
    settings = parse_parameters(Image.open(path).text["parameters"])
    assert settings.extra["VAE"] == "bright.safetensors"
    assert len(settings.extra["VAE hash"]) == 10
    assert settings.request_values()["vae"] == "bright.safetensors"
