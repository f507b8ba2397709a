"""Generation settings in ComfyUI's PNG chunks, as ImageSettings fields.

ComfyUI writes no settings line, only the graphs it ran: ``prompt``, the API graph (``{id:
{"class_type", "inputs"}}``, links as ``[node_id, output_index]``), and ``workflow``, the editor's
graph (nodes with positional ``widgets_values`` and a separate links table). The settings are
where the graph's wires lead: we find the sampler that made the picture (the base pass), then
follow its inputs to the prompt texts, the checkpoint and its LoRAs, the latent's size, and an
img2img source or a hires second pass. The editor's graph is first put in the API graph's shape,
so that one reader serves both.

A picture comes from anyone, so this is an attack surface: every value is type-checked (``true``
is no seed, ``1e999`` no scale, a 5,000-digit int no step count), no string over
`MAX_TEXT_CHARS` is taken, at most `MAX_NODES` nodes are read, every walk is bounded by a visited
set and `MAX_DEPTH`, and all walks together by a visit budget linear in `MAX_NODES`, so that
cycles terminate and a huge graph reads in milliseconds. Nothing here raises, for any JSON value;
nor does anything catch broadly to get there.
"""

from __future__ import annotations

import math
import re
from itertools import islice
from typing import Any

from imagestudio.core.loratags import lora_name

__all__ = ["MAX_DEPTH", "MAX_NODES", "MAX_TEXT_CHARS", "settings_fields"]

# Real graphs have tens or hundreds of nodes; nodes past this many are not read.
MAX_NODES = 5000
# No real chain of wires (reroutes, LoRAs, conditioning nodes) is this long.
MAX_DEPTH = 64
# Real texts are a few KB; longer strings are not taken as a field (nor is a longer joined prompt).
MAX_TEXT_CHARS = 100_000
# Node visits allowed to all walks of one read together: keeps a read linear in the graph's size
# whatever its shape (many samplers sharing long chains, diamonds of combined conditionings).
_VISIT_BUDGET = 20 * MAX_NODES
# A node's inputs are scanned (for conditionings, LoRA entries) no further than this.
_MAX_INPUTS = 64
# Input slots of an editor's graph read, all nodes together (real nodes have a handful, a dozen
# where every widget has its slot): bounds the conversion of many nodes with many inputs each.
_MAX_WIRES = 10 * MAX_NODES
# Distinct texts joined into one prompt, at most (real prompts have a few).
_MAX_TEXTS = 64
# Base-pass candidates whose texts are read before giving up.
_MAX_CANDIDATES = 16
# Seeds are unsigned 64-bit in ComfyUI; no setting is larger.
_INT_LIMIT = 2**64
_MAX_ID_CHARS = 64
_MAX_CLASS_CHARS = 200

Node = tuple[str, dict[str, Any]]
Graph = dict[str, Node]

# Where a sampler takes its latent.
_LATENT_INPUTS = ("latent_image", "latent", "samples", "latents")
# Inputs a latent or pixel chain goes back through, in order of preference (LatentComposite's
# samples_to and ImageCompositeMasked's destination are the picture being worked on).
_CHAIN_INPUTS = (
    "samples",
    "latent_image",
    "latent",
    "pixels",
    "image",
    "images",
    "samples_to",
    "destination",
    "latents",
)
# A value node's output, by input name, for primitives and seed/string nodes of custom packs.
_VALUE_KEYS = (
    "value",
    "seed",
    "noise_seed",
    "string",
    "text",
    "int",
    "float",
    "number",
    "Value",
    "Text",
    "STRING",
    "INT",
    "FLOAT",
)
# The text a string-producing node outputs (a wildcard node's result comes before its template).
_TEXT_VALUE_KEYS = ("populated_text", "text", "string", "value", "prompt", "Text", "STRING")
# Text inputs of the text encoders: CLIPTextEncode(SDXLRefiner) text; SDXL text_g, text_l;
# Flux clip_l, t5xxl; SD3 clip_l, clip_g, t5xxl. Distinct non-empty texts are joined in this order.
_ENCODER_KEYS = ("text", "text_g", "text_l", "clip_l", "clip_g", "t5xxl")
# Conditioning nodes that erase the conditioning: whatever text went in is not in the picture.
_ERASING_CLASSES = frozenset({"ConditioningZeroOut"})
# Checkpoint names on a model loader (ckpt_name: CheckpointLoader*, unet_name: UNETLoader,
# gguf_name/model_name: GGUF and diffusers loaders).
_MODEL_KEYS = ("ckpt_name", "unet_name", "gguf_name", "model_name", "model_path")
_LORA_STRENGTH_KEYS = (
    "strength_model",
    "lora_model_strength",
    "strength",
    "lora_strength",
    "weight",
)
# Schedulers that are their own node in custom sampling, by the name the scheduler menu uses.
_SCHEDULE_CLASSES = {
    "KarrasScheduler": "karras",
    "ExponentialScheduler": "exponential",
    "PolyexponentialScheduler": "polyexponential",
}
# Sampler nodes of custom sampling that are a sampler of the menu with its options.
_SAMPLER_CLASSES = {
    "SamplerEulerAncestral": "euler_ancestral",
    "SamplerLMS": "lms",
    "SamplerDPMPP_2M_SDE": "dpmpp_2m_sde",
    "SamplerDPMPP_3M_SDE": "dpmpp_3m_sde",
    "SamplerDPMPP_SDE": "dpmpp_sde",
    "SamplerDPMPP_2S_Ancestral": "dpmpp_2s_ancestral",
}
_SIZE_RE = re.compile(r"(\d{1,5})\s*[xX×*]\s*(\d{1,5})")

