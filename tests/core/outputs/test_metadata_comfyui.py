"""ComfyUI's graphs read into settings: the base pass among several samplers, texts through
conditioning nodes, LoRAs and clip skip on the way to the checkpoint, img2img strength only for
img2img, the editor's graph converted, and any JSON at all read without raising, quickly.

The graphs follow the shapes ComfyUI publishes (its default workflow and its examples for SDXL,
hires fix, img2img, LoRA and custom sampling)."""

from __future__ import annotations

import copy
import math
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from imagestudio.core.outputs.comfyui import settings_fields
from tests.conftest import FUZZ_EXAMPLES

FAST_S = 0.5  # per read of a 5000-node graph, on a slow CI core (measured: 12-30 ms here)


def node(class_type: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": class_type, "inputs": inputs}


def ksampler(
    model: str = "4",
    positive: str = "6",
    negative: str = "7",
    latent: str = "5",
    **settings: Any,
) -> dict[str, Any]:
    values = {
        "seed": 156680208700286,
        "steps": 20,
        "cfg": 8.0,
        "sampler_name": "euler",
        "scheduler": "normal",
        "denoise": 1.0,
    } | settings
    return node(
        "KSampler",
        **values,
        model=[model, 0],
        positive=[positive, 0],
        negative=[negative, 0],
        latent_image=[latent, 0],
    )


def default_graph() -> dict[str, Any]:
    """ComfyUI's default workflow, as its API graph."""
    return {
        "3": ksampler(),
        "4": node("CheckpointLoaderSimple", ckpt_name="v1-5-pruned-emaonly-fp16.safetensors"),
        "5": node("EmptyLatentImage", width=512, height=512, batch_size=1),
        "6": node(
            "CLIPTextEncode",
            text="beautiful scenery nature glass bottle landscape, , purple galaxy bottle,",
            clip=["4", 1],
        ),
        "7": node("CLIPTextEncode", text="text, watermark", clip=["4", 1]),
        "8": node("VAEDecode", samples=["3", 0], vae=["4", 2]),
        "9": node("SaveImage", filename_prefix="ComfyUI", images=["8", 0]),
    }


def read(prompt: Any, workflow: Any = None, size: tuple[int, int] | None = None) -> dict[str, Any]:
    fields = settings_fields(prompt, workflow, size)
    assert fields is not None
    assert fields["source"] == "comfyui"
    return fields


# --------------------------------------------------------------------------------------------
# API graphs


def test_default_workflow() -> None:
    got = read(default_graph(), size=(512, 512))
    assert (
        got["prompt"] == "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"
    )
    assert got["negative_prompt"] == "text, watermark"
    assert got["seed"] == 156680208700286
    assert got["steps"] == 20
    assert got["cfg_scale"] == 8.0 and isinstance(got["cfg_scale"], float)
    assert got["sampler"] == "euler"
    assert got["extra"] == {"Schedule type": "normal"}
    assert (got["width"], got["height"]) == (512, 512)
    assert got["model"] == "v1-5-pruned-emaonly-fp16.safetensors"
    assert got["loras"] == ()
    # text-to-image: denoise 1.0 on an empty latent is no strength
    assert "denoising_strength" not in got


def test_prompt_is_preferred_and_workflow_is_the_fallback() -> None:
    assert read(default_graph(), {"nodes": "garbage"})["seed"] == 156680208700286
    # a prompt chunk with no sampler in it: the workflow is read instead
    got = read({"1": node("SaveImage")}, hires_lora_workflow())
    assert got["prompt"] == "a lighthouse at dusk, oil painting"


def sdxl_refiner_graph() -> dict[str, Any]:
    """ComfyUI's SDXL base + refiner example: two KSamplerAdvanced, the refiner continuing the
    base's leftover noise from step 20 of 25."""
    advanced = {
        "cfg": 8,
        "sampler_name": "dpmpp_2m",
        "scheduler": "karras",
        "steps": 25,
    }
    return {
        "4": node("CheckpointLoaderSimple", ckpt_name="sd_xl_base_1.0.safetensors"),
        "5": node("EmptyLatentImage", width=1024, height=1024, batch_size=1),
        "6": node(
            "CLIPTextEncodeSDXL",
            width=4096,
            height=4096,
            crop_w=0,
            crop_h=0,
            target_width=4096,
            target_height=4096,
            text_g="evening sunset scenery blue sky nature, glass bottle with a galaxy in it",
            text_l="evening sunset scenery blue sky nature, glass bottle with a galaxy in it",
            clip=["4", 1],
        ),
        "7": node("CLIPTextEncode", text="text, watermark", clip=["4", 1]),
        "10": node(
            "KSamplerAdvanced",
            add_noise="enable",
            noise_seed=721897303308196,
            start_at_step=0,
            end_at_step=20,
            return_with_leftover_noise="enable",
            model=["4", 0],
            positive=["6", 0],
            negative=["7", 0],
            latent_image=["5", 0],
            **advanced,
        ),
        "11": node(
            "KSamplerAdvanced",
            add_noise="disable",
            noise_seed=0,
            start_at_step=20,
            end_at_step=10000,
            return_with_leftover_noise="disable",
            model=["12", 0],
            positive=["15", 0],
            negative=["16", 0],
            latent_image=["10", 0],
            **advanced,
        ),
        "12": node("CheckpointLoaderSimple", ckpt_name="sd_xl_refiner_1.0.safetensors"),
        "15": node("CLIPTextEncodeSDXLRefiner", ascore=6, width=1024, height=1024, text="refined"),
        "16": node("CLIPTextEncode", text="blurry", clip=["12", 1]),
        "17": node("VAEDecode", samples=["11", 0], vae=["12", 2]),
        "19": node("SaveImage", images=["17", 0]),
    }


def test_sdxl_base_and_refiner_reads_the_base_pass() -> None:
    got = read(sdxl_refiner_graph(), size=(1024, 1024))
    # text_g and text_l alike: the text once
    assert (
        got["prompt"] == "evening sunset scenery blue sky nature, glass bottle with a galaxy in it"
    )
    assert got["negative_prompt"] == "text, watermark"
    assert got["seed"] == 721897303308196
    assert got["steps"] == 25
    assert got["cfg_scale"] == 8.0
    assert got["sampler"] == "dpmpp_2m"
    assert got["extra"] == {"Schedule type": "karras"}  # a refiner is no hires pass
    # the latent's size wins over the encoder's 4096 conditioning size
    assert (got["width"], got["height"]) == (1024, 1024)
    assert got["model"] == "sd_xl_base_1.0.safetensors"
    assert "denoising_strength" not in got


def test_sdxl_distinct_text_g_and_text_l_are_joined() -> None:
    graph = sdxl_refiner_graph()
    graph["6"]["inputs"] |= {"text_g": "a red fox in snow ", "text_l": "watercolor"}
    assert read(graph)["prompt"] == "a red fox in snow, watercolor"
    graph["6"]["inputs"]["text_l"] = ""
    assert read(graph)["prompt"] == "a red fox in snow"


def hires_graph() -> dict[str, Any]:
    """Hires fix: a base KSampler on an empty latent, LatentUpscaleBy 1.5, a second KSampler at
    denoise 0.5. The second pass has the lower id: the base is found by its latent."""
    graph = default_graph()
    graph["13"] = graph.pop("3") | {}
    graph["13"]["inputs"] |= {"seed": 89848141647836, "steps": 12, "sampler_name": "dpmpp_sde"}
    graph["10"] = node(
        "LatentUpscaleBy", upscale_method="nearest-exact", scale_by=1.5, samples=["13", 0]
    )
    graph["3"] = ksampler(latent="10", seed=469771404043268, steps=14, denoise=0.5)
    graph["3"]["inputs"] |= {"sampler_name": "dpmpp_2m", "scheduler": "simple"}
    graph["8"]["inputs"]["samples"] = ["3", 0]
    return graph


def test_hires_fix_reads_the_base_pass_and_notes_the_second() -> None:
    got = read(hires_graph(), size=(768, 768))
    assert got["seed"] == 89848141647836
    assert got["steps"] == 12
    assert got["sampler"] == "dpmpp_sde"
    assert (got["width"], got["height"]) == (512, 512)
    # the second pass's 0.5 is a hires strength, not an img2img one
    assert "denoising_strength" not in got
    assert got["extra"] == {
        "Schedule type": "normal",
        "Hires upscale": "1.5",
        "Hires steps": "14",
        "Hires denoising strength": "0.5",
    }


def test_hires_fix_by_size_gives_the_resize() -> None:
    graph = hires_graph()
    graph["10"] = node(
        "LatentUpscale", upscale_method="nearest-exact", width=1024, height=1024, crop="disabled"
    )
    graph["10"]["inputs"]["samples"] = ["13", 0]
    extra = read(graph)["extra"]
    assert extra["Hires resize"] == "1024x1024"
    assert extra["Hires upscale"] == "2"


def img2img_graph() -> dict[str, Any]:
    graph = default_graph()
    graph["10"] = node("LoadImage", image="example.png", upload="image")
    graph["12"] = node("VAEEncode", pixels=["10", 0], vae=["4", 2])
    graph["3"]["inputs"] |= {"denoise": 0.65, "latent_image": ["12", 0]}
    del graph["5"]
    return graph


def test_img2img_gives_its_strength_and_the_picture_size() -> None:
    got = read(img2img_graph(), size=(640, 448))
    assert got["denoising_strength"] == 0.65
    assert (got["width"], got["height"]) == (640, 448)
    assert got["prompt"].startswith("beautiful scenery")
    # without the picture's size, no size
    got = read(img2img_graph())
    assert "width" not in got and "height" not in got


def test_img2img_scaled_source_gives_the_scaled_size() -> None:
    graph = img2img_graph()
    graph["11"] = node(
        "ImageScale", upscale_method="lanczos", width=768, height=512, crop="disabled"
    )
    graph["11"]["inputs"]["image"] = ["10", 0]
    graph["12"]["inputs"]["pixels"] = ["11", 0]
    got = read(graph, size=(100, 100))
    assert (got["width"], got["height"]) == (768, 512)


def test_img2img_with_ksampler_advanced_and_inpaint_mask() -> None:
    graph = img2img_graph()
    graph["12"] = node("VAEEncodeForInpaint", grow_mask_by=6, pixels=["10", 0], vae=["4", 2])
    graph["14"] = node("SetLatentNoiseMask", samples=["12", 0], mask=["10", 1])
    graph["3"] = node(
        "KSamplerAdvanced",
        add_noise="enable",
        noise_seed=7,
        steps=20,
        cfg=6.5,
        sampler_name="euler_ancestral",
        scheduler="normal",
        start_at_step=7,
        end_at_step=10000,
        return_with_leftover_noise="disable",
        model=["4", 0],
        positive=["6", 0],
        negative=["7", 0],
        latent_image=["14", 0],
    )
    got = read(graph, size=(512, 768))
    assert got["denoising_strength"] == 0.65
    assert (got["seed"], got["steps"], got["cfg_scale"]) == (7, 20, 6.5)


def lora_graph() -> dict[str, Any]:
    """Two chained LoraLoaders, then ModelSamplingDiscrete; the encoders' clip goes through the
    LoRAs and CLIPSetLastLayer -2."""
    graph = default_graph()
    graph["10"] = node(
        "LoraLoader",
        lora_name="styles\\ink_wash.safetensors",
        strength_model=0.8,
        strength_clip=0.7,
        model=["4", 0],
        clip=["4", 1],
    )
    graph["11"] = node(
        "LoraLoader",
        lora_name="detail-tweaker.pt",
        strength_model=0.5,
        strength_clip=1.0,
        model=["10", 0],
        clip=["10", 1],
    )
    graph["12"] = node("CLIPSetLastLayer", stop_at_clip_layer=-2, clip=["11", 1])
    graph["13"] = node("ModelSamplingDiscrete", sampling="eps", zsnr=False, model=["11", 0])
    graph["3"]["inputs"]["model"] = ["13", 0]
    graph["6"]["inputs"]["clip"] = ["12", 0]
    graph["7"]["inputs"]["clip"] = ["12", 0]
    return graph


def test_chained_loras_nearest_the_checkpoint_first_and_clip_skip() -> None:
    got = read(lora_graph())
    assert got["loras"] == (("ink_wash", 0.8), ("detail-tweaker", 0.5))
    assert got["model"] == "v1-5-pruned-emaonly-fp16.safetensors"
    assert got["extra"]["Clip skip"] == "2"


def test_lora_model_only_and_no_clip_skip_at_minus_one() -> None:
    graph = lora_graph()
    graph["11"] = node(
        "LoraLoaderModelOnly",
        lora_name="flat/anime.safetensors",
        strength_model=1.0,
        model=["10", 0],
    )
    graph["12"]["inputs"]["clip"] = ["10", 1]
    graph["12"]["inputs"]["stop_at_clip_layer"] = -1
    got = read(graph)
    assert got["loras"] == (("ink_wash", 0.8), ("anime", 1.0))
    assert "Clip skip" not in got["extra"]


def custom_sampling_graph() -> dict[str, Any]:
    """Flux through SamplerCustomAdvanced: RandomNoise, CFGGuider, KSamplerSelect and
    BasicScheduler karras."""
    return {
        "6": node(
            "CLIPTextEncodeFlux", clip_l="a cat on a roof", t5xxl="a cat on a roof", guidance=3.5
        ),
        "7": node("CLIPTextEncode", text="cartoon", clip=["11", 0]),
        "12": node("UNETLoader", unet_name="flux1-dev.safetensors", weight_dtype="default"),
        "13": node(
            "SamplerCustomAdvanced",
            noise=["25", 0],
            guider=["22", 0],
            sampler=["16", 0],
            sigmas=["17", 0],
            latent_image=["27", 0],
        ),
        "16": node("KSamplerSelect", sampler_name="dpmpp_2m"),
        "17": node("BasicScheduler", scheduler="karras", steps=28, denoise=1.0, model=["12", 0]),
        "22": node("CFGGuider", cfg=3.5, model=["12", 0], positive=["6", 0], negative=["7", 0]),
        "25": node("RandomNoise", noise_seed=219670278747233),
        "27": node("EmptySD3LatentImage", width=1024, height=768, batch_size=1),
    }


def test_sampler_custom_advanced() -> None:
    got = read(custom_sampling_graph())
    assert got["prompt"] == "a cat on a roof"
    assert got["negative_prompt"] == "cartoon"
    assert got["seed"] == 219670278747233
    assert got["steps"] == 28
    assert got["cfg_scale"] == 3.5
    assert got["sampler"] == "dpmpp_2m"
    assert got["extra"] == {"Schedule type": "karras"}
    assert (got["width"], got["height"]) == (1024, 768)
    assert got["model"] == "flux1-dev.safetensors"
    assert "denoising_strength" not in got


def test_basic_guider_and_a_zeroed_negative() -> None:
    graph = custom_sampling_graph()
    graph["22"] = node("BasicGuider", model=["12", 0], conditioning=["6", 0])
    got = read(graph)
    assert (got["prompt"], got["negative_prompt"]) == ("a cat on a roof", "")
    assert "cfg_scale" not in got
    # ConditioningZeroOut erases what went in: its text is no negative prompt
    graph = custom_sampling_graph()
    graph["7"] = node("ConditioningZeroOut", conditioning=["6", 0])
    assert read(graph)["negative_prompt"] == ""


def test_sampler_custom_with_karras_scheduler_node() -> None:
    graph = default_graph()
    graph["3"] = node(
        "SamplerCustom",
        add_noise=True,
        noise_seed=99,
        cfg=5.5,
        model=["4", 0],
        positive=["6", 0],
        negative=["7", 0],
        sampler=["20", 0],
        sigmas=["22", 0],
        latent_image=["5", 0],
    )
    graph["20"] = node("SamplerDPMPP_2M_SDE", solver_type="midpoint", eta=1.0, s_noise=1.0)
    graph["21"] = node("KarrasScheduler", steps=30, sigma_max=14.6, sigma_min=0.03, rho=7.0)
    graph["22"] = node("SplitSigmas", step=0, sigmas=["21", 0])
    got = read(graph)
    assert (got["seed"], got["steps"], got["cfg_scale"]) == (99, 30, 5.5)
    assert got["sampler"] == "dpmpp_2m_sde"
    assert got["extra"]["Schedule type"] == "karras"


def test_values_from_primitive_and_string_nodes() -> None:
    graph = default_graph()
    graph["3"]["inputs"] |= {"seed": ["20", 0], "steps": ["21", 0], "cfg": ["23", 0]}
    graph["20"] = node("Seed (rgthree)", seed=42)
    graph["21"] = node("PrimitiveInt", value=30, control_after_generate="fixed")
    graph["23"] = node("PrimitiveFloat", value=6.5)
    graph["24"] = node("PrimitiveString", value="a castle")
    graph["25"] = node("String Literal", string="at night")
    graph["26"] = node("StringConcatenate", string_a=["24", 0], string_b=["25", 0], delimiter=" ")
    graph["6"]["inputs"]["text"] = ["26", 0]
    graph["7"]["inputs"]["text"] = ["27", 0]
    graph["27"] = node("Text Multiline", text=" lowres ")
    got = read(graph)
    assert (got["seed"], got["steps"], got["cfg_scale"]) == (42, 30, 6.5)
    assert (got["prompt"], got["negative_prompt"]) == ("a castle at night", "lowres")


def test_conditioning_nodes_are_followed() -> None:
    graph = default_graph()
    graph["20"] = node("CLIPTextEncode", text="golden hour", clip=["4", 1])
    graph["21"] = node("ConditioningCombine", conditioning_1=["6", 0], conditioning_2=["20", 0])
    graph["22"] = node("ConditioningSetTimestepRange", start=0.0, end=1.0, conditioning=["21", 0])
    graph["23"] = node(
        "ControlNetApplyAdvanced",
        strength=1.0,
        start_percent=0.0,
        end_percent=1.0,
        positive=["22", 0],
        negative=["7", 0],
        control_net=["30", 0],
        image=["31", 0],
    )
    graph["24"] = node("ControlNetApply", strength=0.9, conditioning=["23", 1])
    graph["3"]["inputs"] |= {"positive": ["23", 0], "negative": ["24", 0]}
    got = read(graph)
    assert got["prompt"] == (
        "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,, golden hour"
    )
    assert got["negative_prompt"] == "text, watermark"


def test_efficiency_nodes_loader_and_sampler() -> None:
    graph = {
        "1": node(
            "Efficient Loader",
            ckpt_name="sdxl/juggernaut.safetensors",
            vae_name="Baked VAE",
            clip_skip=-2,
            lora_name="None",
            lora_model_strength=1.0,
            positive="a knight, dramatic light",
            negative="cartoon",
            empty_latent_width=832,
            empty_latent_height=1216,
        ),
        "2": node(
            "KSampler (Efficient)",
            seed=31337,
            steps=30,
            cfg=5.0,
            sampler_name="dpmpp_2m_sde",
            scheduler="karras",
            denoise=1.0,
            model=["1", 0],
            positive=["1", 1],
            negative=["1", 2],
            latent_image=["1", 3],
        ),
    }
    got = read(graph)
    assert (got["prompt"], got["negative_prompt"]) == ("a knight, dramatic light", "cartoon")
    assert (got["seed"], got["steps"], got["sampler"]) == (31337, 30, "dpmpp_2m_sde")
    assert got["model"] == "sdxl/juggernaut.safetensors"
    assert got["loras"] == ()  # "None" is no LoRA
    assert got["extra"] == {"Schedule type": "karras", "Clip skip": "2"}


# --------------------------------------------------------------------------------------------
# The editor's graph


def ui_node(
    node_id: int,
    type_: str,
    widgets: list[Any],
    inputs: list[tuple[str, str, int | None]] = (),  # type: ignore[assignment]
    outputs: list[str] = (),  # type: ignore[assignment]
    mode: int = 0,
    widget_inputs: tuple[str, ...] = (),
) -> dict[str, Any]:
    slots: list[dict[str, Any]] = [
        {"name": name, "type": kind, "link": link} for name, kind, link in inputs
    ]
    for slot in slots:
        if slot["name"] in widget_inputs:
            slot["widget"] = {"name": slot["name"]}
    return {
        "id": node_id,
        "type": type_,
        "mode": mode,
        "inputs": slots,
        "outputs": [{"name": kind, "type": kind, "links": []} for kind in outputs],
        "widgets_values": widgets,
    }


def hires_lora_workflow() -> dict[str, Any]:
    """The LoRA + hires graph as the editor saves it: the base KSampler's model comes through
    a Reroute, its seed from a PrimitiveNode; a bypassed LoraLoader and a muted KSampler (with a
    lower id) take no part."""
    links = [
        [1, 4, 0, 10, 0, "MODEL"],
        [2, 4, 1, 10, 1, "CLIP"],
        [3, 10, 0, 11, 0, "MODEL"],
        [4, 10, 1, 11, 1, "CLIP"],
        [5, 11, 0, 15, 0, "MODEL"],  # into the bypassed LoRA
        [6, 15, 0, 20, 0, "MODEL"],  # out of it, to the reroute
        [7, 20, 0, 3, 0, "MODEL"],
        [8, 11, 1, 12, 0, "CLIP"],
        [9, 12, 0, 6, 0, "CLIP"],
        [10, 12, 0, 7, 0, "CLIP"],
        [11, 6, 0, 3, 1, "CONDITIONING"],
        [12, 7, 0, 3, 2, "CONDITIONING"],
        [13, 5, 0, 3, 3, "LATENT"],
        [14, 30, 0, 3, 4, "INT"],
        [15, 3, 0, 16, 0, "LATENT"],
        [16, 16, 0, 17, 3, "LATENT"],
        [17, 20, 0, 17, 0, "MODEL"],
        [18, 6, 0, 17, 1, "CONDITIONING"],
        [19, 7, 0, 17, 2, "CONDITIONING"],
        [20, 5, 0, 2, 3, "LATENT"],
        [21, 6, 0, 2, 1, "CONDITIONING"],
        [22, 7, 0, 2, 2, "CONDITIONING"],
        [23, 4, 0, 2, 0, "MODEL"],
    ]
    sampler_inputs = [
        ("model", "MODEL", None),
        ("positive", "CONDITIONING", None),
        ("negative", "CONDITIONING", None),
        ("latent_image", "LATENT", None),
    ]

    def wired(*ids: int | None) -> list[tuple[str, str, int | None]]:
        return [
            (name, kind, link) for (name, kind, _), link in zip(sampler_inputs, ids, strict=True)
        ]

    nodes = [
        ui_node(
            4, "CheckpointLoaderSimple", ["dreamshaper_8.safetensors"], [], ["MODEL", "CLIP", "VAE"]
        ),
        ui_node(
            10,
            "LoraLoader",
            ["ink_wash.safetensors", 0.8, 0.7],
            [("model", "MODEL", 1), ("clip", "CLIP", 2)],
            ["MODEL", "CLIP"],
        ),
        ui_node(
            11,
            "LoraLoader",
            ["loras/film grain.safetensors", 0.35, 0.35],
            [("model", "MODEL", 3), ("clip", "CLIP", 4)],
            ["MODEL", "CLIP"],
        ),
        ui_node(
            15,
            "LoraLoaderModelOnly",
            ["bypassed.safetensors", 1.0],
            [("model", "MODEL", 5)],
            ["MODEL"],
            mode=4,
        ),
        ui_node(20, "Reroute", [], [("", "*", 6)], ["MODEL"]),
        ui_node(12, "CLIPSetLastLayer", [-2], [("clip", "CLIP", 8)], ["CLIP"]),
        ui_node(6, "CLIPTextEncode", ["a lighthouse at dusk, oil painting"], [("clip", "CLIP", 9)]),
        ui_node(7, "CLIPTextEncode", ["blurry, lowres"], [("clip", "CLIP", 10)]),
        ui_node(5, "EmptyLatentImage", [512, 768, 1], [], ["LATENT"]),
        ui_node(
            3,
            "KSampler",
            [1, "fixed", 24, 6.5, "dpmpp_2m", "karras", 1],
            [*wired(7, 11, 12, 13), ("seed", "INT", 14)],
            ["LATENT"],
            widget_inputs=("seed",),
        ),
        ui_node(30, "PrimitiveNode", [1234567890, "randomize"], [], ["INT"]),
        ui_node(
            16,
            "LatentUpscaleBy",
            ["nearest-exact", 2],
            [("samples", "LATENT", 15)],
            ["LATENT"],
        ),
        ui_node(
            17,
            "KSampler",
            [5, "randomize", 10, 6.5, "dpmpp_2m", "karras", 0.45],
            wired(17, 18, 19, 16),
            ["LATENT"],
        ),
        ui_node(
            2,
            "KSampler",
            [666, "fixed", 99, 1, "euler", "normal", 1],
            wired(23, 21, 22, 20),
            ["LATENT"],
            mode=2,
        ),
    ]
    return {"last_node_id": 30, "last_link_id": 23, "nodes": nodes, "links": links, "version": 0.4}


def test_workflow_only_lora_hires_graph() -> None:
    got = read(None, hires_lora_workflow(), size=(1024, 1536))
    assert got["prompt"] == "a lighthouse at dusk, oil painting"
    assert got["negative_prompt"] == "blurry, lowres"
    assert got["seed"] == 1234567890  # the PrimitiveNode's, not the widget's stale 1
    assert got["steps"] == 24
    assert got["cfg_scale"] == 6.5
    assert got["sampler"] == "dpmpp_2m"
    assert (got["width"], got["height"]) == (512, 768)
    assert got["model"] == "dreamshaper_8.safetensors"
    # the bypassed LoRA passes the model through and is not applied
    assert got["loras"] == (("ink_wash", 0.8), ("film grain", 0.35))
    assert "denoising_strength" not in got
    assert got["extra"] == {
        "Schedule type": "karras",
        "Clip skip": "2",
        "Hires upscale": "2",
        "Hires steps": "10",
        "Hires denoising strength": "0.45",
    }


def test_workflow_links_as_objects_and_widgets_as_a_dict() -> None:
    workflow = hires_lora_workflow()
    workflow["links"] = [
        {"id": link[0], "origin_id": link[1], "origin_slot": link[2], "target_id": link[3]}
        for link in workflow["links"]
    ]
    for item in workflow["nodes"]:
        if item["type"] == "EmptyLatentImage":
            item["widgets_values"] = {"width": 640, "height": 384, "batch_size": 1}
    got = read(None, workflow)
    assert got["seed"] == 1234567890
    assert (got["width"], got["height"]) == (640, 384)


def test_workflow_without_control_widget_and_unknown_node() -> None:
    workflow = hires_lora_workflow()
    for item in workflow["nodes"]:
        if item["id"] == 3:
            item["widgets_values"] = [1, 24, 6.5, "dpmpp_2m", "karras", 1]  # no "fixed"
        if item["id"] == 6:
            # a custom encoder we have no table for, listing its widget among its inputs
            item["type"] = "CustomTextEncode"
            item["inputs"].append({"name": "text", "type": "STRING", "widget": {"name": "text"}})
            item["inputs"].append({"name": "seed", "type": "INT", "widget": {"name": "seed"}})
            item["widgets_values"] = ["a lighthouse", 3, "randomize"]
    got = read(None, workflow)
    assert (got["steps"], got["cfg_scale"], got["sampler"]) == (24, 6.5, "dpmpp_2m")
    assert got["prompt"] == "a lighthouse"


# --------------------------------------------------------------------------------------------
# Hostile graphs


def test_cycles_terminate() -> None:
    graph = default_graph()
    graph["20"] = node("ConditioningCombine", conditioning_1=["20", 0], conditioning_2=["6", 0])
    graph["21"] = node("LatentUpscaleBy", scale_by=2, samples=["22", 0])
    graph["22"] = node("LatentUpscaleBy", scale_by=2, samples=["21", 0])
    graph["23"] = node("LoraLoader", lora_name="a.safetensors", strength_model=1, model=["24", 0])
    graph["24"] = node("LoraLoader", lora_name="b.safetensors", strength_model=1, model=["23", 0])
    graph["25"] = node("PrimitiveInt", value=["25", 0])
    graph["26"] = node("StringConcatenate", string_a=["26", 0], string_b="loop")
    graph["3"]["inputs"] |= {
        "positive": ["20", 0],
        "latent_image": ["21", 0],
        "model": ["23", 0],
        "seed": ["25", 0],
        "steps": ["3", 0],
    }
    graph["7"]["inputs"]["text"] = ["26", 0]
    got = read(graph)
    assert got["prompt"].startswith("beautiful scenery")
    assert got["negative_prompt"] == "loop"
    assert "seed" not in got and "steps" not in got and "width" not in got
    assert "model" not in got
    assert {name for name, _ in got["loras"]} == {"a", "b"}

    workflow = hires_lora_workflow()
    workflow["links"].append([24, 20, 0, 20, 0, "MODEL"])
    for item in workflow["nodes"]:
        if item["type"] == "Reroute":
            item["inputs"] = [{"name": "", "type": "*", "link": 24}]
    got = read(None, workflow)
    assert "model" not in got


def test_garbage_is_no_settings() -> None:
    garbage: list[Any] = [
        None,
        [],
        "prompt",
        5,
        True,
        math.nan,
        {},
        {"3": "KSampler"},
        {"3": {"class_type": 3, "inputs": []}},
        {"3": {"class_type": "KSampler", "inputs": "seed"}},
        {"nodes": "x", "links": 5},
        {"nodes": [None, {"id": True, "type": "KSampler"}, {"id": 2**80, "type": []}]},
        {"nodes": [{"id": 1, "type": "KSampler", "inputs": [{"link": [1]}]}], "links": [[1]]},
    ]
    for prompt in garbage:
        for workflow in garbage:
            assert settings_fields(prompt, workflow, (512, 512)) is None
    # a sampler without a positive text is no settings either
    graph = default_graph()
    graph["6"]["inputs"]["text"] = "   "
    assert settings_fields(graph, None) is None


def test_bad_values_are_not_taken() -> None:
    graph = default_graph()
    graph["3"]["inputs"] |= {"seed": True, "steps": 2**70, "cfg": math.inf, "denoise": math.nan}
    graph["5"]["inputs"] |= {"width": "512", "height": 512.5}
    graph["4"]["inputs"]["ckpt_name"] = "x" * 100_001
    graph["7"]["inputs"]["text"] = "y" * 100_001
    got = read(graph, size=(True, 5))
    for name in ("seed", "steps", "cfg_scale", "width", "height", "model"):
        assert name not in got
    assert got["negative_prompt"] == ""


def big_graph(count: int = 5000) -> dict[str, Any]:
    """Many samplers on one long chain of latent nodes and one wide diamond of conditioning
    combinations: as costly a shape as the walks have."""
    graph = default_graph()
    chain = 1500
    previous = "5"
    for index in range(100, 100 + chain):
        graph[str(index)] = node("LatentUpscaleBy", scale_by=1.0, samples=[previous, 0])
        previous = str(index)
    combine = "6"
    for index in range(2000, 3000):
        graph[str(index)] = node(
            "ConditioningCombine", conditioning_1=[combine, 0], conditioning_2=[combine, 0]
        )
        combine = str(index)
    for index in range(10_000, 10_000 + count - len(graph)):
        graph[str(index)] = ksampler(positive=combine, latent=previous, seed=index)
    assert len(graph) == count
    return graph


def test_a_5000_node_graph_reads_quickly() -> None:
    graph = big_graph()
    workflow: dict[str, Any] = {"nodes": [], "links": []}
    started = time.perf_counter()
    got = settings_fields(graph, workflow)
    elapsed = time.perf_counter() - started
    assert elapsed < FAST_S, elapsed
    assert got is not None and got["seed"] == 156680208700286

    # the editor's graph: 5000 reroutes in a chain, each also feeding a sampler's model
    nodes = [ui_node(1, "CheckpointLoaderSimple", ["m.safetensors"], [], ["MODEL"])]
    links: list[list[Any]] = [[1, 1, 0, 2, 0, "MODEL"]]
    for index in range(2, 2502):
        nodes.append(ui_node(index, "Reroute", [], [("", "*", index - 1)], ["MODEL"]))
        links.append([index, index, 0, index + 1, 0, "MODEL"])
    for index in range(2502, 5000):
        nodes.append(
            ui_node(index, "KSampler", [1, 2, 3, "euler", "normal", 1], [("model", "MODEL", 2501)])
        )
    started = time.perf_counter()
    settings_fields(None, {"nodes": nodes, "links": links})
    assert time.perf_counter() - started < FAST_S


def test_many_candidates_over_one_textless_tree_read_quickly() -> None:
    # every sampler's positive is a binary tree of 2000 combinations over an empty text: the
    # candidates tried walk it once together, not once each
    graph = default_graph()
    graph["6"]["inputs"]["text"] = ""
    for index in range(1, 2000):
        graph[f"c{index}"] = node(
            "ConditioningCombine",
            conditioning_1=[f"c{2 * index}" if 2 * index < 2000 else "6", 0],
            conditioning_2=[f"c{2 * index + 1}" if 2 * index + 1 < 2000 else "6", 0],
        )
    for index in range(10_000, 10_000 + 5000 - len(graph)):
        graph[str(index)] = ksampler(positive="c1", negative="c1")
    started = time.perf_counter()
    assert settings_fields(graph, None) is None
    assert time.perf_counter() - started < FAST_S


# --------------------------------------------------------------------------------------------
# Any JSON at all

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=24,
)
_ids = st.sampled_from(["1", "2", "3", "4", "5", "6"])
_classes = st.sampled_from(
    [
        "KSampler",
        "KSamplerAdvanced",
        "SamplerCustom",
        "SamplerCustomAdvanced",
        "CFGGuider",
        "BasicGuider",
        "RandomNoise",
        "KSamplerSelect",
        "BasicScheduler",
        "KarrasScheduler",
        "CheckpointLoaderSimple",
        "LoraLoader",
        "CLIPSetLastLayer",
        "CLIPTextEncode",
        "CLIPTextEncodeSDXL",
        "ConditioningCombine",
        "ControlNetApplyAdvanced",
        "EmptyLatentImage",
        "LatentUpscaleBy",
        "VAEEncode",
        "VAEDecode",
        "LoadImage",
        "ImageScale",
        "StringConcatenate",
        "PrimitiveNode",
        "Reroute",
        "Text Concatenate",
    ]
)
_input_names = st.sampled_from(
    [
        "seed",
        "noise_seed",
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "denoise",
        "start_at_step",
        "model",
        "clip",
        "positive",
        "negative",
        "latent_image",
        "samples",
        "pixels",
        "image",
        "noise",
        "guider",
        "sampler",
        "sigmas",
        "conditioning",
        "conditioning_1",
        "text",
        "text_g",
        "text_l",
        "ckpt_name",
        "lora_name",
        "strength_model",
        "lora_1",
        "stop_at_clip_layer",
        "width",
        "height",
        "scale_by",
        "value",
        "string_a",
        "delimiter",
    ]
)
_links = st.tuples(_ids, st.integers(min_value=-1, max_value=3)).map(list)
_inputs = st.dictionaries(_input_names, _links | _json, max_size=10)
_api_graphs = st.dictionaries(
    _ids, st.fixed_dictionaries({"class_type": _classes, "inputs": _inputs}) | _json, max_size=6
)
_ui_ids = st.integers(min_value=0, max_value=6)
_ui_slots = st.fixed_dictionaries(
    {"name": _input_names, "type": st.sampled_from(["MODEL", "INT", "*"]), "link": _ui_ids | _json},
    optional={"widget": st.fixed_dictionaries({"name": _input_names}) | _json},
)
_ui_nodes = st.fixed_dictionaries(
    {
        "id": _ui_ids,
        "type": _classes,
        "mode": st.sampled_from([0, 2, 4]) | _json,
        "inputs": st.lists(_ui_slots, max_size=6) | _json,
        "outputs": st.lists(
            st.fixed_dictionaries({"type": st.sampled_from(["MODEL", "INT"])}), max_size=3
        ),
        "widgets_values": st.lists(_scalars, max_size=10) | _json,
    }
)
_ui_links = st.tuples(
    _ui_ids, _ui_ids, st.integers(0, 3), _ui_ids, st.integers(0, 3), st.text(max_size=5)
)
_workflows = st.fixed_dictionaries(
    {
        "nodes": st.lists(_ui_nodes | _json, max_size=8),
        "links": st.lists(_ui_links.map(list) | _json, max_size=10),
    }
)


