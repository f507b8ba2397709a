"""Schedulers (samplers) by the names artists know, mapped to diffusers classes.

Swapping a scheduler never reloads the model: a new scheduler object is made from the model's
original scheduler config, which is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imagestudio.core.errors import InvalidRequest


@dataclass(frozen=True)
class SchedulerSpec:
    name: str
    class_name: str
    options: dict[str, Any] = field(default_factory=dict)
    note: str = ""


_KARRAS = {"use_karras_sigmas": True}
_PLAIN = {"use_karras_sigmas": False}
_DPMPP = {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_exponential_sigmas": False}
_DPMPP_SDE = _DPMPP | {"algorithm_type": "sde-dpmsolver++"}

# A1111's sampler menu as far as diffusers has each sampler without extra packages (LMS needs
# scipy, DPM++ SDE torchsde: neither is worth a dependency for one sampler), so that a picture
# from A1111, ComfyUI or Civitai is made again with its own sampler and schedule. Every spec
# names its schedule options in full: the model's own scheduler config may turn Karras sigmas
# on, and `friendly_name` tells the specs of one class apart by these options.
SCHEDULERS: tuple[SchedulerSpec, ...] = (
    SchedulerSpec("Euler", "EulerDiscreteScheduler", _PLAIN),
    SchedulerSpec("Euler Karras", "EulerDiscreteScheduler", _KARRAS),
    SchedulerSpec("Euler a", "EulerAncestralDiscreteScheduler"),
    SchedulerSpec("DPM++ 2M", "DPMSolverMultistepScheduler", _DPMPP | _PLAIN),
    SchedulerSpec("DPM++ 2M Karras", "DPMSolverMultistepScheduler", _DPMPP | _KARRAS),
    SchedulerSpec("DPM++ 2M SDE", "DPMSolverMultistepScheduler", _DPMPP_SDE | _PLAIN),
    SchedulerSpec("DPM++ 2M SDE Karras", "DPMSolverMultistepScheduler", _DPMPP_SDE | _KARRAS),
    SchedulerSpec(
        "DPM++ 2M SDE Exponential",
        "DPMSolverMultistepScheduler",
        _DPMPP_SDE | _PLAIN | {"use_exponential_sigmas": True},
    ),
    SchedulerSpec("DPM2", "KDPM2DiscreteScheduler", _PLAIN),
    SchedulerSpec("DPM2 Karras", "KDPM2DiscreteScheduler", _KARRAS),
    SchedulerSpec("DPM2 a", "KDPM2AncestralDiscreteScheduler", _PLAIN),
    SchedulerSpec("DPM2 a Karras", "KDPM2AncestralDiscreteScheduler", _KARRAS),
    SchedulerSpec("Heun", "HeunDiscreteScheduler", _PLAIN),
    SchedulerSpec("Heun Karras", "HeunDiscreteScheduler", _KARRAS),
    SchedulerSpec("DDIM", "DDIMScheduler"),
    SchedulerSpec("DDPM", "DDPMScheduler"),
    SchedulerSpec("DEIS", "DEISMultistepScheduler", _PLAIN),
    SchedulerSpec("UniPC", "UniPCMultistepScheduler", _PLAIN),
    SchedulerSpec("PNDM", "PNDMScheduler"),
    SchedulerSpec(
        "LCM", "LCMScheduler", note="for LCM-distilled models and LCM LoRAs; use 4-8 steps, CFG 1-2"
    ),
)

# Spellings used by other tools: A1111's k-diffusion names (k_lms), ComfyUI's (dpmpp_2m_sde_gpu,
# whose GPU noise is the same sampler), NovelAI's (k_euler_ancestral), InvokeAI 3+'s (kdpm_2_a;
# its "_k" suffix, the Karras schedule, is read by `sampler_from_metadata`).
_ALIASES = {
    "euler_a": "Euler a",
    "euler ancestral": "Euler a",
    "k_euler_ancestral": "Euler a",
    "k_euler_a": "Euler a",
    "k_euler": "Euler",
    "k_dpmpp_2m": "DPM++ 2M",
    "k_dpmpp_2m_sde": "DPM++ 2M SDE",
    "ddim_v3": "DDIM",  # NovelAI
    "dpm++2m": "DPM++ 2M",
    "dpm++2m karras": "DPM++ 2M Karras",
    "dpmpp_2m_sde_gpu": "DPM++ 2M SDE",
    "dpm_2": "DPM2",
    "k_dpm_2": "DPM2",
    "kdpm_2": "DPM2",
    "dpm_2_ancestral": "DPM2 a",
    "k_dpm_2_a": "DPM2 a",
    "k_dpm_2_ancestral": "DPM2 a",
    "kdpm_2_a": "DPM2 a",
    "k_heun": "Heun",
    "unipc": "UniPC",
    "uni_pc": "UniPC",  # ComfyUI
    "plms": "PNDM",  # A1111's name for the same pseudo-linear multistep method
}


def _key(name: str) -> str:
    key = " ".join(name.strip().lower().replace("-", " ").replace("_", " ").split())
    return key.replace("dpmpp", "dpm++")  # ComfyUI's dpmpp_2m is DPM++ 2M


_BY_KEY: dict[str, SchedulerSpec] = {_key(spec.name): spec for spec in SCHEDULERS}
for _alias, _target in _ALIASES.items():
    _BY_KEY.setdefault(_key(_alias), _BY_KEY[_key(_target)])


def scheduler_names() -> list[str]:
    return [spec.name for spec in SCHEDULERS]


def find_scheduler(name: str) -> SchedulerSpec:
    """Look a scheduler up by its usual name or a common alias (case-insensitive)."""
    spec = _BY_KEY.get(_key(name)) if isinstance(name, str) else None
    if spec is None:
        raise InvalidRequest(
            f"Unknown scheduler {name!r}. Choose one of: {', '.join(scheduler_names())}."
        )
    return spec


def canonical_scheduler_name(name: str) -> str:
    return find_scheduler(name).name


def make_scheduler(name: str, base_config: dict[str, Any]) -> Any:
    """A fresh diffusers scheduler for `name`, built from the model's own scheduler config."""
    import diffusers

    spec = find_scheduler(name)
    cls = getattr(diffusers, spec.class_name)
    config = dict(base_config)
    config.update(spec.options)
    return cls.from_config(config)


