"""Generation settings stored in image files.

We write two PNG text chunks:

* ``parameters`` in the AUTOMATIC1111 1.9+ text format, the de-facto standard that Civitai,
  PNG-info readers and sd-parsers understand, so our images carry their settings into other
  tools: the sampler with its ``Schedule type``, LoRAs as ``<lora:name:w>`` tags in the prompt,
  ``Model hash`` and ``Lora hashes``;
* ``imagestudio``, the whole request as JSON, so that we can restore a request exactly.

Reading takes our own chunk, A1111 text (PNG chunk, or the EXIF UserComment A1111 uses for
JPEG/WebP), ComfyUI's graphs (`comfyui`), InvokeAI's ``invokeai_metadata`` and the formats in
`foreign` (Fooocus, SwarmUI, Hugging Face Spaces, NovelAI, InvokeAI 1.x/2.x, TensorArt,
Stability Matrix, Easy Diffusion, Draw Things), so that a picture made elsewhere can be made
again here. Reading is linear in the input, bounded in size, and never raises anything but
ImageError.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from imagestudio.core.errors import ImageError
from imagestudio.core.loratags import split_lora_tags, with_lora_tags
from imagestudio.core.outputs import chunks as carried
from imagestudio.core.outputs import comfyui, foreign
from imagestudio.core.outputs.values import MAX_TEXT_CHARS
from imagestudio.core.outputs.values import as_float as _as_float
from imagestudio.core.outputs.values import as_int as _as_int
from imagestudio.core.outputs.values import as_str as _as_str
from imagestudio.core.outputs.values import load_json_object as _load_json_object
from imagestudio.core.outputs.values import to_float as _to_float
from imagestudio.core.outputs.values import to_int as _to_int
from imagestudio.core.schedulers import sampler_from_metadata
from imagestudio.core.upscalernames import upscaler_from_a1111

__all__ = [
    "ImageSettings",
    "add_text_chunk",
    "format_parameters",
    "parse_parameters",
    "png_text_chunks",
    "read_settings",
]

PARAMETERS_KEY = carried.PARAMETERS_KEY
IMAGESTUDIO_KEY = carried.IMAGESTUDIO_KEY
INVOKEAI_KEY = carried.INVOKEAI_KEY
# A style job's readable settings line: not "parameters", where readers look for a prompt.
STYLE_TEXT_KEY = "imagestudio-style"


_NEGATIVE_PREFIX = "Negative prompt:"

# A1111 key names for the typed fields, in the order A1111 writes them.
_KEY_STEPS = "Steps"
_KEY_SAMPLER = "Sampler"
_KEY_CFG = "CFG scale"
_KEY_SEED = "Seed"
_KEY_SIZE = "Size"
_KEY_MODEL = "Model"
_KEY_STRENGTH = "Denoising strength"
_KNOWN_KEYS = {
    k.lower(): k
    for k in (_KEY_STEPS, _KEY_SAMPLER, _KEY_CFG, _KEY_SEED, _KEY_SIZE, _KEY_MODEL, _KEY_STRENGTH)
}

# A "Key: value" pair of a settings line: a key starts with a word character and stops at the
# first colon; keys never hold ',' or '"' in A1111 output, which keeps prose from matching. A
# JSON-quoted value counts as quoted only when a comma or the end of the line follows it;
# otherwise its quotes are part of an unquoted value.
_PAIR_RE = re.compile(r'\s*(\w[^,:"]*):[ \t]*(?:("(?:\\.|[^\\"])*")\s*(?:,|\Z)|([^,]*)(?:,|\Z))')
# A run of segments, each up to its comma, none of which starts with a key.
# A1111 writes a few dozen pairs on its settings line; a line with more is not read past this
# many, and only the last lines of a text can be its settings line (extensions append a few).
_MAX_PAIRS = 1000
_SETTINGS_LINE_WITHIN = 64
# A value that is JSON without quotes is read from at most this many characters.
_MAX_JSON_VALUE = 65_536
_DECODER = json.JSONDecoder()
_AFTER_VALUE_RE = re.compile(r"[ \t]*(?:,|\Z)")
_JUNK_RE = re.compile(r'(?:[ \t,]+|(?!\s*\w[^,:"]*:)[^,]*(?:,|\Z))+')

_SIZE_RE = re.compile(r"(\d+)\s*[xX×]\s*(\d+)")


@dataclass(frozen=True)
class ImageSettings:
    """The generation settings an image carries, whichever tool wrote them.

    `extra` holds every other A1111 "Key: value" pair verbatim (also known keys whose value could
    not be understood, e.g. ``Steps: abc``), so nothing read is lost when written back.
    `source` says which metadata the settings came from: "imagestudio", "a1111", "invokeai",
    "comfyui", "novelai", "tensorart", "stabilitymatrix", or, for JSON other tools put where
    A1111 puts text, "fooocus", "swarmui" or "json".
    `denoising_strength` is an image-to-image job's; a hires pass's strength stays in `extra`.
    `request` is the decoded ``imagestudio`` JSON chunk when the image has one.
    """

    prompt: str
    negative_prompt: str = ""
    steps: int | None = None
    sampler: str | None = None
    cfg_scale: float | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    model: str | None = None
    denoising_strength: float | None = None
    extra: dict[str, str] = field(default_factory=dict)
    source: str = "a1111"
    request: dict[str, Any] | None = None
    # (name, weight): from `<lora:name:w>` tags (taken out of the prompt), JSON or graph nodes
    loras: tuple[tuple[str, float], ...] = ()

    def schedule(self) -> str:
        """The tool's separate schedule ("Karras"), or "" when it wrote none."""
        return next((v for k, v in self.extra.items() if k.lower() == "schedule type"), "")

    def scheduler(self) -> str | None:
        """Our scheduler for the picture's sampler and schedule, or None when we have none like
        it (see `schedulers.sampler_from_metadata`)."""
        return sampler_from_metadata(self.sampler, self.extra)

    def sampler_note(self) -> str | None:
        """A sentence for the user when the picture names a sampler we cannot run, else None."""
        if not self.sampler or self.scheduler() is not None:
            return None
        schedule = self.schedule()
        named = f"{self.sampler} ({schedule})" if schedule else self.sampler
        return (
            f"The picture's sampler, {named}, has no match here: the model's default sampler "
            "is used instead, so the picture will come out differently."
        )

    def request_values(self) -> dict[str, Any]:
        """These settings under a generation request's keys (as `to_dict()` names them), for
        a form to take what it can use. Only our own JSON names a model: other tools' model
        names mean nothing here. The sampler is left out: see `sampler_from_metadata`. The
        strength is given only for an image-to-image job."""
        values: dict[str, Any] = {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "steps": self.steps,
            "guidance": self.cfg_scale,
            "seed": self.seed,
        }
        if self.width is not None and self.height is not None:
            values["width"], values["height"] = self.width, self.height
        if isinstance(self.request, dict) and isinstance(self.request.get("model"), str):
            values["model"] = self.request["model"]
        if self.denoising_strength is not None and 0 < self.denoising_strength <= 1:
            values["strength"] = self.denoising_strength
        if self.loras:
            values["loras"] = [list(lora) for lora in self.loras]
        for key, name, read in (
            ("clip_skip", "Clip skip", _to_int),
            ("variation_seed", "Variation seed", _to_int),
            ("variation_strength", "Variation seed strength", _to_float),
        ):
            raw = self.extra.get(name)
            number = read(raw) if isinstance(raw, str) else None
            if number is not None:
                values[key] = number
        vae = self.extra.get("VAE")
        if isinstance(vae, str) and vae.strip() and len(vae) <= 200:
            values["vae"] = vae.strip()  # a file name: the form finds it in its library
        values |= self._hires_values()
        return {key: value for key, value in values.items() if value is not None}

    def _hires_values(self) -> dict[str, Any]:
        """A1111's hires fix keys as our request's: ``Hires upscale`` (or ``Hires resize``
        against the size), ``Hires steps`` (0: as many as the first pass), ``Hires upscaler``
        (A1111's names read as ours) and the second pass's ``Denoising strength``."""
        extra = {key.lower(): value for key, value in self.extra.items()}
        scale = _to_float(extra.get("hires upscale", ""))
        resize = _SIZE_RE.fullmatch(extra.get("hires resize", "").strip())
        if scale is None and resize and self.width:
            scale = int(resize[1]) / self.width
        if scale is None or not math.isfinite(scale) or scale <= 1:
            return {}
        values: dict[str, Any] = {"hires_scale": round(scale, 4)}
        steps = _to_int(extra.get("hires steps", ""))
        if steps:
            values["hires_steps"] = steps
        upscaler = extra.get("hires upscaler", "").strip()
        if upscaler and len(upscaler) <= 200:
            values["hires_upscaler"] = upscaler_from_a1111(upscaler)
        denoise = _to_float(extra.get("denoising strength", ""))
        if denoise is not None and 0 < denoise <= 1:
            values["hires_denoise"] = denoise
        return values


