"""Files on disk: atomic writes that never overwrite by accident, and output file names."""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import time
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from imagestudio.core.errors import StorageError

if TYPE_CHECKING:
    from PIL import Image, PngImagePlugin

SLUG_MAX = 48


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable on POSIX; directories can't be opened this way on Windows.
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, *, overwrite: bool = False) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and a rename.

    Readers see either no file or the whole file. With `overwrite=False` an existing file is
    never replaced: `FileExistsError` is raised and the temporary file removed.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise StorageError(f"Cannot write to the folder {path.parent}: {exc.strerror}.") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        elif os.name == "nt":
            os.rename(tmp, path)  # Windows' rename refuses an existing target
        else:
            # link() fails if the target exists, which rename() would silently replace.
            os.link(tmp, path)
            tmp.unlink()
        _fsync_dir(path.parent)
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"Could not write {path}: {exc.strerror}.") from exc
    return path


def slugify(text: str, limit: int = SLUG_MAX) -> str:
    """A short, file-name-safe slug of a prompt: 'A Fox, in snow!' -> 'a-fox-in-snow'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > limit:
            break
        slug = candidate
    return slug or (words[0][:limit] if words else "image")


def output_name(prompt: str, seed: int, when: float | None = None) -> str:
    """File name for a result: date and time, seed, prompt slug."""
    stamp = time.strftime(
        "%Y%m%d-%H%M%S", time.localtime(when if when is not None else time.time())
    )
    return f"{stamp}_{seed}_{slugify(prompt)}.png"


def png_bytes(image: Image.Image, pnginfo: PngImagePlugin.PngInfo | None = None) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=pnginfo)
    return buffer.getvalue()


def save_png_unique(
    image: Image.Image, folder: Path, name: str, pnginfo: PngImagePlugin.PngInfo | None = None
) -> Path:
    """Save into `folder` as `name`, adding -1, -2... when the name is taken. Never overwrites."""
    data = png_bytes(image, pnginfo)
    stem, suffix = os.path.splitext(name)
    for n in range(10_000):
        candidate = folder / (name if n == 0 else f"{stem}-{n}{suffix}")
        try:
            return atomic_write_bytes(candidate, data)
        except FileExistsError:
            continue
    raise StorageError(f"Too many files named like {name} in {folder}; choose another folder.")


def save_png_exact(image: Image.Image, path: Path, pnginfo: PngImagePlugin.PngInfo | None) -> Path:
    """Save to exactly `path`; an existing file is an error, not a silent overwrite."""
    try:
        return atomic_write_bytes(path, png_bytes(image, pnginfo))
    except FileExistsError:
        raise StorageError(
            f"{path} already exists; ImageStudio never overwrites files. Choose another name."
        ) from None


def plan_output_files(output: Path, count: int) -> list[Path]:
    """Exact file names for `--output FILE.png`: FILE.png, or FILE-1.png... for several images."""
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i + 1}{output.suffix}") for i in range(count)]


def check_can_create(paths: Iterable[Path]) -> None:
    """Refuse up front, before any work, if a planned output exists or its folder can't be made."""
    for path in paths:
        if path.exists():
            raise StorageError(
                f"{path} already exists; ImageStudio never overwrites files. "
                "Choose another name or a folder."
            )
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise StorageError(f"Cannot create files in {path.parent}: the folder is not writable.")
