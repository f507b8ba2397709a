"""Pick the compute device (CUDA, then Apple MPS, then CPU) and its precision, with the reason.

Override order: the `IMAGESTUDIO_DEVICE` / `IMAGESTUDIO_PRECISION` environment variables, then the
settings file, then automatic choice.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import cast

from imagestudio.core.errors import InvalidRequest
from imagestudio.core.vocabulary import (
    DEVICE_CHOICES,
    PRECISION_CHOICES,
    DeviceType,
    Precision,
)

DEVICE_ENV = "IMAGESTUDIO_DEVICE"
PRECISION_ENV = "IMAGESTUDIO_PRECISION"


@dataclass(frozen=True)
class DeviceInfo:
    """The device a job runs on. Plain data: torch objects are made from it where needed."""

    device_type: DeviceType
    index: int | None
    name: str
    precision: Precision
    reason: str
    total_memory: int | None  # bytes, None when unknown
    free_memory: int | None  # bytes at the time of the query, None when unknown

    @property
    def torch_device(self) -> str:
        return self.device_type if self.index is None else f"{self.device_type}:{self.index}"

    @property
    def bytes_per_value(self) -> int:
        return 4 if self.precision == "fp32" else 2

    def describe(self) -> str:
        memory = ""
        if self.total_memory:
            memory = f", {self.total_memory / 2**30:.1f} GiB"
        return f"{self.device_type.upper()}: {self.name} {self.precision}{memory}"


def torch_dtype(precision: str):
    import torch

    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def _system_memory() -> tuple[int | None, int | None]:
    """(total, available) RAM in bytes, from the OS, without extra dependencies."""
    total = available = None
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    try:  # Linux: MemAvailable counts reclaimable cache, unlike SC_AVPHYS_PAGES
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return total, available


def _normalise(value: str | None, choices: tuple[str, ...], what: str, source: str) -> str:
    value = (value or "auto").strip().lower()
    if value not in choices:
        raise InvalidRequest(
            f"{source} asks for {what} {value!r}; choose one of {', '.join(choices)}."
        )
    return value


def pick_device(device: str | None = None, precision: str | None = None) -> DeviceInfo:
    """Choose the device and precision.

    `device`/`precision` come from the settings ("auto" or None for automatic); the environment
    variables win over them. Asking for a device that is not there is an error, not a fallback:
    an artist who set CUDA should hear that CUDA is missing.
    """
    import torch

    source = "The setting"
    if os.environ.get(DEVICE_ENV):
        device, source = os.environ[DEVICE_ENV], f"{DEVICE_ENV}"
    wanted = _normalise(device, DEVICE_CHOICES, "device", source)
    psource = "The setting"
    if os.environ.get(PRECISION_ENV):
        precision, psource = os.environ[PRECISION_ENV], f"{PRECISION_ENV}"
    wanted_precision = _normalise(precision, PRECISION_CHOICES, "precision", psource)

    cuda_ok = torch.cuda.is_available()
    mps_ok = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()

    if wanted == "cuda" and not cuda_ok:
        raise InvalidRequest(
            f"{source} asks for CUDA, but no CUDA GPU is available to this PyTorch build "
            f"(torch {torch.__version__}). Set the device to auto or cpu, or install a CUDA build."
        )
    if wanted == "mps" and not mps_ok:
        raise InvalidRequest(
            f"{source} asks for Apple MPS, but MPS is not available on this machine. "
            "Set the device to auto or cpu."
        )

    if wanted == "auto":
        device_type = "cuda" if cuda_ok else "mps" if mps_ok else "cpu"
        reason = {
            "cuda": "a CUDA GPU was found",
            "mps": "Apple silicon (MPS) was found",
            "cpu": "no CUDA GPU or Apple MPS was found",
        }[device_type]
    else:
        device_type = wanted
        reason = f"chosen by {source.lower() if source == 'The setting' else source}"

    index: int | None = None
    total: int | None
    if device_type == "cuda":
        index = torch.cuda.current_device()
        name = torch.cuda.get_device_name(index)
        total = int(torch.cuda.get_device_properties(index).total_memory)
    elif device_type == "mps":
        name = "Apple GPU"
        total = _system_memory()[0]
    else:
        import platform

        name = platform.processor() or platform.machine() or "CPU"
        total = _system_memory()[0]

    if wanted_precision == "auto":
        if device_type == "cpu":
            chosen, why = "fp32", "fp32 because half precision is slow and lossy on the CPU"
        else:
            chosen, why = "fp16", f"fp16 because {device_type.upper()} runs half precision fast"
    else:
        chosen = wanted_precision
        why = f"{chosen} chosen by {psource.lower() if psource == 'The setting' else psource}"
        if chosen == "bf16" and device_type == "cuda" and not torch.cuda.is_bf16_supported():
            raise InvalidRequest(
                f"{psource} asks for bf16, but this GPU does not support it. Use fp16 or auto."
            )
    return DeviceInfo(
        device_type=cast(DeviceType, device_type),
        index=index,
        name=name,
        precision=cast(Precision, chosen),
        reason=f"{reason}; {why}",
        total_memory=total,
        free_memory=available_memory(device_type, index),
    )


def available_memory(device_type: str, index: int | None = None) -> int | None:
    """Bytes free for new work on a device right now; None when the platform won't say."""
    import torch

    if device_type == "cuda":
        return int(torch.cuda.mem_get_info(index or 0)[0])
    if device_type == "mps":
        try:
            return int(torch.mps.recommended_max_memory()) - int(
                torch.mps.driver_allocated_memory()
            )
        except (AttributeError, RuntimeError):
            return _system_memory()[1]
    return _system_memory()[1]


def release_memory(device: DeviceInfo) -> None:
    """Give cached allocator memory back after a job or an out-of-memory error."""
    import gc

    import torch

    gc.collect()
    if device.device_type == "cuda":
        torch.cuda.empty_cache()
    elif device.device_type == "mps":
        with contextlib.suppress(AttributeError, RuntimeError):
            torch.mps.empty_cache()


def memory_in_use(device: DeviceInfo) -> str:
    """A short 'used / total' text for the status bar."""
    import torch

    used: int | None = None
    if device.device_type == "cuda":
        used = int(torch.cuda.memory_reserved(device.index or 0))
    elif device.device_type == "mps":
        with contextlib.suppress(AttributeError, RuntimeError):
            used = int(torch.mps.driver_allocated_memory())
    else:
        used = _process_rss()
    if used is None:
        return ""
    total = f" / {device.total_memory / 2**30:.1f} GiB" if device.total_memory else " GiB"
    return f"{used / 2**30:.1f}{total}"


def _process_rss() -> int | None:
    """Resident memory of this process (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
        import sys

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except (ImportError, OSError):
        return None
