"""`imagestudio pnginfo`: the generation settings a picture carries, from any tool we can read."""

from __future__ import annotations

import argparse
import json
from typing import Any

from imagestudio.cli.console import say
from imagestudio.cli.parser import EXIT_FAILED, EXIT_OK, command


def add_commands(sub: argparse._SubParsersAction) -> None:
    info = command(
        sub,
        "pnginfo",
        "the generation settings a picture carries",
        "Read the settings a picture was made with: ours, A1111/Forge, ComfyUI, Fooocus, "
        "SwarmUI, NovelAI, InvokeAI, TensorArt, Stability Matrix, Easy Diffusion or Draw "
        "Things (PNG, JPEG or WebP), and say which of our samplers it maps to.",
    )
    info.add_argument("picture", help="a PNG, JPEG or WebP file")
    info.add_argument("--json", action="store_true", help="print the settings as JSON")
    info.set_defaults(run=run_pnginfo)


def _fields(settings: Any) -> dict[str, Any]:
    size = f"{settings.width}x{settings.height}" if settings.width and settings.height else None
    return {
        "source": settings.source,
        "prompt": settings.prompt,
        "negative_prompt": settings.negative_prompt,
        "steps": settings.steps,
        "sampler": settings.sampler,
        "schedule": settings.schedule() or None,
        "scheduler": settings.scheduler(),  # ours
        "cfg_scale": settings.cfg_scale,
        "seed": settings.seed,
        "size": size,
        "model": settings.model,
        "loras": [[name, weight] for name, weight in settings.loras],
        "denoising_strength": settings.denoising_strength,
        "extra": settings.extra,
    }


def run_pnginfo(args: argparse.Namespace) -> int:
    from imagestudio.core.outputs.metadata import read_settings

    settings = read_settings(args.picture)
    if settings is None:
        say(f"error: {args.picture} carries no generation settings that ImageStudio can read")
        return EXIT_FAILED
    fields = _fields(settings)
    if args.json:
        print(json.dumps(fields, indent=2, ensure_ascii=False))
        return EXIT_OK
    labels = {
        "source": "Read from",
        "negative_prompt": "Negative prompt",
        "cfg_scale": "CFG scale",
        "denoising_strength": "Denoising strength",
        "scheduler": "Our sampler",
        "loras": "LoRAs",
    }
    for key, value in fields.items():
        if key == "extra" or value in (None, "", []):
            continue
        if key == "loras":
            value = ", ".join(f"{name} {weight:g}" for name, weight in value)
        print(f"{labels.get(key, key.replace('_', ' ').capitalize())}: {value}")
    for key, value in settings.extra.items():
        print(f"{key}: {value}")
    note = settings.sampler_note()
    if note:
        say(note)
    return EXIT_OK
