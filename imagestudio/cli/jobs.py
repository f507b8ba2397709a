"""`imagestudio generate` and `imagestudio stylize`: build a request, run it through the one job
path (core.jobs.run_job), print the files written."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from imagestudio.cli.console import ProgressBar, cancellable, load_settings_with_warnings, say
from imagestudio.cli.parser import EXIT_CANCELLED, EXIT_OK, command, number, whole_number
from imagestudio.core.errors import HistoryError, InvalidRequest, StorageError
from imagestudio.core.schedulers import scheduler_names


def add_commands(sub: argparse._SubParsersAction) -> None:
    gen = command(
        sub,
        "generate",
        "make images from a prompt",
        "Make images from a text prompt and save them as PNGs with their settings.",
    )
    gen.add_argument("prompt", help="what the image should show")
    model_options(gen)
    gen.add_argument("--init", default=None, metavar="IMAGE", help="start from this image")
    gen.add_argument(
        "--size",
        default=None,
        metavar="WxH",
        help="image size in pixels, multiples of 8 (default: the model's own size)",
    )
    gen.add_argument(
        "--strength",
        type=number,
        default=0.6,
        metavar="F",
        help="how much of the init image to repaint, above 0 up to 1 (default 0.6)",
    )
    gen.add_argument(
        "--variation-seed",
        type=whole_number,
        default=None,
        metavar="S",
        help="a variation of the picture: blend toward this seed's noise (image i uses S+i)",
    )
    gen.add_argument(
        "--variation-strength",
        type=number,
        default=None,
        metavar="F",
        help="how far toward the variation seed, 0-1 (default 0.3 with --variation-seed)",
    )
    gen.add_argument(
        "--hires-scale",
        type=number,
        default=None,
        metavar="F",
        help="hires fix: make the picture at --size, enlarge it by F (1.25-4), then repaint "
        "it at the bigger size (text-to-image only)",
    )
    gen.add_argument(
        "--hires-denoise",
        type=number,
        default=None,
        metavar="F",
        help="hires fix: how much of the enlarged picture to repaint, 0 (enlarge only) to 1 "
        "(default 0.45)",
    )
    gen.add_argument(
        "--hires-steps",
        type=whole_number,
        default=None,
        metavar="N",
        help="hires fix: steps of the second pass, 1-150 (default: as many as --steps; "
        "it runs N x denoise of them)",
    )
    gen.add_argument(
        "--hires-upscaler",
        default=None,
        metavar="NAME",
        help="hires fix: latent, lanczos, or an upscaler's name or .safetensors file "
        "(default realesrgan-x4plus; see 'imagestudio models list')",
    )
    _output_argument(gen)
    gen.add_argument(
        "--previews",
        default=None,
        metavar="DIR",
        help="also save the step previews into this folder",
    )
    gen.set_defaults(run=generate)

    sty = command(
        sub,
        "stylize",
        "repaint a picture in the style of another",
        "Neural style transfer. The fast mode is one pass of a feed-forward network; the "
        "quality mode optimises the picture against VGG features (slower, finer).",
    )
    sty.add_argument("--content", required=True, metavar="IMAGE", help="the picture to repaint")
    sty.add_argument(
        "--style", required=True, metavar="IMAGE", help="the picture to take the style from"
    )
    _output_argument(sty)
    sty.add_argument("--mode", choices=("fast", "quality"), default="fast", help="(default fast)")
    sty.add_argument(
        "--strength",
        type=number,
        default=1.0,
        metavar="F",
        help="fast mode: how much style, 0-1 (default 1)",
    )
    sty.add_argument(
        "--content-weight",
        type=number,
        default=1.0,
        metavar="F",
        help="quality mode: how closely the layout is kept (default 1)",
    )
    sty.add_argument(
        "--style-weight",
        type=number,
        default=1.0,
        metavar="F",
        help="quality mode: how much style, 0.1 a subtle touch, 10 the style all over (default 1)",
    )
    sty.add_argument(
        "--tv-weight",
        type=number,
        default=1.0,
        metavar="F",
        help="quality mode: smoothness (total variation) (default 1)",
    )
    sty.add_argument(
        "--iterations",
        type=whole_number,
        default=300,
        metavar="N",
        help="quality mode (default 300)",
    )
    sty.add_argument(
        "--size",
        type=whole_number,
        default=512,
        metavar="PX",
        help="output long side, 64-1024 (default 512)",
    )
    sty.add_argument(
        "--preserve-colors",
        action="store_true",
        help="keep the content's colours, take only the style's light and texture",
    )
    sty.add_argument(
        "--init",
        choices=("content", "noise"),
        default="content",
        help="quality mode: start from the content picture or from noise (default content)",
    )
    sty.add_argument(
        "--seed", type=whole_number, default=0, metavar="N", help="quality mode noise seed"
    )
    sty.add_argument(
        "--vgg-weights",
        default=None,
        metavar="FILE",
        help="quality mode: VGG19 ImageNet weights in torchvision's format (.pth or .safetensors) "
        "instead of the bundled VGG16 (default: the style_vgg_weights setting)",
    )
    sty.set_defaults(run=stylize)

    up = command(
        sub,
        "upscale",
        "enlarge a picture with an upscaler network",
        "Enlarge a picture with a super-resolution network (Real-ESRGAN is built in; any "
        "upscaler spandrel knows can go in models/upscalers), in tiles, keeping its settings.",
    )
    up.add_argument("image", help="the picture to enlarge")
    up.add_argument(
        "--scale",
        type=number,
        default=4.0,
        metavar="F",
        help="how many times larger, 1.25-8 (default 4)",
    )
    up.add_argument(
        "--upscaler",
        default="realesrgan-x4plus",
        metavar="NAME|PATH|lanczos",
        help="a built-in or library upscaler, a .safetensors file, or lanczos (a plain resize); "
        "default realesrgan-x4plus (see 'imagestudio models list')",
    )
    up.add_argument(
        "--tile",
        type=whole_number,
        default=None,
        metavar="PX",
        help="tile size in input pixels, 32-2048 (default: from free memory)",
    )
    _output_argument(up)
    up.set_defaults(run=upscale)


def model_options(parser: argparse.ArgumentParser, model_help: str | None = None) -> None:
    """The options every diffusion job shares (generate, inpaint, outpaint): model, sampling,
    LoRAs, clip skip, VAE and where the job runs."""
    parser.add_argument("--negative", default="", metavar="TEXT", help="what to keep out of it")
    parser.add_argument(
        "--model",
        default=None,
        metavar="PATH_OR_NAME",
        help=model_help
        or "a diffusers model folder or a name in the models folder "
        "(default: the setting default_model, normally the built-in 'starter')",
    )
    parser.add_argument(
        "--steps",
        type=whole_number,
        default=20,
        metavar="N",
        help="denoising steps, 1-150 (default 20)",
    )
    parser.add_argument(
        "--cfg",
        type=number,
        default=7.5,
        metavar="F",
        help="guidance (CFG) scale, 0-30 (default 7.5)",
    )
    parser.add_argument(
        "--seed",
        type=whole_number,
        default=None,
        metavar="N",
        help="seed for repeatable results (default: random; the seed used is saved)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="NAME",
        help=f"one of: {', '.join(scheduler_names())} (default: the model's own)",
    )
    parser.add_argument(
        "--count",
        type=whole_number,
        default=1,
        metavar="N",
        help="number of images, 1-16; image i uses seed+i (default 1)",
    )
    parser.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="NAME[:WEIGHT]",
        help="apply a LoRA (a name in models/loras or a .safetensors path), weight -4..4 "
        "(default 1); repeat for several",
    )
    parser.add_argument(
        "--clip-skip",
        type=whole_number,
        default=1,
        metavar="N",
        help="read the text encoder N layers from its end, 1-12, as A1111 counts (default 1)",
    )
    parser.add_argument(
        "--vae",
        default=None,
        metavar="NAME",
        help="decode with this VAE (a name in models/vae or a .safetensors path) instead of "
        "the model's own",
    )
    backend_argument(parser)


def model_values(args: argparse.Namespace, settings: Any) -> dict[str, Any]:
    """The request fields of the `model_options` (the prompt included)."""
    from imagestudio.core.requests import parse_lora

    return {
        "prompt": args.prompt,
        "negative_prompt": args.negative,
        "model": args.model or settings.default_model,
        "steps": args.steps,
        "guidance": args.cfg,
        "seed": args.seed,
        "scheduler": args.scheduler,
        "count": args.count,
        "loras": tuple(parse_lora(text) for text in args.lora),
        "clip_skip": args.clip_skip,
        "vae": args.vae,
        "backend": args.backend,
    }


def backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        default="local",
        metavar="NAME|local|auto",
        help="where the job runs: local (this computer, the default), a ComfyUI server's name "
        "(see 'imagestudio backends list'; --model, --lora and --hires-upscaler are then its "
        "file names), or auto (an idle server that has the model, else here)",
    )


def _output_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        default=None,
        metavar="FILE_OR_DIR",
        help="a .png file name, or a folder (default: the outputs folder)",
    )


def generate(args: argparse.Namespace) -> int:
    from imagestudio.core.requests import (
        DEFAULT_VARIATION_STRENGTH,
        GenerationRequest,
        parse_size,
    )

    settings = load_settings_with_warnings()
    width = height = None
    if args.size is not None:
        width, height = parse_size(args.size)
    hires_options = {
        "--hires-denoise": args.hires_denoise,
        "--hires-steps": args.hires_steps,
        "--hires-upscaler": args.hires_upscaler,
    }
    given = [name for name, value in hires_options.items() if value is not None]
    if given and args.hires_scale is None:
        raise InvalidRequest(f"{given[0]} belongs to hires fix: give --hires-scale too.")
    hires: dict[str, Any] = {"hires_scale": args.hires_scale, "hires_steps": args.hires_steps}
    if args.hires_denoise is not None:
        hires["hires_denoise"] = args.hires_denoise
    if args.hires_upscaler is not None:
        hires["hires_upscaler"] = args.hires_upscaler
    request = GenerationRequest(
        **model_values(args, settings),
        width=width,
        height=height,
        init_image=args.init,
        strength=args.strength,
        variation_seed=args.variation_seed,
        variation_strength=(
            args.variation_strength
            if args.variation_strength is not None
            else (DEFAULT_VARIATION_STRENGTH if args.variation_seed is not None else 0.0)
        ),
        **hires,
    )
    preview_dir = Path(args.previews).expanduser() if args.previews else None
    if preview_dir is not None and preview_dir.exists() and not preview_dir.is_dir():
        raise StorageError(f"--previews needs a folder, but {preview_dir} is a file.")
    return _run(request, args.output, settings, preview_dir=preview_dir)


def stylize(args: argparse.Namespace) -> int:
    from imagestudio.core.requests import StyleRequest

    settings = load_settings_with_warnings()
    request = StyleRequest(
        content_image=args.content,
        style_image=args.style,
        mode=args.mode,
        strength=args.strength,
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        iterations=args.iterations,
        size=args.size,
        preserve_colors=args.preserve_colors,
        init=args.init,
        seed=args.seed,
    )
    overrides: dict[str, Any] = {}
    if args.vgg_weights:
        overrides["style_vgg_weights"] = Path(args.vgg_weights).expanduser()
    return _run(request, args.output, settings, unit="iteration", **overrides)


def upscale(args: argparse.Namespace) -> int:
    from imagestudio.core.requests import UpscaleRequest

    settings = load_settings_with_warnings()
    request = UpscaleRequest(
        image=args.image, scale=args.scale, upscaler=args.upscaler, tile=args.tile
    )
    return _run(request, args.output, settings, unit="tile")


def _run(
    request: Any,
    output: str | None,
    settings: Any,
    *,
    preview_dir: Path | None = None,
    unit: str = "step",
    **overrides: Any,
) -> int:
    """Run a request of any kind to the end, with a progress bar; Ctrl+C cancels it."""
    from imagestudio.core.jobs import check_inputs
    from imagestudio.core.workspace import EngineConfig

    check_inputs(request)  # a missing picture is refused before the model stack loads
    count = getattr(request, "count", 1)
    folder, exact = plan_outputs(output, count, settings.resolved_outputs_dir())
    config = EngineConfig.from_settings(
        settings, previews=preview_dir is not None, outputs_dir=folder, **overrides
    )

    # Only now, with the input known to be good, pay for the model stack.
    from imagestudio.cli.history import open_history
    from imagestudio.core.jobs import run_job
    from imagestudio.core.workspace import Workspace

    bar = ProgressBar(sys.stderr, unit=unit)

    def on_step(step: int, total: int, preview: object) -> None:
        bar.update(step, total)
        if preview is not None and preview_dir is not None:
            _save_preview(preview, preview_dir, step)

    try:
        history = open_history()
    except HistoryError as exc:  # a full disk, a locked file: the pictures still matter more
        say(f"warning: {exc} The job runs, but it will not be in the history.")
        history = None
    with cancellable(bar) as cancel, Workspace(config, history) as workspace:
        outcome = run_job(
            request,
            workspace,
            on_step=on_step,
            is_cancelled=cancel.is_set,
            on_notice=bar.notice,
            exact_files=exact,
        )
    if outcome.status == "cancelled":
        say("cancelled; no image was written")
        return EXIT_CANCELLED
    device = f", {outcome.device}" if outcome.device else ""
    say(f"done in {outcome.duration:.1f} s ({outcome.summary}{device})")
    for path in outcome.files:
        print(path)
    return EXIT_OK


def plan_outputs(
    output: str | None, count: int, default_dir: Path
) -> tuple[Path, list[Path] | None]:
    """Where `--output` puts the pictures: a folder (names chosen there) or exact file names."""
    from imagestudio.core.outputs.storage import check_can_create, plan_output_files

    if output is None:
        return default_dir, None
    path = Path(output).expanduser()
    if path.is_dir() or output.endswith(("/", "\\")) or not path.suffix:
        if path.exists() and not path.is_dir():
            raise StorageError(f"{path} is a file, not a folder.")
        return path, None
    if path.suffix.lower() != ".png":
        raise InvalidRequest(
            f"ImageStudio writes PNG files (they carry the settings); name the output "
            f"'{path.with_suffix('.png').name}' instead of '{path.name}'."
        )
    files = plan_output_files(path, count)
    check_can_create(files)
    return path.parent, files


def _save_preview(preview: object, folder: Path, step: int) -> None:
    from PIL import Image

    from imagestudio.core.outputs.storage import atomic_write_bytes, png_bytes

    image = Image.fromarray(preview)  # type: ignore[call-overload]
    atomic_write_bytes(folder / f"step_{step:03d}.png", png_bytes(image), overwrite=True)
