"""Settings other tools write as JSON in a picture's `parameters` chunk (or EXIF UserComment).

Fooocus (its "fooocus" scheme), SwarmUI (`sui_image_params`) and many Hugging Face Spaces put a
JSON object where A1111 puts text. Their keys differ in spelling more than in meaning
("guidance_scale", "cfgscale", "Guidance Scale"), so one table of spellings reads them all. JSON
that holds no prompt under any known spelling is not settings: it gives None, never a prompt box
full of JSON.

Samplers are kept as the tool named them, with the tool's separate scheduler under
`extra["Schedule type"]`, for `schedulers.sampler_from_metadata` to map.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# Normalised key (lower case, no spaces, '_' or '-') -> our field.
_FIELDS: dict[str, str] = {
    "prompt": "prompt",
    "positiveprompt": "prompt",
    "negativeprompt": "negative_prompt",
    "negative": "negative_prompt",
    "steps": "steps",
    "numinferencesteps": "steps",
    "guidancescale": "cfg_scale",
    "cfgscale": "cfg_scale",
    "cfg": "cfg_scale",
    "seed": "seed",
    "width": "width",
    "height": "height",
    "resolution": "resolution",
    "basemodel": "model",
    "model": "model",
    "modelname": "model",
    "sampler": "sampler",
    "samplername": "sampler",
    "scheduler": "schedule",
}
_RESOLUTION_RE = re.compile(r"\(?\s*(\d{1,6})\s*[,xX×*]\s*(\d{1,6})\s*\)?")
_LORA_RE = re.compile(r"^(?P<name>.+?)\s*:\s*(?P<weight>[+-]?\d+(?:\.\d+)?)$")


def _normalise(key: str) -> str:
    return re.sub(r"[\s_-]+", "", key.lower())


def _settings_object(data: dict[str, Any]) -> dict[str, Any]:
    """The object that holds the settings: SwarmUI nests them under `sui_image_params`."""
    inner = data.get("sui_image_params")
    return inner if isinstance(inner, dict) else data


def _resolution(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        value = f"{value[0]}x{value[1]}"
    if not isinstance(value, str) or len(value) > 40:
        return None
    match = _RESOLUTION_RE.fullmatch(value.strip())
    return (int(match[1]), int(match[2])) if match else None


def _loras(data: dict[str, Any]) -> list[tuple[str, float]]:
    """LoRAs as (name, weight): SwarmUI's parallel lists, Fooocus's "name : weight" entries."""
    found: list[tuple[str, float]] = []
    names, weights = data.get("loras"), data.get("loraweights")
    if isinstance(names, list):
        weights = weights if isinstance(weights, list) else []
        for index, name in enumerate(names[:32]):
            if isinstance(name, str) and name:
                weight = weights[index] if index < len(weights) else 1.0
                try:
                    found.append((name, float(weight)))
                except (TypeError, ValueError, OverflowError):
                    found.append((name, 1.0))
    for key, value in list(data.items())[:500]:
        if _normalise(str(key)).startswith("lora") and isinstance(value, str):
            match = _LORA_RE.match(value.strip())
            if match and match["name"].lower() != "none":
                found.append((match["name"].strip(), float(match["weight"])))
    return found


def _stem(name: str) -> str:
    """A LoRA's name as `<lora:...>` tags use it: the file name without folder or suffix."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"\.(safetensors|ckpt|pt|bin)$", "", name, flags=re.IGNORECASE)


def settings_fields(
    data: dict[str, Any],
    as_int: Callable[[Any], int | None],
    as_float: Callable[[Any], float | None],
) -> dict[str, Any] | None:
    """The ImageSettings fields in another tool's JSON settings, with `source` ("swarmui",
    "fooocus" or "json"), or None when it holds no prompt (then it is not settings at all).
    `as_int`/`as_float` are the reader's own strict converters, so a bool or a 5,000-digit
    string is never taken as a number."""
    settings = _settings_object(data)
    values: dict[str, Any] = {}
    for key, value in list(settings.items())[:2000]:
        field = _FIELDS.get(_normalise(str(key)))
        if field is not None and field not in values:
            values[field] = value
    prompt = values.get("prompt")
    if not isinstance(prompt, str):
        return None
    fields: dict[str, Any] = {"prompt": prompt.strip()}
    negative = values.get("negative_prompt")
    fields["negative_prompt"] = negative.strip() if isinstance(negative, str) else ""
    for name in ("steps", "seed", "width", "height"):
        number = as_int(values.get(name))
        if number is not None:
            fields[name] = number
    cfg = as_float(values.get("cfg_scale"))
    if cfg is not None:
        fields["cfg_scale"] = cfg
    size = _resolution(values.get("resolution"))
    if size is not None and "width" not in fields:
        fields["width"], fields["height"] = size
    for name in ("model", "sampler"):
        if isinstance(values.get(name), str) and values[name].strip():
            fields[name] = values[name].strip()
    extra: dict[str, str] = {}
    if isinstance(values.get("schedule"), str) and values["schedule"].strip():
        extra["Schedule type"] = values["schedule"].strip()
    loras = _loras(settings)
    if loras:
        extra["Lora"] = ", ".join(f"{_stem(name)}:{weight:g}" for name, weight in loras)
    fields["extra"] = extra
    fields["source"] = (
        "swarmui"
        if settings is not data
        else "fooocus"
        if "fooocus" in str(data.get("version", "")).lower()
        else "json"
    )
    return fields
