"""A history entry as Python sees it (`JobRecord`), and its row in the jobs table."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from imagestudio.core.errors import HistoryError, InvalidRequest
from imagestudio.core.requests import Request, request_from_dict
from imagestudio.core.vocabulary import JOB_KINDS, JOB_STATUSES, JobKind, JobStatus

STATUSES = JOB_STATUSES


@dataclass(frozen=True)
class JobRecord:
    """One finished job as stored in the history.

    `seed` is the seed actually used for the first image (the request may have asked for a random
    one). `request` is the whole request as a JSON-able dict, so a job can be re-run exactly.
    `created_at` of 0 means "now" when the job is recorded; `id` is set on records read back.
    """

    prompt: str
    negative_prompt: str = ""
    model: str = ""
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    seed: int | None = None
    count: int = 1
    init_image: str | None = None
    strength: float | None = None
    request: dict = field(default_factory=dict)
    status: JobStatus = "done"
    message: str = ""
    outputs: tuple[str, ...] = ()
    duration: float | None = None
    created_at: float = 0.0
    favourite: bool = False
    kind: JobKind = "generate"
    id: int | None = None

    def to_request(self) -> Request:
        """The request this entry re-runs (its kind's type); InvalidRequest if it cannot be."""
        try:
            return request_from_dict(self.request, self.kind)
        except InvalidRequest as exc:
            raise InvalidRequest(f"That history entry cannot be loaded: {exc}") from exc


# Column order shared by every SELECT and by `record_from_row`.
COLUMNS = (
    "id",
    "created_at",
    "prompt",
    "negative_prompt",
    "model",
    "width",
    "height",
    "steps",
    "guidance",
    "scheduler",
    "seed",
    "count",
    "init_image",
    "strength",
    "request",
    "status",
    "message",
    "outputs",
    "duration",
    "favourite",
    "kind",
)
SELECT = "SELECT " + ", ".join(f"jobs.{name}" for name in COLUMNS) + " FROM jobs"
INSERT = (
    "INSERT INTO jobs ("
    + ", ".join(COLUMNS[1:])
    + ") VALUES ("
    + ", ".join("?" for _ in COLUMNS[1:])
    + ")"
)
NEWEST_FIRST = "ORDER BY jobs.created_at DESC, jobs.id DESC"


def _optional(kind: type, name: str, value: Any) -> Any:
    """Coerce a numeric setting (numpy scalars included) to int/float, keeping None."""
    if value is None:
        return None
    try:
        return kind(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise HistoryError(
            f"Cannot save the job to history: its {name} {value!r} is not a number."
        ) from exc


def row_from_record(job: JobRecord) -> tuple[Any, ...]:
    """Validate a record and turn it into INSERT parameters (in `COLUMNS[1:]` order)."""
    if job.status not in STATUSES:
        raise HistoryError(
            f"Cannot save a job with status {job.status!r} to history: the status must be one of "
            f"{', '.join(STATUSES)}."
        )
    if job.kind not in JOB_KINDS:
        raise HistoryError(
            f"Cannot save a job of kind {job.kind!r} to history: the kind must be one of "
            f"{', '.join(JOB_KINDS)}."
        )
    if not isinstance(job.prompt, str) or not isinstance(job.negative_prompt, str):
        raise HistoryError("Cannot save the job to history: its prompts must be text.")
    if not isinstance(job.request, dict):
        raise HistoryError("Cannot save the job to history: its settings must be a dictionary.")
    try:
        # default=str: a stray Path or enum in the settings should not cost the user the whole
        # history entry; the text form is still readable and re-usable.
        request = json.dumps(job.request, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError) as exc:
        raise HistoryError(
            f"Cannot save the job to history: its settings cannot be stored ({exc})."
        ) from exc
    outputs: Any = job.outputs
    if isinstance(outputs, (str, os.PathLike)):
        outputs = (outputs,)  # one path given on its own, not a sequence of characters
    outputs_json = json.dumps([os.fspath(path) for path in outputs], ensure_ascii=False)
    return (
        float(job.created_at) if job.created_at else time.time(),
        job.prompt,
        job.negative_prompt,
        str(job.model or ""),
        _optional(int, "width", job.width),
        _optional(int, "height", job.height),
        _optional(int, "steps", job.steps),
        _optional(float, "guidance", job.guidance),
        job.scheduler,
        _optional(int, "seed", job.seed),
        _optional(int, "image count", job.count),
        None if job.init_image is None else os.fspath(job.init_image),
        _optional(float, "strength", job.strength),
        request,
        job.status,
        str(job.message or ""),
        outputs_json,
        _optional(float, "duration", job.duration),
        1 if job.favourite else 0,
        job.kind,
    )


def _load_json(text: Any, expected: type) -> Any:
    # A row edited by hand should not make the whole history unreadable; the raw text stays in
    # the database either way.
    text = _text(text)
    try:
        value = json.loads(text) if text else expected()
    except (ValueError, RecursionError):
        return expected()
    return value if isinstance(value, expected) else expected()


def _text(value: Any, default: str = "") -> str:
    """A column read as text: a BLOB decoded, a number written out, NULL as `default`."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return default if value is None else str(value)


def _maybe(kind: type, value: Any) -> Any:
    """A numeric column as `kind`, or None when it holds something else (text, a BLOB)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = kind(value)
    except (OverflowError, ValueError):
        return None
    return number if kind is int or number == number else None  # nan: None


def record_from_row(row: Sequence[Any]) -> JobRecord:
    """A row as a record; a field that holds something odd (edited by hand, written by another
    program) is read as its default, so one odd row never hides the rest of the history."""
    values = dict(zip(COLUMNS, row, strict=True))
    status = _text(values["status"])
    kind = _text(values["kind"], "generate")
    return JobRecord(
        id=values["id"],
        created_at=_maybe(float, values["created_at"]) or 0.0,
        prompt=_text(values["prompt"]),
        negative_prompt=_text(values["negative_prompt"]),
        model=_text(values["model"]),
        width=_maybe(int, values["width"]),
        height=_maybe(int, values["height"]),
        steps=_maybe(int, values["steps"]),
        guidance=_maybe(float, values["guidance"]),
        scheduler=None if values["scheduler"] is None else _text(values["scheduler"]),
        seed=_maybe(int, values["seed"]),
        count=_maybe(int, values["count"]) or 1,
        init_image=None if values["init_image"] is None else _text(values["init_image"]),
        strength=_maybe(float, values["strength"]),
        request=_load_json(values["request"], dict),
        status=status if status in JOB_STATUSES else "failed",
        message=_text(values["message"]),
        outputs=tuple(_text(path) for path in _load_json(values["outputs"], list)),
        duration=_maybe(float, values["duration"]),
        favourite=bool(_maybe(int, values["favourite"])),
        kind=kind,  # type: ignore[arg-type]
    )
