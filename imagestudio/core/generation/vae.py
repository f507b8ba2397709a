"""A VAE chosen for a job in place of the model's own: `models/vae/NAME.safetensors` or a path.

Model pages often say "use vae-ft-mse-840000" or ship a fixed SDXL VAE; A1111 keeps them in
models/VAE and writes ``VAE: name`` into the picture. The file may be in the original (LDM)
layout, as most are, or in diffusers' layout; either is loaded into a copy of the model's own
VAE architecture, so a VAE whose tensors do not fit it (another family's, such as a 16-channel
SD3/Flux VAE, or one of another width) is refused in words. SD 1.x and SDXL VAEs have the same
shapes, so between those two the files cannot tell; the picture then shows it (washed-out or
over-saturated colours), as in A1111.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imagestudio.core.errors import ModelError
from imagestudio.core.models.checkpoints import describe_file
from imagestudio.core.models.library import PICKLE_SUFFIXES, VAE_FOLDER, find_named_file


def resolve_vae(name_or_path: str, models_dir: Path) -> Path:
    """The file of a VAE given by path, or by name in `models/vae/` (suffix optional)."""
    text = name_or_path.strip()
    folder = Path(models_dir) / VAE_FOLDER
    path = find_named_file(text, (folder,))
    if path is None:
        raise ModelError(
            f"No VAE named {text!r}: put its .safetensors file in {folder} or give the path of "
            "the file."
        )
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ModelError(
            f"The VAE {path.name} is a pickle file, which can run code when opened; convert it "
            f"first with: imagestudio models convert {path}"
        )
    _, signature = describe_file(path)
    if signature.role != "vae":
        raise ModelError(f"{path.name} is not a VAE ({signature.problem or 'unknown contents'}).")
    return path.resolve()


def vae_name(path: Path) -> str:
    """The name a VAE is recorded under (A1111 writes the file name)."""
    return Path(path).name


def load_vae(path: Path, like: Any) -> Any:
    """The VAE in `path`, built like the model's own `like` (its config, dtype and device)."""
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as exc:  # SafetensorError, OSError: a damaged or truncated file
        raise ModelError(f"The VAE {path.name} could not be read ({exc}).") from exc
    if any(key.startswith(("encoder.down.", "first_stage_model.", "vae.")) for key in state):
        state = convert_ldm_vae_checkpoint(state, dict(like.config))
    vae = AutoencoderKL.from_config(like.config)
    mismatched = [
        key
        for key, tensor in vae.state_dict().items()
        if key in state and tuple(state[key].shape) != tuple(tensor.shape)
    ]
    missing = [key for key in vae.state_dict() if key not in state]
    if mismatched or len(missing) > len(vae.state_dict()) // 2:
        raise ModelError(
            f"The VAE {path.name} does not fit this model: its tensors are shaped for another "
            f"kind of model ({len(mismatched)} of another shape, {len(missing)} missing). Use a "
            "VAE made for this model's family."
        )
    try:
        vae.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(
            f"The VAE {path.name} does not fit this model ({str(exc).splitlines()[0]})."
        ) from exc
    first = next(like.parameters())
    return vae.to(device=first.device, dtype=first.dtype).eval().requires_grad_(False)