# --------------------------------------------------------------------------------------------
# A1111 text format


def _quote(value: str) -> str:
    """Quote a value the way A1111 does, so that commas and colons don't split the line."""
    if any(c in value for c in ',:"\n\r') or value != value.strip():
        return json.dumps(value, ensure_ascii=False)
    return value


def _format_cfg(value: float) -> str:
    # A1111 writes "7" for an integral scale; "7.0" would be noise that other readers keep.
    number = float(value)
    if number.is_integer():
        return str(int(number))
    return repr(number)


def format_parameters(settings: ImageSettings) -> str:
    """Render settings as A1111 ``parameters`` text.

    The prompt comes first, then a ``Negative prompt:`` line when there is one, then a settings
    line such as ``Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1, Size: 512x512, Model: x``.
    LoRAs are written as A1111's ``<lora:name:weight>`` tags at the end of the prompt.
    Keys whose value is None are left out (Size needs both width and height); `extra` pairs follow
    the known keys, except those a typed field already wrote. Values holding ',', ':', '"' or a
    newline are JSON-quoted, as A1111 does.
    """
    pairs: list[tuple[str, str]] = []
    if settings.steps is not None:
        pairs.append((_KEY_STEPS, str(int(settings.steps))))
    if settings.sampler is not None:
        pairs.append((_KEY_SAMPLER, settings.sampler))
    if settings.cfg_scale is not None:
        pairs.append((_KEY_CFG, _format_cfg(settings.cfg_scale)))
    if settings.seed is not None:
        pairs.append((_KEY_SEED, str(int(settings.seed))))
    if settings.width is not None and settings.height is not None:
        pairs.append((_KEY_SIZE, f"{int(settings.width)}x{int(settings.height)}"))
    if settings.model is not None:
        pairs.append((_KEY_MODEL, settings.model))
    if settings.denoising_strength is not None:
        pairs.append((_KEY_STRENGTH, str(settings.denoising_strength)))
    written = {key.lower() for key, _ in pairs}
    for key, value in settings.extra.items():
        # A typed field wins over a leftover extra of the same name (e.g. an unparsed "Steps").
        if key.lower() not in written:
            pairs.append((key, str(value)))

    lines = [with_lora_tags(settings.prompt, settings.loras)]
    if settings.negative_prompt:
        lines.append(f"{_NEGATIVE_PREFIX} {settings.negative_prompt}")
    if pairs:
        lines.append(", ".join(f"{key}: {_quote(value)}" for key, value in pairs))
    return "\n".join(lines)


