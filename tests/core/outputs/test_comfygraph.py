"""The ComfyUI graph our PNGs carry: ComfyUI loads it before any A1111 text, so it must hold the
whole job. Read back with our own ComfyUI reader, which follows the wires as ComfyUI does."""

from __future__ import annotations

import json

import pytest

from imagestudio.core.outputs import comfyui
from imagestudio.core.outputs.comfygraph import GraphSettings, api_graph
from imagestudio.core.schedulers import comfyui_sampler, sampler_from_metadata, scheduler_names

BASE = GraphSettings(
    prompt="a heron in the reeds",
    negative_prompt="blurry",
    seed=4_000_000_123,
    steps=27,
    cfg=6.5,
    sampler_name="dpmpp_2m",
    scheduler="karras",
    width=832,
    height=1216,
    checkpoint="dreamshaper_8.safetensors",
    loras=[("ink-wash.safetensors", 0.8), ("paper.safetensors", -0.25)],
)


def _read(graph: dict) -> dict:
    # through JSON, as it travels in the PNG chunk
    fields = comfyui.settings_fields(json.loads(json.dumps(graph)), None, (832, 1216))
    assert fields is not None
    return fields


def test_a_text_to_image_graph_reads_back_whole() -> None:
    fields = _read(api_graph(BASE))
    assert (fields["prompt"], fields["negative_prompt"]) == ("a heron in the reeds", "blurry")
    assert (fields["seed"], fields["steps"], fields["cfg_scale"]) == (4_000_000_123, 27, 6.5)
    assert (fields["width"], fields["height"]) == (832, 1216)
    assert fields["model"] == "dreamshaper_8.safetensors"
    assert fields["loras"] == (("ink-wash", 0.8), ("paper", -0.25))
    assert fields.get("denoising_strength") is None
    assert sampler_from_metadata(fields["sampler"], fields["extra"]) == "DPM++ 2M Karras"


def test_an_image_to_image_graph_carries_its_strength() -> None:
    graph = api_graph(
        GraphSettings(**{**BASE.__dict__, "init_image": "start.png", "denoise": 0.45})
    )
    assert graph["4"]["inputs"]["image"] == "start.png"
    fields = _read(graph)
    assert fields["denoising_strength"] == 0.45
    assert fields["prompt"] == "a heron in the reeds"


@pytest.mark.parametrize("name", scheduler_names())
def test_every_scheduler_but_pndm_has_a_comfyui_twin_that_reads_back(name: str) -> None:
    twin = comfyui_sampler(name)
    if name == "PNDM":
        assert twin is None  # ComfyUI has no PLMS: no graph rather than another sampler
        return
    assert twin is not None
    sampler, schedule = twin
    assert sampler_from_metadata(sampler, {"Schedule type": schedule}) == name
