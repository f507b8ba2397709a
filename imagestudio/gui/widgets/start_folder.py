"""Where an Open dialog starts: beside the picture already chosen, else where the user last
picked one, else the outputs folder (where our pictures are), never the process's working
folder, which for a desktop app is wherever it happened to be launched from."""

from __future__ import annotations

from pathlib import Path

from imagestudio.core.paths import app_paths

_last: dict[str, str] = {}


def start_folder(current: str | None = None, kind: str = "pictures") -> str:
    """The folder an Open dialog for `kind` ("pictures", "models") starts in."""
    if current and Path(current).parent.is_dir():
        return str(Path(current).parent)
    remembered = _last.get(kind)
    if remembered and Path(remembered).is_dir():
        return remembered
    if kind == "models":
        downloads = Path.home() / "Downloads"
        return str(downloads if downloads.is_dir() else Path.home())
    outputs = app_paths().outputs_dir
    return str(outputs if outputs.is_dir() else Path.home())


def remember(path: str, kind: str = "pictures") -> None:
    """The user picked `path`: the next dialog of this kind starts beside it."""
    if path:
        folder = Path(path) if Path(path).is_dir() else Path(path).parent
        _last[kind] = str(folder)
