"""Settings that other tools write in their own formats, as ImageSettings fields.

* JSON where A1111 puts text (the `parameters` chunk or EXIF UserComment): Fooocus (its "fooocus"
  scheme), RuinedFooocus, SwarmUI (`sui_image_params`), Hugging Face Spaces, and Stability
  Matrix's `parameters-json` chunk. Their keys differ in spelling more than in meaning
  ("guidance_scale", "cfgscale", "CfgScale"), so one table of spellings reads them all.
* NovelAI: the `Comment` JSON with `Description` and `Source` (PNG chunks; in WebP and JPEG the
  same chunks as one JSON object in the EXIF UserComment).
* InvokeAI before 3.0: 1.x's `Dream` command line and 2.x's `sd-metadata` JSON.
* TensorArt's `generation_data` JSON.
* Easy Diffusion: a text chunk per setting (``prompt``, ``num_inference_steps``, or in older
  versions ``Prompt``, ``Steps``), or the same keys as JSON in the EXIF UserComment.
* Draw Things: JSON (``c``, ``uc``, ``scale``, ``size``...) in the XMP packet's
  ``exif:UserComment``, an A1111-like text in its ``dc:description``.

JSON that holds no prompt under any known spelling is not settings: it gives None, never a prompt
box full of JSON. Samplers are kept as the tool named them, with the tool's separate schedule
under `extra["Schedule type"]`, for `schedulers.sampler_from_metadata` to map.
"""

from __future__ import annotations

import html
import itertools
import re
import shlex
from typing import Any

from imagestudio.core.loratags import lora_name
from imagestudio.core.outputs.values import (
    MAX_FIELD_CHARS,
    as_float,
    as_int,
    as_str,
    load_json_object,
)

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
    "usestablediffusionmodel": "model",  # Easy Diffusion
    "stablediffusionmodel": "model",
    "model": "model",
    "modelname": "model",
    "basemodelname": "model",  # RuinedFooocus
    "sampler": "sampler",
    "samplername": "sampler",
    "scheduler": "schedule",
    "clipskip": "clip_skip",
    "performance": "performance",
}
# Fooocus's performance presets and the steps each runs.
_FOOOCUS_PERFORMANCE = {
    "speed": 30,
    "quality": 60,
    "extreme speed": 8,
    "lightning": 4,
    "hyper-sd": 4,
}
_RESOLUTION_RE = re.compile(r"\(?\s*(\d{1,6})\s*[,xX×*]\s*(\d{1,6})\s*\)?")
_INTS = ("steps", "seed", "width", "height")
_LORA_RE = re.compile(r"^(?P<name>.+?)\s*:\s*(?P<weight>[+-]?\d+(?:\.\d+)?)$")


def _normalise(key: str) -> str:
    return re.sub(r"[\s_-]+", "", key.lower())


def _numbers(data: dict[str, Any], cfg_key: str, ints: tuple[str, ...] = _INTS) -> dict[str, Any]:
    """The whole-number fields `ints` of `data` (same names as ours) and its CFG scale, under
    `cfg_key`, as far as each is a number at all."""
    found: dict[str, Any] = {}
    for name in ints:
        number = as_int(data.get(name))
        if number is not None:
            found[name] = number
    cfg = as_float(data.get(cfg_key))
    if cfg is not None:
        found["cfg_scale"] = cfg
    return found


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


def _parallel_lists(data: dict[str, Any]) -> tuple[Any, Any]:
    """LoRA names and weights kept side by side: SwarmUI's `loras` + `loraweights`, Easy
    Diffusion's `use_lora_model` + `lora_alpha` (or "LoRA model" + "LoRA Strength"), each a
    list or a single value (a string of comma-separated names in older versions)."""
    names = weights = None
    for key, value in list(data.items())[:2000]:
        normal = _normalise(str(key))
        if normal in ("loras", "useloramodel", "loramodel") and names is None:
            names = value
        elif normal in ("loraweights", "loraalpha", "lorastrength") and weights is None:
            weights = value
    if isinstance(names, str):
        names = [part.strip() for part in names[:10_000].split(",")]
        if isinstance(weights, str):
            weights = [part.strip() for part in weights[:10_000].split(",")]
    if names is not None and not isinstance(weights, list):
        weights = [weights] if weights is not None else []
    return names, weights