def _split_pairs(line: str) -> list[tuple[str, str]] | None:
    """The "Key: value" pairs of a settings line, or None when the line doesn't start with one.

    Segments without a key are skipped rather than rejecting the line: extensions sometimes
    write odd fragments, and losing the whole settings line to one of them would be worse.

    Linear in the line's length, whatever it holds: one match per pair, one per run of junk
    segments, and patterns that cannot backtrack more than one segment (a pasted megabyte of
    spaces or commas once took minutes).
    """
    pairs: list[tuple[str, str]] = []
    pos, end = 0, len(line)
    while pos < end and len(pairs) < _MAX_PAIRS:
        pair = _PAIR_RE.match(line, pos)
        if pair is not None:
            key, quoted, plain = pair.group(1, 2, 3)
            json_value = _json_value(line, pair.start(3)) if plain is not None else None
            if json_value is not None:
                value, pos = json_value
                pairs.append((key.rstrip(), value))
                continue
            pairs.append((key.rstrip(), _unquote(quoted) if quoted else plain.strip()))
            pos = pair.end()
            continue
        if not pairs:
            return None  # the line does not start with a key: prose, not settings
        junk = _JUNK_RE.match(line, pos)
        if junk is None or junk.end() == pos:
            break  # only blanks are left
        pos = junk.end()
    return pairs or None


