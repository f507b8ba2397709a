"""`imagestudio models`: list, describe, import, convert, download, and per-model choices."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from imagestudio.cli.console import (
    ProgressBar,
    cancellable,
    load_settings_with_warnings,
    say,
    size_text,
)
from imagestudio.cli.parser import EXIT_CANCELLED, EXIT_MODEL, EXIT_OK, Parser
from imagestudio.core.errors import InvalidRequest, JobCancelled
from imagestudio.core.paths import app_paths
from imagestudio.core.vocabulary import (
    DETAIL_LABELS,
    FAMILY_LABELS,
    SHORT_FAMILY,
    SOURCE_LABELS,
)

if TYPE_CHECKING:
    from imagestudio.core.models.library import ModelEntry
    from imagestudio.core.settings import Settings


def add_commands(sub: argparse._SubParsersAction) -> None:
    mod = sub.add_parser(
        "models",
        help="list, describe, import, convert and download models",
        description="The model library: the built-in model, the models folder (diffusers folders, "
        ".safetensors checkpoints, LoRAs) and, read only, the Hugging Face cache.",
    )
    mod.set_defaults(run=run, action=None)
    msub = mod.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    listing = msub.add_parser("list", help="every model found, with family, size and precision")
    listing.add_argument(
        "--all", action="store_true", help="also list what cannot be loaded, and why"
    )
    info = msub.add_parser("info", help="everything known about one model (a name or a path)")
    info.add_argument("model", metavar="NAME_OR_PATH")
    imp = msub.add_parser(
        "import",
        help="copy a model folder, .safetensors checkpoint or LoRA into the library "
        "(a pickle checkpoint is converted to .safetensors first, running none of its code)",
    )
    imp.add_argument("path")
    imp.add_argument("--name", default=None, help="its name in the library")
    imp.add_argument("--move", action="store_true", help="move instead of copying")
    conv = msub.add_parser(
        "convert",
        help="turn a pickle checkpoint (.ckpt/.pt/.bin) into .safetensors without running it",
    )
    conv.add_argument("path", help="a pickle file, or a diffusers folder with .bin weights")
    conv.add_argument("--output", default=None, metavar="FILE", help="where to write (a file)")
    choose = msub.add_parser(
        "set",
        help="per-model choices the files cannot tell (what an SD 2.x single file predicts)",
    )
    choose.add_argument("model", metavar="NAME_OR_PATH")
    choose.add_argument(
        "--prediction",
        required=True,
        choices=("epsilon", "v_prediction", "auto"),
        help="epsilon for SD 2.x base-512 and SD-Turbo files, v_prediction for SD 2.x 768; "
        "auto forgets the choice",
    )
    down = msub.add_parser(
        "download",
        help="download a model from the Hugging Face Hub into the models folder (uses the network)",
    )
    down.add_argument("repo", metavar="REPO_ID", help="owner/name, or its huggingface.co address")
    down.add_argument("--variant", default=None, help="weight variant to prefer, e.g. fp16")
    down.add_argument("--file", default=None, help="for single-file repos: which .safetensors")
    down.add_argument("--name", default=None, help="its name in the library")
    down.add_argument("--revision", default="main", help="branch, tag or commit (default main)")
    msub.add_parser(
        "recommended",
        help="models worth trying first: what each is good at, needs and costs to download",
    )


def _library(settings: Settings) -> list[ModelEntry]:
    from imagestudio.core.models.library import scan_library

    return scan_library(settings.resolved_models_dir(), settings.resolved_hf_cache())


def _role_label(entry: ModelEntry) -> str:
    if entry.role == "model":
        return FAMILY_LABELS[entry.ref.family]
    what = {"lora": "LoRA", "embedding": "Embedding", "vae": "VAE"}[entry.role]
    family = entry.ref.family
    return f"{what} ({SHORT_FAMILY[family]})" if family in SHORT_FAMILY else what


def _label(entry: ModelEntry) -> str:
    label = _role_label(entry)
    if entry.detail:
        label += f" {DETAIL_LABELS.get(entry.detail, entry.detail)}"
    return label


def _list(args: argparse.Namespace, settings: Settings) -> int:
    entries = _library(settings)
    shown = [e for e in entries if getattr(args, "all", False) or e.usable or e.role != "model"]
    width = max([len(e.name) for e in shown] + [4])
    print(f"{'name':<{width}}  {'family':<22} {'size':>8}  {'precision':<9} where")
    for entry in shown:
        print(
            f"{entry.name:<{width}}  {_label(entry):<22} {size_text(entry.size_bytes):>8}  "
            f"{entry.precision:<9} {SOURCE_LABELS[entry.ref.source]}"
        )
        if entry.problem and entry.role == "model":
            print(f"{'':<{width}}  cannot load: {entry.problem}")
    _list_upscalers(settings.resolved_models_dir(), app_paths().cache_dir)
    hidden = len(entries) - len(shown)
    if hidden:
        say(f"{hidden} more that cannot be loaded; see them with --all")
    say(f"models folder: {settings.resolved_models_dir()}")
    return EXIT_OK


def _list_upscalers(models_dir: Path, cache_dir: Path) -> None:
    """The upscalers, shipped and in models/upscalers, with scale and architecture."""
    from imagestudio.core.upscale.loading import describe_upscaler, upscaler_files

    found = upscaler_files(models_dir)
    if not found:
        return
    width = max(len(name) for name in found)
    print()
    print(f"{'upscaler':<{width}}  {'scale':<5} {'architecture':<20} {'size':>8}  where")
    for name, item in found.items():
        described = describe_upscaler(item.path, cache_dir)
        where = "built in" if item.builtin else SOURCE_LABELS["library"]
        size = size_text(item.path.stat().st_size)
        scale, architecture = (f"×{described[0]}", described[1]) if described else ("?", "")
        print(f"{name:<{width}}  {scale:<5} {architecture:<20} {size:>8}  {where}")
        if described is None:
            print(f"{'':<{width}}  cannot load: not an upscaler that spandrel knows")


def _info(args: argparse.Namespace, settings: Settings) -> int:
    from imagestudio.core.models.library import describe_path, resolve_model

    entry = {e.name: e for e in _library(settings)}.get(args.model)
    if entry is None:
        path = Path(args.model).expanduser()
        if not path.exists():
            resolve_model(args.model, settings.resolved_models_dir(), settings.resolved_hf_cache())
            return EXIT_MODEL  # resolve_model said why
        entry = describe_path(path.resolve())
    detail = f" ({entry.detail})" if entry.detail else ""
    what = _role_label(entry)
    print(f"name:      {entry.name}")
    print(f"path:      {entry.ref.path}")
    print(f"kind:      {what}{detail}")
    layout = entry.ref.layout.replace("_", " ")
    print(f"layout:    {layout} ({SOURCE_LABELS[entry.ref.source]})")
    print(f"size:      {size_text(entry.size_bytes)}")
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


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from imagestudio.core.models.importing import import_model

    models_dir = settings.resolved_models_dir()
    bar = ProgressBar(sys.stderr, unit="MB")
    with cancellable(bar) as cancel:
        try:
            imported = import_model(
                Path(args.path),
                models_dir,
                name=args.name,
                move=args.move,
                convert_pickles=True,
                on_progress=bar.bytes_callback(),
                is_cancelled=cancel.is_set,
                on_notice=bar.notice,
            )
        except JobCancelled:
            say("import cancelled; nothing was added to the library")
            return EXIT_CANCELLED
    entry = imported.entry
    if imported.converted:
        say(f"converted {Path(args.path).name} to .safetensors; the original is left as it is")
    say(f"imported {entry.name} ({size_text(entry.size_bytes)}) into {models_dir}")
    return EXIT_OK


def _convert(args: argparse.Namespace) -> int:
    from imagestudio.core.models.checkpoints import convert_folder, convert_to_safetensors

    source = Path(args.path).expanduser()
    if source.is_dir():
        done = convert_folder(source, on_notice=say)
        for item in done:
            say(f"wrote {item.output} ({item.tensors} tensors)")
        if not done:
            say("every .bin file already has its .safetensors twin; nothing to do")
        return EXIT_OK
    output = Path(args.output).expanduser() if args.output else None
    result = convert_to_safetensors(source, output, on_notice=say)
    say(f"wrote {result.output} ({result.tensors} tensors); no code in the file was run")
    print(result.output)
    return EXIT_OK


def _set(args: argparse.Namespace, settings: Settings) -> int:
    from imagestudio.core.models.library import resolve_model
    from imagestudio.core.settings import save_settings

    ref = resolve_model(args.model, settings.resolved_models_dir(), settings.resolved_hf_cache())
    choices = dict(settings.model_prediction)
    if args.prediction == "auto":
        choices.pop(ref.name, None)
    else:
        choices[ref.name] = args.prediction
    settings.model_prediction = choices
    save_settings(settings)
    say(f"{ref.name}: prediction {args.prediction} (applies from the next load)")
    return EXIT_OK


def _download(args: argparse.Namespace, settings: Settings) -> int:
    from imagestudio.core.models.download_plan import plan_download
    from imagestudio.core.models.downloads import check_target, download_model

    models_dir = settings.resolved_models_dir()
    plan = plan_download(
        args.repo, revision=args.revision, variant=args.variant, filename=args.file, name=args.name
    )
    check_target(models_dir, plan)
    say(
        f"downloading {plan.repo_id} ({len(plan.files)} files, {size_text(plan.total_bytes)}) "
        f"from {plan.host} into {models_dir / plan.name}"
    )
    bar = ProgressBar(sys.stderr, unit="MB")
    with cancellable(bar) as cancel:
        try:
            folder = download_model(
                plan, models_dir, on_progress=bar.bytes_callback(), is_cancelled=cancel.is_set
            )
        except JobCancelled:
            bar.finish_line()
            say("download paused; run the same command again to resume where it stopped")
            return EXIT_CANCELLED
    say(f"downloaded {plan.repo_id}; use it with --model {plan.name}")
    print(folder)
    return EXIT_OK


def _recommended() -> int:
    from imagestudio.core.models.recommended import recommended_models

    for model in recommended_models():
        print(f"{model.name}  ({model.repo_id}, about {model.download_gb:g} GB)")
        print(f"  good at:  {model.good_at}")
        print(f"  needs:    {model.hardware}")
        print(f"  licence:  {model.licence}")
        variant = f" --variant {model.variant}" if model.variant else ""
        print(f"  get it:   imagestudio models download {model.repo_id}{variant}")
        print(
            f"  then:     --steps {model.steps} --cfg {model.cfg:g} --size "
            f"{model.native_size}x{model.native_size}"
        )
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    action = args.action or "list"
    if action == "convert":
        return _convert(args)
    if action == "recommended":
        return _recommended()
    settings = load_settings_with_warnings()
    actions = {
        "list": _list,
        "info": _info,
        "import": _import,
        "set": _set,
        "download": _download,
    }
    if action not in actions:
        raise InvalidRequest(f"Unknown models action {action!r}.")
    return actions[action](args, settings)
