"""Quality mode: optimisation-based style transfer (Gatys, Ecker & Bethge 2016).

The picture itself is optimised so that its VGG features match the content image at one deep layer
(content loss) and the Gram matrices of the style image at five layers (style loss), with a
total-variation term against pixel noise.

Choices, measured on CPU with one thread (bundled VGG16; tests/bench/bench_style_quality.py):

- Optimiser: L-BFGS (`torch.optim.LBFGS`, one function evaluation per iteration, no line search,
  history 20). Against Adam at 128 px, one scale, 150 iterations, relative total loss: L-BFGS
  0.605 after 50 iterations, 0.560 after 100, 0.546 after 150; Adam at its best learning rate
  (0.03, of 0.03, 0.1, 0.3) 0.644, 0.583, 0.563. L-BFGS reaches Adam's 150-iteration loss in
  about 90 iterations; an Adam iteration was ~15% cheaper (169 vs 196 ms), so L-BFGS gets there
  about 1.4x sooner, ends lower, and needs no learning rate (Adam's best one moved from 0.1 to
  0.03 when the loss normalisation changed during tuning).
- Pooling: average, as Gatys et al. recommend (gradients reach every pixel of a pooled window, not
  one). At 256 px, 150 iterations: 18% less total variation (speckle) than max pooling, bolder
  strokes by eye; max pooling kept finer texture and more of the content. The same cost.
- Layers: content relu4_2, style relu1_1, relu2_1, relu3_1, relu4_1, relu5_1, equally weighted
  (the paper's choice; works for VGG16 and VGG19 alike).
- Losses are relative, so the user's weights don't depend on the network's activation scale
  (VGG16 Caffe-style vs VGG19 torchvision-style inputs differ ~50x): content = mean (F - P)^2
  over the mean squared activation of content and style at that layer (the content's alone would
  make a flat content refuse any texture); style = mean over layers of |G - A|^2 / |A|^2 (Grams
  divided by C*H*W, each layer normalised by its own target, so every layer counts alike
  whatever its size); TV = mean squared neighbour difference over the style's own at that scale
  (a crisp style may stay crisp). Internal factors (STYLE_SCALE, TV_SCALE) set what 1/1/1 means;
  tuned on the bundled VGG16 and meant to carry over to VGG19 (not checked: no VGG19 at hand).
- Style scale: measured, not by eye alone. The style distance of tests/bench/bench_style_distance.py
  (the fast mode's style-prediction network, another network than the one optimised: distance of
  the result's style vector to the style's, over the content's) on three pairs at 256 px, 300
  iterations, by internal style factor: 0.5 -> 0.86/0.55/0.69 (stripes/strokes/dots; a striped
  style left no stripes), 1.5 -> 0.67/0.44/0.55 (the style's marks over the whole picture, the
  scene still legible), 3 -> 0.58/0.41/0.50, 5 -> 0.54/0.40/0.42 (the scene mostly gone). 1.5 is
  weight 1; the window's slider spans 0.1 to 10 of it, subtle to all style.
- Coarse to fine: long side size/4 -> size/2 -> size (scales below 64 px dropped), with 60% of
  the iterations at the coarsest scale, 30% at the middle one and 10% at full size; the result of
  each scale, upsampled, starts the next. At 256 px, 300 iterations this way (69 s) against 100 at
  full size only (68 s): the same total loss (0.882 vs 0.890) but a much lower style loss (0.33 vs
  0.48), and only the former repainted the picture: from the content, one scale adds fine texture
  over flat areas and stops in that local minimum. The split was 50/30/20 until the full-size
  scale, 16x the cost of an iteration at the coarsest, was found to add little: on three
  content/style pairs at 256 px (tests/bench/bench_style_distance.py) 60/30/10 took 25 s instead
  of 32 s (-22%; 512 px: see the bench) with an equal or lower full-size style loss (0.289,
  0.098, 0.113 against 0.296, 0.109, 0.132) and pictures alike by eye.
- Preserve colours: luminance-only transfer (Gatys et al. 2017, "Controlling perceptual factors"):
  the style's luminance is matched to the content's mean/std, only the luminance (YIQ's Y) is
  optimised, and the content's I/Q chroma is put back.

This module does not import torch until a function runs, so settings can be built at app start.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from imagestudio.core.callbacks import StepCallback
from imagestudio.core.errors import InvalidRequest, JobCancelled, OutOfMemory
from imagestudio.core.requests import (
    STYLE_INITS,
    STYLE_MAX_ITERATIONS,
    STYLE_MAX_SIZE,
    STYLE_MIN_SIZE,
    QualityKnobs,
)

if TYPE_CHECKING:
    import torch

    from imagestudio.core.style.vgg import FeatureNetwork, Pooling

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
POOLING: Pooling = "avg"
# Weight 1.0 means these factors. STYLE_SCALE: measured (module docstring); it was 0.5, which left
# a striped style's stripes out. TV by eye with the bundled VGG16 on a 256 px scene with a
# brush-stroke style: 0.05 left more pixel noise, 0.2 softened the strokes (TV is relative to the
# style's own, see _Targets.build).
CONTENT_SCALE = 1.0
STYLE_SCALE = 1.5
TV_SCALE = 0.1
MIN_SCALE = 64  # long side of the coarsest scale; relu5_1 is then 4 px across
SCALE_SHARES = {1: (1.0,), 2: (0.6, 0.4), 3: (0.6, 0.3, 0.1)}
LBFGS_HISTORY = 20  # 2 x 20 image-sized vectors: 500 MB at 1024 px; 100 would be 2.4 GB
ADAM_LR = 0.03
OPTIMISERS = ("lbfgs", "adam")
# The limits a request is checked against, so a request and the optimiser never disagree.
INITS = STYLE_INITS
MAX_SIZE = STYLE_MAX_SIZE
MIN_SIZE = STYLE_MIN_SIZE
MAX_ITERATIONS = STYLE_MAX_ITERATIONS

# RGB -> YIQ (NTSC 1953); the inverse is computed so the round trip is exact in float64.
_RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ]
)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


@dataclass(frozen=True, kw_only=True)
class QualitySettings(QualityKnobs):
    """Everything a quality-mode job needs besides the two images: the request's knobs (see
    `QualityKnobs`), and `optimizer`, "lbfgs" (default, faster to a good picture) or "adam"."""

    optimizer: str = "lbfgs"

    def validate(self) -> None:
        """Raise InvalidRequest, with a sentence, for a value the engine cannot use."""
        weights = {
            "content": self.content_weight,
            "style": self.style_weight,
            "smoothness": self.tv_weight,
        }
        for name, value in weights.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise InvalidRequest(f"The {name} weight must be a number of 0 or more.")
        if not any(weights.values()):
            raise InvalidRequest(
                "At least one of the content, style and smoothness weights must be above 0."
            )
        if not (isinstance(self.iterations, int) and 1 <= self.iterations <= MAX_ITERATIONS):
            raise InvalidRequest(f"Iterations must be between 1 and {MAX_ITERATIONS}.")
        if not (isinstance(self.size, int) and MIN_SIZE <= self.size <= MAX_SIZE):
            raise InvalidRequest(
                f"The output size must be between {MIN_SIZE} and {MAX_SIZE} pixels."
            )
        if self.init not in INITS:
            raise InvalidRequest(
                f"The starting picture must be 'content' or 'noise', not {self.init!r}."
            )
        if self.optimizer not in OPTIMISERS:
            raise InvalidRequest(
                f"The optimiser must be 'lbfgs' or 'adam', not {self.optimizer!r}."
            )


@dataclass(frozen=True)
class LossBreakdown:
    """Unweighted relative losses (see the module docstring) and the weighted total."""

    content: float
    style: float
    tv: float
    total: float
    style_layers: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StepRecord:
    """The losses of the picture at the start of one iteration."""

    iteration: int  # 1-based, counted over all scales
    scale: int  # 0 = coarsest
    size: tuple[int, int]  # (width, height) at this scale
    losses: LossBreakdown


@dataclass(frozen=True)
class QualityResult:
    """The picture and how it got there."""

    image: Image.Image
    history: tuple[StepRecord, ...]
    network: str  # which weights ran, for metadata


def output_size(width: int, height: int, long_side: int) -> tuple[int, int]:
    """(width, height) with the given long side and the content's aspect ratio."""
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def plan_scales(size: int, iterations: int) -> list[tuple[int, int]]:
    """[(long side, iterations), ...] from coarse to fine; the last is always `size`."""
    sides = [s for s in (size // 4, size // 2) if s >= MIN_SCALE] + [size]
    sides = sides[-min(len(sides), iterations) :]
    shares = SCALE_SHARES[len(sides)]
    counts = [max(1, math.floor(iterations * share)) for share in shares]
    counts[0] += iterations - sum(counts)
    return list(zip(sides, counts, strict=True))


def preserve_colors(stylised: Image.Image, content: Image.Image) -> Image.Image:
    """The stylised picture's luminance with the content's colours (YIQ's I/Q), at the stylised
    picture's size. For modes that stylise in RGB (fast); quality mode does this itself, better,
    by optimising the luminance only."""
    size = stylised.size
    y = _yiq_array(stylised)[..., :1]
    iq = _yiq_array(content.convert("RGB").resize(size, Image.Resampling.LANCZOS))[..., 1:]
    rgb = np.concatenate([y, iq], axis=-1) @ _YIQ_TO_RGB.T
    return Image.fromarray((rgb.clip(0, 1) * 255).round().astype(np.uint8))


def _yiq_array(image: Image.Image) -> np.ndarray:
    return (np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0) @ _RGB_TO_YIQ.T


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of (N, C, H, W) activations, divided by C*H*W (so size-independent)."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def style_statistics(
    image: Image.Image,
    *,
    size: int | None = None,
    layers: Sequence[str] = STYLE_LAYERS,
    weights: Path | None = None,
    device: str = "cpu",
) -> dict[str, torch.Tensor]:
    """The Gram matrix (C x C) of each style layer for `image` (long side resized to `size`)."""
    import torch

    from imagestudio.core.style.vgg import load_feature_network

    network = load_feature_network(weights, device)
    if size is not None:
        image = image.resize(output_size(*image.size, size), Image.Resampling.LANCZOS)
    with torch.no_grad():
        feats = network.features(_to_tensor(image, device), layers, POOLING)
    return {name: gram(feats[name])[0] for name in layers}


def loss_breakdown(
    image: Image.Image,
    content: Image.Image,
    style: Image.Image,
    settings: QualitySettings | None = None,
    *,
    weights: Path | None = None,
    device: str = "cpu",
) -> LossBreakdown:
    """The losses of `image` as the engine sees them at `image`'s size (content resized to it,
    style to the same long side), to compare pictures on one scale."""
    return loss_breakdowns([image], content, style, settings, weights=weights, device=device)[0]


def loss_breakdowns(
    images: Sequence[Image.Image],
    content: Image.Image,
    style: Image.Image,
    settings: QualitySettings | None = None,
    *,
    weights: Path | None = None,
    device: str = "cpu",
) -> list[LossBreakdown]:
    """`loss_breakdown` for several images of one size; the targets are computed once."""
    import torch

    from imagestudio.core.style.vgg import load_feature_network

    if not images or any(image.size != images[0].size for image in images):
        raise ValueError("loss_breakdowns needs one or more images of one size")
    settings = settings or QualitySettings()
    network = load_feature_network(weights, device)
    targets = _Targets.build(network, content, style, images[0].size, settings, device)
    out = []
    for image in images:
        x = _to_tensor(image, device)
        if settings.preserve_colors:
            x = _luminance(x)
        with torch.no_grad():
            out.append(targets.losses(network, x)[1])
    return out


def stylize_quality(
    content: Image.Image, style: Image.Image, settings: QualitySettings, **options: Any
) -> Image.Image:
    """Repaint `content` in the style of `style`; returns an RGB image, long side `settings.size`.

    Takes `run_quality`'s options: `on_step(iteration, total, preview)` runs after every
    iteration (`preview`, an HxWx3 uint8 array of the current picture, every `preview_every`
    iterations, else None); `is_cancelled()` is checked before each iteration (True raises
    JobCancelled); `device`, `weights`. Raises InvalidRequest, ModelError (weights), OutOfMemory.
    """
    return run_quality(content, style, settings, **options).image


def run_quality(
    content: Image.Image,
    style: Image.Image,
    settings: QualitySettings,
    *,
    device: str = "cpu",
    weights: Path | None = None,
    on_step: StepCallback | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    preview_every: int = 10,
) -> QualityResult:
    """`stylize_quality` that also returns the loss of every iteration."""
    settings.validate()
    if preview_every < 1:
        raise InvalidRequest("Previews must come every 1 or more iterations.")
    import torch

    from imagestudio.core.style.vgg import load_feature_network

    network = load_feature_network(weights, device)
    try:
        return _optimise(
            network, content, style, settings, device, on_step, is_cancelled, preview_every
        )
    except RuntimeError as exc:  # torch.OutOfMemoryError is one
        message = str(exc)
        if not (
            isinstance(exc, torch.OutOfMemoryError)
            or "can't allocate memory" in message
            or "not enough memory" in message
        ):
            raise
        if str(device).startswith("cpu"):
            raise OutOfMemory(
                f"The computer ran out of memory at {settings.size} px; choose a smaller size or "
                "close other programs."
            ) from exc
        if str(device).startswith("cuda"):
            torch.cuda.empty_cache()
        raise OutOfMemory(
            f"The GPU ran out of memory at {settings.size} px; choose a smaller size, close other "
            "GPU programs, or run style transfer on the CPU."
        ) from exc


# --- internals -------------------------------------------------------------------------------


def _to_tensor(image: Image.Image, device: str) -> torch.Tensor:
    import torch

    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1)[None].contiguous().to(device)


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    array = x[0].detach().clamp(0, 1).permute(1, 2, 0).mul(255).round().byte().cpu().numpy()
    return np.ascontiguousarray(array)


