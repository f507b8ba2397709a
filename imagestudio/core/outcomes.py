"""What a job gives back: the pictures an engine made (`Product`) and how the job ended
(`JobOutcome`, the one record the CLI, the worker and the window read)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagestudio.core.vocabulary import JobKind, JobStatus


@dataclass
class Picture:
    """One picture an engine made, with what its PNG carries.

    `parameters` is the A1111-style settings text; `settings` the request (as a dict) that makes
    this very picture again; `name` the text the output file is named after; `seed` its seed,
    when it has one. `text_key` is the PNG text chunk `parameters` goes in: A1111's
    "parameters" for generations, which every reader takes as a generation prompt and settings;
    another key for other kinds of job, whose text must not be read as one. `chunks` are more
    text chunks for other tools (ComfyUI's ``prompt`` graph).
    """

    image: Any  # a PIL image
    parameters: str
    settings: dict[str, Any]
    name: str
    seed: int | None = None
    text_key: str = "parameters"
    chunks: dict[str, str] = field(default_factory=dict)


@dataclass
class Product:
    """Everything an engine function made, for `run_job` to save and record.

    `request` is the request as it ran (random seed, default size and scheduler filled in), so
    the history entry re-runs to the same pictures. `summary` is one line for the user
    ("64x64, Euler a, seed 5 (CPU: …)").
    """

    pictures: list[Picture]
    request: Any  # a core.requests.Request
    width: int | None
    height: int | None
    summary: str
    model: str = ""
    device: str = ""
    # The prompt the history shows and searches, where it is not the request's: a template with
    # {a|b} or __wildcards__ is recorded as its first picture's picks (the request keeps it).
    shown_prompt: str | None = None

    def history_columns(self) -> dict[str, Any]:
        """Columns of the history row beside the request's own."""
        columns: dict[str, Any] = {"width": self.width, "height": self.height}
        if self.shown_prompt is not None:
            columns["prompt"] = self.shown_prompt
        return columns

    def report(self) -> dict[str, Any]:
        """What a `JobOutcome` tells of the product: summary, size, model and device."""
        return {name: getattr(self, name) for name in _REPORTED}


_REPORTED = ("summary", "width", "height", "model", "device")


@dataclass(frozen=True)
class JobOutcome:
    """How a job ended, as plain data. A failed job raises instead (after it is recorded)."""

    kind: JobKind
    status: JobStatus
    message: str = ""
    files: tuple[Path, ...] = ()
    seeds: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()
    summary: str = ""
    history_id: int | None = None
    duration: float = 0.0
    width: int | None = None
    height: int | None = None
    model: str = ""
    device: str = ""
    request: Any = field(default=None, compare=False)  # the request as it ran, when done
    # A cancelled job's picture so far, when worth keeping (`jobs.keep_partial` saves it)
    partial: Any = field(default=None, compare=False)
