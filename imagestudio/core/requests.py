"""Requests: one union of frozen dataclasses, each saying everything one job needs.

The CLI, the window, the history and the tests build the same objects, so a bad value is refused in
one place with one message (an `InvalidRequest`, also a `ValueError`) that is shown to the user as
is. The checks are pure: nothing here reads the disk. Whether an input picture exists is checked
when the job runs, so a history entry whose picture has moved still restores its settings.

Every request type has a `kind` (its `JobKind`), `describe()` (one line for the queue and the
history), `to_dict()`/`from_dict()` (JSON for PNGs and history), `inputs()` (the files the job
reads) and `history_columns()` (its values for the history's searchable columns).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from imagestudio.core.backendnames import LOCAL, check_backend_choice
from imagestudio.core.errors import InvalidRequest
from imagestudio.core.vocabulary import (
    BUILTIN_MODEL,
    INPAINT_AREAS,
    MASKED_CONTENTS,
    STYLE_INITS,
    STYLE_MODES,
    InpaintArea,
    JobKind,
    MaskedContent,
    StyleInit,
    StyleMode,
)

__all__ = [
    "BUILTIN_MODEL",
    "REQUEST_TYPES",
    "GenerationRequest",
    "Request",
    "StyleRequest",
    "is_finite_number",
    "is_whole_number",
    "parse_lora",
    "parse_size",
    "request_from_dict",
]

MIN_SIZE = 8
MAX_SIZE = 8192
MAX_STEPS = 150
MAX_GUIDANCE = 30.0
MAX_COUNT = 16
MAX_SEED = 2**32 - 1
MAX_PROMPT_CHARS = 20_000
MAX_LORAS = 8
MAX_LORA_WEIGHT = 4.0
MAX_CLIP_SKIP = 12
DEFAULT_VARIATION_STRENGTH = 0.3  # a variation that keeps the picture's layout
# Hires fix: the second pass's enlargement and its default strength (A1111's range and default).
HIRES_MIN_SCALE = 1.25
HIRES_MAX_SCALE = 4.0
HIRES_DEFAULT_SCALE = 2.0
HIRES_DEFAULT_DENOISE = 0.45
HIRES_DEFAULT_UPSCALER = "realesrgan-x4plus"  # the shipped Real-ESRGAN (core.upscale)

# Style transfer: the quality mode never works above STYLE_MAX_SIZE (VGG features of a larger
# picture do not fit a consumer GPU), and its coarsest scale is STYLE_MIN_SIZE.
STYLE_MIN_SIZE = 64
STYLE_MAX_SIZE = 1024
STYLE_MAX_ITERATIONS = 5000
STYLE_MAX_WEIGHT = 1e6


# -- value checks, shared by every request type (and by forms that read values back) ------------


def is_whole_number(value: object) -> bool:
    """An int that is not a bool (True is not a step count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_finite_number(value: object) -> bool:
    """An int or float, not a bool, not inf or nan."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def in_range(value: object, low: float, high: float, *, whole: bool = False) -> bool:
    """Whether `value` is a (whole, if asked) number from `low` to `high`."""
    ok = is_whole_number(value) if whole else is_finite_number(value)
    return ok and low <= value <= high  # type: ignore[operator]


def is_valid_text(value: str) -> bool:
    """Whether `value` can be written as UTF-8: no lone surrogates (bytes that were not UTF-8 on
    the command line arrive as those, and so can \\udc80 escapes in JSON)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise InvalidRequest(f"The {name} must be text.")
    if not is_valid_text(value):
        raise InvalidRequest(
            f"The {name} holds bytes that are not valid UTF-8 text; type it again, or save the "
            "file it came from as UTF-8."
        )
    if len(value) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"The {name} is {len(value)} characters long; the limit is {MAX_PROMPT_CHARS}."
        )


def _check_size(name: str, value: int | None) -> None:
    if value is None:
        return
    if not is_whole_number(value):
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


def _check_seed(value: object) -> None:
    if not in_range(value, 0, MAX_SEED, whole=True):
        raise InvalidRequest(
            f"The seed must be a whole number from 0 to {MAX_SEED}, or empty for a random "
            f"seed; {value!r} was given."
        )


