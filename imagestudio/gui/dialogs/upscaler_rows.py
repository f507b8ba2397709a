"""The Models dialog's upscalers: the shipped networks and the user's `models/upscalers` files.

Size and precision come from the file and its safetensors header, which is cheap, so rows are
built on the GUI thread. Scale and architecture only spandrel can tell, by building the network
(`describe_upscaler`: up to seconds the first time, then cached per version of the file), so a
`UpscalerDescriber` thread fills them in after the rows are shown. Requests and answers are plain
frozen dataclasses; a stopped describer ends before its next file (building one network cannot
be interrupted).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QThread, Signal

from imagestudio.core.errors import ModelError
from imagestudio.core.logs import details_hint
from imagestudio.core.models.checkpoints import read_header
from imagestudio.core.upscale.loading import UpscalerFile, describe_upscaler, upscaler_files

log = logging.getLogger(__name__)

NOT_AN_UPSCALER = (
    "Not an upscaler spandrel can load: it may be a LoRA, a checkpoint or another kind of network."
)


@dataclass(frozen=True)
class UpscalerRow:
    """What the table shows of one upscaler file; `described` once scale and architecture are
    known, or known to be unknowable (`problem` then says why)."""

    name: str  # what Upscale… and the hires fix call it: "realesrgan-x4plus", "anime/x2"
    path: Path
    builtin: bool
    size_bytes: int = 0
    precision: str = "unknown"
    scale: int | None = None
    architecture: str = ""
    problem: str = ""
    described: bool = False


def upscaler_rows(models_dir: Path) -> list[UpscalerRow]:
    """The shipped upscalers and those in `models_dir/upscalers`, not yet described."""
    return [_row(file) for file in upscaler_files(models_dir).values()]


def _row(file: UpscalerFile) -> UpscalerRow:
    row = UpscalerRow(file.name, file.path, file.builtin)
    try:
        size = file.path.stat().st_size
    except OSError as exc:
        problem = f"{file.path.name} could not be read: {exc.strerror or exc}."
        return dataclasses.replace(row, problem=problem, described=True)
    try:
        precision = read_header(file.path).precision()
    except ModelError as exc:
        # a damaged or cut-short file: spandrel would fail on it too, and say less
        return dataclasses.replace(row, size_bytes=size, problem=str(exc), described=True)
    return dataclasses.replace(row, size_bytes=size, precision=precision)


@dataclass(frozen=True)
class DescribeRequest:
    """Describe these files (name, path); `request` numbers it so that late answers to an older
    request can be told apart."""

    request: int
    files: tuple[tuple[str, Path], ...]
    cache_dir: Path


@dataclass(frozen=True)
class UpscalerDescription:
    """One file's answer: (scale, architecture), or None when spandrel does not know it."""

    request: int
    name: str
    path: Path
    found: tuple[int, str] | None
    problem: str = ""  # set when describing failed in an unexpected way


def with_description(row: UpscalerRow, description: UpscalerDescription) -> UpscalerRow:
    """`row` with what the worker found out about its file."""
    if description.found is None:
        return dataclasses.replace(
            row, problem=description.problem or NOT_AN_UPSCALER, described=True
        )
    scale, architecture = description.found
    return dataclasses.replace(row, scale=scale, architecture=architecture, described=True)


class UpscalerDescriber(QThread):
    """Describes the files of one request, one by one, then ends; one `described` per file.

    The thread (the Mandelbrot example's pattern: a QThread whose `run` emits) belongs to the
    application, not to the dialog: a dialog may be closed or garbage-collected while spandrel
    builds a network, which cannot be interrupted, and a QThread destroyed while it runs aborts
    the process. `model_tasks.leave_running` deletes it once finished and waits for it when the
    application quits.
    """

    described = Signal(object)  # UpscalerDescription

    def __init__(self, request: DescribeRequest, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("models-dialog-upscalers")
        self._request = request
        self._stopped = threading.Event()

    # Called from the GUI thread: takes effect before the next file.
    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        request = self._request
        for name, path in request.files:
            if self._stopped.is_set():
                return
            problem = ""
            try:
                found = describe_upscaler(path, request.cache_dir)
            except Exception as exc:  # spandrel and torch raise many kinds; the row says so
                log.exception("describing the upscaler %s failed", path)  # traceback: the log
                found = None
                problem = f"Could not tell what network it is: {exc}; {details_hint()}."
            self.described.emit(UpscalerDescription(request.request, name, path, found, problem))
