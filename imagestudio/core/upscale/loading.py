"""Finding and loading upscaler networks: the shipped Real-ESRGAN files and the user's own.

Architectures come from spandrel (the library ComfyUI, Forge and InvokeAI use), never from
definitions of ours: ESRGAN/RRDBNet, Real-ESRGAN compact, SwinIR, HAT, DAT, OmniSR and the rest
of spandrel's permissively licensed set. Only `.safetensors` files are opened; a `.pth` is
converted first (`imagestudio models convert`), which never runs pickled code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagestudio.core.errors import ModelError
from imagestudio.core.models.hashes import cached_fact
from imagestudio.core.models.library import UPSCALER_FOLDER
from imagestudio.core.paths import resources_dir
from imagestudio.core.torchvision_compat import ensure_torchvision_importable
from imagestudio.core.upscalernames import LANCZOS  # not a network: a high-quality resize

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

BUILTIN_UPSCALER = "realesrgan-x4plus"  # the default: Real-ESRGAN's general model


def shipped_dir() -> Path:
    return resources_dir() / "upscalers"


@dataclass(frozen=True)
class UpscalerFile:
    """An upscaler on disk, before loading."""

    name: str
    path: Path
    builtin: bool


@dataclass
class Upscaler:
    """A loaded network: spandrel's descriptor and what it is."""

    name: str
    path: Path
    model: Any  # spandrel.ImageModelDescriptor, in eval mode on its device
    scale: int
    architecture: str
    device: str
    dtype: torch.dtype


def upscaler_files(models_dir: Path) -> dict[str, UpscalerFile]:
    """name -> file: the shipped upscalers, then `models/upscalers/*.safetensors` (a user's file
    of the same name as a shipped one comes second: `upscalers/NAME` reaches it)."""
    found: dict[str, UpscalerFile] = {}
    folder = shipped_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.safetensors")):
            found[path.stem] = UpscalerFile(path.stem, path, builtin=True)
    user = Path(models_dir) / UPSCALER_FOLDER
    if user.is_dir():
        for path in sorted(user.rglob("*.safetensors")):
            name = path.relative_to(user).with_suffix("").as_posix()
            key = name if name not in found else f"{UPSCALER_FOLDER}/{name}"
            found[key] = UpscalerFile(key, path, builtin=False)
    return found


def resolve_upscaler(name_or_path: str, models_dir: Path) -> UpscalerFile:
    """The file a user names (a shipped or library name, or a path); ModelError in words."""
    text = name_or_path.strip()
    files = upscaler_files(models_dir)
    if text in files:
        return files[text]
    path = Path(text).expanduser()
    if path.suffix and path.is_file():
        if path.suffix.lower() != ".safetensors":
            raise ModelError(
                f"The upscaler {path.name} is a pickle file, which can run code when opened; "
                f"convert it first with: imagestudio models convert {path}"
            )
        return UpscalerFile(path.stem, path.resolve(), builtin=False)
    known = ", ".join([LANCZOS, *files]) or LANCZOS
    raise ModelError(
        f"No upscaler named {text!r}. Known: {known}; or put a .safetensors upscaler in "
        f"{Path(models_dir) / UPSCALER_FOLDER}."
    )


def import_spandrel() -> Any:
    """spandrel, or ModelError in words when it is missing (see core.torchvision_compat for
    why torchvision is made importable first)."""
    ensure_torchvision_importable()
    try:
        import spandrel
    except ImportError as exc:
        raise ModelError(
            f"Upscaling needs the spandrel package ({exc}); reinstall ImageStudio."
        ) from exc
    return spandrel


def load_upscaler(
    path: Path, device: str, dtype: torch.dtype | None = None, name: str | None = None
) -> Upscaler:
    """Read a safetensors upscaler and build its network with spandrel; `name` is what it is
    recorded as (the file's stem when None)."""
    import torch
    from safetensors.torch import load_file

    path = Path(path)
    try:
        state = load_file(str(path))
    except Exception as exc:  # SafetensorError, OSError
        raise ModelError(
            f"The upscaler {path.name} could not be read ({exc}); download it again."
        ) from exc
    spandrel = import_spandrel()
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError as exc:
        raise ModelError(
            f"{path.name} is not an upscaler that spandrel knows (it may be a LoRA, a "
            "checkpoint or another kind of network)."
        ) from exc
    except Exception as exc:  # a known architecture with broken tensors
        raise ModelError(f"The upscaler {path.name} could not be built: {exc}") from exc
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise ModelError(f"{path.name} is not an image upscaler.")
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise ModelError(
            f"{path.name} takes {descriptor.input_channels} channels; ImageStudio's upscalers "
            "take RGB pictures."
        )
    if dtype is None:
        dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
    if dtype == torch.float16 and not descriptor.supports_half:
        dtype = torch.float32
    descriptor.to(device).eval()
    descriptor.model.to(dtype)
    return Upscaler(
        name=name or path.stem,
        path=path,
        model=descriptor,
        scale=int(descriptor.scale),
        architecture=str(descriptor.architecture.name),
        device=str(device),
        dtype=dtype,
    )


def describe_upscaler(path: Path, cache_dir: Path) -> tuple[int, str] | None:
    """(scale, architecture) of an upscaler file, for listings; None if it is not one.

    Only spandrel can tell, by building the network (torch, the whole file: seconds), so the
    answer is kept in the cache folder per version of the file (core.models.hashes).
    """

    import_spandrel()  # a missing spandrel is said, never remembered as "not an upscaler"

    def learn(file: Path) -> list[Any]:
        try:
            upscaler = load_upscaler(file, "cpu")
        except ModelError:
            return []  # remembered too: not an upscaler
        return [upscaler.scale, upscaler.architecture]

    found = cached_fact(Path(path), cache_dir, "upscaler", learn)
    if isinstance(found, list) and len(found) == 2:
        return int(found[0]), str(found[1])
    return None
