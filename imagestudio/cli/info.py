"""`imagestudio info` (device, folders, models) and `imagestudio bench` (engine overhead)."""

from __future__ import annotations

import argparse
import os
import platform
import sys

from imagestudio import __version__
from imagestudio.cli.console import say
from imagestudio.cli.parser import EXIT_FAILED, EXIT_OK, whole_number
from imagestudio.core.errors import InvalidRequest


def add_commands(sub: argparse._SubParsersAction) -> None:
    info = sub.add_parser(
        "info",
        help="device, precision, folders and models",
        description="Show the device ImageStudio would use and why, and its folders.",
    )
    info.set_defaults(run=run_info)
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
        choices=("tiny", "small", "sd15", "sdxl"),
        help="random model to build when --model is not given (default small)",
    )
    bench.add_argument("--steps", type=whole_number, default=20, metavar="N")
    bench.add_argument("--size", default=None, metavar="WxH")
    bench.add_argument("--repeats", type=whole_number, default=6, metavar="N")
    bench.set_defaults(run=run_bench)


def run_info(args: argparse.Namespace) -> int:
    from imagestudio.core.models.library import builtin_model_dir, list_models
    from imagestudio.core.paths import HOME_ENV, app_paths
    from imagestudio.core.schedulers import scheduler_names
    from imagestudio.core.settings import load_settings
    from imagestudio.core.vocabulary import FAMILY_LABELS

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
        from imagestudio.core.devices import pick_device

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
    print(f"  wildcards: {paths.wildcards_dir}  (__name__ in a prompt: a line of name.txt)")
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


def run_bench(args: argparse.Namespace) -> int:
    from imagestudio.core.requests import parse_size

    try:
        from imagestudio.dev.bench import run_benchmark
    except ImportError:
        say(
            "error: the benchmark is a development tool and is not part of this installation; "
            "run it from a source checkout (pip install -e .)"
        )
        return EXIT_FAILED
    if args.repeats < 1 or args.steps < 1:
        raise InvalidRequest("--repeats and --steps must be at least 1.")
    size = parse_size(args.size) if args.size else None
    run_benchmark(
        model=args.model,
        arch=args.arch,
        steps=args.steps,
        size=size,
        repeats=args.repeats,
        stream=sys.stdout,
        progress=sys.stderr,
    )
    return EXIT_OK
