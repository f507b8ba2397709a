"""The metadata reader against whatever a file may hold: only ImageError may escape, and every
parse is quick (the window reads a dropped picture's settings on its GUI thread)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from imagestudio.core.errors import ImageError
from imagestudio.core.outputs.metadata import (
    IMAGESTUDIO_KEY,
    INVOKEAI_KEY,
    PARAMETERS_KEY,
    ImageSettings,
    parse_parameters,
    read_settings,
)
from tests.conftest import FUZZ_EXAMPLES

FAST_S = 0.5  # per parse, on a slow CI core; the measured figures are in the closing note
_settings = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def png_with(chunks: dict[str, str], zipped: bool = False) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        if zipped:
            info.add_itxt(key, value, zip=True)
        else:
            try:
                value.encode("latin-1")
                info.add_text(key, value)
            except UnicodeEncodeError:
                info.add_itxt(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def read_bytes(tmp_path: Path, data: bytes) -> ImageSettings | None:
    path = tmp_path / "x.png"
    path.write_bytes(data)
    started = time.perf_counter()
    try:
        return read_settings(path)
    except ImageError as caught:
        assert str(caught).endswith(".")
        return None
    finally:
        assert time.perf_counter() - started < FAST_S


# text made of the characters that matter to the parser, in any order and amount
PARSER_TEXT = st.text(alphabet=st.sampled_from(list(' \t\n\r,:"\\aS09.-xX×{}[]')), max_size=3000)


@_settings
@given(text=PARSER_TEXT)
def test_parameters_text_never_raises_and_is_quick(text: str) -> None:
    started = time.perf_counter()
    parsed = parse_parameters(text)
    assert time.perf_counter() - started < FAST_S
    assert isinstance(parsed.prompt, str) and isinstance(parsed.extra, dict)


@_settings
@given(data=st.binary(max_size=4000))
def test_random_bytes_as_a_file(tmp_path: Path, data: bytes) -> None:
    read_bytes(tmp_path, data)


@_settings
@given(
    key=st.sampled_from([PARAMETERS_KEY, IMAGESTUDIO_KEY, INVOKEAI_KEY]),
    value=st.one_of(
        PARSER_TEXT,
        st.recursive(
            st.one_of(st.integers(), st.floats(), st.text(max_size=20), st.none(), st.booleans()),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
            max_leaves=30,
        ).map(json.dumps),
    ),
)
def test_any_chunk_content(tmp_path: Path, key: str, value: str) -> None:
    read_bytes(tmp_path, png_with({key: value}))


HUGE_INT = "9" * 5000
HOSTILE_CHUNKS = {
    "deep ours": {IMAGESTUDIO_KEY: "[" * 100_000 + "]" * 100_000},
    "deep ours in object": {IMAGESTUDIO_KEY: '{"a":' * 50_000 + "1" + "}" * 50_000},
    "deep invokeai": {INVOKEAI_KEY: '{"x":' * 50_000 + "1" + "}" * 50_000},
    "long int in JSON": {IMAGESTUDIO_KEY: f'{{"prompt": "a", "seed": {HUGE_INT}}}'},
    "huge guidance": {IMAGESTUDIO_KEY: '{"prompt": "a", "guidance": ' + "1" + "0" * 400 + "}"},
    "long int in text": {PARAMETERS_KEY: f"a cat\nSteps: {HUGE_INT}, Seed: {HUGE_INT}"},
    "200k spaces": {PARAMETERS_KEY: " " * 200_000},
    "1 MB of pairs": {PARAMETERS_KEY: "a\n" + ", ".join(f"K{i}: v{i}" for i in range(90_000))},
    "1 MB of commas": {PARAMETERS_KEY: "Steps: 1" + "," * 1_000_000},
    "many lines": {PARAMETERS_KEY: "Steps: 1\n" * 100_000},
    "NUL and junk": {PARAMETERS_KEY: "a\x00b\nSteps: \x00, Seed: x\x00"},
}


@pytest.mark.parametrize("name", list(HOSTILE_CHUNKS))
def test_hostile_chunks_are_skipped_quickly(tmp_path: Path, name: str) -> None:
    found = read_bytes(tmp_path, png_with(HOSTILE_CHUNKS[name]))
    assert found is None or isinstance(found, ImageSettings)


def test_text_chunks_over_pillows_limits_are_a_sentence(tmp_path: Path) -> None:
    big = png_with({PARAMETERS_KEY: "x" * 2_000_000}, zipped=True)
    path = tmp_path / "big.png"
    path.write_bytes(big)
    with pytest.raises(ImageError, match="text chunks are larger"):
        read_settings(path)


def test_more_than_a_megabyte_of_text_is_not_parsed(tmp_path: Path) -> None:
    text = "a fox\nSteps: 7, " + "K: v, " * 200_000
    assert read_bytes(tmp_path, png_with({PARAMETERS_KEY: text})) is None
    assert parse_parameters(text).steps == 7  # the parser itself copes; the reader bounds it


JSON_VALUE = st.recursive(
    st.one_of(
        st.integers(), st.floats(), st.text(max_size=30), st.none(), st.booleans(), PARSER_TEXT
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
KNOWN_SPELLINGS = st.sampled_from(
    [
        *("prompt", "Negative Prompt", "steps", "cfgscale", "seed", "resolution", "width"),
        *("model", "sampler", "scheduler", "loras", "loraweights", "lora_combined_1"),
        "sui_image_params",
    ]
)


@_settings
@given(data=st.dictionaries(KNOWN_SPELLINGS, JSON_VALUE, max_size=10))
def test_other_tools_json_with_any_values(tmp_path: Path, data: dict) -> None:
    """Other tools' JSON under the spellings the reader looks for, holding anything."""
    got = read_bytes(tmp_path, png_with({PARAMETERS_KEY: json.dumps(data)}))
    if got is not None:
        assert isinstance(got.prompt, str) and all(isinstance(v, str) for v in got.extra.values())