def _lora_entry(item: Any) -> tuple[str, float] | None:
    """One LoRA given whole: a [name, weight] pair in either order, or an object with a name
    ("name", "model", "lora", "file") and a weight ("weight", "strength")."""
    name: str | None = None
    weight: float | None = None
    if isinstance(item, list | tuple) and len(item) == 2:
        first, second = item
        name, weight = (first, as_float(second)) if isinstance(first, str) else (second, None)
        if weight is None and isinstance(second, str):
            weight = as_float(first)
        name = as_str(name)
    elif isinstance(item, dict):
        name = next((as_str(item[k]) for k in ("name", "model", "lora", "file") if k in item), None)
        weight = as_float(item.get("weight", item.get("strength")))
        if weight is None and ("weight" in item or "strength" in item):
            return None
    else:
        return None
    if not name or not name.strip() or name.strip().lower() == "none" or weight is None:
        return None
    return name.strip(), weight


def _loras(data: dict[str, Any]) -> list[tuple[str, float]]:
    """LoRAs as (name, weight): SwarmUI's and Easy Diffusion's parallel lists, lists of whole
    entries (RuinedFooocus), Fooocus's "name : weight" entries."""
    found: list[tuple[str, float]] = []
    names, weights = _parallel_lists(data)
    if isinstance(names, list):
        weights = weights if isinstance(weights, list) else []
        for index, name in enumerate(names[:32]):
            entry = _lora_entry(name)
            if entry is not None:
                found.append(entry)  # RuinedFooocus's [name, weight], or {"name", "weight"}
            elif isinstance(name, str) and name and name.lower() != "none":
                weight = as_float(weights[index]) if index < len(weights) else None
                found.append((name, 1.0 if weight is None else weight))
    for key, value in list(data.items())[:500]:
        if _normalise(str(key)).startswith("lora") and isinstance(value, str):
            match = _LORA_RE.match(value.strip())
            if match and match["name"].lower() != "none":
                found.append((match["name"].strip(), float(match["weight"])))
    return found


def _word(value: Any) -> str | None:
    """A string field as text: stripped, and None when missing, not text or blank."""
    text = as_str(value)
    return text.strip() if text and text.strip() else None


def _model(value: Any) -> str | None:
    """A model name: a string, or an object naming it (TensorArt's `baseModel`)."""
    if isinstance(value, dict):
        value = next(
            (value[k] for k in ("modelFileName", "model_name", "name", "title") if k in value),
            None,
        )
    return _word(value)


def settings_fields(data: dict[str, Any], source: str | None = None) -> dict[str, Any] | None:
    """The ImageSettings fields in another tool's JSON settings, with `source` ("swarmui",
    "fooocus", "json", or `source` when the caller knows the tool), or None when it holds no
    prompt (then it is not settings at all)."""
    settings = _settings_object(data)
    values: dict[str, Any] = {}
    for key, value in list(settings.items())[:2000]:
        field = _FIELDS.get(_normalise(str(key)))
        if field is not None and field not in values:
            values[field] = value
    prompt = as_str(values.get("prompt"))
    if prompt is None:
        return None
    fields: dict[str, Any] = {"prompt": prompt.strip()}
    negative = as_str(values.get("negative_prompt"))
    fields["negative_prompt"] = negative.strip() if negative else ""
    fields |= _numbers(values, "cfg_scale")
    if "steps" not in fields:
        # Fooocus before its "steps" key: the performance preset fixed the steps
        performance = as_str(values.get("performance"))
        steps = _FOOOCUS_PERFORMANCE.get((performance or "").strip().lower())
        if steps is not None:
            fields["steps"] = steps
    size = _resolution(values.get("resolution"))
    if size is not None and "width" not in fields:
        fields["width"], fields["height"] = size
    model = _model(values.get("model"))
    if model:
        fields["model"] = model
    sampler = _word(values.get("sampler"))
    if sampler:
        fields["sampler"] = sampler
    extra: dict[str, str] = {}
    schedule = _word(values.get("schedule"))
    if schedule:
        extra["Schedule type"] = schedule
    clip_skip = as_int(values.get("clip_skip"))
    if clip_skip is not None and clip_skip > 1:
        extra["Clip skip"] = str(clip_skip)
    fields["extra"] = extra
    fields["loras"] = tuple((lora_name(name), weight) for name, weight in _loras(settings))
    fields["source"] = source or _json_source(data, settings)
    return fields


