"""Step previews: latents -> a small RGB image through a linear map, never a VAE decode.

Each latent pixel becomes one RGB pixel: rgb = latent @ weights + bias, then [-1, 1] -> [0, 255].
SD 1.x/2.x and SDXL use published, widely used coefficients; any other latent space gets a map
fitted by least squares from a few real VAE decodes, cached on disk per model.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imagestudio.core.errors import StorageError
from imagestudio.core.outputs.storage import atomic_write_bytes

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

#: File a model may ship beside model_index.json with its own preview map.
MODEL_PREVIEW_FILE = "preview_coefficients.json"


@dataclass(frozen=True)
class LatentRGB:
    """A linear latent -> RGB map: `weights` is channels x 3, `bias` has 3 values."""

    weights: tuple[tuple[float, float, float], ...]
    bias: tuple[float, float, float] = (0.0, 0.0, 0.0)
    source: str = ""

    @property
    def channels(self) -> int:
        return len(self.weights)

    def to_json(self) -> dict[str, Any]:
        return {"weights": [list(w) for w in self.weights], "bias": list(self.bias)}

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "") -> LatentRGB:
        weights = tuple(tuple(float(v) for v in row) for row in data["weights"])
        bias = tuple(float(v) for v in data.get("bias", (0.0, 0.0, 0.0)))
        if not weights or any(len(row) != 3 for row in weights) or len(bias) != 3:
            raise ValueError("preview coefficients must be N x 3 weights and 3 biases")
        return cls(weights, bias, source)  # type: ignore[arg-type]


# Community-measured factors for the SD 1.x/2.x VAE (same latent space) and the SDXL VAE.
SD_LATENT_RGB = LatentRGB(
    weights=(
        (0.3512, 0.2297, 0.3227),
        (0.3250, 0.4974, 0.2350),
        (-0.2829, 0.1762, 0.2721),
        (-0.2120, -0.2616, -0.7177),
    ),
    source="Stable Diffusion 1.x/2.x",
)
SDXL_LATENT_RGB = LatentRGB(
    weights=(
        (0.3651, 0.4232, 0.4341),
        (-0.2533, -0.0042, 0.1068),
        (0.1076, 0.1111, -0.0362),
        (-0.3165, -0.2492, -0.2188),
    ),
    bias=(0.1084, -0.0175, -0.0011),
    source="Stable Diffusion XL",
)
KNOWN = {"sd1": SD_LATENT_RGB, "sd2": SD_LATENT_RGB, "sdxl": SDXL_LATENT_RGB}


class PreviewMapper:
    """Holds the map as tensors on the latents' device, so each step costs one small matmul."""

    def __init__(self, latent_rgb: LatentRGB) -> None:
        self.latent_rgb = latent_rgb
        self._cache: dict[tuple[Any, Any], tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        return preview_from_latents(latents, self)

    def tensors(self, device: Any, dtype: Any) -> tuple[torch.Tensor, torch.Tensor]:
        key = (device, dtype)
        if key not in self._cache:
            import torch

            weights = torch.tensor(self.latent_rgb.weights, dtype=dtype, device=device)
            bias = torch.tensor(self.latent_rgb.bias, dtype=dtype, device=device)
            self._cache[key] = (weights, bias)
        return self._cache[key]


def preview_from_latents(latents: torch.Tensor, mapper: PreviewMapper) -> np.ndarray:
    """Latents (B, C, h, w) -> uint8 RGB array (h, B*w, 3): batch items side by side."""
    import torch

    with torch.no_grad():
        if latents.ndim == 3:
            latents = latents.unsqueeze(0)
        weights, bias = mapper.tensors(latents.device, latents.dtype)
        if latents.shape[1] != weights.shape[0]:
            raise ValueError(
                f"the preview map has {weights.shape[0]} channels, the latents {latents.shape[1]}"
            )
        rgb = torch.einsum("bchw,cr->bhwr", latents, weights) + bias
        rgb = ((rgb.float() + 1.0) * 127.5).clamp_(0, 255).to(torch.uint8)
        # Lay the batch out left to right: (B, h, w, 3) -> (h, B*w, 3).
        rgb = rgb.permute(1, 0, 2, 3).reshape(rgb.shape[1], -1, 3)
        return rgb.cpu().numpy()


def fit_latent_rgb(vae: Any, samples: int = 6, latent_size: int = 24, seed: int = 0) -> LatentRGB:
    """Fit a latent -> RGB map for an unknown VAE by least squares over a few real decodes.

    Smooth random latents (at the pipeline's scale) are decoded; each decoded image is averaged
    down to latent resolution so every latent pixel pairs with the RGB it becomes.
    """
    import torch
    import torch.nn.functional as F

    config = vae.config
    channels = int(config.latent_channels)
    scaling = float(getattr(config, "scaling_factor", 1.0) or 1.0)
    shift = float(getattr(config, "shift_factor", 0.0) or 0.0)
    param = next(vae.parameters())
    generator = torch.Generator("cpu").manual_seed(seed)
    coarse = torch.randn(samples, channels, latent_size // 4, latent_size // 4, generator=generator)
    latents = F.interpolate(coarse, size=(latent_size, latent_size), mode="bilinear")
    latents = latents + 0.3 * torch.randn(latents.shape, generator=generator)
    with torch.no_grad():
        decoded = vae.decode(
            (latents / scaling + shift).to(param.device, param.dtype), return_dict=False
        )[0]
    decoded = F.adaptive_avg_pool2d(decoded.float().cpu(), (latent_size, latent_size))
    x = latents.permute(0, 2, 3, 1).reshape(-1, channels).double()
    x = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], dim=1)
    y = decoded.permute(0, 2, 3, 1).reshape(-1, 3).double().clamp(-1, 1)
    solution = torch.linalg.lstsq(x, y).solution  # (C + 1, 3)
    weights = tuple(tuple(float(v) for v in row) for row in solution[:channels].tolist())
    bias = tuple(float(v) for v in solution[channels].tolist())
    return LatentRGB(weights, bias, source="fitted from VAE decodes")  # type: ignore[arg-type]


def _model_fingerprint(model_dir: Path) -> str:
    vae_dir = model_dir / "vae"
    parts = [str(model_dir.resolve())]
    for path in sorted(vae_dir.glob("*")) if vae_dir.is_dir() else []:
        stat = path.stat()
        parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def latent_rgb_for_model(model_dir: Path, family: str, vae: Any, cache_dir: Path) -> LatentRGB:
    """The preview map for a model: shipped with it, known for its family, cached, or fitted now."""
    shipped = model_dir / MODEL_PREVIEW_FILE
    if shipped.is_file():
        try:
            return LatentRGB.from_json(json.loads(shipped.read_text("utf-8")), "shipped")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable %s: %s", shipped, exc)
    if family in KNOWN:
        return KNOWN[family]
    cache_file = cache_dir / "previews" / f"{_model_fingerprint(model_dir)}.json"
    if cache_file.is_file():
        try:
            return LatentRGB.from_json(json.loads(cache_file.read_text("utf-8")), "cached fit")
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("refitting preview map: cache %s unreadable", cache_file)
    fitted = fit_latent_rgb(vae)
    try:
        data = json.dumps(fitted.to_json()).encode("utf-8")
        atomic_write_bytes(cache_file, data, overwrite=True)
    except (OSError, StorageError) as exc:  # a read-only cache folder only costs a refit next time
        log.warning("could not cache the preview map: %s", exc)
    return fitted
