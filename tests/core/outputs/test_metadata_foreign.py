"""Settings other tools write as JSON, and text that is not settings.

The pictures are built here from each format's published structure (Fooocus's "fooocus" scheme,
SwarmUI's `sui_image_params`, a Hugging Face Space's JSON); no other tool's files are copied in.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from imagestudio.core.outputs.metadata import read_settings
from imagestudio.core.schedulers import sampler_from_metadata

FOOOCUS = {
    "adm_guidance": "(1.5, 0.8, 0.3)",
    "base_model": "juggernautXL_v8Rundiffusion.safetensors",
    "guidance_scale": 4.0,
    "lora_combined_1": "sd_xl_offset_example-lora_1.0.safetensors : 0.1",
    "lora_combined_2": "None : 1.0",
    "negative_prompt": "unrealistic, saturated",
    "performance": "Speed",
    "prompt": "a lighthouse on a cliff at dusk",
    "prompt_expansion": "a lighthouse on a cliff at dusk, dramatic, highly detailed",
    "refiner_model": "None",
    "resolution": "(1152, 896)",
    "sampler": "dpmpp_2m_sde_gpu",
    "scheduler": "karras",
    "seed": "1234567",
    "sharpness": 2.0,
    "steps": 30,
    "styles": "['Fooocus V2', 'Fooocus Enhance']",
    "version": "Fooocus v2.5.5",
}
SWARMUI = {
    "sui_image_params": {
        "prompt": "portrait of an old fisherman, oil painting",
        "negativeprompt": "blurry",
        "model": "OfficialStableDiffusion/sd_xl_base_1.0",
        "seed": 42,
        "steps": 25,
        "cfgscale": 6.5,
        "aspectratio": "1:1",
        "width": 1024,
        "height": 1024,
        "sampler": "dpmpp_2m",
        "scheduler": "karras",
        "loras": ["ink-wash", "film/grain.safetensors"],
        "loraweights": ["0.8", 0.5],
    },
    "sui_extra_data": {"date": "2026-01-02", "generation_time": "3.2 sec"},
}
SPACE = {
    "prompt": "a cat astronaut",
    "negative_prompt": "",
    "seed": 7,
    "width": 768,
    "height": 512,
    "guidance_scale": 7.5,
    "num_inference_steps": 28,
    "model": "stabilityai/stable-diffusion-xl-base-1.0",
}


def _png(path: Path, chunks: dict[str, str]) -> Path:
    info = PngInfo()
    for key, value in chunks.items():
        info.add_itxt(key, value)
    Image.new("RGB", (8, 8), (20, 90, 160)).save(path, pnginfo=info)
    return path


def _with_user_comment(path: Path, comment: str, fmt: str) -> Path:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + comment.encode("utf-16-be")
    Image.new("RGB", (16, 16), (10, 120, 200)).save(path, fmt, exif=exif.tobytes())
    return path


def test_fooocus_json_in_parameters(tmp_path: Path) -> None:
    path = _png(
        tmp_path / "f.png", {"parameters": json.dumps(FOOOCUS), "fooocus_scheme": "fooocus"}
    )
    got = read_settings(path)
    assert got is not None and got.source == "fooocus"
    assert got.prompt == "a lighthouse on a cliff at dusk"
    assert got.negative_prompt == "unrealistic, saturated"
    assert (got.steps, got.seed, got.cfg_scale) == (30, 1234567, 4.0)
    assert (got.width, got.height) == (1152, 896)
    assert got.model == "juggernautXL_v8Rundiffusion.safetensors"
    assert got.sampler == "dpmpp_2m_sde_gpu" and got.extra["Schedule type"] == "karras"
    assert got.loras == (("sd_xl_offset_example-lora_1.0", 0.1),)  # "None" slots left out
    # ComfyUI's GPU-noise variant is the same sampler, on its Karras schedule
    assert sampler_from_metadata(got.sampler, got.extra) == "DPM++ 2M SDE Karras"


def test_swarmui_json_in_parameters_and_in_exif(tmp_path: Path) -> None:
    png = _png(tmp_path / "s.png", {"parameters": json.dumps(SWARMUI)})
    webp = _with_user_comment(tmp_path / "s.webp", json.dumps(SWARMUI), "WEBP")
    jpeg = _with_user_comment(tmp_path / "s.jpg", json.dumps(SWARMUI), "JPEG")
    for path in (png, webp, jpeg):
        got = read_settings(path)
        assert got is not None and got.source == "swarmui", path
        assert got.prompt == "portrait of an old fisherman, oil painting"
        assert got.negative_prompt == "blurry"
        assert (got.steps, got.seed, got.cfg_scale) == (25, 42, 6.5)
        assert (got.width, got.height) == (1024, 1024)
        assert got.model == "OfficialStableDiffusion/sd_xl_base_1.0"
        assert sampler_from_metadata(got.sampler, got.extra) == "DPM++ 2M Karras"
        assert got.loras == (("ink-wash", 0.8), ("grain", 0.5))


def test_hugging_face_space_json(tmp_path: Path) -> None:
    got = read_settings(_png(tmp_path / "h.png", {"parameters": json.dumps(SPACE)}))
    assert got is not None and got.source == "json"
    assert (got.prompt, got.negative_prompt) == ("a cat astronaut", "")
    assert (got.steps, got.seed, got.cfg_scale, got.width, got.height) == (28, 7, 7.5, 768, 512)


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"title": "holiday", "camera": "X100"}),  # JSON with no prompt
        json.dumps({"prompt": {"3": {"class_type": "KSampler"}}}),  # a prompt that is no text
        "{not json at all",
        "just a caption somebody typed, no settings line",
        "[1, 2, 3]",
    ],
)
def test_text_that_is_not_settings_is_no_settings(tmp_path: Path, text: str) -> None:
    assert read_settings(_png(tmp_path / "n.png", {"parameters": text})) is None


def test_hostile_numbers_in_json_are_refused_one_by_one(tmp_path: Path) -> None:
    text = json.dumps({"prompt": "x", "steps": True, "seed": "9" * 5000, "cfg": 1e400})
    got = read_settings(_png(tmp_path / "n.png", {"parameters": text}))
    assert got is not None and got.prompt == "x"
    assert (got.steps, got.seed, got.cfg_scale) == (None, None, None)


def test_json_without_prompt_in_exif_is_no_settings(tmp_path: Path) -> None:
    path = _with_user_comment(tmp_path / "c.jpg", json.dumps({"lens": "35mm"}), "JPEG")
    assert read_settings(path) is None


def test_ruinedfooocus_json_with_lora_pairs(tmp_path: Path) -> None:
    data = {
        "Prompt": "a lighthouse",
        "Negative": "blurry",
        "steps": 30,
        "cfg": 7,
        "width": 1024,
        "height": 1024,
        "seed": 5,
        "sampler_name": "dpmpp_2m_sde_gpu",
        "scheduler": "karras",
        "base_model_name": "sd_xl_base_1.0.safetensors",
        "loras": [["ink.safetensors", 0.5], [0.3, "paper.safetensors"], ["None", 1.0]],
        "software": "RuinedFooocus",
    }
    got = read_settings(_png(tmp_path / "rf.png", {"parameters": json.dumps(data)}))
    assert got is not None and got.source == "ruinedfooocus"
    assert (got.prompt, got.negative_prompt, got.steps, got.seed) == (
        "a lighthouse",
        "blurry",
        30,
        5,
    )
    assert got.model == "sd_xl_base_1.0.safetensors"
    assert got.loras == (("ink", 0.5), ("paper", 0.3))
    assert sampler_from_metadata(got.sampler, got.extra) == "DPM++ 2M SDE Karras"


def test_fooocus_legacy_log_keys_and_performance_steps(tmp_path: Path) -> None:
    data = {
        "Prompt": "a lighthouse",
        "Negative Prompt": "",
        "Fooocus V2 Expansion": "a lighthouse, dramatic",
        "Performance": "Speed",
        "Resolution": "(1152, 896)",
        "Guidance Scale": 4,
        "Sampler": "dpmpp_2m_sde_gpu",
        "Scheduler": "karras",
        "Seed": "12",
        "Base Model": "juggernautXL_v8.safetensors",
    }
    got = read_settings(_png(tmp_path / "f.png", {"parameters": json.dumps(data)}))
    assert got is not None and got.source == "fooocus"
    assert (got.steps, got.width, got.height, got.seed) == (30, 1152, 896, 12)
    assert got.cfg_scale == 4.0 and got.model == "juggernautXL_v8.safetensors"
