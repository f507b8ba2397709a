"""Strict conversions for values read from pictures, which come from anyone.

Every reader takes numbers through these, so that ``true`` is never a step count, a 5,000-digit
string never reaches ``int()``, and ``1e999`` never becomes a guidance scale.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# No setting has more digits than this; int() of a 5,000-digit string raises ValueError.
MAX_DIGITS = 64
# Real texts (prompts, names) are a few KB; longer strings are not taken as a field.
MAX_FIELD_CHARS = 100_000

_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def to_int(raw: str) -> int | None:
    raw = raw.strip()
    if len(raw) > MAX_DIGITS or not _INT_RE.fullmatch(raw):
        return None
    return int(raw)


def to_float(raw: str) -> float | None:
    raw = raw.strip()
    if len(raw) > MAX_DIGITS or not _FLOAT_RE.fullmatch(raw):
        return None
    number = float(raw)
    return number if math.isfinite(number) else None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= MAX_FIELD_CHARS else None


def as_int(value: Any) -> int | None:
    # bool is an int subclass, but "true" is never a step count or a seed.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if abs(value) < 10**MAX_DIGITS else None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return to_int(value)
    return None


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an int beyond any float (guidance: 10**400)
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return to_float(value)
    return None


# Real settings are a few KB; text or JSON longer than this is not read (so a dropped picture with
# a pasted novel in a chunk costs no time on the GUI thread).
MAX_TEXT_CHARS = 1_000_000


def load_json_object(text: str | None) -> dict[str, Any] | None:
    """The JSON object in `text`, or None for anything else (not JSON, a list, too long, numbers
    too long, nested too deep)."""
    if text is None or len(text) > MAX_TEXT_CHARS:
        return None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None