def _json_source(data: dict[str, Any], settings: dict[str, Any]) -> str:
    """Which tool wrote settings JSON, as far as it says."""
    if settings is not data:
        return "swarmui"
    software = str(data.get("software", "")).lower()
    if "ruinedfooocus" in software:
        return "ruinedfooocus"
    if "fooocus" in str(data.get("version", "")).lower() or "Fooocus V2 Expansion" in data:
        return "fooocus"
    return "json"


# --------------------------------------------------------------------------------------------
# NovelAI


def _novelai_caption(value: Any) -> str | None:
    """The text of a NovelAI 4 `v4_prompt`: the base caption, then each character's."""
    caption = value.get("caption") if isinstance(value, dict) else None
    if not isinstance(caption, dict):
        return None
    parts = [as_str(caption.get("base_caption")) or ""]
    characters = caption.get("char_captions")
    for character in characters[:16] if isinstance(characters, list) else []:
        if isinstance(character, dict):
            parts.append(as_str(character.get("char_caption")) or "")
    text = " | ".join(part.strip() for part in parts if part and part.strip())
    return text or None


def novelai_fields(chunks: dict[str, Any]) -> dict[str, Any] | None:
    """NovelAI's settings: its `Comment` JSON (prompt, `uc` negative, steps, `scale`, seed,
    sampler, `noise_schedule`, `strength` for image-to-image), `Description` (the prompt as
    typed, used when the comment has none) and `Source` (the model). `chunks` are the text
    chunks, or the JSON object NovelAI writes as the EXIF UserComment of WebP and JPEG files.
    `load_json` decodes a JSON object from text, or gives None."""
    comment = chunks.get("Comment")
    data = comment if isinstance(comment, dict) else load_json_object(as_str(comment))
    if not isinstance(data, dict):
        return None
    software = str(chunks.get("Software", ""))
    prompt = as_str(data.get("prompt")) or _novelai_caption(data.get("v4_prompt"))
    prompt = prompt or as_str(chunks.get("Description"))
    if prompt is None or ("NovelAI" not in software and "uc" not in data and "scale" not in data):
        return None
    negative = as_str(data.get("uc")) or _novelai_caption(data.get("v4_negative_prompt")) or ""
    fields: dict[str, Any] = {
        "prompt": prompt.strip(),
        "negative_prompt": negative.strip(),
        "source": "novelai",
    }
    fields |= _numbers(data, "scale")
    sampler = _word(data.get("sampler"))
    if sampler:
        fields["sampler"] = sampler
    source = _word(chunks.get("Source"))
    if source:
        fields["model"] = source
    request_type = str(data.get("request_type", "")).lower()
    strength = as_float(data.get("strength"))
    if strength is not None and ("img2img" in request_type or data.get("image") is not None):
        fields["denoising_strength"] = strength
    extra: dict[str, str] = {}
    schedule = as_str(data.get("noise_schedule"))
    if schedule and schedule != "native":  # "native" is the sampler's own schedule
        extra["Schedule type"] = schedule
    rescale = as_float(data.get("cfg_rescale"))
    if rescale:
        extra["CFG rescale"] = f"{rescale:g}"
    fields["extra"] = extra
    return fields


# --------------------------------------------------------------------------------------------
# InvokeAI before 3.0

_NEGATIVE_BRACKETS_RE = re.compile(r"\[([^\[\]]*)\]")


