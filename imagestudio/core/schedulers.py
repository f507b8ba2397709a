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


SCHEDULERS: tuple[SchedulerSpec, ...] = (
    SchedulerSpec("Euler", "EulerDiscreteScheduler"),
    SchedulerSpec("Euler a", "EulerAncestralDiscreteScheduler"),
    SchedulerSpec(
        "DPM++ 2M",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": False},
    ),
    SchedulerSpec(
        "DPM++ 2M Karras",
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    SchedulerSpec("DDIM", "DDIMScheduler"),
    SchedulerSpec("UniPC", "UniPCMultistepScheduler"),
    SchedulerSpec("PNDM", "PNDMScheduler"),
    SchedulerSpec(
        "LCM", "LCMScheduler", note="for LCM-distilled models and LCM LoRAs; use 4-8 steps, CFG 1-2"
    ),
)

# Spellings used by other tools (A1111's k-diffusion names, diffusers' class names, ComfyUI).
_ALIASES = {
    "euler_a": "Euler a",
    "euler ancestral": "Euler a",
    "k_euler_ancestral": "Euler a",  # NovelAI
    "k_euler_a": "Euler a",
    "k_euler": "Euler",
    "k_dpmpp_2m": "DPM++ 2M",  # NovelAI
    "ddim_v3": "DDIM",  # NovelAI
    "dpmpp_2m_k": "DPM++ 2M Karras",  # InvokeAI 3+ ("_k": on the Karras schedule)
    "dpmpp_2m": "DPM++ 2M",
    "dpm++2m": "DPM++ 2M",
    "dpmpp_2m_karras": "DPM++ 2M Karras",
    "dpm++2m karras": "DPM++ 2M Karras",
    "unipc": "UniPC",
    "uni_pc": "UniPC",  # ComfyUI
    "ddim": "DDIM",
    "pndm": "PNDM",
    "plms": "PNDM",  # A1111's name for the same pseudo-linear multistep method
    "lcm": "LCM",
}


def _key(name: str) -> str:
    return " ".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


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
    "DPM++ 2M Karras": ("DPM++ 2M", "Karras"),
    "PNDM": ("PLMS", None),
}


def a1111_sampler(name: str) -> tuple[str, str | None]:
    """The `Sampler` and `Schedule type` A1111 1.9+ needs to restore our scheduler `name`
    exactly (the schedule None when the sampler's own default is ours)."""
    return _A1111_FORM.get(name, (name, None))


# Schedules that are each sampler's own (the one our plain schedulers run): A1111's "Automatic"
# and "Uniform", ComfyUI's "normal" and "simple", NovelAI's "native" and the like.
_PLAIN_SCHEDULES = {
    "",
    "automatic",
    "uniform",
    "normal",
    "simple",
    "native",
    "default",
    "discrete",
    "sgm uniform",
    "ddim uniform",
}


def sampler_from_metadata(name: object, extra: dict[str, str] | None = None) -> str | None:
    """Our scheduler for the sampler another tool wrote in a picture's settings, or None when
    we have none like it (the form then keeps the model's own).

    Newer A1111 writes the Karras schedule as its own key ("Schedule type: Karras") rather than
    in the sampler's name, as ComfyUI, SwarmUI and Fooocus write their `scheduler`; both
    spellings give "DPM++ 2M Karras". A sampler on a Karras schedule we have no Karras twin for
    gives None rather than the plain sampler, which would make another picture.
    """
    if not isinstance(name, str) or not name.strip():
        return None
    schedule = next((v for k, v in (extra or {}).items() if k.lower() == "schedule type"), "")
    schedule = _key(schedule)
    if schedule == "automatic" and _key(name).startswith("dpm++"):
        schedule = "karras"  # A1111's "Automatic" schedule for its DPM++ samplers is Karras
    if schedule not in _PLAIN_SCHEDULES and schedule != "karras":
        return None  # exponential, beta, align your steps...: a schedule we do not have
    spec = _BY_KEY.get(_key(name))
    if spec is None:
        return None
    if schedule == "karras" and "karras" not in spec.name.lower():
        # "Euler" on a Karras schedule is not plain Euler: without a Karras twin, no match.
        twin = _BY_KEY.get(_key(f"{spec.name} Karras"))
        return twin.name if twin else None
    return spec.name
