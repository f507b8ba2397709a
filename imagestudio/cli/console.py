"""Console helpers shared by the commands: one-line messages, a progress bar, Ctrl+C handling."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from imagestudio.core.settings import Settings


def say(text: str) -> None:
    """One line on stderr, prefixed with the program's name (stdout is for results)."""
    print(f"imagestudio: {text}", file=sys.stderr, flush=True)


class ProgressBar:
    """A one-line progress bar on stderr (redrawn in place on a terminal)."""

    def __init__(self, stream: TextIO, width: int = 24, unit: str = "step") -> None:
        self.stream = stream
        self.unit = unit
        self.width = width
        self.tty = stream.isatty()
        self.first_step_at: float | None = None
        self.last_fraction = -1.0

    def update(self, step: int, total: int) -> None:
        now = time.perf_counter()
        if step <= 1 or self.first_step_at is None:
            # Timing starts at the first step so model loading doesn't skew the estimate.
            self.first_step_at = now
        fraction = step / max(total, 1)
        if not self.tty and step != total and fraction - self.last_fraction < 0.25:
            return
        self.last_fraction = fraction
        filled = round(self.width * fraction)
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"{self.unit} {step}/{total} [{bar}]"
        if step > 1:
            per_step = (now - self.first_step_at) / (step - 1)
            left = per_step * (total - step)
            line += f" {per_step:.2f} s/{self.unit}, ~{left:.0f} s left"
        if self.tty:
            self.stream.write("\r" + line)
            if step == total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish_line(self) -> None:
        if self.tty and 0 <= self.last_fraction < 1:
            self.stream.write("\n")
            self.stream.flush()

    def notice(self, text: str) -> None:
        """A message between progress lines."""
        self.finish_line()
        say(text)

    def bytes_callback(self) -> Callable[..., None]:
        """An `on_progress(done, total, ...)` for copies and downloads, shown in MB."""

        def on_progress(done: int, total: int, *_: object) -> None:
            self.update(done // 2**20, max(1, total // 2**20))

        return on_progress


@contextlib.contextmanager
def cancellable(bar: ProgressBar) -> Iterator[threading.Event]:
    """An event set by the first Ctrl+C (the work stops at its next step); a second one quits
    at once. The previous SIGINT handler comes back afterwards."""
    cancel = threading.Event()

    def on_sigint(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        bar.finish_line()
        say(f"cancelling at the next {bar.unit} (press Ctrl+C again to quit at once)")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.finish_line()


def size_text(n: int) -> str:
    """Bytes as the window writes them (decimal units, one formatter for both)."""
    from imagestudio.core.bytesize import format_bytes

    return format_bytes(n)


def load_settings_with_warnings() -> Settings:
    """The settings, each problem with the file said once on stderr."""
    from imagestudio.core.settings import load_settings

    settings = load_settings()
    for problem in settings.problems:
        say(f"warning: {problem}")
    return settings