def _input_path(what: str, value: object) -> str:
    """An input picture's path, made absolute (no disk access: existence is the job's check)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"The {what} must be a path to an image file.")
    if "\x00" in value:
        raise InvalidRequest(f"The {what} path holds a NUL character; choose the file again.")
    if not is_valid_text(value):
        raise InvalidRequest(
            f"The {what} path is not valid UTF-8, so it cannot be kept with the picture's "
            "settings; rename the file (or its folder) and choose it again."
        )
    return os.path.abspath(os.path.expanduser(value))


_R = TypeVar("_R", bound="_RequestBase")


class _RequestBase:
    """What every request type shares: the dict round trip and `replace`."""

    kind: ClassVar[JobKind]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field plus "kind" (stored in PNGs and history)."""
        return {"kind": self.kind, **dataclasses.asdict(self)}  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[_R], data: dict[str, Any]) -> _R:
        """A request from `to_dict()` output; unknown keys (and "kind") are ignored."""
        if not isinstance(data, dict):
            raise InvalidRequest("Saved settings are not a JSON object.")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as exc:
            raise InvalidRequest(f"These saved settings are incomplete ({exc}).") from exc

    def replace(self: _R, **changes: Any) -> _R:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class GenerationRequest(_RequestBase):
    """One text-to-image (or image-to-image) job.

    `width`/`height` of None mean "the model's native size" (or the init image's size for
    img2img); `seed` of None means "pick one at random". The engine records what it used.
    `scheduler` of None keeps the model's own scheduler.
    """

    kind: ClassVar[JobKind] = "generate"

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
    # A1111's meaning: 1 reads the text encoder's last layer, 2 the one before it, ...
    clip_skip: int = 1
    # A1111's variations ("subseed"): the starting noise of `seed` moved toward that of
    # `variation_seed` by `variation_strength` (0: the seed's picture, 1: the variation seed's)
    variation_seed: int | None = None
    variation_strength: float = 0.0
    # a VAE in place of the model's own: a name in models/vae or a .safetensors path
    vae: str | None = None
    # Hires fix (text-to-image only): make the picture at `width`x`height`, enlarge it by
    # `hires_scale` with `hires_upscaler` (an upscaler's name or file, "latent" or "lanczos"),
    # then repaint it at `hires_denoise` with `hires_steps` steps (None: as many as `steps`);
    # denoise 0 enlarges only (no second pass). None as the scale: no hires fix.
    hires_scale: float | None = None
    hires_upscaler: str = HIRES_DEFAULT_UPSCALER
    hires_steps: int | None = None
    hires_denoise: float = HIRES_DEFAULT_DENOISE
    # Where it runs: "local" (this computer), "auto" (an idle ComfyUI server that has the model,
    # else this computer) or a ComfyUI server's name (core.backends); with a server, `model`,
    # the LoRAs and the hires upscaler are file names as that server lists them.
    backend: str = LOCAL

    def __post_init__(self) -> None:
        _check_text("prompt", self.prompt)
        if not self.prompt.strip():
            raise InvalidRequest("The prompt is empty: describe the image you want.")
        self._take_lora_tags()
        _check_text("negative prompt", self.negative_prompt)
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidRequest("No model was chosen: give a model name or a model folder.")
        _check_text("model name", self.model)
        _check_size("width", self.width)
        _check_size("height", self.height)
        if not in_range(self.steps, 1, MAX_STEPS, whole=True):
            raise InvalidRequest(
                f"Steps must be a whole number from 1 to {MAX_STEPS}; {self.steps!r} was given."
            )
        if not in_range(self.guidance, 0, MAX_GUIDANCE):
            raise InvalidRequest(
                f"The guidance (CFG) scale must be between 0 and {MAX_GUIDANCE:g}; "
                f"{self.guidance!r} was given."
            )
        if not in_range(self.count, 1, MAX_COUNT, whole=True):
            raise InvalidRequest(
                f"The number of images must be from 1 to {MAX_COUNT}; {self.count!r} was given."
            )
        if self.seed is not None:
            _check_seed(self.seed)
            if self.seed + self.count - 1 > MAX_SEED:
                raise InvalidRequest(
                    f"With {self.count} images the seed can be at most "
                    f"{MAX_SEED - self.count + 1} (each image uses the next seed)."
                )
        if self.scheduler is not None:
            from imagestudio.core.schedulers import canonical_scheduler_name

            object.__setattr__(self, "scheduler", canonical_scheduler_name(self.scheduler))
        if not is_finite_number(self.strength) or not 0 < self.strength <= 1:
            raise InvalidRequest(
                f"The img2img strength must be above 0 and at most 1; {self.strength!r} was given."
            )
        if self.init_image is not None:
            object.__setattr__(self, "init_image", _input_path("init image", self.init_image))
            if int(self.steps * self.strength) < 1:
                raise InvalidRequest(
                    f"With {self.steps} steps and strength {self.strength:g} no denoising step "
                    "would run; raise the strength or the number of steps."
                )
        object.__setattr__(self, "loras", _check_loras(self.loras))
        if not in_range(self.clip_skip, 1, MAX_CLIP_SKIP, whole=True):
            raise InvalidRequest(
                f"Clip skip must be a whole number from 1 to {MAX_CLIP_SKIP} (1 reads the text "
                f"encoder's last layer); {self.clip_skip!r} was given."
            )
        if not is_finite_number(self.variation_strength) or not 0 <= self.variation_strength <= 1:
            raise InvalidRequest(
                f"The variation strength must be from 0 to 1; {self.variation_strength!r} was "
                "given."
            )
        if self.variation_seed is not None:
            _check_seed(self.variation_seed)
            if self.variation_seed + self.count - 1 > MAX_SEED:
                raise InvalidRequest(
                    f"With {self.count} images the variation seed can be at most "
                    f"{MAX_SEED - self.count + 1} (each image uses the next one)."
                )
        if self.vae is not None:
            if not isinstance(self.vae, str):
                raise InvalidRequest("The VAE must be given by name or by the path of its file.")
            _check_text("VAE", self.vae)
            object.__setattr__(self, "vae", self.vae.strip() or None)
        if self.variation_strength > 0 and self.variation_seed is None:
            raise InvalidRequest("A variation strength needs a variation seed: give one.")
        if self.variation_strength > 0 and self.init_image is not None:
            raise InvalidRequest(
                "Variations work on text-to-image jobs; untick the start image or set the "
                "variation strength to 0."
            )
        self._check_hires()
        object.__setattr__(self, "backend", check_backend_choice(self.backend))

    def _check_hires(self) -> None:
        if self.hires_scale is None:
            return
        if not in_range(self.hires_scale, HIRES_MIN_SCALE, HIRES_MAX_SCALE):
            raise InvalidRequest(
                f"The hires fix scale must be from {HIRES_MIN_SCALE:g} to {HIRES_MAX_SCALE:g}; "
                f"{self.hires_scale!r} was given."
            )
        if self.init_image is not None:
            raise InvalidRequest(
                "Hires fix enlarges a text-to-image picture; with a start image, make it at the "
                "size you want instead (or upscale the result), and turn hires fix off."
            )
        if not isinstance(self.hires_upscaler, str) or not self.hires_upscaler.strip():
            raise InvalidRequest(
                "No hires fix upscaler was chosen: give an upscaler's name, latent or lanczos."
            )
        _check_text("hires fix upscaler", self.hires_upscaler)
        object.__setattr__(self, "hires_upscaler", self.hires_upscaler.strip())
        if self.hires_steps is not None and not in_range(
            self.hires_steps, 1, MAX_STEPS, whole=True
        ):
            raise InvalidRequest(
                f"Hires steps must be a whole number from 1 to {MAX_STEPS}; "
                f"{self.hires_steps!r} was given."
            )
        if not is_finite_number(self.hires_denoise) or not 0 <= self.hires_denoise <= 1:
            raise InvalidRequest(
                "The hires fix denoising strength must be from 0 (enlarge only) to 1; "
                f"{self.hires_denoise!r} was given."
            )
        if self.hires_denoise == 0:
            if self.hires_upscaler.lower() == "latent":
                raise InvalidRequest(
                    "Latent upscaling needs a second pass: raise the hires fix denoising "
                    "strength above 0, or choose an upscaler to enlarge only."
                )
        elif int(self.second_pass_steps * self.hires_denoise) < 1:
            raise InvalidRequest(
                f"With {self.second_pass_steps} hires steps and denoising strength "
                f"{self.hires_denoise:g} the second pass would run no step; raise either."
            )
        for name, value in (("width", self.width), ("height", self.height)):
            if value is not None and hires_length(value, self.hires_scale) > MAX_SIZE:
                raise InvalidRequest(
                    f"Hires fix ×{self.hires_scale:g} would make the {name} "
                    f"{hires_length(value, self.hires_scale)} pixels, more than {MAX_SIZE}; "
                    "lower the scale or the size."
                )

    @property
    def second_pass_steps(self) -> int:
        """The hires pass's steps as scheduled (it runs `int(steps * hires_denoise)` of them)."""
        return self.hires_steps or self.steps

    def _take_lora_tags(self) -> None:
        """`<lora:name:weight>` tags leave the prompt and join `loras`, as A1111 reads them.

        A tag and a listed LoRA of the same name: the tag's weight wins (it is what the prompt,
        pasted or typed last, says); the LoRA keeps its place in the list. The request then
        holds the prompt as it is encoded, and the LoRAs as they are applied.
        """
        from imagestudio.core.loratags import lora_name, split_lora_tags

        text, tags = split_lora_tags(self.prompt)
        if not tags:
            return
        if not text.strip():
            raise InvalidRequest(
                "The prompt has only LoRA tags: describe the image too, e.g. after the tags."
            )
        listed = list(_check_loras(self.loras))
        for name, weight in tags:
            key = lora_name(name).lower()
            for index, (other, _) in enumerate(listed):
                if lora_name(other).lower() == key:
                    listed[index] = (other, weight)
                    break
            else:
                listed.append((name, weight))
        object.__setattr__(self, "prompt", text)
        object.__setattr__(self, "loras", tuple(listed))

    @property
    def is_img2img(self) -> bool:
        return self.init_image is not None

    def describe(self) -> str:
        return " ".join(self.prompt.split())

    def inputs(self) -> tuple[tuple[str, str], ...]:
        return (("init image", self.init_image),) if self.init_image else ()

    def history_columns(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "model": self.model,
            "width": self.width,
            "height": self.height,
            "steps": self.steps,
            "guidance": float(self.guidance),
            "scheduler": self.scheduler,
            "seed": self.seed,
            "count": self.count,
            "init_image": self.init_image,
            "strength": float(self.strength) if self.is_img2img else None,
        }


