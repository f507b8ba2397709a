"""Benchmark and score card of the picture-settings reader, one picture per format.

Each picture is built here from its format's published structure (chunk names and keys), with
the settings it was made with as ground truth. The table says, per format, how many of those
fields `read_settings` restores and how long a read takes, against reading the same picture's
plain A1111 text in the same run (the ratio). Run ``python -m imagestudio.dev.readbench``;
figures go in closing notes, not tests.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from PIL import Image
from PIL.PngImagePlugin import PngInfo

PROMPT = "a lighthouse on a cliff at dusk, oil painting"
NEGATIVE = "blurry, lowres"


@dataclass
class Sample:
    """A picture of one format and the settings it holds."""

    name: str
    chunks: dict[str, str] = field(default_factory=dict)
    user_comment: str | None = None  # EXIF UserComment (WebP), instead of PNG chunks
    fmt: str = "PNG"  # JPEG and WebP carry `user_comment`, `exif_tags`, `xmp` and `comment`
    exif_tags: dict[int, str] = field(default_factory=dict)  # first IFD (ComfyUI's WebP)
    xmp: str | None = None
    comment: str | None = None  # JPEG COM segment
    # field -> value; "scheduler" is the one of ours the sampler and schedule must map to
    truth: dict[str, Any] = field(default_factory=dict)


def _truth(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "prompt": PROMPT,
        "negative_prompt": NEGATIVE,
        "steps": 28,
        "scheduler": "DPM++ 2M Karras",
        "cfg_scale": 6.5,
        "seed": 1234567,
        "width": 832,
        "height": 1216,
        "model": "dreamshaper_8",
        "loras": (("ink-wash", 0.8),),
    }
    values.update(changes)
    return {key: value for key, value in values.items() if value is not None}


def _comfy_graph(hires: bool, img2img: bool) -> dict[str, Any]:
    graph: dict[str, Any] = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dreamshaper_8"}},
        "10": {
            "class_type": "LoraLoader",
            "inputs": {
                "lora_name": "styles/ink-wash.safetensors",
                "strength_model": 0.8,
                "strength_clip": 0.8,
                "model": ["4", 0],
                "clip": ["4", 1],
            },
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["10", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["10", 1]}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 832, "height": 1216, "batch_size": 1},
        },
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": 1234567,
                "steps": 28,
                "cfg": 6.5,
                "sampler_name": "dpmpp_2m",
                "scheduler": "karras",
                "denoise": 1.0,
                "model": ["10", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}},
    }
    if img2img:
        graph["11"] = {"class_type": "LoadImage", "inputs": {"image": "start.png"}}
        graph["12"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["11", 0], "vae": ["4", 2]}}
        graph["3"]["inputs"] |= {"latent_image": ["12", 0], "denoise": 0.55}
        del graph["5"]
    if hires:
        graph["13"] = {
            "class_type": "LatentUpscaleBy",
            "inputs": {"upscale_method": "nearest-exact", "scale_by": 1.5, "samples": ["3", 0]},
        }
        graph["14"] = {
            "class_type": "KSampler",
            "inputs": graph["3"]["inputs"] | {"latent_image": ["13", 0], "denoise": 0.5, "seed": 9},
        }
        graph["8"]["inputs"]["samples"] = ["14", 0]
    return graph


def _workflow(graph: dict[str, Any]) -> dict[str, Any]:
    """The UI graph ComfyUI saves beside the API graph, for the nodes `_comfy_graph` uses."""
    widgets = {
        "CheckpointLoaderSimple": ["ckpt_name"],
        "LoraLoader": ["lora_name", "strength_model", "strength_clip"],
        "CLIPTextEncode": ["text"],
        "EmptyLatentImage": ["width", "height", "batch_size"],
        "KSampler": ["seed", None, "steps", "cfg", "sampler_name", "scheduler", "denoise"],
        "LatentUpscaleBy": ["upscale_method", "scale_by"],
        "LoadImage": ["image", None],
        "VAEDecode": [],
        "VAEEncode": [],
        "SaveImage": ["filename_prefix"],
    }
    nodes, links = [], []
    for node_id, node in graph.items():
        names = widgets[node["class_type"]]
        values = [node["inputs"].get(n, "fixed") if n else "fixed" for n in names]
        inputs = []
        for name, value in node["inputs"].items():
            if isinstance(value, list):
                link = len(links) + 1
                links.append([link, int(value[0]), value[1], int(node_id), len(inputs), "*"])
                inputs.append({"name": name, "type": "*", "link": link})
        nodes.append(
            {
                "id": int(node_id),
                "type": node["class_type"],
                "mode": 0,
                "inputs": inputs,
                "widgets_values": values,
            }
        )
    return {"last_node_id": 20, "nodes": nodes, "links": links, "version": 0.4}


def samples() -> list[Sample]:
    a1111 = (
        f"{PROMPT}, <lora:ink-wash:0.8>\nNegative prompt: {NEGATIVE}\n"
        "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234567, "
        "Size: 832x1216, "
        'Model hash: 879db523c3, Model: dreamshaper_8, Lora hashes: "ink-wash: 0123456789ab"'
    )
    fooocus = {
        "prompt": PROMPT,
        "negative_prompt": NEGATIVE,
        "steps": 28,
        "guidance_scale": 6.5,
        "seed": "1234567",
        "resolution": "(832, 1216)",
        "sampler": "dpmpp_2m",
        "scheduler": "karras",
        "base_model": "dreamshaper_8",
        "lora_combined_1": "ink-wash.safetensors : 0.8",
        "version": "Fooocus v2.5.5",
    }
    swarm = {
        "sui_image_params": {
            "prompt": PROMPT,
            "negativeprompt": NEGATIVE,
            "model": "dreamshaper_8",
            "seed": 1234567,
            "steps": 28,
            "cfgscale": 6.5,
            "width": 832,
            "height": 1216,
            "sampler": "dpmpp_2m",
            "scheduler": "karras",
            "loras": ["ink-wash"],
            "loraweights": ["0.8"],
        }
    }
    novelai_comment = {
        "prompt": PROMPT,
        "uc": NEGATIVE,
        "steps": 28,
        "scale": 6.5,
        "seed": 1234567,
        "width": 832,
        "height": 1216,
        "sampler": "k_dpmpp_2m",
        "noise_schedule": "karras",
        "request_type": "PromptGenerateRequest",
    }
    novelai = {
        "Title": "NovelAI generated image",
        "Description": PROMPT,
        "Software": "NovelAI",
        "Source": "dreamshaper_8",
        "Comment": json.dumps(novelai_comment),
    }
    invoke3 = {
        "generation_mode": "txt2img",
        "positive_prompt": PROMPT,
        "negative_prompt": NEGATIVE,
        "width": 832,
        "height": 1216,
        "seed": 1234567,
        "steps": 28,
        "cfg_scale": 6.5,
        "scheduler": "dpmpp_2m_k",
        "model": {"name": "dreamshaper_8"},
        "loras": [{"model": {"name": "ink-wash"}, "weight": 0.8}],
    }
    invoke2 = {
        "model_weights": "dreamshaper_8",
        "image": {
            "prompt": [{"prompt": f"{PROMPT} [{NEGATIVE}]", "weight": 1}],
            "steps": 28,
            "cfg_scale": 6.5,
            "seed": 1234567,
            "width": 832,
            "height": 1216,
            "sampler": "k_euler_a",
            "type": "txt2img",
        },
    }
    dream = f'"{PROMPT} [{NEGATIVE}]" -s 28 -S 1234567 -W 832 -H 1216 -C 6.5 -A k_euler_a'
    tensorart = {
        "prompt": PROMPT,
        "negativePrompt": NEGATIVE,
        "baseModel": {"modelFileName": "dreamshaper_8"},
        "models": [{"type": "LORA", "modelFileName": "ink-wash.safetensors", "weight": 0.8}],
        "steps": 28,
        "cfgScale": 6.5,
        "width": 832,
        "height": 1216,
        "seed": "1234567",
    }
    matrix = {
        "PositivePrompt": f"{PROMPT}, <lora:ink-wash:0.8>",
        "NegativePrompt": NEGATIVE,
        "Steps": 28,
        "Sampler": "DPM++ 2M Karras",
        "CfgScale": 6.5,
        "Seed": 1234567,
        "Width": 832,
        "Height": 1216,
        "ModelName": "dreamshaper_8",
    }
    civitai = (
        f"{PROMPT}\nNegative prompt: {NEGATIVE}\n"
        "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234567, Size: 832x1216, "
        'Created Date: 2024-06-01T10:00:00.000Z, Civitai resources: [{"type":"checkpoint",'
        '"modelVersionId":128713,"modelName":"dreamshaper_8"},{"type":"lora","weight":0.8,'
        '"modelVersionId":12345,"modelName":"ink-wash"}], Civitai metadata: {}'
    )
    easy = {
        "prompt": PROMPT,
        "negative_prompt": NEGATIVE,
        "seed": "1234567",
        "use_stable_diffusion_model": "dreamshaper_8",
        "sampler_name": "dpmpp_2m",
        "width": "832",
        "height": "1216",
        "num_inference_steps": "28",
        "guidance_scale": "6.5",
        "use_lora_model": "ink-wash",
        "lora_alpha": "0.8",
    }
    draw_things = {
        "c": PROMPT,
        "uc": NEGATIVE,
        "seed": 1234567,
        "steps": 28,
        "scale": 6.5,
        "sampler": "DPM++ 2M Karras",
        "size": "832x1216",
        "model": "dreamshaper_8",
        "strength": 1,
        "lora": [{"file": "ink-wash.ckpt", "weight": 0.8}],
    }
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description>'
        '<exif:UserComment><rdf:Alt><rdf:li xml:lang="x-default">'
        + json.dumps(draw_things).replace("&", "&amp;").replace("<", "&lt;")
        + "</rdf:li></rdf:Alt></exif:UserComment>"
        "<xmp:CreatorTool>Draw Things</xmp:CreatorTool></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    hires = _comfy_graph(hires=True, img2img=False)
    img2img = _comfy_graph(hires=False, img2img=True)
    no_lora = _truth(loras=None)
    euler_a = _truth(scheduler="Euler a", loras=None)
    return [
        Sample("A1111 1.9 text", {"parameters": a1111}, truth=_truth()),
        Sample("ComfyUI API graph, hires", {"prompt": json.dumps(hires)}, truth=_truth()),
        Sample("ComfyUI UI graph only", {"workflow": json.dumps(_workflow(hires))}, truth=_truth()),
        Sample(
            "ComfyUI img2img",
            {"prompt": json.dumps(img2img), "workflow": json.dumps(_workflow(img2img))},
            truth=_truth(width=None, height=None, denoising_strength=0.55),
        ),
        Sample("Fooocus JSON", {"parameters": json.dumps(fooocus)}, truth=_truth()),
        Sample("SwarmUI JSON", {"parameters": json.dumps(swarm)}, truth=_truth()),
        Sample("SwarmUI WebP EXIF", user_comment=json.dumps(swarm), truth=_truth()),
        Sample("NovelAI PNG", novelai, truth=no_lora),
        Sample("NovelAI WebP EXIF", user_comment=json.dumps(novelai), truth=no_lora),
        Sample("InvokeAI 3+", {"invokeai_metadata": json.dumps(invoke3)}, truth=_truth()),
        Sample("InvokeAI 2 sd-metadata", {"sd-metadata": json.dumps(invoke2)}, truth=euler_a),
        Sample("InvokeAI 1 Dream", {"Dream": dream}, truth=euler_a | {"model": None}),
        Sample(
            "TensorArt",
            {"generation_data": json.dumps(tensorart), "prompt": json.dumps(hires)},
            truth=_truth(),
        ),
        Sample(
            "Stability Matrix",
            {"parameters": a1111, "parameters-json": json.dumps(matrix)},
            truth=_truth(),
        ),
        Sample("A1111 JPEG EXIF", user_comment=a1111, fmt="JPEG", truth=_truth()),
        Sample("Civitai generator JPEG", user_comment=civitai, fmt="JPEG", truth=_truth()),
        Sample("JPEG comment (A1111)", comment=a1111, fmt="JPEG", truth=_truth()),
        Sample(
            "ComfyUI WebP EXIF",
            exif_tags={0x0110: "prompt:" + json.dumps(hires)},
            fmt="WEBP",
            truth=_truth(),
        ),
        Sample("Easy Diffusion PNG", easy, truth=_truth(scheduler="DPM++ 2M")),
        Sample("Draw Things PNG XMP", {"XML:com.adobe.xmp": xmp}, truth=_truth()),
        Sample("Draw Things JPEG XMP", xmp=xmp, fmt="JPEG", truth=_truth()),
    ]


def _megabyte_settings_line() -> str:
    """A1111 text whose settings line is 1 MB of pairs: the reader's worst honest case."""
    pairs = ", ".join(f"Key {i}: value {i}" for i in range(60_000))
    return f"{PROMPT}\nSteps: 28, {pairs}"[:1_000_000]


