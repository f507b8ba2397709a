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
# Temporary files of atomic writes are named .<name>.<pid>.<random>.tmp: one whose process is gone,
# or older than this (a picture takes well under a second to write), is left over from a kill.
STALE_AFTER_S = 15 * 60
_TEMP_PREFIX = "."
_TEMP_SUFFIX = ".tmp"


def _current_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any thread starts
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


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
        fd, tmp_name = tempfile.mkstemp(
            prefix=f"{_TEMP_PREFIX}{path.name}.{os.getpid()}.", suffix=_TEMP_SUFFIX, dir=path.parent
        )
    except OSError as exc:
        raise StorageError(f"Cannot write to the folder {path.parent}: {exc.strerror}.") from exc
    tmp = Path(tmp_name)
    try:
        # mkstemp makes the file private (0600); the user's files get the mode their umask
        # gives (gallery tools, other accounts), and a replaced file keeps its own mode.
        _set_mode(fd, path, overwrite)
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


def _set_mode(fd: int, path: Path, overwrite: bool) -> None:
    if os.name == "nt":
        return
    mode = 0o666 & ~_UMASK
    if overwrite:
        with contextlib.suppress(OSError):
            mode = path.stat().st_mode & 0o7777
    with contextlib.suppress(OSError):
        os.fchmod(fd, mode)


def remove_stale_temporaries(folder: Path, older_than: float = STALE_AFTER_S) -> list[Path]:
    """Delete the temporary files that interrupted atomic writes left in `folder` (a process
    killed between writing and renaming); return what was removed. Only ImageStudio's own
    pattern (.<name>.<pid>.<random>.tmp) is touched: when its process is gone, or when it is
    older than `older_than` seconds."""
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(_TEMP_PREFIX) and name.endswith(_TEMP_SUFFIX)):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            young = now - entry.stat(follow_symlinks=False).st_mtime < older_than
            if young and _writer_alive(name):
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def _writer_alive(temporary: str) -> bool:
    """Whether the process that named this temporary file may still be writing it."""
    parts = temporary[: -len(_TEMP_SUFFIX)].rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return True  # not ours to judge by process: age decides
    pid = int(parts[1])
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True
    return True


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