def _color_matrix(matrix: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    import torch

    return torch.tensor(matrix, dtype=like.dtype, device=like.device)


def _to_yiq(rgb: torch.Tensor) -> torch.Tensor:
    return (_color_matrix(_RGB_TO_YIQ, rgb) @ rgb.flatten(2)).view_as(rgb)


def _to_rgb(yiq: torch.Tensor) -> torch.Tensor:
    return (_color_matrix(_YIQ_TO_RGB, yiq) @ yiq.flatten(2)).view_as(yiq)


def _luminance(rgb: torch.Tensor) -> torch.Tensor:
    return _to_yiq(rgb)[:, :1]


def _total_variation(x: torch.Tensor) -> torch.Tensor:
    dx = x[..., :, 1:] - x[..., :, :-1]
    dy = x[..., 1:, :] - x[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()


@dataclass
class _Targets:
    """What one scale optimises towards: content features, style Grams, and the term weights."""

    content: torch.Tensor | None
    content_norm: float  # mean squared activation of content and style at CONTENT_LAYER
    grams: dict[str, torch.Tensor]
    chroma: torch.Tensor | None  # content's I/Q at this scale, preserve-colours mode only
    content_image: torch.Tensor  # RGB 0..1 or luminance, the content at this scale
    alpha: float
    beta: float
    gamma: float
    preserve: bool

    @classmethod
    def build(
        cls,
        network: FeatureNetwork,
        content: Image.Image,
        style: Image.Image,
        size: tuple[int, int],
        settings: QualitySettings,
        device: str,
    ) -> _Targets:
        import torch

        content_x = _to_tensor(content.resize(size, Image.Resampling.LANCZOS), device)
        style_size = output_size(*style.size, max(size))
        style_x = _to_tensor(style.resize(style_size, Image.Resampling.LANCZOS), device)
        chroma = None
        if settings.preserve_colors:
            yiq = _to_yiq(content_x)
            content_x, chroma = yiq[:, :1], yiq[:, 1:]
            style_y = _luminance(style_x)
            # Luminance matching: the style's tones, moved to the content's mean and contrast.
            scale = content_x.std() / style_y.std().clamp_min(1e-3)
            style_x = ((style_y - style_y.mean()) * scale + content_x.mean()).expand(-1, 3, -1, -1)
        with torch.no_grad():
            content_input = content_x.expand(-1, 3, -1, -1) if chroma is not None else content_x
            style_tv = float(_total_variation(style_x))
            target = network.features(content_input, [CONTENT_LAYER], POOLING)[CONTENT_LAYER]
            feats = network.features(style_x, [*STYLE_LAYERS, CONTENT_LAYER], POOLING)
            grams = {name: gram(feats[name]) for name in STYLE_LAYERS}
            # Against the content's energy alone, a flat content (sky, gradient) would make any
            # texture a huge relative change and refuse the style; the style's energy evens it.
            content_norm = float((target.pow(2).mean() + feats[CONTENT_LAYER].pow(2).mean()) / 2)
        return cls(
            content=target if settings.content_weight > 0 else None,
            content_norm=max(content_norm, 1e-12),
            grams=grams if settings.style_weight > 0 else {},
            chroma=chroma,
            content_image=content_x,
            alpha=settings.content_weight * CONTENT_SCALE,
            beta=settings.style_weight * STYLE_SCALE,
            # Relative to the style's own variation at this scale: a crisp style may stay crisp,
            # a soft one asks for a soft picture; no style-dependent tuning needed.
            gamma=settings.tv_weight * TV_SCALE / max(style_tv, 1e-4),
            preserve=settings.preserve_colors,
        )

    def network_input(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1) if self.preserve else x

    def losses(
        self, network: FeatureNetwork, x: torch.Tensor
    ) -> tuple[torch.Tensor, LossBreakdown]:
        """(weighted total as a tensor to differentiate, breakdown as floats)."""
        layers = list(self.grams) + ([CONTENT_LAYER] if self.content is not None else [])
        feats = network.features(self.network_input(x), layers, POOLING) if layers else {}
        total = x.new_zeros(())
        content_loss = x.new_zeros(())
        if self.content is not None:
            diff = feats[CONTENT_LAYER] - self.content
            content_loss = diff.pow(2).mean() / self.content_norm
            total = total + self.alpha * content_loss
        per_layer = {}
        style_loss = x.new_zeros(())
        for name, target in self.grams.items():
            layer_loss = (gram(feats[name]) - target).pow(2).sum() / target.pow(2).sum().clamp_min(
                1e-12
            )
            per_layer[name] = layer_loss
            style_loss = style_loss + layer_loss / len(self.grams)
        if self.grams:
            total = total + self.beta * style_loss
        tv_loss = _total_variation(x)
        if self.gamma > 0:
            total = total + self.gamma * tv_loss
        breakdown = LossBreakdown(
            content=float(content_loss.detach()),
            style=float(style_loss.detach()),
            tv=float(tv_loss.detach()),
            total=float(total.detach()),
            style_layers={k: float(v.detach()) for k, v in per_layer.items()},
        )
        return total, breakdown

    def to_rgb(self, x: torch.Tensor) -> torch.Tensor:
        """The picture as RGB 0..1 (chroma put back in preserve-colours mode)."""
        import torch

        if self.chroma is None:
            return x.clamp(0, 1)
        return _to_rgb(torch.cat([x, self.chroma], dim=1)).clamp(0, 1)


def _make_optimiser(name: str, x: torch.Tensor) -> torch.optim.Optimizer:
    import torch

    if name == "adam":
        return torch.optim.Adam([x], lr=ADAM_LR)
    # max_iter=1: one function evaluation per step, so every iteration can report and be
    # cancelled; the optimiser's state (curvature history) carries over between steps.
    return torch.optim.LBFGS(
        [x], lr=1.0, max_iter=1, history_size=LBFGS_HISTORY, tolerance_grad=0.0
    )


def _closure(
    optimiser: torch.optim.Optimizer,
    targets: _Targets,
    network: FeatureNetwork,
    x: torch.Tensor,
    record: list[LossBreakdown],
) -> Callable[[], float]:
    """One loss evaluation with gradients, as `optimiser.step` wants; logs the breakdown."""

    def closure() -> float:
        optimiser.zero_grad()
        loss, parts = targets.losses(network, x)
        loss.backward()
        record.append(parts)
        return parts.total

    return closure


def _optimise(
    network: FeatureNetwork,
    content: Image.Image,
    style: Image.Image,
    settings: QualitySettings,
    device: str,
    on_step: StepCallback | None,
    is_cancelled: Callable[[], bool] | None,
    preview_every: int,
) -> QualityResult:
    import torch
    import torch.nn.functional as F

    total = settings.iterations
    history: list[StepRecord] = []
    iteration = 0
    x: torch.Tensor | None = None
    targets: _Targets | None = None
    for scale, (side, count) in enumerate(plan_scales(settings.size, total)):
        size = output_size(*content.size, side)
        targets = _Targets.build(network, content, style, size, settings, device)
        if x is None:
            if settings.init == "noise":
                generator = torch.Generator().manual_seed(settings.seed)
                x = torch.rand(targets.content_image.shape, generator=generator).to(device)
            else:
                x = targets.content_image.clone(memory_format=torch.contiguous_format)
        else:
            x = F.interpolate(x, size=(size[1], size[0]), mode="bicubic", align_corners=False)
            x = x.clamp(0, 1)
        x = x.detach().requires_grad_(True)
        optimiser = _make_optimiser(settings.optimizer, x)
        best_loss, best_x = math.inf, x.detach().clone()

        for _ in range(count):
            if is_cancelled is not None and is_cancelled():
                partial = None
                if iteration:  # the picture so far: the window offers to keep it
                    with torch.no_grad():
                        partial = Image.fromarray(_to_uint8(targets.to_rgb(x.detach())))
                raise JobCancelled(
                    f"Cancelled after {iteration} of {total} iterations.", partial=partial
                )
            record: list[LossBreakdown] = []
            snapshot = x.detach().clone()
            optimiser.step(_closure(optimiser, targets, network, x, record))
            iteration += 1
            parts = record[0]  # the picture before this step
            history.append(StepRecord(iteration, scale, size, parts))
            if parts.total < best_loss:
                best_loss, best_x = parts.total, snapshot
            elif not math.isfinite(parts.total):
                # L-BFGS overshot into NaN (rare): go back to the best picture, forget the history.
                with torch.no_grad():
                    x.copy_(best_x)
                optimiser = _make_optimiser(settings.optimizer, x)
            if on_step is not None:
                preview = None
                if iteration % preview_every == 0:
                    with torch.no_grad():
                        preview = _to_uint8(targets.to_rgb(x))
                on_step(iteration, total, preview)

        # The last step is unscored; keep it unless an earlier picture scored better.
        with torch.no_grad():
            final_loss, _ = targets.losses(network, x)
        if not float(final_loss) <= best_loss:  # also when it is NaN
            x = best_x.requires_grad_(False)
        x = x.detach()
    assert x is not None and targets is not None
    with torch.no_grad():
        image = Image.fromarray(_to_uint8(targets.to_rgb(x)))
    return QualityResult(image=image, history=tuple(history), network=network.source)
