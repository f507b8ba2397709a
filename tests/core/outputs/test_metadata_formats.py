"""NovelAI, InvokeAI 1.x/2.x, TensorArt and Stability Matrix pictures; LoRA tags; hires passes.

Every picture is built here from its format's published structure (the chunk names and the keys
each tool writes); no other tool's files are copied in.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from imagestudio.core.outputs.metadata import (
    ImageSettings,
    format_parameters,
    parse_parameters,
    read_settings,
)
from imagestudio.core.schedulers import sampler_from_metadata

NOVELAI_COMMENT = {
    "prompt": "1girl, silver hair, night city, rain, best quality, amazing quality",
    "steps": 28,
    "height": 1216,
    "width": 832,
    "scale": 5.5,
    "uncond_scale": 0.0,
    "cfg_rescale": 0.1,
    "seed": 3141592653,
    "n_samples": 1,
    "noise_schedule": "karras",
    "sampler": "k_dpmpp_2m",
    "sm": False,
    "sm_dyn": False,
    "uc": "lowres, bad anatomy, worst quality",
    "request_type": "PromptGenerateRequest",
    "signed_hash": "abc",
}
NOVELAI_CHUNKS = {
    "Title": "NovelAI generated image",
    "Description": "1girl, silver hair, night city, rain",
    "Software": "NovelAI",
    "Source": "NovelAI Diffusion V3 7BCCAA2C",
    "Generation time": "2.1",
    "Comment": json.dumps(NOVELAI_COMMENT),
}


def _png(path: Path, chunks: dict[str, str], *, latin1: bool = False) -> Path:
    info = PngInfo()
    for key, value in chunks.items():
        if latin1:
            # what Stability Matrix does: the UTF-8 bytes of the text, in a latin-1 tEXt chunk
            info.add_text(key, value.encode("utf-8").decode("latin-1"))
        else:
            info.add_itxt(key, value)
    Image.new("RGB", (64, 96), (20, 90, 160)).save(path, pnginfo=info)
    return path


def _with_user_comment(path: Path, comment: str, fmt: str) -> Path:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + comment.encode("utf-16-be")
    Image.new("RGB", (16, 16), (10, 120, 200)).save(path, fmt, exif=exif.tobytes())
    return path


def _check_novelai(got: ImageSettings | None) -> None:
    assert got is not None and got.source == "novelai"
    assert got.prompt == NOVELAI_COMMENT["prompt"]
    assert got.negative_prompt == "lowres, bad anatomy, worst quality"
    assert (got.steps, got.seed, got.cfg_scale) == (28, 3141592653, 5.5)
    assert (got.width, got.height) == (832, 1216)
    assert got.model == "NovelAI Diffusion V3 7BCCAA2C"
    assert got.denoising_strength is None  # text-to-image
    assert sampler_from_metadata(got.sampler, got.extra) == "DPM++ 2M Karras"
    assert got.extra["CFG rescale"] == "0.1"


def test_novelai_png_chunks(tmp_path: Path) -> None:
    _check_novelai(read_settings(_png(tmp_path / "n.png", NOVELAI_CHUNKS)))


def test_novelai_webp_and_jpeg_keep_the_chunks_as_json_in_the_user_comment(tmp_path: Path) -> None:
    for fmt, name in (("WEBP", "n.webp"), ("JPEG", "n.jpg")):
        _check_novelai(
            read_settings(_with_user_comment(tmp_path / name, json.dumps(NOVELAI_CHUNKS), fmt))
        )


def test_novelai_4_captions_and_img2img_strength(tmp_path: Path) -> None:
    comment = {
        "steps": 23,
        "scale": 6,
        "seed": 5,
        "sampler": "k_euler_ancestral",
        "noise_schedule": "native",
        "request_type": "Img2ImgRequest",
        "strength": 0.45,
        "v4_prompt": {
            "caption": {
                "base_caption": "a quiet harbour",
                "char_captions": [{"char_caption": "an old sailor", "centers": [{"x": 0.5}]}],
            }
        },
        "v4_negative_prompt": {"caption": {"base_caption": "blurry", "char_captions": []}},
    }
    chunks = {
        "Software": "NovelAI",
        "Source": "NovelAI Diffusion V4",
        "Comment": json.dumps(comment),
    }
    got = read_settings(_png(tmp_path / "n4.png", chunks))
    assert got is not None
    assert got.prompt == "a quiet harbour | an old sailor"
    assert got.negative_prompt == "blurry"
    assert got.denoising_strength == 0.45
    assert sampler_from_metadata(got.sampler, got.extra) == "Euler a"
    assert "Schedule type" not in got.extra  # "native" is the sampler's own


def test_invokeai_1_dream_command_line(tmp_path: Path) -> None:
    dream = (
        '"a castle on a hill [fog, people]" -s 50 -S 3357757885 -W 640 -H 448 -C 7.5 -A k_euler_a'
    )
    got = read_settings(_png(tmp_path / "d.png", {"Dream": dream}))
    assert got is not None and got.source == "invokeai"
    assert (got.prompt, got.negative_prompt) == ("a castle on a hill", "fog, people")
    assert (got.steps, got.seed, got.width, got.height, got.cfg_scale) == (
        50,
        3357757885,
        640,
        448,
        7.5,
    )
    assert sampler_from_metadata(got.sampler, got.extra) == "Euler a"
    assert got.denoising_strength is None
    img2img = dream + " -I init.png -f 0.6"
    got = read_settings(_png(tmp_path / "d2.png", {"Dream": img2img}))
    assert got is not None and got.denoising_strength == 0.6


def test_invokeai_2_sd_metadata(tmp_path: Path) -> None:
    data = {
        "model": "stable diffusion",
        "model_weights": "stable-diffusion-1.5",
        "model_hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516",
        "app_id": "invoke-ai/InvokeAI",
        "app_version": "2.2.4",
        "image": {
            "prompt": [{"prompt": "a watercolor fox in the snow [photo, 3d]", "weight": 1.0}],
            "steps": 30,
            "cfg_scale": 8.5,
            "threshold": 0,
            "perlin": 0,
            "height": 512,
            "width": 768,
            "seed": 123456,
            "seamless": False,
            "hires_fix": False,
            "type": "txt2img",
            "postprocessing": None,
            "sampler": "ddim",
            "variations": [],
        },
    }
    got = read_settings(_png(tmp_path / "i2.png", {"sd-metadata": json.dumps(data)}))
    assert got is not None and got.source == "invokeai"
    assert (got.prompt, got.negative_prompt) == ("a watercolor fox in the snow", "photo, 3d")
    assert (got.steps, got.cfg_scale, got.seed, got.width, got.height) == (
        30,
        8.5,
        123456,
        768,
        512,
    )
    assert got.model == "stable-diffusion-1.5"
    assert sampler_from_metadata(got.sampler, got.extra) == "DDIM"


def test_invokeai_3_loras_and_no_strength_on_txt2img(tmp_path: Path) -> None:
    data = {
        "generation_mode": "txt2img",
        "positive_prompt": "a red bicycle",
        "negative_prompt": "",
        "width": 512,
        "height": 512,
        "seed": 1,
        "steps": 20,
        "cfg_scale": 7,
        "scheduler": "dpmpp_2m_k",
        "strength": 0.75,
        "model": {"model_name": "sd-1.5", "base_model": "sd-1"},
        "loras": [{"lora": {"model_name": "paper-cut", "base_model": "sd-1"}, "weight": 0.7}],
    }
    got = read_settings(_png(tmp_path / "i3.png", {"invokeai_metadata": json.dumps(data)}))
    assert got is not None
    assert got.loras == (("paper-cut", 0.7),)
    assert got.denoising_strength is None
    assert sampler_from_metadata(got.sampler, got.extra) == "DPM++ 2M Karras"


def test_tensorart_generation_data_with_its_comfyui_graph(tmp_path: Path) -> None:
    data = {
        "prompt": "cyberpunk street market, neon",
        "negativePrompt": "lowres",
        "baseModel": {"modelFileName": "dreamshaper_8.safetensors", "hash": "879DB523C3"},
        "models": [
            {"type": "LORA", "modelFileName": "neon_glow_v2.safetensors", "weight": 0.65},
            {"type": "EMBEDDING", "modelFileName": "easynegative.pt"},
        ],
        "steps": 25,
        "cfgScale": 6,
        "clipSkip": 2,
        "width": 512,
        "height": 768,
        "seed": "2468",
    }
    graph = {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 2468,
                "steps": 25,
                "cfg": 6,
                "sampler_name": "dpmpp_2m",
                "scheduler": "karras",
                "denoise": 1,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "dreamshaper_8.safetensors"},
        },
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 512, "height": 768, "batch_size": 1},
        },
        "6": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "cyberpunk street market, neon", "clip": ["4", 1]},
        },
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "lowres", "clip": ["4", 1]}},
    }
    chunks = {"generation_data": json.dumps(data), "prompt": json.dumps(graph)}
    got = read_settings(_png(tmp_path / "t.png", chunks))
    assert got is not None and got.source == "tensorart"
    assert (got.prompt, got.negative_prompt) == ("cyberpunk street market, neon", "lowres")
    assert (got.steps, got.cfg_scale, got.seed, got.width, got.height) == (25, 6.0, 2468, 512, 768)
    assert got.model == "dreamshaper_8.safetensors"
    assert got.loras == (("neon_glow_v2", 0.65),)
    assert got.extra["Clip skip"] == "2"
    # TensorArt's JSON has no sampler: it comes from the graph
    assert sampler_from_metadata(got.sampler, got.extra) == "DPM++ 2M Karras"


def test_stability_matrix_mojibake_text_and_parameters_json(tmp_path: Path) -> None:
    text = (
        "café at dawn, 桜, <lora:film-grain:0.4>\nNegative prompt: ugly\n"
        "Steps: 24, Sampler: DPM++ 2M Karras, CFG scale: 6, Seed: 77, Size: 768x512, "
        "Model: juggernaut"
    )
    # The text alone, in a latin-1 tEXt chunk: read back as the UTF-8 it was.
    got = read_settings(_png(tmp_path / "m.png", {"parameters": text}, latin1=True))
    assert got is not None and got.prompt == "café at dawn, 桜"
    assert got.loras == (("film-grain", 0.4),)
    exact = {
        "PositivePrompt": "café at dawn, 桜, <lora:film-grain:0.4>",
        "NegativePrompt": "ugly",
        "Steps": 24,
        "Sampler": "Euler Ancestral Karras",
        "CfgScale": 6.0,
        "Seed": 77,
        "Width": 768,
        "Height": 512,
        "ModelName": "juggernaut",
        "ModelHash": "d91d35736d",
    }
    both = {"parameters": text, "parameters-json": json.dumps(exact, ensure_ascii=False)}
    got = read_settings(_png(tmp_path / "m2.png", both, latin1=True))
    assert got is not None and got.source == "stabilitymatrix"
    assert (got.steps, got.cfg_scale, got.seed, got.width, got.height) == (24, 6.0, 77, 768, 512)
    assert got.model == "juggernaut" and got.negative_prompt == "ugly"
    # Euler a on a Karras schedule is not plain Euler a: no match, and the window says so
    assert sampler_from_metadata(got.sampler, got.extra) is None


def test_real_latin1_text_is_kept() -> None:
    got = parse_parameters("caf\xe9 au lait\nSteps: 20, Seed: 1")
    assert got.prompt == "caf\xe9 au lait"


def test_lora_tags_leave_the_prompt_and_are_written_back() -> None:
    text = (
        "masterpiece, <lora:ink-wash:0.8>, a heron, <lora:paper:1>\nNegative prompt: blur\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512, "
        'Lora hashes: "ink-wash: a1b2c3d4e5f6, paper: 0f0f0f0f0f0f"'
    )
    got = parse_parameters(text)
    assert got.prompt == "masterpiece, a heron"
    assert got.loras == (("ink-wash", 0.8), ("paper", 1.0))
    assert got.request_values()["loras"] == [["ink-wash", 0.8], ["paper", 1.0]]
    again = parse_parameters(format_parameters(got))
    assert (again.prompt, again.loras) == (got.prompt, got.loras)
    assert again.extra["Lora hashes"] == "ink-wash: a1b2c3d4e5f6, paper: 0f0f0f0f0f0f"


def test_hires_pass_strength_is_not_an_img2img_strength() -> None:
    hires = parse_parameters(
        "a fox\nSteps: 20, Seed: 1, Size: 512x512, Denoising strength: 0.45, "
        "Hires upscale: 2, Hires steps: 10, Hires upscaler: Latent"
    )
    assert hires.denoising_strength is None
    assert "strength" not in hires.request_values()
    assert hires.extra["Denoising strength"] == "0.45"  # written back as it was
    assert "Denoising strength: 0.45" in format_parameters(hires)
    img2img = parse_parameters("a fox\nSteps: 20, Seed: 1, Denoising strength: 0.45")
    assert img2img.denoising_strength == 0.45
    assert img2img.request_values()["strength"] == 0.45


def test_our_json_gives_no_strength_without_a_start_image(tmp_path: Path) -> None:
    ours = {
        "kind": "generate",
        "prompt": "a boat",
        "strength": 0.6,
        "init_image": None,
        "loras": [["ink-wash", 0.5]],
    }
    got = read_settings(_png(tmp_path / "o.png", {"imagestudio": json.dumps(ours)}))
    assert got is not None and got.denoising_strength is None
    assert got.loras == (("ink-wash", 0.5),)
    ours["init_image"] = "start.png"
    got = read_settings(_png(tmp_path / "o2.png", {"imagestudio": json.dumps(ours)}))
    assert got is not None and got.denoising_strength == 0.6


def test_civitai_resources_name_the_model_and_loras_its_generator_used() -> None:
    """Civitai's generator writes raw JSON after "Civitai resources:" (its commas are not pair
    separators) and names its checkpoint and LoRAs only there."""
    resources = [
        {"type": "checkpoint", "modelVersionId": 290640, "modelName": "Pony Diffusion V6 XL"},
        {"type": "lora", "weight": 0.8, "modelVersionId": 12345, "modelName": "Ink Wash"},
        {"type": "embed", "modelName": "easynegative"},
    ]
    text = (
        "a castle\nNegative prompt: blurry\nSteps: 30, Sampler: DPM++ 2M, Schedule type: Karras, "
        f"CFG scale: 5, Seed: 7, Size: 832x1216, Civitai resources: {json.dumps(resources)}, "
        'Civitai metadata: {"remixOfId": 1}, Clip skip: 2'
    )
    got = parse_parameters(text)
    assert (got.steps, got.seed, got.width) == (30, 7, 832)
    assert got.model == "Pony Diffusion V6 XL"
    assert got.loras == (("Ink Wash", 0.8),)
    assert json.loads(got.extra["Civitai resources"]) == resources
    assert got.extra["Civitai metadata"] == '{"remixOfId": 1}'
    assert got.extra["Clip skip"] == "2"  # the pair after the JSON is still read
    # written back, it reads the same
    assert parse_parameters(format_parameters(got)).extra == got.extra
    # a Model key and LoRA tags win over the list
    tagged = parse_parameters(text.replace("a castle", "a castle <lora:ink:0.5>") + ", Model: x")
    assert (tagged.model, tagged.loras) == ("x", (("ink", 0.5),))
