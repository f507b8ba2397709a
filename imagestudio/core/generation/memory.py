"""Fit a job into the device's memory: attention slicing, VAE slicing and tiling, CPU offload.

Each switch trades speed for memory, so none is on unless needed. In "auto" the plan follows the
numbers: the model's weights, the job's working memory (`estimate_job_memory`) and what the
device has free, and every switch it turns on comes with the reason, which the window and
the CLI show. The `memory_mode` setting overrides it:

- fast: nothing on (the most speed; for GPUs with room to spare);
- balanced: attention slicing, VAE slicing, and VAE tiling for large pictures;
- low: balanced plus model CPU offload (each model moves to the GPU only while it runs);
- minimum: sequential CPU offload, layer by layer (very slow; for the smallest GPUs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagestudio.core.errors import InvalidRequest
from imagestudio.core.vocabulary import MEMORY_MODES, MemoryMode, Offload

if TYPE_CHECKING:
    from imagestudio.core.devices import DeviceInfo

__all__ = ["MEMORY_MODES", "MemoryPlan", "apply_plan", "plan_job", "plan_load", "plan_offload"]

# Only this share of the free memory is planned for: allocators fragment, drivers keep some.
_HEADROOM = 0.9
# Rough working-memory factors, calibrated to diffusers' SD pipelines (see estimate_job_memory).
_UNET_ACTIVATION_FACTOR = 40
_VAE_SAFETY_FACTOR = 2
# Above this many pixels the VAE decode is tiled even when memory allows: one 2048x2048 decode
# holds several GB of feature maps, and tiles keep it flat.
TILE_PIXELS = 1536 * 1536


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


@dataclass(frozen=True)
class MemoryPlan:
    """Which memory savers a job uses, and why."""

    mode: MemoryMode = "auto"
    attention_slicing: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    offload: Offload = "none"
    reasons: tuple[str, ...] = ()

    def describe(self) -> str:
        savers = [
            name
            for name, on in (
                ("attention slicing", self.attention_slicing),
                ("VAE slicing", self.vae_slicing),
                ("VAE tiling", self.vae_tiling),
                (f"{self.offload} CPU offload", self.offload != "none"),
            )
            if on
        ]
        what = ", ".join(savers) if savers else "no memory savers (fastest)"
        why = f" because {'; '.join(self.reasons)}" if self.reasons else ""
        return f"Memory: {what}{why}."

    @property
    def worth_telling(self) -> bool:
        """Whether the user should hear about this plan: auto mode turned a saver on."""
        return bool(
            self.reasons
            and self.mode == "auto"
            and (self.attention_slicing or self.vae_slicing or self.vae_tiling)
        )


def estimate_job_memory(
    width: int,
    height: int,
    count: int,
    guidance: float,
    pipe: Any,
    bytes_per_value: int,
    *,
    vae_slicing: bool | None = None,
    vae_tiling: bool | None = None,
) -> int:
    """Working memory (bytes) a job needs beyond the loaded weights.

    Two terms dominate diffusers' SD pipelines: the UNet's activations at its first level
    (batch doubled by classifier-free guidance) and the VAE decode at full resolution, which
    holds a few wide feature maps per image. Attention is taken as memory-efficient (PyTorch's
    scaled-dot-product attention), so it is linear in pixels.
    """
    vae_scale = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    latent_pixels = (width // vae_scale) * (height // vae_scale)
    cfg_batch = count * (2 if guidance > 1 else 1)
    first_level = int(pipe.unet.config.block_out_channels[0])
    unet = _UNET_ACTIVATION_FACTOR * latent_pixels * first_level * cfg_batch * bytes_per_value
    channels = list(pipe.vae.config.block_out_channels)
    widest_full_res = 2 * channels[0] + 2 * channels[min(1, len(channels) - 1)]
    if vae_slicing is None:
        vae_slicing = bool(getattr(pipe.vae, "use_slicing", False))
    if vae_tiling is None:
        vae_tiling = bool(getattr(pipe.vae, "use_tiling", False))
    decoded_batch = 1 if vae_slicing else count
    pixels = width * height
    if vae_tiling:
        tile = int(getattr(pipe.vae, "tile_sample_min_size", 512) or 512)
        pixels = min(pixels, tile * tile)
    vae = _VAE_SAFETY_FACTOR * widest_full_res * pixels * decoded_batch * bytes_per_value
    return int(unet + vae)


def check_fits(
    needed: int, free: int | None, width: int, height: int, count: int, device: DeviceInfo
) -> None:
    """Refuse, before any work, a job that cannot fit in the device's free memory."""
    if free is None or needed <= free * _HEADROOM:
        return
    images = "an image" if count == 1 else f"{count} images"
    raise InvalidRequest(
        f"Making {images} of {width}x{height} needs about {_gib(needed)} of working memory, but "
        f"only {_gib(free)} is free on the {device.device_type.upper()}. Choose a smaller size or "
        "fewer images."
    )


def plan_load(
    pipe: Any, mode: MemoryMode, device: DeviceInfo, free: int | None
) -> tuple[Offload, str | None]:
    """At load time, before the weights move: keep the model on the device, or offload it."""
    import torch

    sizes = [
        sum(p.numel() * p.element_size() for p in module.parameters())
        for module in pipe.components.values()
        if isinstance(module, torch.nn.Module)
    ]
    native = int(pipe.unet.config.sample_size) * getattr(pipe, "vae_scale_factor", 8)
    working = estimate_job_memory(
        native, native, 1, 7.5, pipe, device.bytes_per_value, vae_tiling=True
    )
    return plan_offload(mode, device.device_type, free, sum(sizes), max(sizes, default=0), working)


