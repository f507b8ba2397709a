"""Fast style mode on the real bundled Magenta networks (small sizes, one thread, no network)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from imagestudio.core.errors import ImageStudioError, InvalidRequest, ModelError
from imagestudio.core.style.fast import (
    PREDICT_FILE,
    STYLE_VECTOR_LENGTH,
    TRANSFORM_FILE,
    FastStylizer,
    default_model_dir,
)

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def stylizer() -> FastStylizer:
    """One stylizer for the module, so the sessions load once (as in the app's worker)."""
    return FastStylizer(threads=1)


def landscape(width: int = 192, height: int = 128, blur: float = 1) -> Image.Image:
    """A cool-coloured picture with shapes: sky gradient, sun, hills, a house (softened by a
    `blur`-px Gaussian; 0 keeps the edges hard)."""
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None].repeat(width, axis=1)
    sky = np.stack([90 + 60 * y, 150 + 60 * y, 230 - 20 * y], axis=-1)
    image = Image.fromarray(sky.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    sx, sy = width / 192, height / 128
    draw.ellipse((130 * sx, 12 * sy, 170 * sx, 52 * sy), fill=(250, 220, 90))
    hills = [(0, 90), (50, 60), (110, 95), (160, 70), (192, 85), (192, 128), (0, 128)]
    draw.polygon([(x * sx, y * sy) for x, y in hills], fill=(60, 140, 60))
    draw.rectangle((30 * sx, 80 * sy, 60 * sx, 110 * sy), fill=(170, 80, 50))
    return image.filter(ImageFilter.GaussianBlur(blur)) if blur else image


def warm_stripes(side: int = 200) -> Image.Image:
    """Diagonal stripes in strong red, yellow and dark blue."""
    y, x = np.mgrid[0:side, 0:side]
    colours = np.array([[230, 30, 40], [250, 210, 20], [20, 40, 160]], dtype=np.uint8)
    return Image.fromarray(colours[((x + y) // 12) % 3])


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def mean_colour_distance(a: Image.Image, b: Image.Image) -> float:
    mean_a = np.asarray(a, np.float32).reshape(-1, 3).mean(axis=0)
    mean_b = np.asarray(b, np.float32).reshape(-1, 3).mean(axis=0)
    return float(np.abs(mean_a - mean_b).mean())


def histogram_distance(a: Image.Image, b: Image.Image, bins: int = 16) -> float:
    """Total variation between per-channel histograms, mean over R, G, B (0 same, 1 disjoint)."""

    def hist(image: Image.Image) -> np.ndarray:
        pixels = np.asarray(image).reshape(-1, 3)
        counts = [np.histogram(pixels[:, c], bins=bins, range=(0, 256))[0] for c in range(3)]
        return np.stack(counts) / len(pixels)

    return float(0.5 * np.abs(hist(a) - hist(b)).sum(axis=1).mean())


# -- shape ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "size", "expected"),
    [
        ((192, 128), 160, (160, 107)),  # landscape; 107 is no multiple of 4: padded, then cropped
        ((90, 200), 130, (58, 130)),  # portrait
        ((100, 100), 64, (64, 64)),  # smallest size
        ((600, 5), 64, (64, 1)),  # a thin strip still works
    ],
)
def test_output_has_the_requested_long_side_and_the_content_aspect(
    stylizer: FastStylizer, source: tuple[int, int], size: int, expected: tuple[int, int]
) -> None:
    content = landscape(*source)
    out = stylizer.stylize(content, warm_stripes(), size=size)
    assert out.mode == "RGB"
    assert out.size == expected
    assert max(out.size) == size
    assert abs(min(out.size) - min(source) * size / max(source)) <= 0.5  # rounding only


def test_inputs_in_other_modes_are_accepted(stylizer: FastStylizer) -> None:
    out = stylizer.stylize(landscape().convert("L"), warm_stripes().convert("RGBA"), size=64)
    assert out.mode == "RGB"
    assert out.size == (64, 43)


# -- strength ------------------------------------------------------------------------------------


def test_strength_moves_from_the_content_to_the_style(stylizer: FastStylizer) -> None:
    content, style = landscape(), warm_stripes()
    size = 160
    reference = content.resize((160, 107), Image.Resampling.LANCZOS)
    outs = {s: stylizer.stylize(content, style, strength=s, size=size) for s in (0.0, 0.5, 1.0)}
    diff = {s: mean_abs_diff(out, reference) for s, out in outs.items()}

    # Strength 0 is the network repainting the content in its own style: close, not identical
    # (about 40/255 here, 31/255 on a photo), and much closer than the full style.
    assert diff[0.0] < 64
    assert diff[0.0] < diff[0.5] < diff[1.0]
    assert diff[0.0] < 0.5 * diff[1.0]

    # Full strength takes the style's colours: the colour statistics approach the style image's.
    assert mean_colour_distance(outs[1.0], style) < 0.6 * mean_colour_distance(content, style)
    assert histogram_distance(outs[1.0], style) < histogram_distance(outs[0.0], style) - 0.15
    assert histogram_distance(outs[1.0], style) < histogram_distance(content, style) - 0.15


def test_results_are_repeatable(stylizer: FastStylizer) -> None:
    content, style = landscape(), warm_stripes()
    first = stylizer.stylize(content, style, strength=0.7, size=96)
    again = stylizer.stylize(content, style, strength=0.7, size=96)
    assert np.array_equal(np.asarray(first), np.asarray(again))


def test_style_vector_is_a_short_float_vector_that_tells_styles_apart(
    stylizer: FastStylizer,
) -> None:
    stripes = stylizer.style_vector(warm_stripes())
    scene = stylizer.style_vector(landscape())
    assert stripes.shape == (STYLE_VECTOR_LENGTH,)
    assert stripes.dtype == np.float32
    assert np.all(np.isfinite(stripes))
    assert np.abs(stripes - scene).mean() > 0.1


def test_transform_takes_a_vector_made_earlier(stylizer: FastStylizer) -> None:
    content, style = landscape(), warm_stripes()
    vector = stylizer.style_vector(style)
    by_parts = stylizer.transform(content, vector, size=96)
    at_once = stylizer.stylize(content, style, size=96)
    assert np.array_equal(np.asarray(by_parts), np.asarray(at_once))
    with pytest.raises(InvalidRequest, match="style vector"):
        stylizer.transform(content, vector[:50], size=96)


def test_two_threads_share_one_stylizer() -> None:
    stylizer = FastStylizer(threads=1)  # fresh, so both threads race to load the sessions
    content, style = landscape(), warm_stripes()
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(np.asarray(stylizer.stylize(content, style, size=64)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == 2
    assert np.array_equal(results[0], results[1])


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("strength", [-0.1, 1.01, float("nan"), True, "0.5"])
def test_strength_outside_0_to_1_is_refused(stylizer: FastStylizer, strength: object) -> None:
    with pytest.raises(InvalidRequest, match="strength must be between 0 and 1"):
        stylizer.stylize(landscape(), warm_stripes(), strength=strength, size=64)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [63, 4097, 0, 512.0, None])
def test_size_outside_the_range_is_refused(stylizer: FastStylizer, size: object) -> None:
    with pytest.raises(InvalidRequest, match="from 64 to 4096"):
        stylizer.stylize(landscape(), warm_stripes(), size=size)  # type: ignore[arg-type]


def test_bad_arguments_are_reported_before_models_load(tmp_path: Path) -> None:
    stylizer = FastStylizer(tmp_path / "nowhere")
    with pytest.raises(InvalidRequest):
        stylizer.stylize(landscape(), warm_stripes(), strength=2.0)


def test_a_missing_model_folder_says_where_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGESTUDIO_RESOURCES", str(tmp_path / "resources"))
    expected = tmp_path / "resources" / "style" / "magenta"
    assert default_model_dir() == expected
    stylizer = FastStylizer()
    with pytest.raises(ModelError) as caught:
        stylizer.stylize(landscape(), warm_stripes(), size=64)
    message = str(caught.value)
    assert "missing" in message
    assert str(expected / PREDICT_FILE) in message
    assert "reinstall ImageStudio" in message


def test_a_damaged_model_file_is_a_model_error(tmp_path: Path) -> None:
    folder = tmp_path / "magenta"
    folder.mkdir()
    (folder / PREDICT_FILE).write_bytes(b"not an onnx model at all")
    (folder / TRANSFORM_FILE).write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="damaged") as caught:
        FastStylizer(folder).load()
    assert isinstance(caught.value, ImageStudioError)
    assert "reinstall ImageStudio" in str(caught.value)
    assert type(caught.value.__cause__).__module__.startswith("onnxruntime")


def test_the_wrong_model_in_place_is_a_model_error(tmp_path: Path) -> None:
    folder = tmp_path / "magenta"
    folder.mkdir()
    # Each file where the other belongs: valid ONNX, wrong inputs.
    (folder / PREDICT_FILE).write_bytes((default_model_dir() / TRANSFORM_FILE).read_bytes())
    (folder / TRANSFORM_FILE).write_bytes((default_model_dir() / PREDICT_FILE).read_bytes())
    with pytest.raises(ModelError, match="not the one ImageStudio ships"):
        FastStylizer(folder).load()


def test_importing_the_module_does_not_load_onnxruntime() -> None:
    code = "import sys, imagestudio.core.style.fast; print('onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