def _json_value(line: str, start: int) -> tuple[str, int] | None:
    """A JSON list or object written as a value without quotes (Civitai writes ``Civitai
    resources: [{"type": "lora", ...}, ...]``, whose commas are not pair separators): its text,
    and where the next pair starts. Read from a bounded window, so a line of many such values
    that never close stays linear."""
    while start < len(line) and line[start] in " \t":
        start += 1
    if start >= len(line) or line[start] not in "[{":
        return None
    window = line[start : start + _MAX_JSON_VALUE]
    try:
        _, end = _DECODER.raw_decode(window)
    except (ValueError, RecursionError):
        return None
    after = _AFTER_VALUE_RE.match(line, start + end)
    if after is None:
        return None
    return window[:end], after.end()


def _unquote(raw: str) -> str:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return raw[1:-1]
    return value if isinstance(value, str) else raw[1:-1]


def _find_settings_line(lines: list[str]) -> tuple[int, list[tuple[str, str]]] | None:
    for index in range(len(lines) - 1, max(-1, len(lines) - 1 - _SETTINGS_LINE_WITHIN), -1):
        pairs = _split_pairs(lines[index])
        if pairs and any(key.lower() == "steps" for key, _ in pairs):
            return index, pairs
    return None


def _parse(text: str) -> tuple[ImageSettings, bool]:
    """Parse A1111 text; the flag says whether a settings line was found."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found = _find_settings_line(lines)
    if found is None:
        prompt_lines, trailing = lines, []
        pairs: list[tuple[str, str]] = []
    else:
        index, pairs = found
        prompt_lines, trailing = lines[:index], lines[index + 1 :]
        # Lines after the settings line are rare (some extensions append "Key: value" lines);
        # their pairs are kept, prose there has no field to go to.
        for line in trailing:
            pairs.extend(_split_pairs(line) or [])

    negative_at = next(
        (i for i, line in enumerate(prompt_lines) if line.startswith(_NEGATIVE_PREFIX)), None
    )
    if negative_at is None:
        prompt = "\n".join(prompt_lines).strip()
        negative = ""
    else:
        prompt = "\n".join(prompt_lines[:negative_at]).strip()
        first = prompt_lines[negative_at][len(_NEGATIVE_PREFIX) :]
        negative = "\n".join([first, *prompt_lines[negative_at + 1 :]]).strip()

    prompt, loras = split_lora_tags(prompt)
    # A hires fix's second pass writes its strength as "Denoising strength" too: it is not an
    # image-to-image job's, so it stays in `extra` (and is written back as it was).
    hires = any(key.lower().startswith("hires") for key, _ in pairs)
    fields: dict[str, Any] = {"loras": tuple(loras)}
    extra: dict[str, str] = {}
    for key, value in pairs:
        known = _KNOWN_KEYS.get(key.lower())
        parsed: dict[str, Any] | None = None
        if known == _KEY_STEPS:
            number = _to_int(value)
            parsed = None if number is None else {"steps": number}
        elif known == _KEY_SAMPLER:
            parsed = {"sampler": value}
        elif known == _KEY_CFG:
            cfg = _to_float(value)
            parsed = None if cfg is None else {"cfg_scale": cfg}
        elif known == _KEY_SEED:
            number = _to_int(value)
            parsed = None if number is None else {"seed": number}
        elif known == _KEY_SIZE:
            size = _SIZE_RE.fullmatch(value.strip())
            parsed = None if size is None else {"width": int(size[1]), "height": int(size[2])}
        elif known == _KEY_MODEL:
            parsed = {"model": value}
        elif known == _KEY_STRENGTH and not hires:
            strength = _to_float(value)
            parsed = None if strength is None else {"denoising_strength": strength}
        if parsed is None:
            # Unknown keys, and known ones whose value we can't use, are kept verbatim.
            extra[key] = value
        else:
            fields.update(parsed)
    checkpoint, listed = _civitai_resources(extra.get("Civitai resources"))
    if checkpoint and "model" not in fields:
        fields["model"] = checkpoint
    if listed and not fields["loras"]:
        fields["loras"] = listed
    settings = ImageSettings(
        prompt=prompt, negative_prompt=negative, extra=extra, source="a1111", **fields
    )
    return settings, found is not None


def _civitai_resources(text: str | None) -> tuple[str | None, tuple[tuple[str, float], ...]]:
    """The checkpoint and LoRAs of Civitai's ``Civitai resources`` list: its generator names
    them there only (no Model key, no LoRA tags in the prompt)."""
    data = _load_json_object('{"v": ' + text + "}") if text and text.startswith("[") else None
    checkpoint: str | None = None
    loras: list[tuple[str, float]] = []
    for entry in data["v"][:64] if data and isinstance(data.get("v"), list) else []:
        if not isinstance(entry, dict):
            continue
        kind, name = str(entry.get("type", "")).lower(), _as_str(entry.get("modelName"))
        if not name or not name.strip():
            continue
        if kind == "checkpoint" and checkpoint is None:
            checkpoint = name.strip()
        elif kind in ("lora", "locon", "lycoris"):
            weight = _as_float(entry.get("weight"))
            loras.append((name.strip(), 1.0 if weight is None else weight))
    return checkpoint, tuple(loras)


def parse_parameters(text: str) -> ImageSettings:
    """Parse A1111 ``parameters`` text into settings (source "a1111"). Never raises.

    The last line made of "Key: value" pairs that include ``Steps`` is the settings line; the
    lines before it are the prompt, split at the first line starting with ``Negative prompt:``
    (both parts may span several lines and are stripped of surrounding whitespace). Quoted
    values are unquoted as JSON. Steps, Sampler, CFG scale, Seed, Size (WxH), Model and
    Denoising strength fill the typed fields; other keys, and known keys with unusable values
    such as ``Steps: abc``, go to `extra`. ``<lora:name:w>`` tags leave the prompt for `loras`;
    a hires pass's ``Denoising strength`` stays in `extra`. Text without a settings line gives
    prompt (and negative prompt) only.
    """
    return _parse(text)[0]


# --------------------------------------------------------------------------------------------
# Writing PNG chunks


def add_text_chunk(info: PngInfo, key: str, value: str) -> None:
    """Add one text chunk: tEXt when the value is latin-1, else iTXt (UTF-8)."""
    # tEXt is latin-1 only; iTXt carries UTF-8 so emoji and CJK prompts survive the round trip.
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        info.add_itxt(key, value)
    else:
        info.add_text(key, value)


def png_text_chunks(
    settings: ImageSettings | str,
    request_json: dict[str, Any] | None,
    text_key: str = PARAMETERS_KEY,
    extra: dict[str, str] | None = None,
) -> PngInfo:
    """PNG text chunks for `settings`: pass the result as ``pnginfo=`` to ``Image.save``.

    Always holds ``parameters`` (A1111 text: `settings` formatted by `format_parameters`, or
    `settings` itself when it is already text; under `text_key` instead when given, for jobs
    whose text no reader should take as a generation prompt); holds ``imagestudio``
    (the request as sorted JSON) when `request_json` is given, and the `extra` chunks (other
    tools' own, such as ComfyUI's graph). Values that are not latin-1 go in iTXt chunks. Values
    json can't encode (paths, enums) are written as their ``str()``.
    """
    info = PngInfo()
    text = settings if isinstance(settings, str) else format_parameters(settings)
    add_text_chunk(info, text_key, text)
    if request_json is not None:
        # default=str: a stray Path or enum in the request shouldn't stop the image being saved.
        data = json.dumps(request_json, sort_keys=True, ensure_ascii=False, default=str)
        add_text_chunk(info, IMAGESTUDIO_KEY, data)
    for key, value in (extra or {}).items():
        add_text_chunk(info, key, value)
    return info


# --------------------------------------------------------------------------------------------
# Reading


def _model_name(value: Any) -> str | None:
    # InvokeAI stores the model as an object; its name key changed between versions.
    if isinstance(value, dict):
        for key in ("name", "model_name"):
            if isinstance(value.get(key), str):
                return value[key]
        return None
    return _as_str(value)


def _loras_of(value: Any) -> tuple[tuple[str, float], ...]:
    """Our JSON's LoRAs ([name, weight] pairs); entries of any other shape are skipped."""
    found: list[tuple[str, float]] = []
    for item in value[:32] if isinstance(value, list) else []:
        if isinstance(item, list | tuple) and len(item) == 2:
            name, weight = _as_str(item[0]), _as_float(item[1])
            if name and weight is not None:
                found.append((name, weight))
    return tuple(found)