def _invokeai_prompt(text: str) -> tuple[str, str]:
    """InvokeAI 1.x and 2.x write the negative prompt inside the prompt, in square brackets."""
    negatives = [part.strip() for part in _NEGATIVE_BRACKETS_RE.findall(text) if part.strip()]
    prompt = _NEGATIVE_BRACKETS_RE.sub(" ", text)
    return " ".join(prompt.split()).strip(" ,"), ", ".join(negatives)


# Dream's switches (InvokeAI 1.x): short and long spellings -> our field.
_DREAM_SWITCHES = {
    "-s": "steps",
    "--steps": "steps",
    "-S": "seed",
    "--seed": "seed",
    "-W": "width",
    "--width": "width",
    "-H": "height",
    "--height": "height",
    "-C": "cfg_scale",
    "--cfg_scale": "cfg_scale",
    "-A": "sampler",
    "--sampler": "sampler",
    "-f": "denoising_strength",
    "--strength": "denoising_strength",
    "-I": "init_image",
    "--init_img": "init_image",
}


def dream_fields(text: str) -> dict[str, Any] | None:
    """InvokeAI 1.x's `Dream` chunk: the command line that made the picture, such as
    ``"a castle [fog]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms``."""
    if len(text) > MAX_FIELD_CHARS:
        return None
    try:
        words = shlex.split(text)
    except ValueError:  # an unbalanced quote
        return None
    if not words or words[0].startswith("-"):
        return None
    prompt, negative = _invokeai_prompt(words[0])
    fields: dict[str, Any] = {"prompt": prompt, "negative_prompt": negative, "source": "invokeai"}
    values: dict[str, str] = {}
    for switch, value in itertools.pairwise(words[1:]):
        field = _DREAM_SWITCHES.get(switch)
        if field is not None and field not in values:
            values[field] = value
    fields |= _numbers(values, "cfg_scale")
    strength = as_float(values.get("denoising_strength"))
    if strength is not None and "init_image" in values:  # strength means something for img2img
        fields["denoising_strength"] = strength
    if values.get("sampler"):
        fields["sampler"] = values["sampler"]
    return fields


def sd_metadata_fields(data: dict[str, Any]) -> dict[str, Any] | None:
    """InvokeAI 2.x's `sd-metadata` JSON: `model_weights`, and the settings under `image`
    (prompt as text or as a list of weighted prompts)."""
    image = data.get("image")
    if not isinstance(image, dict):
        return None
    raw = image.get("prompt")
    if isinstance(raw, list):
        raw = " ".join(
            part["prompt"]
            for part in raw[:32]
            if isinstance(part, dict) and isinstance(part.get("prompt"), str)
        )
    text = as_str(raw)
    if text is None:
        return None
    prompt, negative = _invokeai_prompt(text)
    fields: dict[str, Any] = {"prompt": prompt, "negative_prompt": negative, "source": "invokeai"}
    fields |= _numbers(image, "cfg_scale")
    if as_str(image.get("sampler")):
        fields["sampler"] = image["sampler"]
    model = _model(data.get("model_weights"))
    if model:
        fields["model"] = model
    strength = as_float(image.get("strength"))
    if strength is not None and image.get("type") == "img2img":
        fields["denoising_strength"] = strength
    return fields


# --------------------------------------------------------------------------------------------
# TensorArt


def tensorart_fields(data: dict[str, Any]) -> dict[str, Any] | None:
    """TensorArt's `generation_data` JSON: camelCase keys, the checkpoint as `baseModel`, LoRAs
    as `models` entries of type LORA."""
    fields = settings_fields(data, source="tensorart")
    if fields is None:
        return None
    models = data.get("models")
    loras = list(fields["loras"])
    for entry in models[:32] if isinstance(models, list) else []:
        if not isinstance(entry, dict) or str(entry.get("type", "")).upper() != "LORA":
            continue
        name = _model(entry)
        weight = as_float(entry.get("weight"))
        if name:
            loras.append((lora_name(name), 1.0 if weight is None else weight))
    fields["loras"] = tuple(loras)
    return fields