_CONTROL = "control_after_generate"
_CONTROL_VALUES = frozenset({"fixed", "increment", "decrement", "randomize"})
# Widget names in the order the editor keeps their values, for the core nodes (and a few
# custom primitives). control_after_generate is the editor's own widget after a seed; some
# writers leave it out, so it is taken only when the value there is one of its choices.
_WIDGETS: dict[str, tuple[str, ...]] = {
    "KSampler": ("seed", _CONTROL, "steps", "cfg", "sampler_name", "scheduler", "denoise"),
    "KSamplerAdvanced": (
        "add_noise",
        "noise_seed",
        _CONTROL,
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "start_at_step",
        "end_at_step",
        "return_with_leftover_noise",
    ),
    "SamplerCustom": ("add_noise", "noise_seed", _CONTROL, "cfg"),
    "SamplerCustomAdvanced": (),
    "KSamplerSelect": ("sampler_name",),
    "BasicScheduler": ("scheduler", "steps", "denoise"),
    "KarrasScheduler": ("steps", "sigma_max", "sigma_min", "rho"),
    "ExponentialScheduler": ("steps", "sigma_max", "sigma_min"),
    "PolyexponentialScheduler": ("steps", "sigma_max", "sigma_min", "rho"),
    "SDTurboScheduler": ("steps", "denoise"),
    "SplitSigmas": ("step",),
    "RandomNoise": ("noise_seed", _CONTROL),
    "CFGGuider": ("cfg",),
    "BasicGuider": (),
    "CheckpointLoaderSimple": ("ckpt_name",),
    "CheckpointLoader": ("config_name", "ckpt_name"),
    "unCLIPCheckpointLoader": ("ckpt_name",),
    "ImageOnlyCheckpointLoader": ("ckpt_name",),
    "UNETLoader": ("unet_name", "weight_dtype"),
    "CLIPTextEncode": ("text",),
    "CLIPTextEncodeSDXL": (
        "width",
        "height",
        "crop_w",
        "crop_h",
        "target_width",
        "target_height",
        "text_g",
        "text_l",
    ),
    "CLIPTextEncodeSDXLRefiner": ("ascore", "width", "height", "text"),
    "CLIPTextEncodeFlux": ("clip_l", "t5xxl", "guidance"),
    "CLIPTextEncodeSD3": ("clip_l", "clip_g", "t5xxl", "empty_padding"),
    "CLIPSetLastLayer": ("stop_at_clip_layer",),
    "ConditioningSetArea": ("width", "height", "x", "y", "strength"),
    "ConditioningSetTimestepRange": ("start", "end"),
    "ConditioningAverage": ("conditioning_to_strength",),
    "ControlNetApply": ("strength",),
    "ControlNetApplyAdvanced": ("strength", "start_percent", "end_percent"),
    "FluxGuidance": ("guidance",),
    "EmptyLatentImage": ("width", "height", "batch_size"),
    "EmptySD3LatentImage": ("width", "height", "batch_size"),
    "LoraLoader": ("lora_name", "strength_model", "strength_clip"),
    "LoraLoaderModelOnly": ("lora_name", "strength_model"),
    "LoadImage": ("image", "upload"),
    "LatentUpscale": ("upscale_method", "width", "height", "crop"),
    "LatentUpscaleBy": ("upscale_method", "scale_by"),
    "ImageScale": ("upscale_method", "width", "height", "crop"),
    "ImageScaleBy": ("upscale_method", "scale_by"),
    "VAEEncodeForInpaint": ("grow_mask_by",),
    "ModelSamplingDiscrete": ("sampling", "zsnr"),
    "UpscaleModelLoader": ("model_name",),
    "StringConcatenate": ("string_a", "string_b", "delimiter"),
    "PrimitiveNode": ("value", _CONTROL),
    "PrimitiveInt": ("value", _CONTROL),
    "PrimitiveFloat": ("value",),
    "PrimitiveString": ("value",),
    "PrimitiveStringMultiline": ("value",),
    "Seed (rgthree)": ("seed",),
}
# Editor-only nodes: no part of the graph ComfyUI runs.
_UI_ONLY = frozenset({"Reroute", "PrimitiveNode", "Note", "MarkdownNote"})
_MUTED, _BYPASSED = 2, 4
_UNSEEN = object()