def _from_imagestudio(data: dict[str, Any], parameters: str | None) -> ImageSettings:
    img2img = bool(data.get("init_image"))
    ours: dict[str, Any] = {
        "negative_prompt": _as_str(data.get("negative_prompt")),
        "steps": _as_int(data.get("steps")),
        "sampler": _as_str(data.get("scheduler")),
        "cfg_scale": _as_float(data.get("guidance")),
        "seed": _as_int(data.get("seed")),
        "width": _as_int(data.get("width")),
        "height": _as_int(data.get("height")),
        "model": _model_name(data.get("model")),
        # every request holds a strength; it means something only when there is a start image
        "denoising_strength": _as_float(data.get("strength")) if img2img else None,
    }
    prompt = _as_str(data.get("prompt"))
    loras = _loras_of(data.get("loras"))
    extra: dict[str, str] = {}
    if parameters is not None:
        # The JSON is authoritative; the A1111 text only fills what the JSON lacks.
        fallback = parse_parameters(parameters)
        if prompt is None:
            prompt = fallback.prompt
        for name, value in ours.items():
            if value is None and (name != "denoising_strength" or "strength" not in data):
                ours[name] = getattr(fallback, name)
        if "loras" not in data:
            loras = fallback.loras
        # (a hires fix's Denoising strength is among the extra, not a typed field: kept)
        extra = {
            k: v
            for k, v in fallback.extra.items()
            if k.lower() not in _KNOWN_KEYS or k.lower() == "denoising strength"
        }
    if ours["negative_prompt"] is None:
        ours["negative_prompt"] = ""
    return ImageSettings(
        prompt=prompt or "", extra=extra, source="imagestudio", request=data, loras=loras, **ours
    )


