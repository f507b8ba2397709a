"""Bring a model into the library: copy or move it in, checked first, converting pickles safely.

The Models dialog and `imagestudio models import` both call `import_model`, so both refuse the
same files and convert the same way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from imagestudio.core.callbacks import CancelCheck, NoticeCallback
from imagestudio.core.errors import JobCancelled, ModelError
from imagestudio.core.models.checkpoints import (
    PICKLE_SUFFIXES,
    SAFETENSORS_SUFFIX,
    convert_to_safetensors,
    pickle_refusal,
)
from imagestudio.core.models.library import (
    EMBEDDING_FOLDER,
    LORA_FOLDER,
    VAE_FOLDER,
    ModelEntry,
    describe_folder,
    describe_path,
    describe_single_file,
    entry_name,
)

#: Hidden staging folder for pickle conversions (skipped by the library scan).
CONVERTING_FOLDER = ".converting"

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class Imported:
    """What an import added to the library, and whether a pickle was converted on the way."""

    entry: ModelEntry
    converted: bool = False


def is_pickle(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in PICKLE_SUFFIXES


def import_model(
    source: Path,
    models_dir: Path,
    *,
    name: str | None = None,
    move: bool = False,
    convert_pickles: bool = False,
    on_progress: ProgressCallback | None = None,
    is_cancelled: CancelCheck | None = None,
    on_notice: NoticeCallback | None = None,
) -> Imported:
    """Copy (or move) a model folder, a checkpoint or a LoRA into the library, checked first.

    A pickle file (.ckpt, .pt, .bin...) is refused unless `convert_pickles`: then its tensors are
    written to .safetensors (no code in it runs) and the converted copy is imported; the
    original is left as it is. LoRAs go to `models/loras/`. The copy is made under a hidden
    temporary name and renamed when complete, so an interrupted import leaves no half model in
    the library. `on_progress(copied_bytes, total_bytes)` follows large copies; `is_cancelled`
    stops the import with `JobCancelled`, leaving nothing behind.
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise ModelError(f"There is no file or folder at {source}.")
    if is_pickle(source):
        if not convert_pickles:
            raise ModelError(pickle_refusal(source))
        entry = _import_converted(source, models_dir, name, on_progress, is_cancelled, on_notice)
        return Imported(entry, converted=True)
    return Imported(_copy_in(source, models_dir, name, move, on_progress, is_cancelled))


def _cancel_point(is_cancelled: CancelCheck | None, source: Path) -> None:
    if is_cancelled is not None and is_cancelled():
        raise JobCancelled(f"The import of {source.name} was cancelled.")


def _import_converted(
    source: Path,
    models_dir: Path,
    name: str | None,
    on_progress: ProgressCallback | None,
    is_cancelled: CancelCheck | None,
    on_notice: NoticeCallback | None,
) -> ModelEntry:
    stem = name or source.stem
    for folder in (models_dir, models_dir / LORA_FOLDER):
        if (folder / f"{stem}{SAFETENSORS_SUFFIX}").exists():
            raise ModelError(
                f"The library already has {stem}{SAFETENSORS_SUFFIX}; rename the file you are "
                "importing (--name) or remove the one in the library."
            )
    staging = models_dir / CONVERTING_FOLDER
    converted = staging / f"{stem}{SAFETENSORS_SUFFIX}"
    try:
        if on_notice is not None:
            on_notice(f"Converting {source.name} to .safetensors (no code in it runs)…")
        try:
            staging.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelError(f"Could not write to {models_dir}: {exc.strerror or exc}.") from exc
        convert_to_safetensors(source, converted, overwrite=True, on_notice=on_notice)
        _cancel_point(is_cancelled, source)  # torch.load cannot be interrupted; stop after it
        return _copy_in(converted, models_dir, stem, True, on_progress, is_cancelled)
    finally:
        converted.unlink(missing_ok=True)
        converted.with_name(converted.name + ".part").unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # in use by another conversion, or never made
            staging.rmdir()


def _copy_in(
    source: Path,
    models_dir: Path,
    name: str | None,
    move: bool,
    on_progress: ProgressCallback | None,
    is_cancelled: CancelCheck | None,
) -> ModelEntry:
    entry = describe_path(source.resolve())
    if entry.role == "model" and entry.problem:
        raise ModelError(f"{source.name} cannot be imported: {entry.problem}")
    stem = name or (source.name if source.is_dir() else source.stem)
    stem = "".join(c if c.isalnum() or c in "-_. " else "_" for c in stem).strip(" .") or "model"
    folder = {
        "lora": models_dir / LORA_FOLDER,
        "embedding": models_dir / EMBEDDING_FOLDER,
        "vae": models_dir / VAE_FOLDER,
    }.get(entry.role, models_dir)
    target = folder / (stem if source.is_dir() else stem + SAFETENSORS_SUFFIX)
    if target.exists():
        raise ModelError(
            f"The library already has {target.name}; give the import another name (--name)."
        )

    def progress(done: int, total: int) -> None:
        _cancel_point(is_cancelled, source)
        if on_progress is not None:
            on_progress(done, total)

    try:
        folder.mkdir(parents=True, exist_ok=True)
        if move:
            shutil.move(str(source), str(target))
        else:
            _copy_with_progress(source, target, progress)
    except OSError as exc:
        raise ModelError(
            f"Could not copy {source.name} into {folder}: {exc.strerror or exc}."
        ) from exc
    name_in_library = entry_name(models_dir, target)
    if target.is_dir():
        return describe_folder(target, name_in_library)
    return describe_single_file(target, name_in_library)


def _copy_with_progress(source: Path, target: Path, on_progress: ProgressCallback) -> None:
    files = [source] if source.is_file() else [p for p in source.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    temporary = target.with_name(f".{target.name}.importing")
    if temporary.exists():
        shutil.rmtree(temporary) if temporary.is_dir() else temporary.unlink()
    done = 0
    try:
        on_progress(0, total)
        for path in files:
            destination = temporary if source.is_file() else temporary / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "rb") as reader, open(destination, "wb") as writer:
                while chunk := reader.read(8 * 2**20):
                    writer.write(chunk)
                    done += len(chunk)
                    on_progress(done, total)
        os.replace(temporary, target)
    except BaseException:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)
        raise
