"""Fit a job into the device's memory: attention slicing, VAE slicing and tiling, CPU offload.

Each switch trades speed for memory, so none is on unless needed. In "auto" the plan follows the
numbers: the model's weights, the job's working memory (`engine.estimate_job_memory`) and what
the device has free, and every switch it turns on comes with the reason, which the window and
the CLI show. The `memory_mode` setting overrides it:

- fast: nothing on (the most speed; for GPUs with room to spare);
- balanced: attention slicing, VAE slicing, and VAE tiling for large pictures;
- low: balanced plus model CPU offload (each model moves to the GPU only while it runs);
- minimum: sequential CPU offload, layer by layer (very slow; for the smallest GPUs).
"""

from __future__ import annotations

from dataclasses import dataclass

MEMORY_MODES = ("auto", "fast", "balanced", "low", "minimum")
OFFLOADS = ("none", "model", "sequential")
_HEADROOM = 0.9
# Above this many pixels the VAE decode is tiled even when memory allows: one 2048x2048 decode
# holds several GB of feature maps, and tiles keep it flat.
TILE_PIXELS = 1536 * 1536


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


@dataclass(frozen=True)
class MemoryPlan:
    """Which memory savers a job uses, and why."""

    mode: str = "auto"
    attention_slicing: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    offload: str = "none"
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


def plan_offload(
    mode: str, kind: str, free: int | None, weights: int, largest: int, working: int
) -> tuple[str, str | None]:
    """At load time: keep the model on the device, or offload it (and why).

    `weights` is the whole pipeline, `largest` its biggest model (the UNet), `working` the least
    working memory a job needs (with every saver on). CPUs never offload: RAM is their memory.
    """
    if kind == "cpu":
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
    mode: str,
    kind: str,
    free: int | None,
    working_plain: int,
    working_saved: int,
    pixels: int,
    count: int,
    offload: str = "none",
) -> MemoryPlan:
    """Per job: which savers to turn on, given the working memory without (`working_plain`) and
    with (`working_saved`) the savers, and the memory free now (weights already loaded)."""
    if mode == "fast":
        return MemoryPlan(mode, offload=offload, reasons=("the memory setting is 'fast'",))
    if mode in ("balanced", "low", "minimum"):
        return MemoryPlan(
            mode,
            attention_slicing=kind != "cpu",
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
        attention_slicing=kind != "cpu",
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


def out_of_memory_advice(mode: str, kind: str) -> str:
    """The setting that would help after an out-of-memory error, as a sentence."""
    if kind == "cpu":
        return "Close other programs, or choose a smaller size or fewer images."
    following = {"auto": "low", "fast": "balanced", "balanced": "low", "low": "minimum"}
    if mode in following:
        return (
            f"Set Memory to '{following[mode]}' in Settings (it keeps less on the "
            f"{kind.upper()} at some cost in speed), or choose a smaller size or fewer images."
        )
    return "Choose a smaller size or fewer images, or close other programs using the GPU."
