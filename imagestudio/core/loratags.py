"""A1111's `<lora:name:weight>` prompt tags, the way LoRAs travel in pictures and prompts.

A1111, Forge and Civitai write a LoRA as a tag in the prompt text (``<lora:ink-wash:0.8>``, also
``<lyco:...>`` from the LyCORIS extension, and ``<lora:name:te:unet>`` with separate text-encoder
and UNet weights). Readers other than ours know a picture's LoRAs only from these tags, so we
write them; when we read them, they leave the prompt and become LoRA entries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["MAX_TAGS", "lora_name", "split_lora_tags", "with_lora_tags"]

# No prompt uses more; a pasted wall of tags is not read past this many (the rest stay as text).
MAX_TAGS = 32
# name: anything up to a ':' or '>' (no newline); weights: plain decimals. Cannot backtrack far:
# each part stops at a fixed character.
_TAG_RE = re.compile(
    r"<(?:lora|lyco):([^:<>\n]{1,200})(?::\s*([+-]?(?:\d{1,6}(?:\.\d{0,6})?|\.\d{1,6})))?"
    r"(?::[^<>\n]{0,40})?>",
    re.IGNORECASE,
)
_SUFFIX_RE = re.compile(r"\.(safetensors|ckpt|pt|pth|bin)$", re.IGNORECASE)


def lora_name(name: str) -> str:
    """A LoRA as a tag names it: the file name without folder or suffix."""
    name = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return _SUFFIX_RE.sub("", name.strip())


def split_lora_tags(text: str) -> tuple[str, list[tuple[str, float]]]:
    """`text` without its LoRA tags, and the tags as (name, weight) in order.

    A tag without a weight is 1.0; with two weights (text encoder, UNet) the first is taken, as
    our LoRAs have one weight. A name given twice keeps its first weight. The text is tidied
    where a tag stood (no doubled commas or spaces left behind).
    """
    found: list[tuple[str, float]] = []
    names: set[str] = set()

    def take(match: re.Match[str]) -> str:
        if len(found) >= MAX_TAGS:
            return match[0]
        name = match[1].strip()
        weight = float(match[2]) if match[2] else 1.0
        if name and name.lower() not in names:
            names.add(name.lower())
            found.append((name, weight))
        return ""

    stripped = _TAG_RE.sub(take, text)
    if not found:
        return text, []
    return _tidy(stripped), found


def _tidy(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        line = re.sub(r"[ \t]*,(?:[ \t]*,)+", ",", line)  # ", ," left between two tags
        line = re.sub(r"[ \t]{2,}", " ", line)
        lines.append(line.strip(", \t"))
    return "\n".join(lines).strip()


def with_lora_tags(text: str, loras: Sequence[tuple[str, float]]) -> str:
    """`text` with a tag per LoRA appended, as A1111 writes them (``<lora:name:0.8>``)."""
    if not loras:
        return text
    tags = " ".join(f"<lora:{lora_name(name)}:{weight:g}>" for name, weight in loras)
    return f"{text} {tags}" if text else tags
