"""Upscaler names as A1111 writes them in ``Hires upscaler`` and ``Postprocess upscaler``.

Our shipped Real-ESRGAN files are the networks A1111 lists as "R-ESRGAN 4x+" and "R-ESRGAN
AnimeVideo"; a user's own upscaler goes by its file name in both. Writing A1111's names lets
A1111, Forge and Civitai recognise the upscaler; reading them back finds ours.
"""

from __future__ import annotations

LATENT = "latent"
LANCZOS = "lanczos"

_A1111_NAMES = {
    "realesrgan-x4plus": "R-ESRGAN 4x+",
    "realesr-animevideov3-x4": "R-ESRGAN AnimeVideo",
    LATENT: "Latent",
    LANCZOS: "Lanczos",
}
_OURS = {value.lower(): key for key, value in _A1111_NAMES.items()}
# A1111's plain resizes and its other latent modes: the nearest thing we have
_OURS |= {"none": LANCZOS, "nearest": LANCZOS}


def a1111_upscaler(name: str) -> str:
    """The name A1111 gives our upscaler `name` (the name itself when it has no other)."""
    return _A1111_NAMES.get(name.lower(), name)


def upscaler_from_a1111(text: str) -> str:
    """Our upscaler for the name a picture's metadata gives (the text itself when we know no
    other: a user's file of that name may be in the library)."""
    key = text.strip().lower()
    if key.startswith("latent"):  # "Latent (bicubic antialiased)" and the rest
        return LATENT
    return _OURS.get(key, text.strip())