# --------------------------------------------------------------------------------------------
# Easy Diffusion

# Keys only Easy Diffusion writes (under either of its spellings, normalised).
_EASY_DIFFUSION_KEYS = frozenset(
    {"numinferencesteps", "usestablediffusionmodel", "stablediffusionmodel", "guidancescale"}
)


def easydiffusion_fields(chunks: dict[str, str]) -> dict[str, Any] | None:
    """Easy Diffusion's settings, one text chunk each (`chunks`: key -> text), or None when the
    chunks are not Easy Diffusion's (ComfyUI also names a chunk ``prompt``)."""
    if not any(_normalise(key) in _EASY_DIFFUSION_KEYS for key in chunks):
        return None
    data: dict[str, Any] = dict(chunks)
    for key, value in chunks.items():
        if _normalise(key) in ("useloramodel", "loramodel", "loraalpha", "lorastrength"):
            # a list is written as JSON in a chunk (["a", "b"], [0.5, 0.8])
            loaded = load_json_object('{"v": ' + value + "}") if value.startswith("[") else None
            if loaded is not None:
                data[key] = loaded["v"]
    return settings_fields(data, source="easydiffusion")


# --------------------------------------------------------------------------------------------
# Draw Things (and XMP packets in general)

_TAG_RE = re.compile(r"<[^<>]{0,2000}>")


def _xmp_property(xmp: str, name: str) -> str | None:
    """The text of property `name` (``exif:UserComment``) in an XMP packet, written as an
    element (with or without an rdf:Alt list) or as an attribute. Found by plain searches, not
    an XML parser: a packet comes from anyone, and entity tricks then have nothing to expand."""
    start = xmp.find(f"<{name}")
    if start >= 0:
        body = xmp.find(">", start)
        end = xmp.find(f"</{name}>", body)
        if body < 0 or end < 0:
            return None
        inner = _TAG_RE.sub("", xmp[body + 1 : end])
        return html.unescape(inner).strip()
    match = re.search(re.escape(name) + r'="([^"]{0,1000000})"', xmp)
    return html.unescape(match[1]).strip() if match else None


def xmp_texts(xmp: str) -> tuple[str | None, str | None]:
    """The ``exif:UserComment`` and ``dc:description`` of an XMP packet, where tools that keep
    their settings in XMP (Draw Things) put them."""
    if len(xmp) > MAX_FIELD_CHARS * 10:
        return None, None
    return _xmp_property(xmp, "exif:UserComment"), _xmp_property(xmp, "dc:description")


def drawthings_fields(data: dict[str, Any]) -> dict[str, Any] | None:
    """Draw Things' JSON: `c` the prompt, `uc` the negative, `scale`, `size` ("768x1024"),
    `model`, `sampler`, `strength` (below 1 for image-to-image only), `lora` entries."""
    prompt = as_str(data.get("c"))
    if prompt is None or not any(key in data for key in ("scale", "steps", "sampler")):
        return None
    fields: dict[str, Any] = {
        "prompt": prompt.strip(),
        "negative_prompt": (as_str(data.get("uc")) or "").strip(),
        "source": "drawthings",
    }
    fields |= _numbers(data, "scale", ints=("steps", "seed"))
    size = _resolution(data.get("size"))
    if size is not None:
        fields["width"], fields["height"] = size
    model = _model(data.get("model"))
    if model:
        fields["model"] = model
    sampler = _word(data.get("sampler"))
    if sampler:
        fields["sampler"] = sampler
    strength = as_float(data.get("strength"))
    if strength is not None and 0 < strength < 1:
        fields["denoising_strength"] = strength
    loras = []
    entries = data.get("lora")
    for entry in entries[:32] if isinstance(entries, list) else []:
        if isinstance(entry, dict):
            file, weight = as_str(entry.get("file")), as_float(entry.get("weight"))
            if file:
                loras.append((lora_name(file), 1.0 if weight is None else weight))
    fields["loras"] = tuple(loras)
    fields["extra"] = {}
    return fields
