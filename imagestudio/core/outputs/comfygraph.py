"""A ComfyUI graph of a generation, written into our PNGs so that ComfyUI restores it exactly.

Dropped on ComfyUI, a PNG's ``prompt`` chunk (the API graph) is loaded as a workflow before its
A1111 ``parameters`` are considered, and ComfyUI's own A1111 importer knows neither A1111 1.9's
``Schedule type`` nor LoRA tags. The graph is the plain text-to-image (or image-to-image) one:
checkpoint, a LoraLoader per LoRA, the two prompts, an empty latent (or the start picture
encoded), KSampler, decode, save. Names are file names, as ComfyUI's model lists show them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["GraphSettings", "HiresGraph", "api_graph"]


@dataclass(frozen=True)
class HiresGraph:
    """A hires fix's second pass: enlarge (latent, Lanczos or a network), then sample again."""

    upscaler: str  # "latent", "lanczos", or a network's file name (UpscaleModelLoader)
    width: int  # the final size
    height: int
    steps: int  # as scheduled; ComfyUI runs `steps` of them at `denoise`, A1111 fewer
    denoise: float


@dataclass(frozen=True)
class GraphSettings:
    """What the graph holds: everything a KSampler job needs, as ComfyUI names it."""

    prompt: str
    negative_prompt: str
    seed: int
    steps: int
    cfg: float
    sampler_name: str
    scheduler: str
    width: int
    height: int
    checkpoint: str
    loras: Sequence[tuple[str, float]] = ()  # (file name, weight)
    init_image: str | None = None  # a file name, for LoadImage
    denoise: float = 1.0
    clip_skip: int = 1  # A1111's; CLIPSetLastLayer at -clip_skip (ComfyUI's -1 is the default)
    hires: HiresGraph | None = None
    mask_image: str | None = None  # a file name: inpainting (white repaints), with init_image


def _node(kind: str, title: str, **inputs: Any) -> dict[str, Any]:
    return {"class_type": kind, "inputs": inputs, "_meta": {"title": title}}


def _ksampler(
    title: str,
    settings: GraphSettings,
    model: list[Any],
    *,
    steps: int,
    latent: list[Any],
    denoise: float,
) -> dict[str, Any]:
    """A KSampler on the two prompts (nodes "2" and "3") with the job's seed and sampler."""
    return _node(
        "KSampler",
        title,
        model=model,
        seed=settings.seed,
        steps=steps,
        cfg=settings.cfg,
        sampler_name=settings.sampler_name,
        scheduler=settings.scheduler,
        positive=["2", 0],
        negative=["3", 0],
        latent_image=latent,
        denoise=denoise,
    )


def api_graph(settings: GraphSettings) -> dict[str, Any]:
    """The API graph (``{id: {"class_type", "inputs"}}``, links as ``[id, output]``)."""
    graph: dict[str, Any] = {
        "1": _node("CheckpointLoaderSimple", "Load Checkpoint", ckpt_name=settings.checkpoint)
    }
    model: list[Any] = ["1", 0]
    clip: list[Any] = ["1", 1]
    for index, (name, weight) in enumerate(settings.loras):
        node_id = str(10 + index)
        graph[node_id] = _node(
            "LoraLoader",
            "Load LoRA",
            model=model,
            clip=clip,
            lora_name=name,
            strength_model=weight,
            strength_clip=weight,
        )
        model, clip = [node_id, 0], [node_id, 1]
    if settings.clip_skip > 1:
        graph["9"] = _node(
            "CLIPSetLastLayer", "Clip skip", clip=clip, stop_at_clip_layer=-settings.clip_skip
        )
        clip = ["9", 0]
    graph["2"] = _node("CLIPTextEncode", "Positive", text=settings.prompt, clip=clip)
    graph["3"] = _node("CLIPTextEncode", "Negative", text=settings.negative_prompt, clip=clip)
    if settings.init_image is not None:
        graph["4"] = _node("LoadImage", "Start picture", image=settings.init_image)
        graph["5"] = _node("VAEEncode", "Encode", pixels=["4", 0], vae=["1", 2])
        if settings.mask_image is not None:
            graph["30"] = _node("LoadImageMask", "Mask", image=settings.mask_image, channel="red")
            graph["31"] = _node(
                "SetLatentNoiseMask", "Inpaint mask", samples=["5", 0], mask=["30", 0]
            )
    else:
        graph["5"] = _node(
            "EmptyLatentImage",
            "Empty Latent Image",
            width=settings.width,
            height=settings.height,
            batch_size=1,
        )
    graph["6"] = _ksampler(
        "KSampler",
        settings,
        model,
        steps=settings.steps,
        latent=["31", 0] if "31" in graph else ["5", 0],
        denoise=settings.denoise if settings.init_image is not None else 1.0,
    )
    graph["7"] = _node("VAEDecode", "VAE Decode", samples=["6", 0], vae=["1", 2])
    pixels: list[Any] = ["7", 0]
    if settings.hires is not None:
        pixels = _hires_pass(graph, settings, model)
    graph["8"] = _node("SaveImage", "Save Image", images=pixels, filename_prefix="ImageStudio")
    return graph


def _hires_pass(graph: dict[str, Any], settings: GraphSettings, model: list[Any]) -> list[Any]:
    """Add the hires fix's nodes after the first pass; returns the final pixels' link."""
    hires = settings.hires
    assert hires is not None
    if hires.upscaler == "latent":
        graph["20"] = _node(
            "LatentUpscale",
            "Hires upscale (latent)",
            samples=["6", 0],
            upscale_method="bilinear",
            width=hires.width,
            height=hires.height,
            crop="disabled",
        )
    else:
        image: list[Any] = ["7", 0]
        if hires.upscaler != "lanczos":
            graph["21"] = _node("UpscaleModelLoader", "Load upscaler", model_name=hires.upscaler)
            graph["22"] = _node(
                "ImageUpscaleWithModel", "Hires upscale", upscale_model=["21", 0], image=image
            )
            image = ["22", 0]
        graph["23"] = _node(
            "ImageScale",
            "Hires size",
            image=image,
            upscale_method="lanczos",
            width=hires.width,
            height=hires.height,
            crop="disabled",
        )
        if hires.denoise == 0:
            return ["23", 0]  # enlarge only: no second pass
        graph["20"] = _node("VAEEncode", "Encode", pixels=["23", 0], vae=["1", 2])
    graph["24"] = _ksampler(
        "KSampler (hires)",
        settings,
        model,
        steps=hires.steps,
        latent=["20", 0],
        denoise=hires.denoise,
    )
    graph["25"] = _node("VAEDecode", "VAE Decode (hires)", samples=["24", 0], vae=["1", 2])
    return ["25", 0]
