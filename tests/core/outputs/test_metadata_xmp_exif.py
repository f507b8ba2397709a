"""Easy Diffusion, Draw Things (XMP), ComfyUI graphs in WebP EXIF, and JPEG comments.

Every picture is built here from its format's published structure (the chunk, tag and key names
each tool writes); no other tool's files are copied in.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from imagestudio.core.outputs.metadata import ImageSettings, read_settings
from imagestudio.core.schedulers import sampler_from_metadata

PROMPT = "a lighthouse on a cliff at dusk, oil painting"


def _png(path: Path, chunks: dict[str, str]) -> Path:
    info = PngInfo()
    for key, value in chunks.items():
        info.add_itxt(key, value)
    Image.new("RGB", (64, 96), (20, 90, 160)).save(path, pnginfo=info)
    return path


def _check(got: ImageSettings | None, source: str, **expected: object) -> ImageSettings:
    assert got is not None and got.source == source
    for name, value in expected.items():
        assert getattr(got, name) == value, name
    return got


# --------------------------------------------------------------------------------------------
# Easy Diffusion

EASY_DIFFUSION = {
    "prompt": PROMPT,
    "negative_prompt": "blurry",
    "seed": "3047201",
    "use_stable_diffusion_model": "sd-v1-5",
    "clip_skip": "False",
    "use_vae_model": "vae-ft-mse-840000-ema-pruned",
    "sampler_name": "dpm_solver_stability",
    "width": "512",
    "height": "768",
    "num_inference_steps": "25",
    "guidance_scale": "7.5",
    "use_lora_model": '["ink-wash", "paper"]',
    "lora_alpha": "[0.8, 0.4]",
}


def test_easy_diffusion_png_chunks(tmp_path: Path) -> None:
    got = read_settings(_png(tmp_path / "ed.png", EASY_DIFFUSION))
    _check(
        got,
        "easydiffusion",
        prompt=PROMPT,
        negative_prompt="blurry",
        seed=3047201,
        steps=25,
        cfg_scale=7.5,
        width=512,
        height=768,
        model="sd-v1-5",
        loras=(("ink-wash", 0.8), ("paper", 0.4)),
    )


def test_easy_diffusion_older_capitalised_chunks(tmp_path: Path) -> None:
    chunks = {
        "Prompt": PROMPT,
        "Negative Prompt": "blurry",
        "Seed": "12",
        "Stable Diffusion model": "sd-v1-4",
        "Sampler": "euler_a",
        "Width": "512",
        "Height": "512",
        "Steps": "30",
        "Guidance Scale": "8",
        "LoRA model": "ink-wash",
        "LoRA Strength": "0.5",
    }
    got = _check(
        read_settings(_png(tmp_path / "ed-old.png", chunks)),
        "easydiffusion",
        prompt=PROMPT,
        negative_prompt="blurry",
        seed=12,
        steps=30,
        cfg_scale=8.0,
        model="sd-v1-4",
        loras=(("ink-wash", 0.5),),
    )
    assert sampler_from_metadata(got.sampler, got.extra) == "Euler a"


def test_easy_diffusion_json_in_a_jpeg_user_comment(tmp_path: Path) -> None:
    data = {key: value for key, value in EASY_DIFFUSION.items() if "lora" not in key}
    data |= {"seed": 3047201, "num_inference_steps": 25, "guidance_scale": 7.5}
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + json.dumps(data).encode("utf-16-be")
    path = tmp_path / "ed.jpg"
    Image.new("RGB", (16, 16)).save(path, "JPEG", exif=exif.tobytes())
    _check(read_settings(path), "json", prompt=PROMPT, steps=25, seed=3047201, model="sd-v1-5")


def test_a_comfyui_prompt_chunk_is_not_taken_for_easy_diffusion(tmp_path: Path) -> None:
    # a "prompt" chunk that is neither a graph nor beside Easy Diffusion's other chunks
    assert read_settings(_png(tmp_path / "p.png", {"prompt": "just some words"})) is None


# --------------------------------------------------------------------------------------------
# Draw Things

DRAW_THINGS = {
    "c": PROMPT,
    "uc": "blurry, lowres",
    "seed": 2718281828,
    "steps": 30,
    "scale": 5.5,
    "sampler": "DPM++ 2M Karras",
    "size": "832x1216",
    "model": "sd_xl_base_1.0_f16.ckpt",
    "strength": 1,
    "seed_mode": "Scale Alike",
    "lora": [{"file": "ink_wash_lora_f16.ckpt", "weight": 0.6}],
}


def _xmp(comment: str, description: str = "") -> str:
    def escape(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 6.0.0">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(description)}'
        "</rdf:li></rdf:Alt></dc:description>"
        f'<exif:UserComment><rdf:Alt><rdf:li xml:lang="x-default">{escape(comment)}'
        "</rdf:li></rdf:Alt></exif:UserComment>"
        "<xmp:CreatorTool>Draw Things</xmp:CreatorTool>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )


def _check_draw_things(got: ImageSettings | None, strength: float | None = None) -> None:
    _check(
        got,
        "drawthings",
        prompt=PROMPT,
        negative_prompt="blurry, lowres",
        seed=2718281828,
        steps=30,
        cfg_scale=5.5,
        width=832,
        height=1216,
        model="sd_xl_base_1.0_f16.ckpt",
        loras=(("ink_wash_lora_f16", 0.6),),
        denoising_strength=strength,
    )
    assert got is not None and sampler_from_metadata(got.sampler, got.extra) == "DPM++ 2M Karras"


def test_draw_things_png_xmp(tmp_path: Path) -> None:
    path = _png(tmp_path / "dt.png", {"XML:com.adobe.xmp": _xmp(json.dumps(DRAW_THINGS))})
    _check_draw_things(read_settings(path))


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_draw_things_xmp_in_jpeg_and_webp_with_img2img_strength(tmp_path: Path, fmt: str) -> None:
    data = DRAW_THINGS | {"strength": 0.45}
    path = tmp_path / f"dt.{fmt.lower()}"
    Image.new("RGB", (16, 16)).save(path, fmt, xmp=_xmp(json.dumps(data)).encode())
    _check_draw_things(read_settings(path), strength=0.45)


def test_a1111_text_in_an_xmp_description(tmp_path: Path) -> None:
    text = f"{PROMPT}\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 9"
    path = _png(tmp_path / "d.png", {"XML:com.adobe.xmp": _xmp("a holiday photo", text)})
    _check(read_settings(path), "a1111", prompt=PROMPT, steps=20, seed=9)


def test_xmp_without_settings_and_entity_tricks_give_nothing_quickly(tmp_path: Path) -> None:
    # a photo's XMP: no settings. An entity bomb: never expanded (no XML parser reads it).
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
        + "]><x:xmpmeta><exif:UserComment>&j;</exif:UserComment></x:xmpmeta>"
    )
    for name, xmp in (("photo", _xmp("Holiday in Crete")), ("bomb", bomb)):
        start = time.perf_counter()
        assert read_settings(_png(tmp_path / f"{name}.png", {"XML:com.adobe.xmp": xmp})) is None
        assert time.perf_counter() - start < 1.0
    unclosed = "<exif:UserComment>" * 20_000
    assert read_settings(_png(tmp_path / "u.png", {"XML:com.adobe.xmp": unclosed})) is None


# --------------------------------------------------------------------------------------------
# ComfyUI in WebP, JPEG comments

GRAPH = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dreamshaper_8"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 768, "height": 512}},
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 77,
            "steps": 24,
            "cfg": 6.0,
            "sampler_name": "dpmpp_2m",
            "scheduler": "karras",
            "denoise": 1.0,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    },
}


def test_comfyui_webp_keeps_its_graphs_in_exif_tags(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0110] = "prompt:" + json.dumps(GRAPH)  # Model, as ComfyUI's WebP saver writes
    exif[0x010F] = "workflow:" + json.dumps({"nodes": [], "links": []})  # Make
    path = tmp_path / "comfy.webp"
    Image.new("RGB", (16, 16)).save(path, "WEBP", exif=exif.tobytes())
    got = _check(
        read_settings(path),
        "comfyui",
        prompt=PROMPT,
        negative_prompt="blurry",
        seed=77,
        steps=24,
        cfg_scale=6.0,
        width=768,
        height=512,
        model="dreamshaper_8",
    )
    assert sampler_from_metadata(got.sampler, got.extra) == "DPM++ 2M Karras"


def test_a1111_text_in_a_jpeg_comment(tmp_path: Path) -> None:
    path = tmp_path / "c.jpg"
    text = f"{PROMPT}\nSteps: 12, Sampler: Euler, CFG scale: 4, Seed: 5, Size: 16x16"
    Image.new("RGB", (16, 16)).save(path, "JPEG", comment=text.encode())
    _check(read_settings(path), "a1111", prompt=PROMPT, steps=12, seed=5)
    Image.new("RGB", (16, 16)).save(path, "JPEG", comment=b"Scanned by Office Lens")
    assert read_settings(path) is None