def check_fields(fields: Any) -> None:
    """None, or fields of the types ImageSettings declares."""
    if fields is None:
        return
    assert isinstance(fields, dict)
    assert isinstance(fields["prompt"], str) and fields["prompt"]
    assert isinstance(fields["negative_prompt"], str)
    for name in ("steps", "seed", "width", "height"):
        if name in fields:
            assert type(fields[name]) is int
    for name in ("cfg_scale", "denoising_strength"):
        if name in fields:
            assert type(fields[name]) is float and math.isfinite(fields[name])
    for name in ("sampler", "model"):
        if name in fields:
            assert isinstance(fields[name], str)
    assert isinstance(fields["loras"], tuple)
    for name, weight in fields["loras"]:
        assert isinstance(name, str) and type(weight) is float
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in fields["extra"].items())
    assert fields["source"] == "comfyui"
    assert set(fields) <= {
        "prompt",
        "negative_prompt",
        "steps",
        "seed",
        "cfg_scale",
        "width",
        "height",
        "sampler",
        "model",
        "denoising_strength",
        "loras",
        "extra",
        "source",
    }


_fuzz = settings(max_examples=FUZZ_EXAMPLES, deadline=None)


@_fuzz
@given(prompt=_json, workflow=_json, size=st.none() | st.tuples(_scalars, _scalars))
def test_any_json_never_raises(prompt: Any, workflow: Any, size: Any) -> None:
    check_fields(settings_fields(prompt, workflow, size))


@_fuzz
@given(prompt=_api_graphs, workflow=_workflows | _json)
def test_any_graph_never_raises(prompt: Any, workflow: Any) -> None:
    check_fields(settings_fields(prompt, workflow, (512, 512)))
    check_fields(settings_fields(None, workflow))


@_fuzz
@given(data=st.data())
def test_known_graphs_mutated_never_raise(data: st.DataObject) -> None:
    graph = copy.deepcopy(
        data.draw(
            st.sampled_from(
                [
                    default_graph(),
                    hires_graph(),
                    img2img_graph(),
                    lora_graph(),
                    custom_sampling_graph(),
                ]
            )
        )
    )
    for node_id in data.draw(st.lists(st.sampled_from(sorted(graph)), max_size=4)):
        inputs = graph[node_id]["inputs"]
        name = data.draw(st.sampled_from(sorted(inputs) or ["x"]))
        inputs[name] = data.draw(_links | _json)
    check_fields(settings_fields(graph, hires_lora_workflow()))
