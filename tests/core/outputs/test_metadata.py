from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from imagestudio.core.errors import ImageError, ImageStudioError
from imagestudio.core.outputs.metadata import (
    ImageSettings,
    format_parameters,
    parse_parameters,
    png_text_chunks,
    read_settings,
)

REALISTIC = (
    "masterpiece, a lighthouse at dusk, (dramatic sky:1.2)\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 3456789, Size: 512x768, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.5, "
    'Lora hashes: "detail: abc123, style: def456", Version: v1.6.0'
)

FULL = ImageSettings(
    prompt="a red fox in the snow",
    negative_prompt="blurry, watermark",
    steps=20,
    sampler="Euler a",
    cfg_scale=7.5,
    seed=1234,
    width=512,
    height=768,
    model="sd-turbo",
    denoising_strength=0.6,
)

REQUEST = {
    "prompt": "a red fox in the snow",
    "negative_prompt": "blurry",
    "steps": 4,
    "guidance": 1.5,
    "seed": 42,
    "width": 640,
    "height": 384,
    "model": "sdxl-turbo",
    "scheduler": "euler_ancestral",
    "strength": 0.75,
}


def _save_png(path: Path, info: PngInfo | None = None, size: tuple[int, int] = (8, 8)) -> Path:
    Image.new("RGB", size, (200, 30, 30)).save(path, pnginfo=info)
    return path


def _png_with_chunks(path: Path, chunks: dict[str, str]) -> Path:
    info = PngInfo()
    for key, value in chunks.items():
        info.add_itxt(key, value)
    return _save_png(path, info)


def _jpeg_with_user_comment(path: Path, comment: bytes) -> Path:
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = comment
    Image.new("RGB", (16, 16), (10, 120, 200)).save(path, "JPEG", exif=exif.tobytes())
    return path


# --- format_parameters ---------------------------------------------------------------------


def test_format_full_settings_matches_a1111_layout() -> None:
    assert format_parameters(FULL) == (
        "a red fox in the snow\n"
        "Negative prompt: blurry, watermark\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 1234, Size: 512x768, "
        "Model: sd-turbo, Denoising strength: 0.6"
    )


def test_format_omits_empty_negative_and_none_values() -> None:
    text = format_parameters(ImageSettings(prompt="cat", steps=10, cfg_scale=7.0, seed=0))
    assert text == "cat\nSteps: 10, CFG scale: 7, Seed: 0"


def test_format_quotes_values_with_separators() -> None:
    settings = ImageSettings(
        prompt="p", steps=5, sampler="Euler", extra={"Lora hashes": "a: 1, b: 2", "Plain": "x"}
    )
    assert format_parameters(settings).splitlines()[-1] == (
        'Steps: 5, Sampler: Euler, Lora hashes: "a: 1, b: 2", Plain: x'
    )


def test_format_size_needs_both_dimensions() -> None:
    assert "Size" not in format_parameters(ImageSettings(prompt="p", steps=1, width=512))


# --- round trip ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(FULL, id="full"),
        pytest.param(ImageSettings(prompt="just a prompt", steps=12, seed=7), id="no-negative"),
        pytest.param(
            ImageSettings(
                prompt="line one,\nline two: with colon\n\nline four",
                negative_prompt="bad hands\nextra fingers",
                steps=25,
                sampler="DPM++ 2M Karras",
                cfg_scale=6.0,
                seed=99,
            ),
            id="multi-line",
        ),
        pytest.param(
            ImageSettings(
                prompt="東京の夜景, neon 🌃✨",
                negative_prompt="ぼやけた 😶",
                steps=8,
                model="モデル",
            ),
            id="unicode",
        ),
        pytest.param(
            ImageSettings(
                prompt="p",
                steps=30,
                extra={
                    "Lora hashes": "detail: abc123, style: def456",
                    "Quote": 'he said "hi"',
                    "Multi": "a\nb",
                    "Padded": " spaced ",
                    "Version": "v1.6.0",
                },
            ),
            id="quoted-extras",
        ),
    ],
)
def test_format_parse_round_trip(settings: ImageSettings) -> None:
    assert parse_parameters(format_parameters(settings)) == settings


