"""Upscalers as the window names them: the shipped Real-ESRGAN networks by what they suit, a
user's own by file name. One list for the Upscale dialog and the Generate form's hires fix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from imagestudio.core.upscale.loading import UpscalerFile

# shipped networks: (short name, what it suits)
_SHIPPED = {
    "realesrgan-x4plus": ("Real-ESRGAN x4plus", "photos and paintings"),
    "realesr-animevideov3-x4": ("Real-ESRGAN animevideov3", "drawings, fast"),
}


@dataclass(frozen=True)
class UpscalerChoice:
    """One upscaler network as a list shows it."""

    name: str  # what a request takes
    label: str  # short, for a narrow combo
    description: str  # the label with what it is, for a wide list or a tooltip


def upscaler_choice(name: str, builtin: bool) -> UpscalerChoice:
    """How upscaler `name` is shown (a shipped one by what it suits)."""
    if name in _SHIPPED:
        label, suits = _SHIPPED[name]
        return UpscalerChoice(name, label, f"{label} (built in): {suits}")
    if builtin:
        return UpscalerChoice(name, name, f"{name} (built in)")
    return UpscalerChoice(name, name, f"{name} (models/upscalers)")


def upscaler_choices(files: Mapping[str, UpscalerFile]) -> list[UpscalerChoice]:
    """The networks of `upscaler_files(models_dir)`, in its order (shipped first)."""
    return [upscaler_choice(name, found.builtin) for name, found in files.items()]