# Where a latent chain starts.
_EMPTY, _IMAGE, _SAMPLED, _UNKNOWN = "empty", "image", "sampled", "unknown"


# --------------------------------------------------------------------------------------------
# Strict values


def _int(value: Any) -> int | None:
    # bool is an int subclass, but `true` is never a seed or a step count.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -_INT_LIMIT < value < _INT_LIMIT else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value) if -_INT_LIMIT < value < _INT_LIMIT else None
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(value) if -_INT_LIMIT < value < _INT_LIMIT else None
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and len(value) <= MAX_TEXT_CHARS else None


def _node_id(value: Any) -> str | None:
    """A node or link id as a key: API ids are strings, the editor's are numbers."""
    if isinstance(value, str):
        return value if 0 < len(value) <= _MAX_ID_CHARS else None
    number = _int(value)
    # str() of a bounded int cannot hit Python's limit on int-to-str digits
    return None if number is None or isinstance(value, float) else str(number)


def _link(value: Any) -> tuple[str, int] | None:
    """An API-graph link ``[node_id, output_index]``, or None for any other value."""
    if not isinstance(value, list) or len(value) != 2:
        return None
    node, slot = _node_id(value[0]), _int(value[1])
    if node is None or slot is None or not 0 <= slot < 1000 or isinstance(value[1], float):
        return None
    return node, slot


