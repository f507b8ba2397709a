"""Headless command line: generate, stylize, history, info, bench.

Bad input ends with one line on stderr that says what is wrong and a non-zero exit code, never a
traceback. torch and diffusers are imported only by the commands that need them.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from imagestudio import __version__
from imagestudio.core.errors import (
    HistoryError,
    ImageError,
    ImageStudioError,
    InvalidRequest,
    JobCancelled,
    ModelError,
    OutOfMemory,
    StorageError,
)

if TYPE_CHECKING:
    from imagestudio.core.outputs.history import HistoryStore
    from imagestudio.core.settings import Settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_MODEL = 3
EXIT_MEMORY = 4
EXIT_CANCELLED = 130

EXIT_CODES_HELP = """exit codes:
  0    success
  1    the job failed for another reason (the message says why)
  2    bad input: a value, a file or a path (the message says which)
  3    the model is missing or cannot be loaded
  4    out of memory
  130  cancelled with Ctrl+C (no file written)
"""


class UsageError(Exception):
    """Bad command-line syntax: argparse's complaint, made into one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _positive_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="imagestudio",
        description="ImageStudio: turn text into images on your own machine, offline.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXIT_CODES_HELP,
    )
    parser.add_argument("--version", action="version", version=f"ImageStudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    gen = sub.add_parser(
        "generate",
        help="make images from a prompt",
        description="Make images from a text prompt and save them as PNGs with their settings.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXIT_CODES_HELP,
    )
    gen.add_argument("prompt", help="what the image should show")
    gen.add_argument("--negative", default="", metavar="TEXT", help="what to keep out of it")
    gen.add_argument(
        "--model",
        default=None,
        metavar="PATH_OR_NAME",
        help="a diffusers model folder or a name in the models folder "
        "(default: the setting default_model, normally the built-in 'starter')",
    )
    gen.add_argument(
        "--steps",
        type=_positive_int,
        default=20,
        metavar="N",
        help="denoising steps, 1-150 (default 20)",
    )
    gen.add_argument(
        "--cfg",
        type=_number,
        default=7.5,
        metavar="F",
        help="guidance (CFG) scale, 0-30 (default 7.5)",
    )
    gen.add_argument(
        "--size",
        default=None,
        metavar="WxH",
        help="image size in pixels, multiples of 8 (default: the model's own size)",
    )
    gen.add_argument(
        "--seed",
        type=_positive_int,
        default=None,
        metavar="N",
        help="seed for repeatable results (default: random; the seed used is saved)",
    )
    gen.add_argument(
        "--scheduler",
        default=None,
        metavar="NAME",
        help="Euler, 'Euler a', 'DPM++ 2M', 'DPM++ 2M Karras', DDIM, UniPC, PNDM, "
        "LCM (default: the model's own)",
    )
    gen.add_argument(
        "--count",
        type=_positive_int,
        default=1,
        metavar="N",
        help="number of images, 1-16; image i uses seed+i (default 1)",
    )
    gen.add_argument("--init", default=None, metavar="IMAGE", help="start from this image")
    gen.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="NAME[:WEIGHT]",
        help="apply a LoRA (a name in models/loras or a .safetensors path), weight -4..4 "
        "(default 1); repeat for several",
    )
    gen.add_argument(
        "--strength",
        type=_number,
        default=0.6,
        metavar="F",
        help="how much of the init image to repaint, above 0 up to 1 (default 0.6)",
    )
    gen.add_argument(
        "--output",
        default=None,
        metavar="FILE_OR_DIR",
        help="a .png file name, or a folder (default: the outputs folder)",
    )
    gen.add_argument(
        "--previews",
        default=None,
        metavar="DIR",
        help="also save the step previews into this folder",
    )

    sty = sub.add_parser(
        "stylize",
        help="repaint a picture in the style of another",
        description="Neural style transfer. The fast mode is one pass of a feed-forward "
        "network; the quality mode optimises the picture against VGG features (slower, finer).",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sty.add_argument("--content", required=True, metavar="IMAGE", help="the picture to repaint")
    sty.add_argument(
        "--style", required=True, metavar="IMAGE", help="the picture to take the style from"
    )
    sty.add_argument(
        "--output",
        default=None,
        metavar="FILE_OR_DIR",
        help="a .png file name, or a folder (default: the outputs folder)",
    )
    sty.add_argument("--mode", choices=("fast", "quality"), default="fast", help="(default fast)")
    sty.add_argument(
        "--strength",
        type=_number,
        default=1.0,
        metavar="F",
        help="fast mode: how much style, 0-1 (default 1)",
    )
    sty.add_argument(
        "--content-weight", type=_number, default=1.0, metavar="F", help="quality mode (default 1)"
    )
    sty.add_argument(
        "--style-weight", type=_number, default=1.0, metavar="F", help="quality mode (default 1)"
    )
    sty.add_argument(
        "--tv-weight",
        type=_number,
        default=1.0,
        metavar="F",
        help="quality mode: smoothness (total variation) (default 1)",
    )
    sty.add_argument(
        "--iterations",
        type=_positive_int,
        default=300,
        metavar="N",
        help="quality mode (default 300)",
    )
    sty.add_argument(
        "--size",
        type=_positive_int,
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
        "--seed", type=_positive_int, default=0, metavar="N", help="quality mode noise seed"
    )
    sty.add_argument(
        "--vgg-weights",
        default=None,
        metavar="FILE",
        help="quality mode: VGG19 ImageNet weights in torchvision's format (.pth or .safetensors) "
        "instead of the bundled VGG16",
    )

    hist = sub.add_parser(
        "history",
        help="list, search and show past jobs",
        description="The prompt history, most recent first.",
    )
    hsub = hist.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    hl = hsub.add_parser("list", help="recent jobs")
    hl.add_argument("--limit", type=_positive_int, default=20, metavar="N")
    hl.add_argument("--favourites", action="store_true", help="favourites only")
    hs = hsub.add_parser("search", help="full-text search over prompts")
    hs.add_argument("text")
    hs.add_argument("--limit", type=_positive_int, default=20, metavar="N")
    hs.add_argument("--favourites", action="store_true", help="favourites only")
    hshow = hsub.add_parser("show", help="every setting of one job")
    hshow.add_argument("id", type=_positive_int)
    hfav = hsub.add_parser("favourite", help="mark a job as a favourite (or --off)")
    hfav.add_argument("id", type=_positive_int)
    hfav.add_argument("--off", action="store_true")
    hdel = hsub.add_parser("delete", help="delete a job from history (its images stay)")
    hdel.add_argument("id", type=_positive_int)

    mod = sub.add_parser(
        "models",
        help="list, describe, import, convert and download models",
        description="The model library: the built-in model, the models folder (diffusers folders, "
        ".safetensors checkpoints, LoRAs) and, read only, the Hugging Face cache.",
    )
    msub = mod.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    ml = msub.add_parser("list", help="every model found, with family, size and precision")
    ml.add_argument("--all", action="store_true", help="also list what cannot be loaded, and why")
    mi = msub.add_parser("info", help="everything known about one model (a name or a path)")
    mi.add_argument("model", metavar="NAME_OR_PATH")
    mim = msub.add_parser(
        "import", help="copy a model folder, .safetensors checkpoint or LoRA into the library"
    )
    mim.add_argument("path")
    mim.add_argument("--name", default=None, help="its name in the library")
    mim.add_argument("--move", action="store_true", help="move instead of copying")
    mc = msub.add_parser(
        "convert",
        help="turn a pickle checkpoint (.ckpt/.pt/.bin) into .safetensors without running it",
    )
    mc.add_argument("path", help="a pickle file, or a diffusers folder with .bin weights")
    mc.add_argument("--output", default=None, metavar="FILE", help="where to write (a file)")
    ms = msub.add_parser(
        "set",
        help="per-model choices the files cannot tell (what an SD 2.x single file predicts)",
    )
    ms.add_argument("model", metavar="NAME_OR_PATH")
    ms.add_argument(
        "--prediction",
        required=True,
        choices=("epsilon", "v_prediction", "auto"),
        help="epsilon for SD 2.x base-512 and SD-Turbo files, v_prediction for SD 2.x 768; "
        "auto forgets the choice",
    )
    md = msub.add_parser(
        "download",
        help="download a model from the Hugging Face Hub into the models folder (uses the network)",
    )
    md.add_argument("repo", metavar="REPO_ID", help="owner/name, or its huggingface.co address")
    md.add_argument("--variant", default=None, help="weight variant to prefer, e.g. fp16")
    md.add_argument("--file", default=None, help="for single-file repos: which .safetensors")
    md.add_argument("--name", default=None, help="its name in the library")
    md.add_argument("--revision", default="main", help="branch, tag or commit (default main)")

    sub.add_parser(
        "info",
        help="device, precision, folders and models",
        description="Show the device ImageStudio would use and why, and its folders.",
    )

    bench = sub.add_parser(
        "bench",
        help="measure the engine against a bare diffusers pipeline",
        description="Time the engine (with a preview every step) against a bare diffusers "
        "pipe(...) call on the same model, seed and steps, and print a table.",
    )
    bench.add_argument(
        "--model",
        default=None,
        metavar="PATH",
        help="a diffusers model folder (default: build a random-weight model)",
    )
    bench.add_argument(
        "--arch",
        default="small",
        choices=("tiny", "small", "sd15"),
        help="random model to build when --model is not given (default small)",
    )
    bench.add_argument("--steps", type=_positive_int, default=20, metavar="N")
    bench.add_argument("--size", default=None, metavar="WxH")
    bench.add_argument("--repeats", type=_positive_int, default=6, metavar="N")
    return parser


# -- progress -----------------------------------------------------------------------------------


class ProgressBar:
    """A one-line progress bar on stderr (redrawn in place on a terminal)."""

    def __init__(self, stream: TextIO, width: int = 24, unit: str = "step") -> None:
        self.stream = stream
        self.unit = unit
        self.width = width
        self.tty = stream.isatty()
        self.first_step_at: float | None = None
        self.last_fraction = -1.0

    def update(self, step: int, total: int) -> None:
        now = time.perf_counter()
        if step <= 1 or self.first_step_at is None:
            # Timing starts at the first step so model loading doesn't skew the estimate.
            self.first_step_at = now
        fraction = step / max(total, 1)
        if not self.tty and step != total and fraction - self.last_fraction < 0.25:
            return
        self.last_fraction = fraction
        filled = int(round(self.width * fraction))
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"{self.unit} {step}/{total} [{bar}]"
        if step > 1:
            per_step = (now - self.first_step_at) / (step - 1)
            left = per_step * (total - step)
            line += f" {per_step:.2f} s/{self.unit}, ~{left:.0f} s left"
        if self.tty:
            self.stream.write("\r" + line)
            if step == total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish_line(self) -> None:
        if self.tty and 0 <= self.last_fraction < 1:
            self.stream.write("\n")
            self.stream.flush()


# -- commands -----------------------------------------------------------------------------------


def _say(text: str) -> None:
    print(f"imagestudio: {text}", file=sys.stderr, flush=True)


def _plan_outputs(
    output: str | None, count: int, default_dir: Path
) -> tuple[Path, list[Path] | None]:
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


def _settings_with_warnings() -> Settings:
    from imagestudio.core.settings import load_settings

    settings = load_settings()
    for problem in settings.problems:
        _say(f"warning: {problem}")
    return settings


def _cmd_generate(args: argparse.Namespace) -> int:
    from imagestudio.core.paths import app_paths
    from imagestudio.core.requests import GenerationRequest, parse_lora, parse_size

    settings = _settings_with_warnings()
    width = height = None
    if args.size is not None:
        width, height = parse_size(args.size)
    request = GenerationRequest(
        prompt=args.prompt,
        negative_prompt=args.negative,
        model=args.model or settings.default_model,
        width=width,
        height=height,
        steps=args.steps,
        guidance=args.cfg,
        seed=args.seed,
        scheduler=args.scheduler,
        count=args.count,
        init_image=args.init,
        strength=args.strength,
        loras=tuple(parse_lora(text) for text in args.lora),
    )
    paths = app_paths()
    folder, exact = _plan_outputs(args.output, request.count, settings.resolved_outputs_dir(paths))
    preview_dir = Path(args.previews).expanduser() if args.previews else None
    if preview_dir is not None and preview_dir.exists() and not preview_dir.is_dir():
        raise StorageError(f"--previews needs a folder, but {preview_dir} is a file.")

    # Only now, with the input known to be good, pay for the model stack.
    from imagestudio.core.generation.engine import Engine
    from imagestudio.core.jobs import run_job

    engine = Engine(
        models_dir=settings.resolved_models_dir(paths),
        device_setting=settings.device,
        precision_setting=settings.precision,
        hf_cache=settings.resolved_hf_cache(),
        memory_setting=settings.memory_mode,
        prediction_overrides=settings.model_prediction,
    )
    cancel = threading.Event()
    bar = ProgressBar(sys.stderr)

    def on_step(step: int, total: int, preview: object) -> None:
        bar.update(step, total)
        if preview is not None and preview_dir is not None:
            _save_preview(preview, preview_dir, step)

    previous = signal.signal(signal.SIGINT, _sigint_handler(cancel, bar))
    try:
        with _open_history(paths.history_file) as history:
            outcome = run_job(
                request,
                engine,
                history,
                folder,
                exact_files=exact,
                on_step=on_step,
                is_cancelled=cancel.is_set,
                on_notice=lambda text: (bar.finish_line(), _say(text)),
                previews=preview_dir is not None,
            )
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.finish_line()
    if outcome.status == "cancelled":
        _say("cancelled; no image was written")
        return EXIT_CANCELLED
    result = outcome.result
    assert result is not None
    seeds = ", ".join(str(s) for s in result.seeds)
    _say(
        f"done in {outcome.duration:.1f} s ({result.width}x{result.height}, {result.scheduler}, "
        f"seed {seeds}, {result.device})"
    )
    for path in outcome.files:
        print(path)
    return EXIT_OK


def _sigint_handler(cancel: threading.Event, bar: ProgressBar) -> Callable[[int, object], None]:
    """First Ctrl+C cancels at the next step or iteration; a second one quits at once."""

    def on_sigint(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        bar.finish_line()
        _say(f"cancelling at the next {bar.unit} (press Ctrl+C again to quit at once)")

    return on_sigint


def _open_history(path: Path) -> HistoryStore:
    from imagestudio.core.outputs.history import HistoryStore

    history = HistoryStore(path)
    if history.recovered_from is not None:
        _say(
            f"warning: the history file was damaged; it was kept as "
            f"{history.recovered_from} and a new one started"
        )
    return history


def _cmd_stylize(args: argparse.Namespace) -> int:
    from imagestudio.core.paths import app_paths
    from imagestudio.core.style.requests import StyleRequest

    settings = _settings_with_warnings()
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
    for label, value in (("content", args.content), ("style", args.style)):
        if not Path(value).expanduser().exists():
            raise ImageError(f"The {label} image {value} does not exist.")
    paths = app_paths()
    folder, exact = _plan_outputs(args.output, 1, settings.resolved_outputs_dir(paths))
    weights = Path(args.vgg_weights).expanduser() if args.vgg_weights else None

    from imagestudio.core.style.jobs import StyleEngine, run_style_job

    engine = StyleEngine(device_setting=settings.device, vgg_weights=weights)
    cancel = threading.Event()
    bar = ProgressBar(sys.stderr, unit="iteration")
    previous = signal.signal(signal.SIGINT, _sigint_handler(cancel, bar))
    try:
        with _open_history(paths.history_file) as history:
            outcome = run_style_job(
                request,
                engine,
                history,
                folder,
                exact_file=exact[0] if exact else None,
                on_step=lambda step, total, preview: bar.update(step, total),
                is_cancelled=cancel.is_set,
                on_notice=lambda text: (bar.finish_line(), _say(text)),
            )
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.finish_line()
    if outcome.status == "cancelled":
        _say("cancelled; no image was written")
        return EXIT_CANCELLED
    result = outcome.result
    assert result is not None and outcome.file is not None
    width, height = result.image.size
    _say(
        f"done in {outcome.duration:.1f} s ({width}x{height}, {request.mode} mode, {result.device})"
    )
    print(outcome.file)
    return EXIT_OK


def _save_preview(preview: object, folder: Path, step: int) -> None:
    from PIL import Image

    from imagestudio.core.outputs.storage import atomic_write_bytes, png_bytes

    image = Image.fromarray(preview)  # type: ignore[arg-type]
    atomic_write_bytes(folder / f"step_{step:03d}.png", png_bytes(image), overwrite=True)


def _ago(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(when))


def _cmd_history(args: argparse.Namespace) -> int:
    from imagestudio.core.outputs.history import HistoryStore

    action = args.action or "list"
    with HistoryStore() as store:
        if action == "show":
            job = store.get(args.id)
            rows = [
                ("id", job.id),
                ("time", _ago(job.created_at)),
                ("status", job.status),
                ("prompt", job.prompt),
                ("negative prompt", job.negative_prompt),
                ("model", job.model),
                ("size", f"{job.width}x{job.height}"),
                ("steps", job.steps),
                ("cfg", job.guidance),
                ("scheduler", job.scheduler),
                ("seed", job.seed),
                ("images", job.count),
                ("init image", job.init_image),
                ("strength", job.strength),
                ("favourite", "yes" if job.favourite else "no"),
                ("duration", f"{job.duration:.1f} s" if job.duration is not None else None),
                ("message", job.message),
            ]
            for label, value in rows:
                if value not in (None, ""):
                    print(f"{label:>16}: {value}")
            for path in job.outputs:
                print(f"{'output':>16}: {path}")
            return EXIT_OK
        if action == "favourite":
            store.set_favourite(args.id, not args.off)
            return EXIT_OK
        if action == "delete":
            store.delete(args.id)
            return EXIT_OK
        if action == "search":
            jobs = store.search(args.text, limit=args.limit, favourites_only=args.favourites)
        else:
            limit = getattr(args, "limit", 20)
            jobs = store.recent(limit=limit, favourites_only=getattr(args, "favourites", False))
        if not jobs:
            print("No matching history." if action == "search" else "No history yet.")
            return EXIT_OK
        for job in jobs:
            star = "*" if job.favourite else " "
            prompt = job.prompt.replace("\n", " ")
            prompt = prompt if len(prompt) <= 60 else prompt[:59] + "…"
            print(
                f"{job.id:>5}{star} {_ago(job.created_at)}  {job.status:<9} "
                f"seed {job.seed!s:<10}  {prompt}"
            )
    return EXIT_OK


def _cmd_info(args: argparse.Namespace) -> int:
    import platform

    from imagestudio.core.generation.schedulers import scheduler_names
    from imagestudio.core.models.library import FAMILY_LABELS, builtin_model_dir, list_models
    from imagestudio.core.paths import HOME_ENV, app_paths
    from imagestudio.core.settings import load_settings

    paths = app_paths()
    settings = load_settings()
    print(
        f"ImageStudio {__version__} on Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}"
    )
    try:
        import diffusers
        import torch
        import transformers

        print(
            f"torch {torch.__version__}, diffusers {diffusers.__version__}, "
            f"transformers {transformers.__version__}"
        )
        from imagestudio.core.generation.devices import pick_device

        device = pick_device(settings.device, settings.precision)
        print(f"device: {device.describe()}")
        print(f"  why: {device.reason}")
        if device.free_memory:
            print(f"  free memory: {device.free_memory / 2**30:.1f} GiB")
    except ImportError as exc:
        print(f"model stack not installed: {exc}")
    except InvalidRequest as exc:
        print(f"device: cannot be used: {exc}")
    moved = f" (all under {HOME_ENV})" if os.environ.get(HOME_ENV, "").strip() else ""
    print(f"folders:{moved}")
    print(f"  settings: {paths.settings_file}")
    print(f"  history:  {paths.history_file}")
    print(f"  outputs:  {settings.resolved_outputs_dir(paths)}")
    print(f"  models:   {settings.resolved_models_dir(paths)}")
    print(f"  logs:     {paths.log_dir}")
    builtin = builtin_model_dir()
    status = "installed" if (builtin / "model_index.json").is_file() else "not installed yet"
    print(f"built-in starter model: {status} ({builtin})")
    models = list_models(settings.resolved_models_dir(paths), settings.resolved_hf_cache())
    print(
        "models: "
        + (", ".join(f"{m.name} [{FAMILY_LABELS[m.family]}]" for m in models) or "none found")
        + " (imagestudio models list for details)"
    )
    print("schedulers: " + ", ".join(scheduler_names()))
    for problem in settings.problems:
        print(f"settings warning: {problem}")
    return EXIT_OK


def _cmd_bench(args: argparse.Namespace) -> int:
    from imagestudio.core.requests import parse_size
    from imagestudio.dev.bench import run_benchmark

    size = parse_size(args.size) if args.size else None
    run_benchmark(
        model=args.model,
        arch=args.arch,
        steps=args.steps,
        size=size,
        repeats=args.repeats,
        stream=sys.stdout,
    )
    return EXIT_OK


# -- models -------------------------------------------------------------------------------------


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def _library(settings: Settings):  # noqa: ANN202
    from imagestudio.core.models.library import scan_library

    return scan_library(settings.resolved_models_dir(), settings.resolved_hf_cache())


def _byte_bar(bar: ProgressBar) -> Callable[[int, int], None]:
    def on_progress(done: int, total: int, *_: object) -> None:
        bar.update(done // 2**20, max(1, total // 2**20))

    return on_progress


def _cmd_models(args: argparse.Namespace) -> int:
    from imagestudio.core.models.library import FAMILY_LABELS, SOURCE_LABELS, VARIANT_LABELS

    settings = _settings_with_warnings()
    models_dir = settings.resolved_models_dir()
    action = args.action or "list"
    if action == "list":
        entries = _library(settings)
        shown = [e for e in entries if getattr(args, "all", False) or e.usable or e.kind == "lora"]
        width = max([len(e.name) for e in shown] + [4])
        print(f"{'name':<{width}}  {'family':<22} {'size':>8}  {'precision':<9} where")
        for entry in shown:
            family = "LoRA" if entry.kind == "lora" else FAMILY_LABELS[entry.ref.family]
            if entry.detail:
                family += f" {VARIANT_LABELS.get(entry.detail, entry.detail)}"
            print(
                f"{entry.name:<{width}}  {family:<22} {_size(entry.size_bytes):>8}  "
                f"{entry.precision:<9} {SOURCE_LABELS[entry.ref.source]}"
            )
            if entry.problem and entry.kind != "lora":
                print(f"{'':<{width}}  cannot load: {entry.problem}")
        hidden = len(entries) - len(shown)
        if hidden:
            _say(f"{hidden} more that cannot be loaded; see them with --all")
        _say(f"models folder: {models_dir}")
        return EXIT_OK
    if action == "info":
        from imagestudio.core.models.library import describe_path, resolve_model

        entries = {e.name: e for e in _library(settings)}
        entry = entries.get(args.model)
        if entry is None:
            path = Path(args.model).expanduser()
            if path.exists():
                entry = describe_path(path.resolve())
            else:
                resolve_model(args.model, models_dir, settings.resolved_hf_cache())  # says why
                return EXIT_MODEL
        kind = "LoRA" if entry.kind == "lora" else FAMILY_LABELS[entry.ref.family]
        print(f"name:      {entry.name}")
        print(f"path:      {entry.ref.path}")
        print(f"kind:      {kind}" + (f" ({entry.detail})" if entry.detail else ""))
        layout = entry.ref.layout.replace("_", " ")
        print(f"layout:    {layout} ({SOURCE_LABELS[entry.ref.source]})")
        print(f"size:      {_size(entry.size_bytes)}")
        print(f"precision: {entry.precision}")
        for key, value in sorted(entry.info.get("dims", {}).items()):
            print(f"  {key}: {value}")
        chosen = settings.model_prediction.get(entry.name)
        if chosen:
            print(f"prediction: {chosen} (set with imagestudio models set)")
        elif entry.ref.layout == "single_file" and entry.ref.family == "sd2":
            print(
                "prediction: v_prediction, assumed (the file does not say; for SD 2.x base or "
                "SD-Turbo files: imagestudio models set NAME --prediction epsilon)"
            )
        if entry.problem:
            print(f"cannot load: {entry.problem}")
            return EXIT_MODEL
        print("loads:     yes")
        return EXIT_OK
    if action == "import":
        from imagestudio.core.models.library import import_model

        bar = ProgressBar(sys.stderr, unit="MB")
        entry = import_model(
            Path(args.path), models_dir, name=args.name, move=args.move, on_progress=_byte_bar(bar)
        )
        bar.finish_line()
        _say(f"imported {entry.name} ({_size(entry.size_bytes)}) into {models_dir}")
        return EXIT_OK
    if action == "convert":
        from imagestudio.core.models.checkpoints import convert_folder, convert_to_safetensors

        source = Path(args.path).expanduser()
        if source.is_dir():
            done = convert_folder(source, on_notice=_say)
            for item in done:
                _say(f"wrote {item.output} ({item.tensors} tensors)")
            if not done:
                _say("every .bin file already has its .safetensors twin; nothing to do")
        else:
            output = Path(args.output).expanduser() if args.output else None
            result = convert_to_safetensors(source, output, on_notice=_say)
            _say(f"wrote {result.output} ({result.tensors} tensors); no code in the file was run")
            print(result.output)
        return EXIT_OK
    if action == "download":
        return _download(args, models_dir)
    if action == "set":
        from imagestudio.core.models.library import resolve_model
        from imagestudio.core.settings import save_settings

        ref = resolve_model(args.model, models_dir, settings.resolved_hf_cache())
        choices = dict(settings.model_prediction)
        if args.prediction == "auto":
            choices.pop(ref.name, None)
        else:
            choices[ref.name] = args.prediction
        settings.model_prediction = choices
        save_settings(settings)
        _say(f"{ref.name}: prediction {args.prediction} (applies from the next load)")
        return EXIT_OK
    raise InvalidRequest(f"Unknown models action {action!r}.")


def _download(args: argparse.Namespace, models_dir: Path) -> int:
    from imagestudio.core.models.downloads import check_target, download_model, plan_download

    plan = plan_download(
        args.repo, revision=args.revision, variant=args.variant, filename=args.file, name=args.name
    )
    check_target(models_dir, plan)
    _say(
        f"downloading {plan.repo_id} ({len(plan.files)} files, {_size(plan.total_bytes)}) "
        f"from {plan.host} into {models_dir / plan.name}"
    )
    cancel = threading.Event()
    bar = ProgressBar(sys.stderr, unit="MB")
    previous = signal.signal(signal.SIGINT, _sigint_handler(cancel, bar))
    try:
        folder = download_model(
            plan, models_dir, on_progress=_byte_bar(bar), is_cancelled=cancel.is_set
        )
    except JobCancelled:
        bar.finish_line()
        _say("download paused; run the same command again to resume where it stopped")
        return EXIT_CANCELLED
    finally:
        signal.signal(signal.SIGINT, previous)
    bar.finish_line()
    _say(f"downloaded {plan.repo_id}; use it with --model {plan.name}")
    print(folder)
    return EXIT_OK


COMMANDS = {
    "generate": _cmd_generate,
    "stylize": _cmd_stylize,
    "history": _cmd_history,
    "info": _cmd_info,
    "bench": _cmd_bench,
    "models": _cmd_models,
}


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        _say(f"error: {exc}")
        return EXIT_BAD_INPUT
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    from imagestudio.core.logs import setup_logging

    setup_logging()
    try:
        return COMMANDS[args.command](args)
    except (InvalidRequest, ImageError, StorageError) as exc:
        _say(f"error: {exc}")
        return EXIT_BAD_INPUT
    except ModelError as exc:
        _say(f"error: {exc}")
        return EXIT_MODEL
    except OutOfMemory as exc:
        _say(f"error: {exc}")
        return EXIT_MEMORY
    except (HistoryError, ImageStudioError) as exc:
        _say(f"error: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _say("cancelled; no image was written")
        return EXIT_CANCELLED
    except Exception as exc:  # a bug: one line here, the traceback in the log
        logging.getLogger("imagestudio").exception("unexpected error")
        from imagestudio.core.paths import app_paths

        _say(f"error: unexpected {type(exc).__name__}: {exc} (details in {app_paths().log_file})")
        return EXIT_FAILED
