"""Byte counts for people, written one way everywhere (window, command line, notices)."""

from __future__ import annotations

__all__ = ["format_bytes"]


def format_bytes(count: int) -> str:
    """A byte count in decimal units, as file managers show them: "820 KB", "21.2 MB",
    "6.94 GB"."""
    if count < 1000:
        return f"{max(count, 0)} bytes"
    if count < 1000**2:
        return f"{count / 1000:.0f} KB"
    if count < 1000**3:
        value = count / 1000**2
        return f"{value:.1f} MB" if value < 100 else f"{value:.0f} MB"
    return f"{count / 1000**3:.2f} GB"