def _foreign_settings(fields: dict[str, Any]) -> ImageSettings:
    """Settings from another tool's fields. `<lora:name:w>` tags leave the prompt here, whatever
    the format (SwarmUI, Stability Matrix and ComfyUI tag nodes keep them in the text), and join
    the LoRAs the format lists on its own."""
    prompt, tagged = split_lora_tags(fields.get("prompt", ""))
    loras = list(fields.get("loras", ()))
    names = {name.casefold() for name, _ in loras}
    loras += [(name, weight) for name, weight in tagged if name.casefold() not in names]
    return ImageSettings(**(fields | {"prompt": prompt, "loras": tuple(loras)}))


def _from_text(text: str) -> ImageSettings | None:
    """Settings in a `parameters` chunk or UserComment: A1111 text with its settings line, or
    another tool's JSON (NovelAI's chunks as one object, in WebP and JPEG). Anything else (prose,
    JSON without a prompt) is no settings: a prompt box full of JSON would be worse than
    nothing."""
    if text.lstrip().startswith("{"):
        data = _load_json_object(text)
        if data is None:
            return None
        fields = foreign.novelai_fields(data) if "Comment" in data else None
        fields = fields or (foreign.drawthings_fields(data) if "c" in data else None)
        fields = fields or foreign.settings_fields(data)
        return None if fields is None else _foreign_settings(fields)
    settings, has_settings_line = _parse(text)
    return settings if has_settings_line else None


def _invokeai_loras(value: Any) -> tuple[tuple[str, float], ...]:
    found: list[tuple[str, float]] = []
    for item in value[:32] if isinstance(value, list) else []:
        if isinstance(item, dict):
            name = _model_name(item.get("model", item.get("lora")))
            weight = _as_float(item.get("weight"))
            if name:
                found.append((name, 1.0 if weight is None else weight))
    return tuple(found)


