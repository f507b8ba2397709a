"""What the benchmarks share: the median time of a call after a warm-up."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """The median of `repeats` timed calls of `run`, after one untimed call (loads, caches)."""
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return float(np.median(times))