def _first(inputs: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in inputs:
            return inputs[name]
    return None


def _id_key(node_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order ("9" before "10"), then any others as text."""
    if node_id.isascii() and node_id.isdigit() and len(node_id) <= 18:
        return 0, int(node_id), ""
    return 1, 0, node_id


def _number_text(value: float) -> str:
    """A number as A1111 writes it in its settings line: "2", "1.5", "0.65"."""
    return str(int(value)) if value.is_integer() else f"{value:g}"


# --------------------------------------------------------------------------------------------
# Graphs


def _api_graph(prompt: Any) -> Graph | None:
    """The API graph's nodes, each as (class_type, inputs); None when `prompt` is no such graph."""
    if not isinstance(prompt, dict):
        return None
    graph: Graph = {}
    for node_id, node in islice(prompt.items(), MAX_NODES):
        key = _node_id(node_id)
        if key is None or not isinstance(node, dict):
            continue
        kind, inputs = node.get("class_type"), node.get("inputs")
        if not isinstance(kind, str) or len(kind) > _MAX_CLASS_CHARS:
            continue
        graph[key] = (kind, inputs if isinstance(inputs, dict) else {})
    return graph or None


def _mode(node: dict[str, Any]) -> int:
    mode = _int(node.get("mode"))
    return 0 if mode is None else mode


class _Workflow:
    """The editor's graph put in the API graph's shape, as ComfyUI does when it queues it: widget
    values under their input names, links as ``[origin, slot]``, through reroutes and bypassed
    nodes, with a PrimitiveNode's value in place of its wire; muted nodes are left out."""

    def __init__(self, workflow: dict[str, Any]) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.links: dict[str, tuple[str, int]] = {}
        self.sources: dict[str, Any] = {}
        self.int_sources: dict[int, Any] = {}
        raw_nodes, raw_links = workflow.get("nodes"), workflow.get("links")
        for node in islice(raw_nodes, MAX_NODES) if isinstance(raw_nodes, list) else ():
            if not isinstance(node, dict):
                continue
            node_id, kind = _node_id(node.get("id")), node.get("type")
            if node_id is not None and isinstance(kind, str) and len(kind) <= _MAX_CLASS_CHARS:
                self.nodes.setdefault(node_id, node)
        for entry in islice(raw_links, 4 * MAX_NODES) if isinstance(raw_links, list) else ():
            if isinstance(entry, list) and len(entry) >= 3:
                link_id, origin, slot = entry[0], entry[1], entry[2]
            elif isinstance(entry, dict):
                link_id, origin, slot = (
                    entry.get("id"),
                    entry.get("origin_id"),
                    entry.get("origin_slot"),
                )
            else:
                continue
            key, origin_id, origin_slot = _node_id(link_id), _node_id(origin), _int(slot)
            if key is not None and origin_id is not None and origin_slot is not None:
                self.links.setdefault(key, (origin_id, origin_slot))

    def graph(self) -> Graph | None:
        graph: Graph = {}
        wires_left = _MAX_WIRES
        for node_id, node in self.nodes.items():
            kind = node["type"]
            if kind in _UI_ONLY or _mode(node) in (_MUTED, _BYPASSED):
                continue
            inputs = self._widgets(kind, node)
            slots = node.get("inputs")
            if not isinstance(slots, list) or wires_left <= 0:
                graph[node_id] = (kind, inputs)
                continue
            for slot in islice(slots, min(_MAX_INPUTS, wires_left)):
                wires_left -= 1
                if not isinstance(slot, dict):
                    continue
                link, name = slot.get("link"), slot.get("name")
                if link is None or not isinstance(name, str):
                    continue
                if type(link) is int:  # the usual id: a cheaper memo than _source's own
                    source = self.int_sources.get(link, _UNSEEN)
                    if source is _UNSEEN:
                        source = self.int_sources[link] = self._source(link)
                else:
                    source = self._source(link)
                if source is not None:
                    inputs[name] = source
            graph[node_id] = (kind, inputs)
        return graph or None

    @staticmethod
    def _inputs(node: dict[str, Any]) -> list[dict[str, Any]]:
        inputs = node.get("inputs")
        if not isinstance(inputs, list):
            return []
        return [slot for slot in islice(inputs, _MAX_INPUTS) if isinstance(slot, dict)]

    def _widgets(self, kind: str, node: dict[str, Any]) -> dict[str, Any]:
        values = node.get("widgets_values")
        if isinstance(values, dict):
            return {k: v for k, v in islice(values.items(), _MAX_INPUTS) if isinstance(k, str)}
        if not isinstance(values, list):
            return {}
        names = _WIDGETS.get(kind)
        guessed = names is None
        if names is None:
            # A node we have no table for: recent editors list every widget among the inputs,
            # in order; the mapping is kept only if it accounts for every value.
            names = tuple(
                widget["name"]
                for slot in self._inputs(node)
                if isinstance(widget := slot.get("widget"), dict)
                and isinstance(widget.get("name"), str)
            )
        widgets: dict[str, Any] = {}
        index = 0
        for name in names:
            if index >= len(values):
                break
            value = values[index]
            if name == _CONTROL:
                index += isinstance(value, str) and value in _CONTROL_VALUES
                continue
            widgets[name] = value
            index += 1
            following = values[index] if index < len(values) else None
            if guessed and _int(value) is not None and isinstance(following, str):
                index += following in _CONTROL_VALUES  # a seed's control widget, unnamed
        if guessed and index != len(values):
            return {}
        return widgets

    def _source(self, link_id: Any) -> Any:
        """What a wire gives an input: an API link, a PrimitiveNode's value, or None (no wire,
        a wire from a muted node or to nowhere). Memoised per link, so chains of reroutes shared
        by many inputs are walked once."""
        path: list[str] = []
        result: Any = None
        key = _node_id(link_id)
        for _ in range(MAX_DEPTH):
            if key is None or key in path:
                break
            if key in self.sources:
                result = self.sources[key]
                break
            path.append(key)
            target = self.links.get(key)
            node = None if target is None else self.nodes.get(target[0])
            if target is None or node is None or _mode(node) == _MUTED:
                break
            if node["type"] == "PrimitiveNode":
                values = node.get("widgets_values")
                result = values[0] if isinstance(values, list) and values else None
                break
            if node["type"] == "Reroute" or _mode(node) == _BYPASSED:
                key = _node_id(self._passed_link(node, target[1]))
                continue
            result = [target[0], target[1]]
            break
        for passed in path:
            self.sources[passed] = result
        return result

    def _passed_link(self, node: dict[str, Any], slot: int) -> Any:
        """The wire into a reroute, or into a bypassed node's input of the output's type (the
        same slot when its type matches, as the editor does)."""
        inputs = self._inputs(node)
        if node["type"] == "Reroute":
            return inputs[0].get("link") if inputs else None
        outputs = node.get("outputs")
        output = outputs[slot] if isinstance(outputs, list) and slot < len(outputs) else None
        kind = output.get("type") if isinstance(output, dict) else None
        if not isinstance(kind, str):
            return inputs[slot].get("link") if slot < len(inputs) else None
        if slot < len(inputs) and inputs[slot].get("type") == kind:
            return inputs[slot].get("link")
        for candidate in inputs:
            if candidate.get("type") == kind and candidate.get("link") is not None:
                return candidate.get("link")
        return None


def _workflow_graph(workflow: Any) -> Graph | None:
    if not isinstance(workflow, dict):
        return None
    return _Workflow(workflow).graph()


# --------------------------------------------------------------------------------------------
# Reading a graph


def _is_sampler(kind: str, inputs: dict[str, Any]) -> bool:
    """KSampler, KSamplerAdvanced, SamplerCustom(Advanced) and custom nodes of the same inputs
    ("KSampler (Efficient)"): not the KSamplerSelect a custom sampler takes its name from."""
    if "sampler" not in kind.lower():
        return False
    conditioned = "positive" in inputs or "guider" in inputs
    return conditioned and any(name in inputs for name in _LATENT_INPUTS)


def _is_empty_latent(kind: str) -> bool:
    compact = kind.lower().replace(" ", "").replace("_", "")
    return "emptylatent" in compact or (compact.startswith("empty") and "latent" in compact)


def _is_loaded_image(kind: str) -> bool:
    return "loadimage" in kind.lower().replace(" ", "")


class _Reader:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.budget = _VISIT_BUDGET
        self.samplers = {
            node_id for node_id, (kind, inputs) in graph.items() if _is_sampler(kind, inputs)
        }
        self.origins: dict[str, tuple[str, str | None]] = {}
        self.textless: set[tuple[str, int]] = set()

    def _visit(self, node_id: str) -> Node | None:
        if self.budget <= 0:
            return None
        self.budget -= 1
        return self.graph.get(node_id)

    # -- values ------------------------------------------------------------------------------

    def _value(self, raw: Any, names: tuple[str, ...] = (), via: str | None = None) -> Any:
        """`raw`, or where its wire leads: the first of `names` (then a value node's usual
        names) on the node it comes from, or further back along input `via`."""
        seen: set[str] = set()
        for _ in range(MAX_DEPTH):
            link = _link(raw)
            if link is None:
                return raw
            node = self._visit(link[0])
            if node is None or link[0] in seen:
                return None
            seen.add(link[0])
            inputs = node[1]
            found = _first(inputs, names) if names else None
            if found is None:
                found = _first(inputs, _VALUE_KEYS)
            if found is None and via is not None:
                found = inputs.get(via)
            if found is None:
                return None
            raw = found
        return None

    def _text(self, raw: Any, seen: set[str] | None = None, depth: int = 0) -> str | None:
        """A string input's text, following wires to string nodes, and joining the parts of
        concatenation nodes with their delimiter."""
        link = _link(raw)
        if link is None:
            return _str(raw)
        seen = set() if seen is None else seen
        if depth >= MAX_DEPTH or link[0] in seen:
            return None
        node = self._visit(link[0])
        if node is None:
            return None
        seen.add(link[0])
        kind, inputs = node
        if "concat" in kind.lower():
            delimiter = _str(_first(inputs, ("delimiter", "separator"))) or ""
            parts: list[str] = []
            for name, value in islice(inputs.items(), _MAX_INPUTS):
                if not isinstance(name, str) or name in ("delimiter", "separator"):
                    continue
                if isinstance(value, str) or _link(value) is not None:
                    part = self._text(value, seen, depth + 1)
                    if part:
                        parts.append(part)
            return _str(delimiter.join(parts))
        found = _first(inputs, _TEXT_VALUE_KEYS)
        return None if found is None else self._text(found, seen, depth + 1)

    def _int_of(self, raw: Any, names: tuple[str, ...] = (), via: str | None = None) -> int | None:
        return _int(self._value(raw, names, via))

    def _float_of(self, raw: Any, names: tuple[str, ...] = ()) -> float | None:
        return _float(self._value(raw, names))

    # -- latent chains -----------------------------------------------------------------------

    def _chain_next(self, inputs: dict[str, Any]) -> tuple[str, int] | None:
        for name in _CHAIN_INPUTS:
            link = _link(inputs.get(name))
            if link is not None:
                return link
        return None

    def origin(self, sampler_id: str) -> tuple[str, str | None]:
        """Where a sampler's latent starts: an empty latent, a loaded image, another sampler's
        output (a second pass), or unknown; with the node it starts at. Memoised per node on the
        way, so the samplers of a graph together walk each chain once."""
        node = self.graph.get(sampler_id)
        link = None if node is None else _link(_first(node[1], _LATENT_INPUTS))
        path: list[str] = []
        result: tuple[str, str | None] = (_UNKNOWN, None)
        for _ in range(MAX_DEPTH):
            if link is None or link[0] in path:
                break
            node_id = link[0]
            if node_id in self.origins:
                result = self.origins[node_id]
                break
            node = self._visit(node_id)
            if node is None:
                break
            kind, inputs = node
            if node_id in self.samplers:
                result = (_SAMPLED, node_id)
                break
            if _is_empty_latent(kind):
                result = (_EMPTY, node_id)
                break
            if _is_loaded_image(kind):
                result = (_IMAGE, node_id)
                break
            path.append(node_id)
            link = self._chain_next(inputs)
        for node_id in path:
            self.origins[node_id] = result
        return result

    def _chain(self, sampler_id: str) -> list[Node]:
        """The nodes between a sampler and where its latent starts, nearest first."""
        node = self.graph.get(sampler_id)
        link = None if node is None else _link(_first(node[1], _LATENT_INPUTS))
        nodes: list[Node] = []
        seen: set[str] = set()
        while link is not None and len(nodes) < MAX_DEPTH and link[0] not in seen:
            seen.add(link[0])
            node = self._visit(link[0])
            if node is None or link[0] in self.samplers:
                break
            if _is_empty_latent(node[0]) or _is_loaded_image(node[0]):
                break
            nodes.append(node)
            link = self._chain_next(node[1])
        return nodes

    def _size(self, inputs: dict[str, Any]) -> tuple[int, int] | None:
        width = self._int_of(inputs.get("width"), ("width",))
        height = self._int_of(inputs.get("height"), ("height",))
        if width is not None and height is not None and width > 0 and height > 0:
            return width, height
        text = _str(_first(inputs, ("dimensions", "resolution")))
        match = _SIZE_RE.search(text[:200]) if text else None
        if match and int(match[1]) > 0 and int(match[2]) > 0:
            return int(match[1]), int(match[2])
        return None

    # -- conditioning ------------------------------------------------------------------------

    def _conditioning(
        self,
        link: tuple[str, int] | None,
        texts: list[str],
        encoders: list[str],
        seen: set[tuple[str, int]],
        depth: int = 0,
    ) -> None:
        """Collect the distinct texts of the encoders a conditioning wire comes from, in input
        order; `encoders` gets the encoder nodes met."""
        if link is None or depth >= MAX_DEPTH or link in seen or link in self.textless:
            return
        node_id, slot = link
        node = self._visit(node_id)
        if node is None:
            return
        seen.add(link)
        kind, inputs = node
        if kind in _ERASING_CLASSES:
            return
        if "positive" in inputs and "negative" in inputs:
            positive, negative = inputs["positive"], inputs["negative"]
            if _link(positive) is not None or _link(negative) is not None:
                # ControlNetApplyAdvanced, InpaintModelConditioning...: output 0 is the
                # positive, 1 the negative.
                chosen = positive if slot == 0 else negative if slot == 1 else None
                self._conditioning(_link(chosen), texts, encoders, seen, depth + 1)
                return
            # A loader that encodes its own prompts (Efficiency Nodes' "Efficient Loader"):
            # the positive conditioning is output 1, the negative 2.
            chosen = positive if slot == 1 else negative if slot == 2 else None
            self._add_text(self._text(chosen), texts)
            encoders.append(node_id)
            return
        if any(name in inputs for name in _ENCODER_KEYS):
            encoders.append(node_id)
            for name in _ENCODER_KEYS:
                if name in inputs:
                    self._add_text(self._text(inputs[name]), texts)
            return
        # ConditioningCombine/Concat/Average, ConditioningSetArea, ControlNetApply, FluxGuidance:
        # every conditioning input, in order.
        for name, value in islice(inputs.items(), _MAX_INPUTS):
            if isinstance(name, str) and (name.startswith("conditioning") or name == "cond"):
                self._conditioning(_link(value), texts, encoders, seen, depth + 1)

    @staticmethod
    def _add_text(text: str | None, texts: list[str]) -> None:
        text = text.strip() if text else ""
        if not text or len(texts) >= _MAX_TEXTS or text in texts:
            return
        if sum(map(len, texts)) + len(text) <= MAX_TEXT_CHARS:
            texts.append(text)

    def _prompt(self, raw: Any) -> tuple[str, list[str]]:
        texts: list[str] = []
        encoders: list[str] = []
        seen: set[tuple[str, int]] = set()
        self._conditioning(_link(raw), texts, encoders, seen)
        if not texts:
            # Wires that led to no text lead to none for the next candidate either: base-pass
            # candidates sharing a big textless conditioning graph walk it once together.
            self.textless |= seen
        return ", ".join(texts), encoders

    def _clip_skip(self, encoder_id: str) -> int | None:
        """Clip skip n from a CLIPSetLastLayer at -n on the encoder's clip path (the nearest);
        or an Efficient Loader's own clip_skip."""
        link: tuple[str, int] | None = (encoder_id, 0)
        seen: set[str] = set()
        for _ in range(MAX_DEPTH):
            if link is None or link[0] in seen:
                return None
            seen.add(link[0])
            node = self._visit(link[0])
            if node is None:
                return None
            layer = _first(node[1], ("stop_at_clip_layer", "clip_skip"))
            if layer is not None:
                value = self._int_of(layer)
                return -value if value is not None and value <= -2 else None
            link = _link(node[1].get("clip"))
        return None

    # -- model -------------------------------------------------------------------------------

    def _model(self, raw: Any) -> tuple[str | None, list[tuple[str, float]]]:
        """The checkpoint at the end of a model wire, and the LoRAs on the way, the one nearest
        the checkpoint first."""
        loras: list[tuple[str, float]] = []  # nearest the sampler first, reversed at the end
        name: str | None = None
        link = _link(raw)
        seen: set[str] = set()
        for _ in range(MAX_DEPTH):
            if link is None or link[0] in seen:
                break
            seen.add(link[0])
            node = self._visit(link[0])
            if node is None:
                break
            inputs = node[1]
            loras.extend(reversed(self._loras(inputs)))
            for key in _MODEL_KEYS:
                name = self._text(inputs[key]) if key in inputs else None
                if name:
                    break
            if name:
                break
            link = _link(inputs.get("model"))
        loras.reverse()
        return name or None, loras

    def _loras(self, inputs: dict[str, Any]) -> list[tuple[str, float]]:
        """The LoRAs one node applies, in the order it applies them: a `lora_name` input
        (LoraLoader, LoraLoaderModelOnly, loaders of custom packs), or rgthree's Power Lora
        Loader entries (``lora_1: {"on": true, "lora": ..., "strength": ...}``)."""
        found: list[tuple[str, float]] = []
        if "lora_name" in inputs:
            name = self._text(inputs["lora_name"])
            strength = self._float_of(_first(inputs, _LORA_STRENGTH_KEYS), _LORA_STRENGTH_KEYS)
            if name and name.strip() and name.strip().lower() != "none":
                found.append((lora_name(name), 1.0 if strength is None else strength))
            return found
        for key, entry in islice(inputs.items(), _MAX_INPUTS):
            if not (isinstance(key, str) and key.lower().startswith("lora_")):
                continue
            if isinstance(entry, dict) and entry.get("on") is True:
                name, strength = _str(entry.get("lora")), _float(entry.get("strength"))
                if name and name.strip() and name.strip().lower() != "none":
                    found.append((lora_name(name), 1.0 if strength is None else strength))
        return found

    # -- samplers ----------------------------------------------------------------------------

    def _sigmas(self, raw: Any) -> tuple[str | None, int | None, float | None]:
        """Schedule, steps and denoise of the scheduler node a sigmas wire comes from (through
        SplitSigmas and the like)."""
        link = _link(raw)
        seen: set[str] = set()
        for _ in range(MAX_DEPTH):
            if link is None or link[0] in seen:
                break
            seen.add(link[0])
            node = self._visit(link[0])
            if node is None:
                break
            kind, inputs = node
            schedule = _SCHEDULE_CLASSES.get(kind)
            if schedule is not None or "scheduler" in inputs:
                if schedule is None:
                    schedule = self._text(inputs["scheduler"])
                steps = self._int_of(inputs.get("steps"), ("steps",))
                return schedule, steps, self._float_of(inputs.get("denoise"), ("denoise",))
            link = _link(inputs.get("sigmas"))
        return None, None, None

    def _sampler_name(self, inputs: dict[str, Any]) -> str | None:
        if "sampler_name" in inputs:
            return self._text(inputs["sampler_name"])
        link = _link(inputs.get("sampler"))
        node = None if link is None else self._visit(link[0])
        if node is None:
            return None
        if "sampler_name" in node[1]:
            return self._text(node[1]["sampler_name"])
        return _SAMPLER_CLASSES.get(node[0])

    def _pass(self, sampler_id: str) -> dict[str, Any]:
        """One sampler's settings as raw as the graph has them: the caller picks what a pass
        of its kind means."""
        _, inputs = self.graph[sampler_id]
        guider_link = _link(inputs.get("guider"))
        guider_node = None if guider_link is None else self._visit(guider_link[0])
        guider = guider_node[1] if guider_node is not None else {}
        schedule, sigma_steps, sigma_denoise = self._sigmas(inputs.get("sigmas"))

        seed_raw = _first(inputs, ("seed", "noise_seed"))
        seed = self._int_of(seed_raw, ("seed", "noise_seed"))
        if seed is None and "noise" in inputs:
            seed = self._int_of(inputs["noise"], ("noise_seed", "seed"))
        steps = self._int_of(inputs.get("steps"), ("steps",)) if "steps" in inputs else None
        steps = sigma_steps if steps is None else steps
        cfg = self._float_of(inputs.get("cfg"), ("cfg",)) if "cfg" in inputs else None
        if cfg is None and "cfg" in guider:
            cfg = self._float_of(guider["cfg"], ("cfg",))
        if "scheduler" in inputs:
            schedule = self._text(inputs["scheduler"])

        denoise = self._float_of(inputs.get("denoise"), ("denoise",))
        if denoise is None and "start_at_step" in inputs:
            start = self._int_of(inputs["start_at_step"], ("start_at_step",))
            if start is not None and steps is not None and 0 <= start < steps:
                denoise = 1 - start / steps
        denoise = sigma_denoise if denoise is None else denoise

        positive = inputs.get("positive", _first(guider, ("positive", "conditioning", "cond1")))
        negative = inputs.get("negative", guider.get("negative"))
        model = inputs.get("model", guider.get("model"))
        return {
            "positive": positive,
            "negative": negative,
            "model": model,
            "seed": seed,
            "steps": steps if steps is not None and steps > 0 else None,
            "cfg_scale": cfg,
            "sampler": self._sampler_name(inputs),
            "schedule": schedule,
            "denoise": denoise if denoise is not None and 0 < denoise <= 1 else None,
        }

    def _hires(self, base_id: str, base_width: int | None) -> dict[str, str]:
        """A1111's Hires keys for the lowest-id second pass over the base's output that
        upscales it on the way (a refiner that just continues is no hires pass)."""
        second = sorted(
            (s for s in self.samplers if self.origin(s) == (_SAMPLED, base_id)), key=_id_key
        )
        if not second:
            return {}
        scaled = False
        extra: dict[str, str] = {}
        for kind, inputs in self._chain(second[0]):
            if "scale" not in kind.lower():
                continue
            scaled = True
            scale = self._float_of(inputs.get("scale_by"), ("scale_by",))
            size = self._size(inputs)
            if scale is not None and scale > 0:
                extra["Hires upscale"] = _number_text(scale)
            elif size is not None:
                extra["Hires resize"] = f"{size[0]}x{size[1]}"
                if base_width:
                    extra["Hires upscale"] = _number_text(round(size[0] / base_width, 4))
            if extra:
                break
        if not scaled:
            return {}
        second_pass = self._pass(second[0])
        if second_pass["steps"] is not None:
            extra["Hires steps"] = str(second_pass["steps"])
        if second_pass["denoise"] is not None:
            extra["Hires denoising strength"] = _number_text(second_pass["denoise"])
        return extra

    # -- the picture's settings ----------------------------------------------------------------

    def settings(self, image_size: tuple[int, int] | None) -> dict[str, Any] | None:
        ordered = sorted(self.samplers, key=_id_key)
        kinds = {sampler_id: self.origin(sampler_id)[0] for sampler_id in ordered}
        # Base-pass candidates: a sampler on an empty latent or an encoded image first, then one
        # whose latent we cannot trace, then a second pass (its settings beat none at all).
        ranked = [s for s in ordered if kinds[s] in (_EMPTY, _IMAGE)]
        ranked += [s for s in ordered if kinds[s] == _UNKNOWN]
        ranked += [s for s in ordered if kinds[s] == _SAMPLED]
        for sampler_id in ranked[:_MAX_CANDIDATES]:
            fields = self._fields(sampler_id, image_size)
            if fields is not None:
                return fields
        return None

    def _fields(self, sampler_id: str, image_size: tuple[int, int] | None) -> dict[str, Any] | None:
        base = self._pass(sampler_id)
        prompt, encoders = self._prompt(base["positive"])
        if not prompt:
            return None
        negative, _ = self._prompt(base["negative"])
        fields: dict[str, Any] = {"prompt": prompt, "negative_prompt": negative}
        for name in ("steps", "seed", "cfg_scale", "sampler"):
            if base[name] is not None:
                fields[name] = base[name]

        kind, start = self.origin(sampler_id)
        size: tuple[int, int] | None = None
        start_node = None if start is None else self.graph.get(start)
        if kind == _EMPTY and start_node is not None:
            size = self._size(start_node[1])
        elif kind == _IMAGE:
            # img2img: the size the loaded picture is scaled to on the way, else its own.
            for _, inputs in self._chain(sampler_id):
                size = self._size(inputs)
                if size is not None:
                    break
            if size is None:
                size = _valid_size(image_size)
            if base["denoise"] is not None:
                fields["denoising_strength"] = base["denoise"]
        if size is not None:
            fields["width"], fields["height"] = size

        model, loras = self._model(base["model"])
        if model is not None:
            fields["model"] = model
        fields["loras"] = tuple(loras)

        extra: dict[str, str] = {}
        if base["schedule"]:
            extra["Schedule type"] = base["schedule"]
        clip_skip = self._clip_skip(encoders[0]) if encoders else None
        if clip_skip is not None:
            extra["Clip skip"] = str(clip_skip)
        if kind in (_EMPTY, _IMAGE):
            extra.update(self._hires(sampler_id, size[0] if size else None))
        fields["extra"] = extra
        fields["source"] = "comfyui"
        return fields


def _valid_size(size: Any) -> tuple[int, int] | None:
    if not isinstance(size, tuple | list) or len(size) != 2:
        return None
    width, height = _int(size[0]), _int(size[1])
    if width is None or height is None or width <= 0 or height <= 0:
        return None
    return width, height


def settings_fields(
    prompt: Any, workflow: Any, image_size: tuple[int, int] | None = None
) -> dict[str, Any] | None:
    """ImageSettings fields from ComfyUI's ``prompt`` and ``workflow`` chunks (decoded JSON, of
    any type, either may be None), or None when neither holds a sampler with a positive text.

    The API graph is preferred, as it is what ran; the editor's graph is read when the API graph
    gives nothing (missing, or from a tool that writes only the editor's). `image_size` is the
    picture's own size, the size of an img2img job that does not scale its source. The sampler
    is ComfyUI's ``sampler_name`` with its scheduler in ``extra["Schedule type"]``, and the model
    the checkpoint file as written, for the caller to map. ``denoising_strength`` is given only
    for img2img; a hires pass's strength stays in ``extra``.
    """
    api = _api_graph(prompt)
    if api is None and isinstance(prompt, dict) and isinstance(prompt.get("nodes"), list):
        api = _workflow_graph(prompt)  # an editor's graph where the API graph belongs
    fields = None if api is None else _Reader(api).settings(image_size)
    if fields is None:
        graph = _workflow_graph(workflow)
        fields = None if graph is None else _Reader(graph).settings(image_size)
    return fields