def test_round_trip_without_settings_line_keeps_negative() -> None:
    settings = ImageSettings(prompt="only words", negative_prompt="nothing else")
    assert parse_parameters(format_parameters(settings)) == settings


# --- parse_parameters ----------------------------------------------------------------------


def test_parse_realistic_a1111_text() -> None:
    settings = parse_parameters(REALISTIC)
    assert settings.prompt == "masterpiece, a lighthouse at dusk, (dramatic sky:1.2)"
    assert settings.negative_prompt == "blurry, lowres"
    assert settings.steps == 30
    assert settings.sampler == "DPM++ 2M Karras"
    assert settings.cfg_scale == 7.0
    assert settings.seed == 3456789
    assert (settings.width, settings.height) == (512, 768)
    assert settings.model == "v1-5-pruned-emaonly"
    assert settings.denoising_strength == 0.5
    assert settings.extra == {
        "Model hash": "6ce0161689",
        "Lora hashes": "detail: abc123, style: def456",
        "Version": "v1.6.0",
    }
    assert settings.source == "a1111"
    assert settings.request is None


def test_parse_uses_last_settings_line_and_multi_line_negative() -> None:
    text = (
        "first line\nSteps: looks like settings, but: is prompt\n"
        "Negative prompt: neg one\nneg two\r\n"
        "Steps: 3, Seed: 5"
    )
    settings = parse_parameters(text)
    assert settings.prompt == "first line\nSteps: looks like settings, but: is prompt"
    assert settings.negative_prompt == "neg one\nneg two"
    assert (settings.steps, settings.seed) == (3, 5)


def test_parse_text_without_settings_line_is_prompt_only() -> None:
    settings = parse_parameters("a cat: sitting, on a mat\nsecond line")
    assert settings == ImageSettings(prompt="a cat: sitting, on a mat\nsecond line")


@pytest.mark.parametrize(
    "line, extra",
    [
        ("Steps: abc, Seed: 1", {"Steps": "abc"}),
        ("Steps: 20, Seed: 1.5", {"Seed": "1.5"}),
        ("Steps: 20, CFG scale: high", {"CFG scale": "high"}),
        ("Steps: 20, Size: big", {"Size": "big"}),
        ("Steps: 20, Denoising strength: nan", {"Denoising strength": "nan"}),
        ("Steps: 20, CFG scale: 1e999", {"CFG scale": "1e999"}),
    ],
)
def test_parse_bad_numbers_go_to_extra(line: str, extra: dict[str, str]) -> None:
    settings = parse_parameters(f"prompt\n{line}")
    assert settings.prompt == "prompt"
    assert settings.extra == extra


def test_parse_skips_fragments_inside_settings_line() -> None:
    settings = parse_parameters("p\nSteps: 20, odd fragment, Seed: 3, Version: v1")
    assert (settings.steps, settings.seed, settings.extra) == (20, 3, {"Version": "v1"})


def test_line_not_starting_with_a_pair_is_prompt() -> None:
    text = "a photo, Steps: 5 of a staircase"
    assert parse_parameters(text) == ImageSettings(prompt=text)


def test_typed_field_wins_over_extra_of_same_key() -> None:
    text = format_parameters(ImageSettings(prompt="p", steps=20, extra={"Steps": "abc", "K": "v"}))
    assert text == "p\nSteps: 20, K: v"


def test_bad_steps_survive_a_format_round_trip() -> None:
    settings = parse_parameters("prompt\nSteps: abc, Sampler: Euler")
    assert settings.steps is None
    assert settings.sampler == "Euler"
    assert parse_parameters(format_parameters(settings)) == settings


@pytest.mark.parametrize("text", ["", "\n\n", "Steps:", 'Steps: "unterminated, Seed: x', ",,,:::"])
def test_parse_never_raises_on_odd_text(text: str) -> None:
    assert isinstance(parse_parameters(text), ImageSettings)


# --- png_text_chunks + read_settings ---------------------------------------------------------


def test_png_written_with_chunks_reads_back_from_disk(tmp_path: Path) -> None:
    path = _save_png(tmp_path / "fox.png", png_text_chunks(FULL, None))
    with Image.open(path) as image:
        assert image.info["parameters"] == format_parameters(FULL)
        assert "imagestudio" not in image.info
    assert read_settings(path) == FULL
    assert read_settings(str(path)) == FULL


