"""A1111's prompt attention syntax: which parts of a prompt weigh how much, and where BREAKs are.

Prompts copied from model pages are written for AUTOMATIC1111's web UI (and Forge, and SD.Next,
which read them alike), so we read them the way it does:

- ``(text)`` multiplies the attention to `text` by 1.1, ``((text))`` by 1.21, ``[text]`` divides
  it by 1.1, ``(text:1.3)`` sets the factor to 1.3; brackets nest and their factors multiply;
- ``\\(``, ``\\)``, ``\\[``, ``\\]`` and ``\\\\`` are the characters themselves;
- a bracket opened and never closed weighs everything after it; a closing bracket with nothing
  open, or ``:1.2)`` outside round brackets, is plain text (A1111 never refuses a prompt);
- ``BREAK`` (capitals, a word of its own) ends the current 75-token chunk.

`parse_attention` gives the prompt as (text, weight) runs; the encoder
(core.generation.conditioning) tokenizes each run and weighs its tokens. Plain Python: the CLI,
the window and tests can look at a prompt's weights without torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BREAK", "ROUND_FACTOR", "SQUARE_FACTOR", "WeightedText", "parse_attention", "plain"]

ROUND_FACTOR = 1.1
SQUARE_FACTOR = 1 / 1.1
BREAK = "BREAK"

# One token of the syntax per match, tried in this order: an escape, an opening bracket, an
# explicit weight closing a round bracket, a closing bracket, a run of ordinary text, a colon.
# Every alternative consumes at least one character and none overlaps, so the scan is linear.
_TOKEN = re.compile(
    r"""
    \\[()\[\]\\]                                 # escaped bracket or backslash
    | \\                                         # a lone backslash: itself
    | [(\[]                                      # opening bracket
    | :\s*(?P<weight>[+-]?[.\d]+)\s*\)           # ':1.3)' closes a round bracket with a weight
    | [)\]]                                      # closing bracket
    | [^\\()\[\]:]+                              # ordinary text
    | :                                          # a colon that is not a weight
    """,
    re.VERBOSE,
)
_BREAK = re.compile(r"\s*\bBREAK\b\s*")


@dataclass(frozen=True)
class WeightedText:
    """A run of prompt text with one attention weight; `is_break` marks a BREAK (no text)."""

    text: str
    weight: float = 1.0
    is_break: bool = False


def parse_attention(prompt: str) -> list[WeightedText]:
    """`prompt` as runs of text with their weights, and BREAK markers, in order.

    Neighbouring runs of the same weight are merged. An empty prompt is one empty run of 1.0.
    """
    runs: list[list] = []  # [text, weight, is_break], mutable while brackets close
    round_open: list[int] = []  # index in `runs` where each open bracket started
    square_open: list[int] = []

    def scale(start: int, factor: float) -> None:
        for run in runs[start:]:
            if not run[2]:
                run[1] *= factor

    for match in _TOKEN.finditer(prompt):
        token = match[0]
        weight = match["weight"]
        if token.startswith("\\"):
            runs.append([token[1:] if len(token) == 2 else token, 1.0, False])
        elif token == "(":
            round_open.append(len(runs))
        elif token == "[":
            square_open.append(len(runs))
        elif weight is not None and round_open and _is_number(weight):
            scale(round_open.pop(), float(weight))
        elif token == ")" and round_open:
            scale(round_open.pop(), ROUND_FACTOR)
        elif token == "]" and square_open:
            scale(square_open.pop(), SQUARE_FACTOR)
        else:
            for index, part in enumerate(_BREAK.split(token)):
                if index:
                    runs.append(["", 1.0, True])
                runs.append([part, 1.0, False])
    # Brackets never closed weigh to the end, as if closed there.
    for start in round_open:
        scale(start, ROUND_FACTOR)
    for start in square_open:
        scale(start, SQUARE_FACTOR)

    merged: list[WeightedText] = []
    for text, weight, is_break in runs:
        if is_break:
            merged.append(WeightedText("", 1.0, True))
        elif not text:
            continue
        elif merged and not merged[-1].is_break and merged[-1].weight == weight:
            merged[-1] = WeightedText(merged[-1].text + text, weight)
        else:
            merged.append(WeightedText(text, weight))
    return merged or [WeightedText("", 1.0)]


def plain(prompt: str) -> str:
    """The prompt's text without the syntax (brackets, weights, BREAK): what a person reads."""
    parts = [run.text for run in parse_attention(prompt) if not run.is_break]
    return " ".join(" ".join(parts).split())


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