def friendly_name(scheduler: Any) -> str:
    """The artist-facing name of a diffusers scheduler object (for metadata)."""
    class_name = type(scheduler).__name__
    config = getattr(scheduler, "config", {})
    for spec in SCHEDULERS:
        if spec.class_name != class_name:
            continue
        if all(config.get(key) == value for key, value in spec.options.items()):
            return spec.name
    return class_name.removesuffix("Scheduler")


# How A1111 1.9+ names our schedulers: the sampler, and its "Schedule type" when it matters.
# A1111's "Automatic" schedule means Karras for DPM++ 2M, so plain DPM++ 2M must say "Uniform".
_A1111_FORM: dict[str, tuple[str, str | None]] = {
    "DPM++ 2M": ("DPM++ 2M", "Uniform"),
    "DPM++ 2M SDE": ("DPM++ 2M SDE", "Uniform"),
    "PNDM": ("PLMS", None),
}


def a1111_sampler(name: str) -> tuple[str, str | None]:
    """The `Sampler` and `Schedule type` A1111 1.9+ needs to restore our scheduler `name`
    exactly (the schedule None when the sampler's own default is ours)."""
    if name in _A1111_FORM:
        return _A1111_FORM[name]
    for schedule in ("Karras", "Exponential"):
        if name.endswith(f" {schedule}"):
            return name.removesuffix(f" {schedule}"), schedule
    return name, None