def test_unicode_prompt_survives_png(tmp_path: Path) -> None:
    settings = ImageSettings(prompt="猫と犬 🐱🐶", negative_prompt="ぼやけ", steps=4, seed=1)
    path = _save_png(tmp_path / "u.png", png_text_chunks(settings, {"prompt": "猫と犬 🐱🐶"}))
    read = read_settings(path)
    assert read is not None
    assert read.prompt == "猫と犬 🐱🐶"
    assert read.negative_prompt == "ぼやけ"
    assert read.request == {"prompt": "猫と犬 🐱🐶"}


def test_imagestudio_chunk_is_sorted_json(tmp_path: Path) -> None:
    path = _save_png(tmp_path / "r.png", png_text_chunks(FULL, {"b": 1, "a": "é"}))
    with Image.open(path) as image:
        assert image.info["imagestudio"] == '{"a": "é", "b": 1}'


def test_json_chunk_is_preferred_over_parameters(tmp_path: Path) -> None:
    params = ImageSettings(
        prompt="prompt from text",
        negative_prompt="neg from text",
        steps=50,
        sampler="Euler a",
        cfg_scale=9.0,
        seed=1,
        width=64,
        height=64,
        model="text-model",
        denoising_strength=0.1,
        extra={"Model hash": "abc"},
    )
    path = _save_png(tmp_path / "both.png", png_text_chunks(params, REQUEST))
    settings = read_settings(path)
    assert settings == ImageSettings(
        prompt="a red fox in the snow",
        negative_prompt="blurry",
        steps=4,
        sampler="euler_ancestral",
        cfg_scale=1.5,
        seed=42,
        width=640,
        height=384,
        model="sdxl-turbo",
        # the request has a strength but no start image: a text-to-image job has no strength
        # (and the text's, which the JSON overrides, is not taken either)
        denoising_strength=None,
        extra={"Model hash": "abc"},
        source="imagestudio",
        request=REQUEST,
    )


def test_parameters_fill_fields_the_json_lacks(tmp_path: Path) -> None:
    request = {"prompt": "from json", "steps": 4}
    params = ImageSettings(prompt="from text", steps=99, sampler="Euler", seed=5)
    path = _save_png(tmp_path / "partial.png", png_text_chunks(params, request))
    settings = read_settings(path)
    assert settings is not None
    assert (settings.prompt, settings.steps) == ("from json", 4)
    assert (settings.sampler, settings.seed) == ("Euler", 5)
    assert settings.source == "imagestudio"
    assert settings.request == request


def test_malformed_json_chunk_falls_back_to_parameters(tmp_path: Path) -> None:
    for name, bad in [("broken", '{"prompt": "x", '), ("list", "[1, 2]")]:
        path = _png_with_chunks(
            tmp_path / f"{name}.png", {"imagestudio": bad, "parameters": REALISTIC}
        )
        settings = read_settings(path)
        assert settings == parse_parameters(REALISTIC), name
        assert settings.source == "a1111"


def test_malformed_json_values_do_not_raise(tmp_path: Path) -> None:
    request = {"prompt": 5, "steps": "many", "seed": True, "guidance": [1], "model": {"x": 1}}
    path = _png_with_chunks(tmp_path / "odd.png", {"imagestudio": json.dumps(request)})
    settings = read_settings(path)
    assert settings == ImageSettings(prompt="", source="imagestudio", request=request)


def test_jpeg_exif_user_comment_utf16_be(tmp_path: Path) -> None:
    text = "a misty forest 🌲\nNegative prompt: people\nSteps: 15, Sampler: Euler, Seed: 77"
    path = _jpeg_with_user_comment(tmp_path / "a.jpg", b"UNICODE\x00" + text.encode("utf-16-be"))
    settings = read_settings(path)
    assert settings == parse_parameters(text)
    assert settings.prompt == "a misty forest 🌲"
    assert settings.steps == 15


