"""The callables a job reports through, and the context an engine function runs in.

The engine takes plain callables, not signals (the CLI, the window's worker thread and the tests
drive it the same way): `on_step(step, total, preview)`, `is_cancelled()` and `on_notice(text)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from imagestudio.core.errors import JobCancelled

if TYPE_CHECKING:
    import numpy as np

#: After each step: (step, total, preview). `preview` is a small uint8 RGB array or None.
StepCallback = Callable[[int, int, "np.ndarray | None"], None]
#: Asked before the work and after every step; True stops the job with `JobCancelled`.
CancelCheck = Callable[[], bool]
#: A sentence for the user ("Loading model…", "The prompt was cut…").
NoticeCallback = Callable[[str], None]


@dataclass
class JobContext:
    """What an engine function gets besides its request and workspace.

    Notices are forwarded to `on_notice` and kept in `notices`, which become the job's warnings.
    `previews` says whether the engine should make step previews (they cost a little per step).
    """

    on_step: StepCallback | None = None
    is_cancelled: CancelCheck | None = None
    on_notice: NoticeCallback | None = None
    previews: bool = True
    notices: list[str] = field(default_factory=list)

    def notice(self, text: str) -> None:
        self.notices.append(text)
        if self.on_notice is not None:
            self.on_notice(text)

    def status(self, text: str) -> None:
        """A passing message ("Loading…"): shown, not kept as a warning."""
        if self.on_notice is not None:
            self.on_notice(text)

    def step(self, step: int, total: int, preview: Any = None) -> None:
        if self.on_step is not None:
            self.on_step(step, total, preview)

    def cancelled(self) -> bool:
        return self.is_cancelled is not None and bool(self.is_cancelled())

    def stop_if_cancelled(self, message: str) -> None:
        if self.cancelled():
            raise JobCancelled(message)