def hires_length(length: int, scale: float) -> int:
    """A side after hires fix: scaled, then down to a multiple of 8 (A1111's latent grid)."""
    return max(8, int(length * float(scale)) // 8 * 8)


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
        _check_text("LoRA name", name)
        if not in_range(weight, -MAX_LORA_WEIGHT, MAX_LORA_WEIGHT):
            raise InvalidRequest(
                f"The weight of LoRA {name!r} must be a number from {-MAX_LORA_WEIGHT:g} to "
                f"{MAX_LORA_WEIGHT:g}; {weight!r} was given."
            )
        if any(name.strip() == other for other, _ in found):
            raise InvalidRequest(f"The LoRA {name!r} is listed twice; give it once.")
        found.append((name.strip(), float(weight)))
    return tuple(found)


def _check_weight(name: str, value: object) -> None:
    if not is_finite_number(value):
        raise InvalidRequest(f"The {name} must be a number, not {value!r}.")
    if not 0 <= value <= STYLE_MAX_WEIGHT:  # type: ignore[operator]
        raise InvalidRequest(
            f"The {name} must be between 0 and {STYLE_MAX_WEIGHT:g}, not {value:g}."
        )


@dataclass(frozen=True, kw_only=True)
class QualityKnobs:
    """The quality style mode's knobs, with their tuned defaults; shared by `StyleRequest` and
    the optimiser's own settings (core.style.quality.QualitySettings), so the two cannot drift.

    Weights are relative: 1.0 each is the tuned default, 2.0 doubles that term's pull, 0 turns
    it off. `iterations` is the total over all scales; `size` the output's long side in px.
    """

    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 1.0
    iterations: int = 300
    size: int = 512
    preserve_colors: bool = False
    init: StyleInit = "content"
    seed: int = 0

    def knobs(self) -> dict[str, Any]:
        """The knobs alone (to build the other kind of knob holder from this one)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(QualityKnobs)}


@dataclass(frozen=True)
class StyleRequest(_RequestBase, QualityKnobs):
    """A style-transfer job: repaint `content_image` in the style of `style_image`.

    `strength` is the fast mode's style amount (0: the content back, 1: full style); the three
    weights, `iterations` and `init` steer the quality mode. `size` is the output's long side.
    """

    kind: ClassVar[JobKind] = "style"

    content_image: str
    style_image: str
    mode: StyleMode = "fast"
    strength: float = 1.0

    def __post_init__(self) -> None:
        for name in ("content_image", "style_image"):
            value = getattr(self, name)
            what = "content" if name == "content_image" else "style"
            if not isinstance(value, str) or not value.strip():
                raise InvalidRequest(f"Choose a {what} image first.")
            object.__setattr__(self, name, _input_path(f"{what} image", value))
        if self.mode not in STYLE_MODES:
            raise InvalidRequest(f"The style mode must be fast or quality, not {self.mode!r}.")
        if self.init not in STYLE_INITS:
            raise InvalidRequest(
                f"The quality mode starts from the content or from noise, not {self.init!r}."
            )
        if not in_range(self.strength, 0, 1):
            raise InvalidRequest(
                f"The style strength must be between 0 and 1, not {self.strength!r}."
            )
        _check_weight("content weight", self.content_weight)
        _check_weight("style weight", self.style_weight)
        _check_weight("smoothness (TV) weight", self.tv_weight)
        if self.mode == "quality" and self.content_weight == 0 and self.style_weight == 0:
            raise InvalidRequest(
                "The content and style weights are both 0, so there is nothing to aim for; "
                "raise at least one of them."
            )
        if not in_range(self.iterations, 1, STYLE_MAX_ITERATIONS, whole=True):
            raise InvalidRequest(
                f"Iterations must be a whole number from 1 to {STYLE_MAX_ITERATIONS}, "
                f"not {self.iterations!r}."
            )
        if not in_range(self.size, STYLE_MIN_SIZE, STYLE_MAX_SIZE, whole=True):
            raise InvalidRequest(
                f"The output size (long side) must be from {STYLE_MIN_SIZE} to "
                f"{STYLE_MAX_SIZE} pixels, not {self.size!r}."
            )
        if not isinstance(self.preserve_colors, bool):
            raise InvalidRequest(
                f"Preserve colours must be yes or no, not {self.preserve_colors!r}."
            )
        if not in_range(self.seed, 0, MAX_SEED, whole=True):
            raise InvalidRequest(
                f"The seed must be a whole number from 0 to 2^32-1, not {self.seed!r}."
            )

    def describe(self) -> str:
        """One line for the history list and the PNG text: what was stylised with what."""
        content, style = Path(self.content_image).name, Path(self.style_image).name
        return f"Style transfer: {content} in the style of {style} ({self.mode})"

    def inputs(self) -> tuple[tuple[str, str], ...]:
        return (("content image", self.content_image), ("style image", self.style_image))

    def history_columns(self) -> dict[str, Any]:
        quality = self.mode == "quality"
        return {
            "prompt": self.describe(),
            "model": f"style transfer ({self.mode})",
            "steps": self.iterations if quality else None,
            "seed": self.seed if quality else None,
            "init_image": self.content_image,
            "strength": None if quality else float(self.strength),
        }


UPSCALE_MIN_SCALE = 1.25
UPSCALE_MAX_SCALE = 8.0
UPSCALE_MIN_TILE = 32
UPSCALE_MAX_TILE = 2048


@dataclass(frozen=True)
class UpscaleRequest(_RequestBase):
    """Enlarge a picture: `upscaler` is a network's name (shipped or in models/upscalers), the
    path of a .safetensors upscaler, or "lanczos" (a resize, no network). `scale` is any factor
    from 1.25 to 8: the network's own factor (as many passes as needed), then a Lanczos resize
    to the exact size. `tile` of None picks a tile size from free memory."""

    kind: ClassVar[JobKind] = "upscale"

    image: str
    scale: float = 4.0
    upscaler: str = "realesrgan-x4plus"
    tile: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "image", _input_path("picture to upscale", self.image))
        if not in_range(self.scale, UPSCALE_MIN_SCALE, UPSCALE_MAX_SCALE):
            raise InvalidRequest(
                f"The upscale factor must be from {UPSCALE_MIN_SCALE:g} to "
                f"{UPSCALE_MAX_SCALE:g}; {self.scale!r} was given."
            )
        if not isinstance(self.upscaler, str) or not self.upscaler.strip():
            raise InvalidRequest("No upscaler was chosen: give its name, its file, or lanczos.")
        _check_text("upscaler", self.upscaler)
        object.__setattr__(self, "upscaler", self.upscaler.strip())
        if self.tile is not None and not in_range(
            self.tile, UPSCALE_MIN_TILE, UPSCALE_MAX_TILE, whole=True
        ):
            raise InvalidRequest(
                f"The tile size must be a whole number of pixels from {UPSCALE_MIN_TILE} to "
                f"{UPSCALE_MAX_TILE}; {self.tile!r} was given."
            )

    def describe(self) -> str:
        return f"Upscale ×{self.scale:g}: {Path(self.image).name} ({self.upscaler})"

    def inputs(self) -> tuple[tuple[str, str], ...]:
        return (("picture to upscale", self.image),)

    def history_columns(self) -> dict[str, Any]:
        return {
            "prompt": self.describe(),
            "model": self.upscaler,
            "init_image": self.image,
            "strength": float(self.scale),
        }


# Inpainting and outpainting
INPAINT_DEFAULT_STRENGTH = 0.75
MAX_MASK_BLUR = 64
MAX_PADDING = 512
MAX_EXTEND = 1024
SIDES = ("left", "top", "right", "bottom")


@dataclass(frozen=True)
class InpaintRequest(GenerationRequest):
    """Repaint the part of `init_image` that `mask` marks (inpainting), or extend the picture
    by `extend` pixels per side and paint the new part (outpainting). Everything else is a
    generation request's (prompt, model, steps, seed, LoRAs...), and means the same.

    The mask follows A1111: white repaints, black keeps, grey between; in an RGBA file alpha 0
    repaints. `mask_blur` feathers its edge (pixels). `area` "whole" works on the whole picture
    at its size; "masked" on a crop around the mask (plus `padding`) at the model's own size,
    pasted back. `fill`: what the masked part starts from (the picture, its surrounding colour,
    or noise). Outside the (blurred) mask the result is the picture's pixels exactly.
    """

    kind: ClassVar[JobKind] = "inpaint"

    strength: float = INPAINT_DEFAULT_STRENGTH
    mask: str | None = None
    mask_blur: int = 4
    area: InpaintArea = "whole"
    padding: int = 32
    fill: MaskedContent = "original"
    # (left, top, right, bottom) pixels added: outpainting (then no mask is given)
    extend: tuple[int, int, int, int] = (0, 0, 0, 0)

    def __post_init__(self) -> None:
        if self.init_image is None:
            raise InvalidRequest("Inpainting needs a picture: open or choose the one to change.")
        if self.hires_scale is not None:
            raise InvalidRequest("Hires fix does not apply to inpainting; turn it off.")
        super().__post_init__()
        object.__setattr__(self, "extend", _check_extend(self.extend))
        outpaint = any(self.extend)
        if self.mask is not None:
            if outpaint:
                raise InvalidRequest(
                    "Give a mask to repaint part of the picture, or sides to extend it, not both."
                )
            object.__setattr__(self, "mask", _input_path("mask", self.mask))
        elif not outpaint:
            raise InvalidRequest(
                "The mask is empty: paint the part to repaint (or give sides to extend)."
            )
        if not in_range(self.mask_blur, 0, MAX_MASK_BLUR, whole=True):
            raise InvalidRequest(
                f"The mask blur must be a whole number of pixels from 0 to {MAX_MASK_BLUR}; "
                f"{self.mask_blur!r} was given."
            )
        if self.area not in INPAINT_AREAS:
            raise InvalidRequest(
                f"The inpaint area must be one of {', '.join(INPAINT_AREAS)}; {self.area!r} "
                "was given."
            )
        if not in_range(self.padding, 0, MAX_PADDING, whole=True):
            raise InvalidRequest(
                f"The padding must be a whole number of pixels from 0 to {MAX_PADDING}; "
                f"{self.padding!r} was given."
            )
        if self.fill not in MASKED_CONTENTS:
            raise InvalidRequest(
                f"The masked content must be one of {', '.join(MASKED_CONTENTS)}; {self.fill!r} "
                "was given."
            )

    @property
    def is_outpaint(self) -> bool:
        return any(self.extend)

    def describe(self) -> str:
        what = "Outpaint" if self.is_outpaint else "Inpaint"
        return f"{what}: {super().describe()}"

    def inputs(self) -> tuple[tuple[str, str], ...]:
        pairs = [("picture to change", str(self.init_image))]
        if self.mask:
            pairs.append(("mask", self.mask))
        return tuple(pairs)


def _check_extend(value: object) -> tuple[int, int, int, int]:
    """Four side amounts, each 0 or 8..1024 in steps of 8 (the nearest is suggested)."""
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise InvalidRequest("The extension must give four amounts: left, top, right, bottom.")
    sides = []
    for side, amount in zip(SIDES, value, strict=True):
        if not is_whole_number(amount) or not 0 <= amount <= MAX_EXTEND:
            raise InvalidRequest(
                f"The {side} extension must be a whole number of pixels from 8 to {MAX_EXTEND}; "
                f"{amount!r} was given."
            )
        if amount % 8:
            lower, upper = amount - amount % 8, amount - amount % 8 + 8
            near = upper if amount % 8 >= 4 or lower == 0 else lower
            raise InvalidRequest(
                f"The {side} extension must be a multiple of 8 pixels; {amount} was given. "
                f"Try {min(near, MAX_EXTEND)}."
            )
        sides.append(int(amount))
    return (sides[0], sides[1], sides[2], sides[3])


def parse_extend(text: str) -> tuple[int, int, int, int]:
    """Parse 'left=128,right=64' (as typed on the command line) into the four side amounts."""
    amounts = dict.fromkeys(SIDES, 0)
    for part in text.split(","):
        if not part.strip():
            continue
        side, sep, amount = part.partition("=")
        side = side.strip().lower()
        if not sep or side not in amounts:
            raise InvalidRequest(
                f"'{part.strip()}' is not a side: write the extension as left=128,right=128 "
                "(sides: left, top, right, bottom)."
            )
        try:
            amounts[side] = int(amount.strip())
        except ValueError:
            raise InvalidRequest(
                f"The {side} extension '{amount.strip()}' is not a whole number of pixels."
            ) from None
    if not any(amounts.values()):
        raise InvalidRequest(
            "Extend at least one side by 8 to 1024 pixels, e.g. --extend right=256."
        )
    return (amounts["left"], amounts["top"], amounts["right"], amounts["bottom"])


#: Every kind of job, as a union and by kind.
Request = GenerationRequest | StyleRequest | UpscaleRequest
REQUEST_TYPES: dict[str, type[GenerationRequest] | type[StyleRequest] | type[UpscaleRequest]] = {
    cls.kind: cls for cls in (GenerationRequest, StyleRequest, UpscaleRequest, InpaintRequest)
}


def request_from_dict(data: dict[str, Any], kind: str | None = None) -> Request:
    """The request a `to_dict()` dict describes; `kind` (a history row's) wins over its "kind"."""
    if not isinstance(data, dict):
        raise InvalidRequest("Saved settings are not a JSON object.")
    wanted = kind or data.get("kind") or "generate"
    cls = REQUEST_TYPES.get(str(wanted))
    if cls is None:
        raise InvalidRequest(
            f"These settings are for a kind of job ({wanted!r}) this version of ImageStudio "
            "does not know."
        )
    return cls.from_dict(data)


# -- command-line helpers -----------------------------------------------------------------------


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