def test_jpeg_exif_user_comment_utf16_le_and_ascii(tmp_path: Path) -> None:
    text = "a castle\nSteps: 9, Seed: 3"
    le = _jpeg_with_user_comment(tmp_path / "le.jpg", b"UNICODE\x00" + text.encode("utf-16-le"))
    ascii_ = _jpeg_with_user_comment(tmp_path / "ascii.jpg", b"ASCII\x00\x00\x00" + text.encode())
    assert read_settings(le) == parse_parameters(text)
    assert read_settings(ascii_) == parse_parameters(text)


def test_webp_exif_user_comment(tmp_path: Path) -> None:
    text = "a lake\nSteps: 11, Seed: 8"
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + text.encode("utf-16-be")
    path = tmp_path / "a.webp"
    Image.new("RGB", (16, 16)).save(path, "WEBP", exif=exif.tobytes())
    assert read_settings(path) == parse_parameters(text)


def test_camera_user_comment_is_not_settings(tmp_path: Path) -> None:
    path = _jpeg_with_user_comment(tmp_path / "photo.jpg", b"ASCII\x00\x00\x00Holiday in Rome")
    assert read_settings(path) is None


def test_invokeai_chunk(tmp_path: Path) -> None:
    meta = {
        "positive_prompt": "an astronaut riding a horse",
        "negative_prompt": "low quality",
        "seed": 123,
        "steps": 30,
        "cfg_scale": 7.5,
        "width": 768,
        "height": 512,
        "scheduler": "dpmpp_2m_k",
        "model": {"name": "stable-diffusion-xl-base-1-0", "base": "sdxl"},
        "generation_mode": "txt2img",
    }
    path = _png_with_chunks(tmp_path / "invoke.png", {"invokeai_metadata": json.dumps(meta)})
    assert read_settings(path) == ImageSettings(
        prompt="an astronaut riding a horse",
        negative_prompt="low quality",
        steps=30,
        sampler="dpmpp_2m_k",
        cfg_scale=7.5,
        seed=123,
        width=768,
        height=512,
        model="stable-diffusion-xl-base-1-0",
        source="invokeai",
    )


def test_parameters_preferred_over_invokeai(tmp_path: Path) -> None:
    path = _png_with_chunks(
        tmp_path / "two.png",
        {"invokeai_metadata": json.dumps({"positive_prompt": "x"}), "parameters": REALISTIC},
    )
    settings = read_settings(path)
    assert settings is not None
    assert settings.source == "a1111"


def test_malformed_invokeai_chunk_gives_none(tmp_path: Path) -> None:
    path = _png_with_chunks(tmp_path / "bad.png", {"invokeai_metadata": "{not json"})
    assert read_settings(path) is None


def test_image_without_metadata_gives_none(tmp_path: Path) -> None:
    assert read_settings(_save_png(tmp_path / "plain.png")) is None
    jpeg = tmp_path / "plain.jpg"
    Image.new("RGB", (8, 8)).save(jpeg)
    assert read_settings(jpeg) is None


def test_chunk_after_image_data_is_found(tmp_path: Path) -> None:
    # Some tools append text chunks after IDAT; Pillow only sees them once the image is loaded.
    path = _save_png(tmp_path / "late.png")
    data = path.read_bytes()
    iend = data.rindex(b"IEND") - 4
    body = b"tEXtparameters\x00" + REALISTIC.encode("latin-1")
    chunk = (len(body) - 4).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    path.write_bytes(data[:iend] + chunk + data[iend:])
    assert read_settings(path) == parse_parameters(REALISTIC)


def test_read_from_open_image(tmp_path: Path) -> None:
    path = _save_png(tmp_path / "open.png", png_text_chunks(FULL, None))
    with Image.open(path) as image:
        assert read_settings(image) == FULL
    memory = Image.new("RGB", (4, 4))
    memory.info["parameters"] = REALISTIC
    assert read_settings(memory) == parse_parameters(REALISTIC)
    assert read_settings(Image.new("RGB", (4, 4))) is None


def test_missing_file_raises_image_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(ImageError) as info:
        read_settings(missing)
    assert str(info.value) == f"Cannot read settings from '{missing}': the file does not exist."
    assert isinstance(info.value, ImageStudioError)


def test_garbage_file_raises_image_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not an image at all\x00\x01\x02")
    with pytest.raises(ImageError, match=r"garbage\.png"):
        read_settings(garbage)


def test_folder_raises_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="folder"):
        read_settings(tmp_path)