def _from_invokeai(data: dict[str, Any]) -> ImageSettings:
    mode = str(data.get("generation_mode", ""))
    return ImageSettings(
        prompt=_as_str(data.get("positive_prompt")) or "",
        negative_prompt=_as_str(data.get("negative_prompt")) or "",
        steps=_as_int(data.get("steps")),
        sampler=_as_str(data.get("scheduler")),
        cfg_scale=_as_float(data.get("cfg_scale")),
        seed=_as_int(data.get("seed")),
        width=_as_int(data.get("width")),
        height=_as_int(data.get("height")),
        model=_model_name(data.get("model")),
        # a text-to-image job's metadata may still hold a strength: only img2img means it
        denoising_strength=_as_float(data.get("strength")) if "img2img" in mode else None,
        loras=_invokeai_loras(data.get("loras")),
        source="invokeai",
    )


def _filled(first: dict[str, Any], second: dict[str, Any] | None) -> dict[str, Any]:
    """`first`'s fields, with those it lacks (or left empty) taken from `second`."""
    if second is None:
        return first
    merged = dict(first)
    for name, value in second.items():
        if merged.get(name) in (None, "", ()):
            merged[name] = value
    merged["extra"] = second.get("extra", {}) | first.get("extra", {})
    return merged


def _graph_fields(chunks: dict[str, Any], image: Image.Image) -> dict[str, Any] | None:
    prompt, workflow = carried.json_chunk(chunks, "prompt"), carried.json_chunk(chunks, "workflow")
    if prompt is None and workflow is None:
        return None
    return comfyui.settings_fields(prompt, workflow, image.size)


def _xmp_settings(chunks: dict[str, Any]) -> ImageSettings | None:
    """Settings in an XMP packet (PNG iTXt ``XML:com.adobe.xmp``, JPEG/WebP ``xmp``): Draw
    Things' JSON in ``exif:UserComment``, or A1111 text there or in ``dc:description``."""
    raw = chunks.get("XML:com.adobe.xmp", chunks.get("xmp"))
    xmp = carried.text_chunk({"xmp": raw}, "xmp") if raw is not None else None
    if xmp is None:
        return None
    comment, description = foreign.xmp_texts(xmp)
    for text in (comment, description):
        settings = _from_text(text) if text else None
        if settings is not None:
            return settings
    return None


def _settings_of(image: Image.Image) -> ImageSettings | None:
    chunks = carried.text_chunks(image)
    if image.format != "PNG" and "prompt" not in chunks and "workflow" not in chunks:
        chunks |= carried.exif_graphs(image)
    parameters = carried.text_chunk(chunks, PARAMETERS_KEY)
    if parameters is not None and not parameters.strip():
        parameters = None

    ours = _load_json_object(carried.text_chunk(chunks, IMAGESTUDIO_KEY))
    if ours is not None:
        return _from_imagestudio(ours, parameters)

    # Stability Matrix writes its settings as JSON beside an A1111 text of them.
    exact = _load_json_object(carried.text_chunk(chunks, "parameters-json"))
    if exact is not None:
        fields = foreign.settings_fields(exact, source="stabilitymatrix")
        if fields is not None:
            text = _from_text(parameters) if parameters is not None else None
            fields["loras"] = fields["loras"] or (text.loras if text else ())
            return _foreign_settings(fields)

    if parameters is not None:
        return _from_text(parameters)

    fields = foreign.novelai_fields(chunks) if "Comment" in chunks else None
    if fields is None and "generation_data" in chunks:
        data = _load_json_object(carried.text_chunk(chunks, "generation_data"))
        tensorart = None if data is None else foreign.tensorart_fields(data)
        if tensorart is not None:
            # TensorArt also keeps its ComfyUI graph, which knows the sampler it often omits.
            fields = _filled(tensorart, _graph_fields(chunks, image))
    fields = fields or _graph_fields(chunks, image)
    if fields is None and "sd-metadata" in chunks:
        data = _load_json_object(carried.text_chunk(chunks, "sd-metadata"))
        fields = None if data is None else foreign.sd_metadata_fields(data)
    if fields is None and "Dream" in chunks:
        dream = carried.text_chunk(chunks, "Dream")
        fields = None if dream is None else foreign.dream_fields(dream)
    if fields is None and ("prompt" in chunks or "Prompt" in chunks):
        texts = {key: carried.text_chunk(chunks, key) for key in list(chunks)[:200]}
        fields = foreign.easydiffusion_fields(
            {key: text for key, text in texts.items() if text is not None}
        )
    if fields is not None:
        return _foreign_settings(fields)

    xmp = _xmp_settings(chunks)
    if xmp is not None:
        return xmp

    # A UserComment or a JPEG comment is a general-purpose field (cameras and photo apps write
    # notes there), so it only counts as settings in a known format.
    for comment in (carried.exif_user_comment(image), carried.text_chunk(chunks, "comment")):
        if comment is not None and len(comment) <= MAX_TEXT_CHARS and comment.strip():
            settings = _from_text(comment)
            if settings is not None:
                return settings

    invoke = _load_json_object(carried.text_chunk(chunks, INVOKEAI_KEY))
    if invoke is not None:
        return _from_invokeai(invoke)
    return None