def _picture(sample: Sample) -> bytes:
    image = Image.new("RGB", (64, 64), (40, 60, 90))
    out = io.BytesIO()
    if sample.fmt != "PNG" or sample.user_comment is not None:
        exif = Image.Exif()
        if sample.user_comment is not None:
            comment = b"UNICODE\x00" + sample.user_comment.encode("utf-16-be")
            exif.get_ifd(0x8769)[0x9286] = comment
        for tag, value in sample.exif_tags.items():
            exif[tag] = value
        extra: dict[str, Any] = {"exif": exif.tobytes()}
        if sample.xmp is not None:
            extra["xmp"] = sample.xmp.encode()
        if sample.comment is not None:
            extra["comment"] = sample.comment.encode()
        image.save(out, sample.fmt if sample.fmt != "PNG" else "WEBP", **extra)
    else:
        info = PngInfo()
        for key, value in sample.chunks.items():
            info.add_itxt(key, value)
        image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _restored(settings: Any, truth: dict[str, Any]) -> tuple[int, list[str]]:
    from imagestudio.core.schedulers import sampler_from_metadata

    if settings is None:
        return 0, sorted(truth)
    got = {
        "prompt": settings.prompt,
        "negative_prompt": settings.negative_prompt,
        "steps": settings.steps,
        "scheduler": sampler_from_metadata(settings.sampler, settings.extra),
        "cfg_scale": settings.cfg_scale,
        "seed": settings.seed,
        "width": settings.width,
        "height": settings.height,
        "model": settings.model,
        "loras": settings.loras,
        "denoising_strength": settings.denoising_strength,
    }
    missed = [key for key, value in truth.items() if got.get(key) != value]
    return len(truth) - len(missed), missed


