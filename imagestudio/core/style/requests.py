"""What a style-transfer job asks for, validated where it is made (CLI, panel, history)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from imagestudio.core.errors import InvalidRequest

# The quality mode's own limits, so a request and the optimiser can never disagree.
from imagestudio.core.style.quality import (
    INITS,
    MAX_ITERATIONS,
    MAX_SIZE,
    MIN_SIZE,
    QualitySettings,
)

__all__ = ["INITS", "MAX_ITERATIONS", "MAX_SIZE", "MIN_SIZE", "MODES", "StyleRequest"]

MODES = ("fast", "quality")
MAX_WEIGHT = 1e6


def _check_weight(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidRequest(f"The {name} must be a number, not {value!r}.")
    if not 0 <= value <= MAX_WEIGHT:
        raise InvalidRequest(f"The {name} must be between 0 and {MAX_WEIGHT:g}, not {value:g}.")


@dataclass(frozen=True)
class StyleRequest:
    """A style-transfer job: repaint `content_image` in the style of `style_image`.

    `strength` is the fast mode's style amount (0: the content back, 1: full style); the three
    weights, `iterations` and `init` steer the quality mode. `size` is the output's long side.
    """

    content_image: str
    style_image: str
    mode: str = "fast"
    strength: float = 1.0
    # the quality mode's knobs, with its defaults
    content_weight: float = QualitySettings.content_weight
    style_weight: float = QualitySettings.style_weight
    tv_weight: float = QualitySettings.tv_weight
    iterations: int = QualitySettings.iterations
    size: int = QualitySettings.size
    preserve_colors: bool = QualitySettings.preserve_colors
    init: str = QualitySettings.init
    seed: int = QualitySettings.seed

    def __post_init__(self) -> None:
        for name in ("content_image", "style_image"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                what = "content" if name == "content_image" else "style"
                raise InvalidRequest(f"Choose a {what} image first.")
        if self.mode not in MODES:
            raise InvalidRequest(f"The style mode must be fast or quality, not {self.mode!r}.")
        if self.init not in INITS:
            raise InvalidRequest(
                f"The quality mode starts from the content or from noise, not {self.init!r}."
            )
        if not isinstance(self.strength, (int, float)) or not 0 <= self.strength <= 1:
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
        if not isinstance(self.iterations, int) or not 1 <= self.iterations <= MAX_ITERATIONS:
            raise InvalidRequest(
                f"Iterations must be a whole number from 1 to {MAX_ITERATIONS}, "
                f"not {self.iterations!r}."
            )
        if not isinstance(self.size, int) or not MIN_SIZE <= self.size <= MAX_SIZE:
            raise InvalidRequest(
                f"The output size (long side) must be from {MIN_SIZE} to {MAX_SIZE} pixels, "
                f"not {self.size!r}."
            )
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise InvalidRequest(
                f"The seed must be a whole number from 0 to 2^32-1, not {self.seed!r}."
            )

    def replace(self, **changes: Any) -> StyleRequest:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "style", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StyleRequest:
        """A request from `to_dict` output (history, PNG metadata); unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{key: value for key, value in data.items() if key in known})
        except TypeError as exc:
            raise InvalidRequest(f"These style settings are incomplete ({exc}).") from exc

    def describe(self) -> str:
        """One line for the history list and the PNG text: what was stylised with what."""
        from pathlib import Path

        content, style = Path(self.content_image).name, Path(self.style_image).name
        return f"Style transfer: {content} in the style of {style} ({self.mode})"