FORMAT_KEYS = st.sampled_from(
    [
        *("prompt", "uc", "scale", "steps", "seed", "sampler", "noise_schedule", "strength"),
        *("request_type", "v4_prompt", "caption", "base_caption", "char_captions", "image"),
        *("model_weights", "type", "baseModel", "models", "modelFileName", "weight", "loras"),
        *("PositivePrompt", "CfgScale", "clipSkip", "Comment", "Software", "Description"),
        *("c", "size", "lora", "file", "use_lora_model", "lora_alpha", "num_inference_steps"),
        "use_stable_diffusion_model",
    ]
)
FORMAT_JSON = st.recursive(
    st.one_of(JSON_VALUE, st.dictionaries(FORMAT_KEYS, JSON_VALUE, max_size=6)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(FORMAT_KEYS, inner, max_size=6),
    max_leaves=25,
)


@_settings
@given(
    key=st.sampled_from(
        ["Comment", "generation_data", "sd-metadata", "parameters-json", "prompt", "workflow"]
    ),
    data=FORMAT_JSON,
    software=st.sampled_from(["NovelAI", "", "x"]),
)
def test_every_formats_chunk_with_any_values(
    tmp_path: Path, key: str, data: object, software: str
) -> None:
    """NovelAI, TensorArt, InvokeAI 2, Stability Matrix and ComfyUI chunks holding anything
    under the keys their readers look for."""
    chunks = {key: json.dumps(data), "Software": software}
    got = read_bytes(tmp_path, png_with(chunks))
    if got is not None:
        assert isinstance(got.prompt, str) and all(isinstance(v, str) for v in got.extra.values())
        assert all(isinstance(n, str) and isinstance(w, float) for n, w in got.loras)


@_settings
@given(text=st.text(alphabet=st.sampled_from(list(" \"'\\-sSWHCAfI0123456789.[]ab")), max_size=400))
def test_dream_command_lines_of_any_shape(tmp_path: Path, text: str) -> None:
    got = read_bytes(tmp_path, png_with({"Dream": text}))
    assert got is None or isinstance(got.prompt, str)


@_settings
@given(
    chunks=st.dictionaries(
        st.sampled_from(
            [
                *("prompt", "Prompt", "num_inference_steps", "Steps", "guidance_scale", "seed"),
                *("use_lora_model", "lora_alpha", "LoRA model", "LoRA Strength", "width"),
            ]
        ),
        PARSER_TEXT | st.sampled_from(["[1, 2]", '["a", 3]', "[[[", "1e999", "nan"]),
        max_size=8,
    ),
)
def test_easy_diffusion_chunks_of_any_text(tmp_path: Path, chunks: dict) -> None:
    got = read_bytes(tmp_path, png_with(chunks))
    if got is not None:
        assert isinstance(got.prompt, str)
        assert all(isinstance(n, str) and isinstance(w, float) for n, w in got.loras)


@_settings
@given(data=FORMAT_JSON, wrap=st.sampled_from(["element", "attribute", "broken"]))
def test_xmp_packets_holding_anything(tmp_path: Path, data: object, wrap: str) -> None:
    text = json.dumps(data).replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    xmp = {
        "element": f"<x><exif:UserComment><rdf:li>{text}</rdf:li></exif:UserComment></x>",
        "attribute": f'<rdf:Description exif:UserComment="{text}"/>',
        "broken": f"<exif:UserComment><rdf:li>{text}",
    }[wrap]
    got = read_bytes(tmp_path, png_with({"XML:com.adobe.xmp": xmp}))
    if got is not None:
        assert isinstance(got.prompt, str) and all(isinstance(v, str) for v in got.extra.values())
        assert all(isinstance(n, str) and isinstance(w, float) for n, w in got.loras)


def test_a_fifo_or_device_is_refused_without_blocking(tmp_path: Path) -> None:
    """Opening a FIFO blocks until a writer comes: the window's thread would freeze."""
    import os

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(ImageError, match="not a regular file"):
            read_settings(path)