def _guarded_settings_of(image: Image.Image) -> ImageSettings | None:
    """`_settings_of`, with a last guard: metadata that still trips a parser (a case the checks
    above did not foresee) counts as no settings, never as a crash of the caller."""
    try:
        return _settings_of(image)
    except (ValueError, TypeError, OverflowError, RecursionError, MemoryError, KeyError):
        logging.getLogger(__name__).warning("unreadable settings in an image", exc_info=True)
        return None


def read_settings(source: str | os.PathLike[str] | Image.Image) -> ImageSettings | None:
    """Read the generation settings an image carries, from a file path or an open PIL image.

    Tries, in order: our ``imagestudio`` JSON chunk (the ``parameters`` chunk, if present,
    fills only what the JSON lacks); Stability Matrix's ``parameters-json``; the ``parameters``
    chunk (A1111 text with its settings line, or Fooocus/SwarmUI/Space JSON); NovelAI's
    ``Comment``; TensorArt's ``generation_data``; ComfyUI's ``prompt``/``workflow`` graphs;
    InvokeAI 2.x ``sd-metadata`` and 1.x ``Dream``; Easy Diffusion's chunk per setting; an XMP
    packet (Draw Things); the EXIF UserComment of JPEG/WebP and the JPEG comment (A1111 text,
    SwarmUI, Easy Diffusion or Draw Things JSON, NovelAI's chunks); InvokeAI 3+'s
    ``invokeai_metadata``. ComfyUI's graphs are also read from a WebP's or JPEG's EXIF tags.
    Returns None when the image carries none of them: text in no known format is not taken as
    a prompt. Malformed metadata is skipped, never raised.

    Raises ImageError when the file is missing or is not an image that can be read.
    """
    if isinstance(source, Image.Image):
        return _guarded_settings_of(source)

    path = Path(source)
    where = f"Cannot read settings from '{os.fspath(source)}'"
    if not path.exists():
        raise ImageError(f"{where}: the file does not exist.")
    if path.is_dir():
        raise ImageError(f"{where}: it is a folder, not an image file.")
    if not path.is_file():
        # a FIFO or a device would block the reader (the window's thread) or never end
        raise ImageError(f"{where}: it is not a regular file; choose a PNG, JPEG or WebP.")
    try:
        with Image.open(path) as image:
            return _guarded_settings_of(image)
    except UnidentifiedImageError as exc:
        raise ImageError(f"{where}: the file is not an image this app can read.") from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{where}: the image is too large to open safely.") from exc
    except PermissionError as exc:
        raise ImageError(f"{where}: permission to read the file was denied.") from exc
    except ValueError as exc:  # Pillow: text chunks over 1 MB, or over 64 MB in all
        raise ImageError(
            f"{where}: its text chunks are larger than images carry, so they are not read."
        ) from exc
    except OSError as exc:
        reason = str(exc.strerror or exc).rstrip(".")
        raise ImageError(f"{where}: {reason}.") from exc