# Schedules that are each sampler's own (the one our plain schedulers run): A1111's "Uniform",
# ComfyUI's "normal" and "simple", NovelAI's "native" and the like.
_PLAIN_SCHEDULES = {
    "",
    "uniform",
    "normal",
    "simple",
    "native",
    "default",
    "discrete",
    "sgm uniform",
    "ddim uniform",
}
# Schedules we have as a twin of some samplers ("DPM++ 2M SDE Exponential").
_TWIN_SCHEDULES = {"karras", "exponential"}
# A1111 1.9+'s "Automatic" schedule: the sampler's own default (the others run on the model's).
_A1111_AUTOMATIC = {
    "dpm++ 2m": "karras",
    "dpm++ sde": "karras",
    "dpm++ 2s a": "karras",
    "dpm++ 2m sde": "exponential",
    "dpm++ 2m sde heun": "exponential",
    "dpm++ 3m sde": "exponential",
}


def sampler_from_metadata(name: object, extra: dict[str, str] | None = None) -> str | None:
    """Our scheduler for the sampler another tool wrote in a picture's settings, or None when
    we have none like it (the form then keeps the model's own, and says so).

    Newer A1111 writes the schedule as its own key ("Schedule type: Karras") rather than in the
    sampler's name, as ComfyUI, SwarmUI and Fooocus write their `scheduler` and InvokeAI its
    "_k" suffix; every spelling gives "DPM++ 2M Karras". A sampler on a schedule we have no twin
    for (Euler a on Karras, anything on "beta") gives None rather than the plain sampler, which
    would make another picture.
    """
    if not isinstance(name, str) or not name.strip():
        return None
    schedule = next((v for k, v in (extra or {}).items() if k.lower() == "schedule type"), "")
    schedule = _key(schedule)
    key = _key(name)
    if key not in _BY_KEY and key.endswith(" k") and not schedule:
        key, schedule = key[:-2], "karras"  # InvokeAI: dpmpp_2m_k, euler_k
    spec = _BY_KEY.get(key)
    if schedule == "automatic":
        schedule = _A1111_AUTOMATIC.get(_key(spec.name) if spec else key, "")
    if spec is None:
        return None
    if schedule in _PLAIN_SCHEDULES:
        return spec.name
    if schedule not in _TWIN_SCHEDULES:
        return None  # beta, align your steps, kl optimal...: a schedule we do not have
    if schedule in spec.name.lower():
        return spec.name
    base = spec.name.removesuffix(" Karras").removesuffix(" Exponential")
    twin = _BY_KEY.get(_key(f"{base} {schedule}"))
    return twin.name if twin else None


# How ComfyUI's KSampler names our schedulers: (sampler_name, scheduler). PNDM has no twin there
# (its "ipndm" is another method), so a picture made with it carries no ComfyUI graph.
_COMFYUI_SAMPLERS = {
    "Euler": "euler",
    "Euler a": "euler_ancestral",
    "DPM++ 2M": "dpmpp_2m",
    "DPM++ 2M SDE": "dpmpp_2m_sde",
    "DPM2": "dpm_2",
    "DPM2 a": "dpm_2_ancestral",
    "Heun": "heun",
    "DDIM": "ddim",
    "DDPM": "ddpm",
    "DEIS": "deis",
    "UniPC": "uni_pc",
    "LCM": "lcm",
}


def comfyui_sampler(name: str) -> tuple[str, str] | None:
    """ComfyUI's `sampler_name` and `scheduler` for our scheduler `name`, or None without a twin."""
    schedule = "normal"
    for suffix, comfy in ((" Karras", "karras"), (" Exponential", "exponential")):
        if name.endswith(suffix):
            name, schedule = name.removesuffix(suffix), comfy
    sampler = _COMFYUI_SAMPLERS.get(name)
    if sampler is None:
        return None
    return sampler, "ddim_uniform" if sampler == "ddim" else schedule
