"""Quality-mode style transfer with the real bundled VGG16 weights, small pictures, one thread."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from imagestudio.core.errors import InvalidRequest, JobCancelled, ModelError
from imagestudio.core.style import quality, vgg
from imagestudio.core.style.quality import (
    QualitySettings,
    loss_breakdown,
    plan_scales,
    run_quality,
    style_statistics,
    stylize_quality,
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A training job may share the machine; the whole file runs on one core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
    vgg.clear_cache()


@pytest.fixture(autouse=True)
def no_hub_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub, so a developer's own VGG19 download doesn't change what runs."""
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home / "hub" / "checkpoints"


def gradient_content(width: int = 96, height: int = 64) -> Image.Image:
    x = np.linspace(0, 1, width)[None, :]
    y = np.linspace(0, 1, height)[:, None]
    rgb = np.stack([0.2 + 0.6 * x + 0 * y, 0.3 + 0.4 * y + 0 * x, 0.8 - 0.5 * x * y], axis=-1)
    return Image.fromarray((rgb * 255).astype(np.uint8))


def stripes_style(size: int = 64) -> Image.Image:
    yy, xx = np.mgrid[:size, :size]
    diagonal = ((xx + yy) // 6) % 2 == 0
    checker = ((xx // 8 + yy // 8) % 2) == 0
    rgb = np.zeros((size, size, 3), np.uint8)
    rgb[diagonal] = (230, 30, 30)
    rgb[~diagonal & checker] = (250, 220, 20)
    rgb[~diagonal & ~checker] = (20, 40, 200)
    return Image.fromarray(rgb)


def yuv(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(image, dtype=np.float64) / 255
    y = rgb @ np.array([0.299, 0.587, 0.114])
    return np.stack([y, 0.492 * (rgb[..., 2] - y), 0.877 * (rgb[..., 0] - y)], axis=-1)


def gram_distance(grams: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> float:
    return sum(float((grams[k] - target[k]).pow(2).sum() / target[k].pow(2).sum()) for k in target)


# --- the optimisation ------------------------------------------------------------------------


def test_style_loss_falls_and_the_result_moves_toward_the_style() -> None:
    content, style = gradient_content(), stripes_style()
    settings = QualitySettings(size=64, iterations=40)
    result = run_quality(content, style, settings)

    styles = [step.losses.style for step in result.history]
    assert len(styles) == 40
    assert styles[-1] < 0.65 * styles[0]
    assert all(max(styles[i + 10 : i + 20]) < max(styles[i : i + 10]) for i in (0, 10, 20))
    assert result.image.size == (64, 43)

    start = content.resize(result.image.size, Image.Resampling.LANCZOS)
    assert (
        loss_breakdown(result.image, content, style).style
        < loss_breakdown(start, content, style).style
    )
    target = style_statistics(style, size=64)
    assert set(target) == set(quality.STYLE_LAYERS)
    assert gram_distance(style_statistics(result.image), target) < 0.7 * gram_distance(
        style_statistics(start), target
    )


def test_the_default_weight_shows_the_style_and_the_weight_spans_subtle_to_strong() -> None:
    """Judged by another network than the one optimised: the fast mode's style predictor. The
    distance of the result's style vector to the style's, over the content's (1 = untouched)."""
    from imagestudio.core.style.fast import FastStylizer

    predictor = FastStylizer(threads=1)
    content, style = gradient_content(), stripes_style()
    target = predictor.style_vector(style)
    baseline = float(np.linalg.norm(predictor.style_vector(content) - target))

    def distance(weight: float) -> float:
        settings = QualitySettings(size=96, iterations=40, style_weight=weight)
        picture = stylize_quality(content, style, settings)
        return float(np.linalg.norm(predictor.style_vector(picture) - target)) / baseline

    subtle, default, strong = distance(0.1), distance(1.0), distance(10.0)
    assert subtle > default > strong
    # Measured: 0.98, 0.76, 0.55; the old style scale gave 0.96 at weight 1, barely a change.
    assert default < 0.85
    assert subtle > 0.9  # a light touch: close to the content's own style


def test_preserve_colors_keeps_the_contents_chroma_and_changes_luminance() -> None:
    content, style = gradient_content(), stripes_style()
    result = stylize_quality(
        content, style, QualitySettings(size=64, iterations=20, preserve_colors=True)
    )
    before = yuv(content.resize(result.size, Image.Resampling.LANCZOS))
    after = yuv(result)
    assert np.abs(after[..., 1:].mean((0, 1)) - before[..., 1:].mean((0, 1))).max() < 0.01
    assert np.abs(after[..., 1:] - before[..., 1:]).mean() < 0.02  # per pixel too
    assert np.abs(after[..., 0] - before[..., 0]).mean() > 0.03


def test_without_preserve_colors_the_chroma_moves() -> None:
    content, style = gradient_content(), stripes_style()
    settings = QualitySettings(size=64, iterations=20, style_weight=3.0)
    result = stylize_quality(content, style, settings)
    before = yuv(content.resize(result.size, Image.Resampling.LANCZOS))
    assert np.abs(yuv(result)[..., 1:] - before[..., 1:]).mean() > 0.03


def test_preserve_colors_after_the_fact_puts_the_contents_chroma_back() -> None:
    content = gradient_content()
    stylised = stripes_style(80).resize((96, 64))
    result = quality.preserve_colors(stylised, content.resize((48, 32)))
    assert result.size == (96, 64) and result.mode == "RGB"
    before, after = yuv(content), yuv(result)
    assert np.abs(after[..., 1:] - before[..., 1:]).mean() < 0.02
    assert np.abs(after[..., 0] - yuv(stylised)[..., 0]).mean() < 0.02


def test_coarse_to_fine_gives_the_requested_size_with_the_contents_aspect() -> None:
    assert plan_scales(512, 300) == [(128, 180), (256, 90), (512, 30)]
    assert plan_scales(128, 10) == [(64, 6), (128, 4)]
    assert plan_scales(64, 10) == [(64, 10)]
    assert plan_scales(1024, 2) == [(512, 1), (1024, 1)]

    content = gradient_content(150, 100)
    result = run_quality(content, stripes_style(), QualitySettings(size=128, iterations=6))
    assert result.image.size == (128, 85)
    assert [step.size for step in result.history] == [(64, 43)] * 4 + [(128, 85)] * 2
    assert [step.scale for step in result.history] == [0, 0, 0, 0, 1, 1]


def test_on_step_reports_every_iteration_with_previews() -> None:
    calls: list[tuple[int, int, tuple[int, ...] | None, object]] = []

    def on_step(iteration: int, total: int, preview: np.ndarray | None) -> None:
        calls.append((iteration, total, None if preview is None else preview.shape, preview))

    stylize_quality(
        gradient_content(),
        stripes_style(),
        QualitySettings(size=64, iterations=7),
        on_step=on_step,
        preview_every=3,
    )
    assert [c[:2] for c in calls] == [(i, 7) for i in range(1, 8)]
    assert [c[2] for c in calls] == [None, None, (43, 64, 3), None, None, (43, 64, 3), None]
    assert calls[2][3].dtype == np.uint8  # type: ignore[union-attr]


def test_cancel_stops_after_the_iteration_that_saw_it() -> None:
    seen: list[int] = []
    with pytest.raises(JobCancelled, match=r"^Cancelled after 3 of 10 iterations\.$") as raised:
        stylize_quality(
            gradient_content(),
            stripes_style(),
            QualitySettings(size=64, iterations=10),
            on_step=lambda i, total, preview: seen.append(i),
            is_cancelled=lambda: len(seen) >= 3,
        )
    assert seen == [1, 2, 3]
    # the picture so far comes with the cancel, for the window to offer keeping it
    partial = raised.value.partial
    assert isinstance(partial, Image.Image) and partial.mode == "RGB" and partial.width > 0


def test_noise_start_is_seeded() -> None:
    content, style = gradient_content(), stripes_style()

    def run(seed: int) -> np.ndarray:
        settings = QualitySettings(size=64, iterations=3, init="noise", seed=seed)
        return np.asarray(stylize_quality(content, style, settings))

    first = run(1)
    assert np.array_equal(first, run(1))
    assert not np.array_equal(first, run(2))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"content_weight": -1.0}, "content weight"),
        ({"style_weight": float("nan")}, "style weight"),
        ({"content_weight": 0.0, "style_weight": 0.0, "tv_weight": 0.0}, "At least one"),
        ({"iterations": 0}, "Iterations"),
        ({"iterations": 5001}, "Iterations"),
        ({"size": 63}, "size"),
        ({"size": 1025}, "size"),
        ({"init": "photo"}, "starting picture"),
        ({"optimizer": "sgd"}, "optimiser"),
    ],
)
def test_invalid_settings_are_refused(changes: dict, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        stylize_quality(gradient_content(), stripes_style(), QualitySettings(**changes))


# --- the feature network and its weights -----------------------------------------------------


def test_bundled_weights_load_once_with_the_caffe_convention() -> None:
    network = vgg.load_feature_network()
    assert vgg.load_feature_network() is network
    assert (network.arch, network.convention.name) == ("vgg16", "caffe-bgr-mean")
    assert all(not p.requires_grad and p.dtype == torch.float32 for p in network.parameters())

    image = torch.rand(1, 3, 24, 40)
    expected = image[:, [2, 1, 0]] * 255 - torch.tensor([104.00699, 116.66877, 122.67892]).view(
        1, 3, 1, 1
    )
    torch.testing.assert_close(network.normalize(image), expected)
    feats = network.features(image, ["relu1_1", "relu3_1", "relu4_2"])
    assert set(feats) == {"relu1_1", "relu3_1", "relu4_2"}
    assert feats["relu3_1"].shape == (1, 256, 6, 10)
    assert feats["relu4_2"].shape == (1, 512, 3, 5)
    assert float(feats["relu1_1"].min()) >= 0


@pytest.fixture(scope="module")
def random_vgg19() -> dict[str, torch.Tensor]:
    """Random weights with torchvision's VGG19 key names and shapes (fp16: a smaller file)."""
    generator = torch.Generator().manual_seed(0)
    state, index, in_channels = {}, 0, 3
    for block in vgg.VGG_CONFIGS["vgg19"]:
        for out_channels in block:
            shape = (out_channels, in_channels, 3, 3)
            state[f"features.{index}.weight"] = (
                torch.randn(shape, generator=generator) * (2 / (9 * in_channels)) ** 0.5
            ).half()
            state[f"features.{index}.bias"] = torch.zeros(out_channels, dtype=torch.float16)
            index, in_channels = index + 2, out_channels
        index += 1
    state["classifier.6.bias"] = torch.zeros(10)  # ignored, as torchvision's classifier is
    return state


def _check_torchvision_network(network: vgg.FeatureNetwork, state: dict) -> None:
    assert (network.arch, network.convention.name) == ("vgg19", "torchvision-rgb")
    conv3_4 = network.convs[network.names.index("conv3_4")]
    torch.testing.assert_close(conv3_4.weight, state["features.16.weight"].float())
    torch.testing.assert_close(
        network.convs[-1].weight, state["features.34.weight"].float()
    )  # conv5_4
    image = torch.rand(1, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(network.normalize(image), (image - mean) / std)
    assert network.features(image, ["relu5_4"])["relu5_4"].shape == (1, 512, 2, 2)


def test_a_torchvision_vgg19_state_dict_loads_from_the_hub_cache(
    random_vgg19: dict[str, torch.Tensor], no_hub_weights: Path
) -> None:
    no_hub_weights.mkdir(parents=True)
    path = no_hub_weights / "vgg19-dcbb9e9d.pth"
    torch.save(random_vgg19, path)
    assert vgg.find_weights().path == path.resolve()
    network = vgg.load_feature_network()
    _check_torchvision_network(network, random_vgg19)
    # and the quality engine runs on it
    result = run_quality(
        gradient_content(), stripes_style(), QualitySettings(size=64, iterations=2)
    )
    assert result.network == f"VGG weights at {path.resolve()}"
    vgg.clear_cache()


def test_a_broken_file_in_the_hub_cache_falls_back_to_the_bundled_weights(
    no_hub_weights: Path, caplog: pytest.LogCaptureFixture
) -> None:
    no_hub_weights.mkdir(parents=True)
    (no_hub_weights / "vgg19-dcbb9e9d.pth").write_bytes(b"half a download")
    network = vgg.load_feature_network()
    assert network.source == "the bundled VGG16 (HED) weights"
    assert "Skipping" in caplog.text and "vgg19-dcbb9e9d.pth" in caplog.text


def test_a_torchvision_state_dict_loads_from_safetensors(
    random_vgg19: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "vgg19.safetensors"
    save_file(random_vgg19, str(path))
    _check_torchvision_network(vgg.load_feature_network(path), random_vgg19)
    vgg.clear_cache()


PAYLOAD_RAN: list[bool] = []


def _payload() -> None:
    PAYLOAD_RAN.append(True)


class Payload:
    def __reduce__(self):
        return (_payload, ())


def test_a_pickle_with_python_objects_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vgg19-evil.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "extra": Payload()}, path)
    with pytest.raises(ModelError, match="holds Python objects besides weights"):
        vgg.load_feature_network(path)
    assert PAYLOAD_RAN == []


def test_damaged_wrong_and_missing_weights_raise_model_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import save_file

    garbage = tmp_path / "vgg19.pth"
    garbage.write_bytes(b"not a weights file" * 10)
    with pytest.raises(ModelError, match="damaged or not a PyTorch weights file"):
        vgg.load_feature_network(garbage)

    truncated = tmp_path / "cut.safetensors"
    bundled = vgg.find_weights().path
    truncated.write_bytes(bundled.read_bytes()[:5000])
    with pytest.raises(ModelError, match="damaged or not a safetensors file"):
        vgg.load_feature_network(truncated)

    wrong = tmp_path / "wrong.safetensors"
    tensors = {"features.0.weight": torch.zeros(64, 3, 5, 5), "features.0.bias": torch.zeros(64)}
    for index in (2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28):  # 13 convs: read as VGG16
        tensors[f"features.{index}.weight"] = torch.zeros(1)
    save_file(tensors, str(wrong))
    with pytest.raises(ModelError, match=re.escape("features.0.weight is (64, 3, 5, 5)")):
        vgg.load_feature_network(wrong)

    with pytest.raises(ModelError, match="does not exist"):
        vgg.load_feature_network(tmp_path / "nowhere.pth")

    monkeypatch.setenv("IMAGESTUDIO_RESOURCES", str(tmp_path / "empty"))
    with pytest.raises(ModelError, match="reinstall ImageStudio"):
        vgg.load_feature_network()