def plan_for_job(
    pipe: Any,
    mode: MemoryMode,
    device: DeviceInfo,
    offload: Offload,
    size: tuple[int, int],
    count: int,
    guidance: float,
    free: int | None,
) -> tuple[MemoryPlan, int]:
    """Per job: the savers a job of `count` images of `size` gets on the loaded `pipe`, with
    `free` bytes free, and the working memory it needs with them."""
    width, height = size
    args = (width, height, count, guidance, pipe, device.bytes_per_value)
    plain = estimate_job_memory(*args, vae_slicing=False, vae_tiling=False)
    saved = estimate_job_memory(*args, vae_slicing=True, vae_tiling=True)
    plan = plan_job(mode, device.device_type, free, plain, saved, width * height, count, offload)
    needed = estimate_job_memory(*args, vae_slicing=plan.vae_slicing, vae_tiling=plan.vae_tiling)
    return plan, needed


def plan_offload(
    mode: MemoryMode, device_type: str, free: int | None, weights: int, largest: int, working: int
) -> tuple[Offload, str | None]:
    """At load time: keep the model on the device, or offload it (and why).

    `weights` is the whole pipeline, `largest` its biggest model (the UNet), `working` the least
    working memory a job needs (with every saver on). CPUs never offload: RAM is their memory.
    """
    if device_type == "cpu":
        return "none", None
    if mode == "low":
        return "model", "the memory setting is 'low'"
    if mode == "minimum":
        return "sequential", "the memory setting is 'minimum'"
    if mode != "auto" or free is None:
        return "none", None
    if weights + working <= free * _HEADROOM:
        return "none", None
    if largest + working <= free * _HEADROOM:
        return "model", (
            f"the model ({_gib(weights)}) and a job ({_gib(working)}) do not fit in the "
            f"{_gib(free)} free, so each part moves to the GPU only while it runs"
        )
    return "sequential", (
        f"even the model's largest part ({_gib(largest)}) and a job do not fit in the "
        f"{_gib(free)} free, so it runs layer by layer (slow)"
    )


def plan_job(
    mode: MemoryMode,
    device_type: str,
    free: int | None,
    working_plain: int,
    working_saved: int,
    pixels: int,
    count: int,
    offload: Offload = "none",
) -> MemoryPlan:
    """Per job: which savers to turn on, given the working memory without (`working_plain`) and
    with (`working_saved`) the savers, and the memory free now (weights already loaded)."""
    if mode == "fast":
        return MemoryPlan(mode, offload=offload, reasons=("the memory setting is 'fast'",))
    if mode in ("balanced", "low", "minimum"):
        return MemoryPlan(
            mode,
            attention_slicing=device_type != "cpu",
            vae_slicing=count > 1,
            vae_tiling=pixels > TILE_PIXELS,
            offload=offload,
            reasons=(f"the memory setting is '{mode}'",),
        )
    reasons: list[str] = []
    tiling = pixels > TILE_PIXELS
    if tiling:
        side = int(pixels**0.5)
        reasons.append(
            f"the picture is large (about {side}x{side}), so the VAE decodes it in tiles"
        )
    if offload != "none":
        reasons.append(f"the model is offloaded to the CPU ({offload})")
    if free is None or working_plain <= free * _HEADROOM:
        return MemoryPlan(mode, vae_tiling=tiling, offload=offload, reasons=tuple(reasons))
    reasons.append(
        f"the job needs about {_gib(working_plain)} but {_gib(free)} is free; the savers bring "
        f"it to about {_gib(working_saved)}"
    )
    return MemoryPlan(
        mode,
        attention_slicing=device_type != "cpu",
        vae_slicing=count > 1,
        vae_tiling=True,
        offload=offload,
        reasons=tuple(reasons),
    )


def apply_plan(pipe: object, plan: MemoryPlan) -> None:
    """Switch the pipeline's savers to match `plan` (offload is set at load time).

    Only what changes is touched: switching attention slicing walks every attention layer of
    the UNet (about 2 ms for a small model), which a job that keeps the same savers should not
    pay.
    """
    wanted = (plan.attention_slicing, plan.vae_slicing, plan.vae_tiling)
    current = getattr(pipe, "_imagestudio_savers", (False, False, False))
    if wanted == current:
        return
    if wanted[0] != current[0]:
        if plan.attention_slicing:
            pipe.enable_attention_slicing()  # type: ignore[attr-defined]
        else:
            pipe.disable_attention_slicing()  # type: ignore[attr-defined]
    vae = pipe.vae  # type: ignore[attr-defined]
    if plan.vae_slicing:
        vae.enable_slicing()
    else:
        vae.disable_slicing()
    if plan.vae_tiling:
        vae.enable_tiling()
    else:
        vae.disable_tiling()
    pipe._imagestudio_savers = wanted  # type: ignore[attr-defined]


def out_of_memory_advice(mode: MemoryMode, device_type: str) -> str:
    """The setting that would help after an out-of-memory error, as a sentence."""
    if device_type == "cpu":
        return "Close other programs, or choose a smaller size or fewer images."
    following = {"auto": "low", "fast": "balanced", "balanced": "low", "low": "minimum"}
    if mode in following:
        return (
            f"Set Memory to '{following[mode]}' in Settings (it keeps less on the "
            f"{device_type.upper()} at some cost in speed), or choose a smaller size or fewer "
            "images."
        )
    return "Choose a smaller size or fewer images, or close other programs using the GPU."
