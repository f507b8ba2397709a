"""Requests: frozen dataclasses that say everything a job needs, validated on construction.

The CLI, the window and the tests build the same objects, so a bad value is refused in one place
with one message (an `InvalidRequest`, also a `ValueError`) that is shown to the user as is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagestudio.core.errors import InvalidRequest

BUILTIN_MODEL = "starter"

MIN_SIZE = 8
MAX_SIZE = 8192
MAX_STEPS = 150
MAX_GUIDANCE = 30.0
MAX_COUNT = 16
MAX_SEED = 2**32 - 1
MAX_PROMPT_CHARS = 20_000
MAX_LORAS = 8
MAX_LORA_WEIGHT = 4.0


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_size(name: str, value: int | None) -> None:
    if value is None:
        return
    if not _is_int(value):
        raise InvalidRequest(f"The {name} must be a whole number of pixels, not {value!r}.")
    if not MIN_SIZE <= value <= MAX_SIZE:
        raise InvalidRequest(
            f"The {name} must be between {MIN_SIZE} and {MAX_SIZE} pixels; {value} was given."
        )
    if value % 8:
        lower, upper = value - value % 8, value - value % 8 + 8
        raise InvalidRequest(
            f"The {name} must be a multiple of 8 pixels; {value} is not. "
            f"Use {lower} or {upper} instead."
        )


@dataclass(frozen=True)
class GenerationRequest:
    """One text-to-image (or image-to-image) job.

    `width`/`height` of None mean "the model's native size" (or the init image's size for
    img2img); `seed` of None means "pick one at random". The engine records what it used.
    `scheduler` of None keeps the model's own scheduler.
    """

    prompt: str
    negative_prompt: str = ""
    model: str = BUILTIN_MODEL
    width: int | None = None
    height: int | None = None
    steps: int = 20
    guidance: float = 7.5
    seed: int | None = None
    scheduler: str | None = None
    count: int = 1
    init_image: str | None = None
    strength: float = 0.6
    # (LoRA name or .safetensors path, weight): applied in order; 1.0 is the LoRA's full effect
    loras: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str):
            raise InvalidRequest("The prompt must be text.")
        if not self.prompt.strip():
            raise InvalidRequest("The prompt is empty: describe the image you want.")
        if not isinstance(self.negative_prompt, str):
            raise InvalidRequest("The negative prompt must be text.")
        for name, text in (("prompt", self.prompt), ("negative prompt", self.negative_prompt)):
            if len(text) > MAX_PROMPT_CHARS:
                raise InvalidRequest(
                    f"The {name} is {len(text)} characters long; the limit is {MAX_PROMPT_CHARS}."
                )
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidRequest("No model was chosen: give a model name or a model folder.")
        _check_size("width", self.width)
        _check_size("height", self.height)
        if not _is_int(self.steps) or not 1 <= self.steps <= MAX_STEPS:
            raise InvalidRequest(
                f"Steps must be a whole number from 1 to {MAX_STEPS}; {self.steps!r} was given."
            )
        if not _is_number(self.guidance) or not 0 <= self.guidance <= MAX_GUIDANCE:
            raise InvalidRequest(
                f"The guidance (CFG) scale must be between 0 and {MAX_GUIDANCE:g}; "
                f"{self.guidance!r} was given."
            )
        if not _is_int(self.count) or not 1 <= self.count <= MAX_COUNT:
            raise InvalidRequest(
                f"The number of images must be from 1 to {MAX_COUNT}; {self.count!r} was given."
            )
        if self.seed is not None and (not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED):
            raise InvalidRequest(
                f"The seed must be a whole number from 0 to {MAX_SEED}, or empty for a random "
                f"seed; {self.seed!r} was given."
            )
        if self.seed is not None and self.seed + self.count - 1 > MAX_SEED:
            raise InvalidRequest(
                f"With {self.count} images the seed can be at most {MAX_SEED - self.count + 1} "
                "(each image uses the next seed)."
            )
        if self.scheduler is not None:
            from imagestudio.core.generation.schedulers import canonical_scheduler_name

            object.__setattr__(self, "scheduler", canonical_scheduler_name(self.scheduler))
        if not _is_number(self.strength) or not 0 < self.strength <= 1:
            raise InvalidRequest(
                f"The img2img strength must be above 0 and at most 1; {self.strength!r} was given."
            )
        if self.init_image is not None:
            if not isinstance(self.init_image, str) or not self.init_image.strip():
                raise InvalidRequest("The init image must be a path to an image file.")
            path = Path(self.init_image).expanduser()
            if not path.is_file():
                raise InvalidRequest(f"The init image '{self.init_image}' does not exist.")
            object.__setattr__(self, "init_image", str(path.resolve()))
            if int(self.steps * self.strength) < 1:
                raise InvalidRequest(
                    f"With {self.steps} steps and strength {self.strength:g} no denoising step "
                    "would run; raise the strength or the number of steps."
                )

        object.__setattr__(self, "loras", _check_loras(self.loras))

    @property
    def is_img2img(self) -> bool:
        return self.init_image is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field (stored in PNGs and history)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        """Build a request from `to_dict()` output; unknown keys are ignored."""
        if not isinstance(data, dict):
            raise InvalidRequest("Saved settings are not a JSON object.")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def replace(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self, **changes)


def _check_loras(value: Any) -> tuple[tuple[str, float], ...]:
    """Normalise the LoRA list ([name, weight] pairs, from JSON too) or refuse it in words."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise InvalidRequest("The LoRAs must be a list of (name, weight) pairs.")
    if len(value) > MAX_LORAS:
        raise InvalidRequest(f"At most {MAX_LORAS} LoRAs can be used at once; {len(value)} given.")
    found: list[tuple[str, float]] = []
    for item in value:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise InvalidRequest(f"A LoRA must be a name and a weight, not {item!r}.")
        name, weight = item
        if not isinstance(name, str) or not name.strip():
            raise InvalidRequest("A LoRA has no name: give its name or the path of its file.")
        if not _is_number(weight) or not -MAX_LORA_WEIGHT <= weight <= MAX_LORA_WEIGHT:
            raise InvalidRequest(
                f"The weight of LoRA {name!r} must be a number from {-MAX_LORA_WEIGHT:g} to "
                f"{MAX_LORA_WEIGHT:g}; {weight!r} was given."
            )
        if any(name.strip() == other for other, _ in found):
            raise InvalidRequest(f"The LoRA {name!r} is listed twice; give it once.")
        found.append((name.strip(), float(weight)))
    return tuple(found)


def parse_lora(text: str) -> tuple[str, float]:
    """Parse 'NAME' or 'NAME:WEIGHT' (as typed on the command line) into (name, weight)."""
    name, sep, weight = text.strip().rpartition(":")
    if not sep or not name or len(weight) == 0 or "/" in weight or "\\" in weight:
        return text.strip(), 1.0
    try:
        return name, float(weight)
    except ValueError:
        return text.strip(), 1.0


def parse_size(text: str) -> tuple[int, int]:
    """Parse '512x768' (or '512' for a square) into (width, height) with a clear error."""
    cleaned = text.strip().lower().replace("×", "x").replace("*", "x")
    parts = cleaned.split("x")
    try:
        if len(parts) == 1:
            width = height = int(parts[0])
        elif len(parts) == 2:
            width, height = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise InvalidRequest(
            f"'{text}' is not a size: write it as WIDTHxHEIGHT, for example 512x768."
        ) from None
    return width, height