def _time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(repeats: int = 200, stream: TextIO = sys.stdout) -> dict[str, Any]:
    """Print the table; return {format: (restored, expected, seconds per read)}."""
    from imagestudio.core.outputs.metadata import read_settings

    found: dict[str, Any] = {}
    pictures = [(sample, _picture(sample)) for sample in samples()]

    def baseline_read() -> Any:
        return read_settings(Image.open(io.BytesIO(pictures[0][1])))

    _time(baseline_read, repeats)  # warm up, so the baseline is not the first thing timed
    baseline = _time(baseline_read, repeats)
    print(f"{'format':<26} {'fields':>8} {'ms/read':>8} {'ratio':>6}  missed", file=stream)
    total = expected = 0
    for sample, data in pictures:
        settings = read_settings(Image.open(io.BytesIO(data)))
        restored, missed = _restored(settings, sample.truth)
        seconds = _time(lambda d=data: read_settings(Image.open(io.BytesIO(d))), repeats)
        total, expected = total + restored, expected + len(sample.truth)
        found[sample.name] = (restored, len(sample.truth), seconds)
        print(
            f"{sample.name:<26} {restored:>3} / {len(sample.truth):<2} {seconds * 1000:>8.3f} "
            f"{seconds / baseline:>6.2f}  {', '.join(missed) or '-'}",
            file=stream,
        )
    print(f"{'all':<26} {total:>3} / {expected:<3} ({100 * total / expected:.1f}%)", file=stream)
    big = _picture(Sample("big", {"parameters": _megabyte_settings_line()}))
    seconds = _time(lambda: read_settings(Image.open(io.BytesIO(big))), max(1, repeats // 20))
    found["1 MB settings line"] = (0, 0, seconds)
    print(f"{'1 MB settings line':<26} {'':>8} {seconds * 1000:>8.1f} {seconds / baseline:>6.0f}")
    print("ratio: time per read against the A1111 text picture's, in the same run", file=stream)
    return found


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
