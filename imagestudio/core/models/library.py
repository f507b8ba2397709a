"""The model library: find, describe and resolve models without loading their weights.

Three places hold models:
- the built-in starter model (`resources/models/starter`);
- the models folder (a setting): diffusers folders (with model_index.json) and single-file
  checkpoints (`.safetensors`), also inside sub-folders, and LoRA files;
- the Hugging Face cache (`~/.cache/huggingface/hub`), read only: models other programs
  downloaded are listed and loaded in place, never changed.

Everything here reads JSON configs and safetensors headers only; loading weights is the engine's
job. Each entry says its family (from its configs or tensor names, never its file name), size,
precision, and, when it cannot be loaded, why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagestudio.core.errors import ModelError
from imagestudio.core.models.checkpoints import (
    PICKLE_SUFFIXES,
    SAFETENSORS_SUFFIX,
    describe_file,
    pickle_refusal,
    read_header,
)
from imagestudio.core.models.singlefile import native_size
from imagestudio.core.paths import default_hf_cache, resources_dir
from imagestudio.core.vocabulary import (
    BUILTIN_MODEL,
    DETAIL_LABELS,
    FAMILY_LABELS,
    EntryRole,
    Family,
    Layout,
    ModelSource,
)

__all__ = ["LORA_FOLDER", "ModelEntry", "ModelRef", "default_hf_cache", "resolve_model"]

LORA_FOLDER = "loras"
EMBEDDING_FOLDER = "embeddings"  # textual-inversion embeddings, named in prompts
VAE_FOLDER = "vae"  # VAEs a job may use in place of its model's own
UPSCALER_FOLDER = "upscalers"  # super-resolution networks (core.upscale)
# Sub-folders of the models folder searched for models (models/sdxl/x.safetensors, ...).
_SCAN_DEPTH = 3
# Pipelines ImageStudio can run, by model_index.json's _class_name
_TEXT_TO_IMAGE = (
    "StableDiffusionPipeline",
    "StableDiffusionXLPipeline",
    "LatentConsistency",
    # dedicated inpainting models (a 9-channel UNet: noise, mask, masked picture)
    "StableDiffusionInpaintPipeline",
    "StableDiffusionXLInpaintPipeline",
)


@dataclass(frozen=True)
class ModelRef:
    """A model that can be loaded: name, where it is, family and how it is stored.

    `layout` is "folder" (diffusers) or "single_file"; `variant` names the weight variant files
    of a folder that has only those (diffusion_pytorch_model.fp16.safetensors -> "fp16").
    """

    name: str
    path: Path
    family: Family
    builtin: bool = False
    layout: Layout = "folder"
    variant: str | None = None
    source: ModelSource = "library"


@dataclass(frozen=True)
class ModelEntry:
    """A model as the library lists it."""

    ref: ModelRef
    size_bytes: int
    precision: str
    role: EntryRole = "model"
    problem: str | None = None
    detail: str = ""  # LCM, v-prediction ...
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def usable(self) -> bool:
        return self.problem is None and self.role == "model"

    def label(self) -> str:
        """One line for a picker: name and family."""
        if self.ref.builtin:
            return "Starter (built in)"
        family = FAMILY_LABELS.get(self.ref.family, self.ref.family)
        extra = f" {DETAIL_LABELS.get(self.detail, self.detail)}" if self.detail else ""
        return f"{self.name} · {family}{extra}"


def find_named_file(name_or_path: str, folders: Sequence[Path]) -> Path | None:
    """The file a user names: a path (with its suffix), or a name in one of `folders`, with or
    without ``.safetensors``; None when there is none (LoRAs, VAEs)."""
    text = name_or_path.strip()
    candidate = Path(text).expanduser()
    options = [candidate] if candidate.suffix else []
    for folder in folders:
        options += [folder / text, folder / f"{text}{SAFETENSORS_SUFFIX}"]
    return next((p for p in options if p.is_file()), None)


def builtin_model_dir() -> Path:
    return resources_dir() / "models" / BUILTIN_MODEL


def _read_json(path: Path) -> dict:
    """A config file as a dict; {} when it is missing, not a JSON object, nested too deep or far
    larger than any config (so one damaged file cannot break the whole library)."""
    try:
        if path.stat().st_size > _MAX_CONFIG_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


_MAX_CONFIG_BYTES = 16 * 2**20
# What describing one odd entry may raise beyond ModelError; it marks that entry, nothing more.
_ENTRY_ERRORS = (OSError, ValueError, TypeError, KeyError, RecursionError, OverflowError)


def detect_family(folder: Path) -> Family:
    """Family of a diffusers folder, from its configs (never from its name).

    SDXL has two text encoders and a 2048-wide cross attention; SD 2.x uses a 1024-wide OpenCLIP
    encoder; SD 1.x a 768-wide CLIP encoder. Anything else (a custom or tiny model) is "unknown",
    and gets its preview map fitted instead of borrowed.
    """
    index = _read_json(folder / "model_index.json")
    unet = _read_json(folder / "unet" / "config.json")
    vae = _read_json(folder / "vae" / "config.json")
    if vae.get("latent_channels", 4) != 4:
        return "unknown"
    cross = unet.get("cross_attention_dim")
    pipeline_class = str(index.get("_class_name", ""))
    if "XL" in pipeline_class or cross == 2048:
        return "sdxl" if cross == 2048 else "unknown"
    if cross == 768:
        return "sd1"
    if cross == 1024:
        return "sd2"
    return "unknown"


def _folder_components(folder: Path) -> dict[str, tuple[str, str]]:
    index = _read_json(folder / "model_index.json")
    return {
        name: (str(value[0]), str(value[1]))
        for name, value in index.items()
        if not name.startswith("_")
        and isinstance(value, list)
        and len(value) == 2
        and value[0] is not None
        and value[1] is not None
    }


def _weight_files(component: Path) -> list[Path]:
    return sorted(p for p in component.glob("*.safetensors") if p.is_file())


def folder_variant(folder: Path) -> str | None:
    """ "fp16" when the UNet is stored only as a variant file (x.fp16.safetensors), else None."""
    files = _weight_files(folder / "unet")
    plain = [p for p in files if p.name.count(".") == 1]
    if plain or not files:
        return None
    variants = {p.name.split(".")[-2] for p in files}
    return "fp16" if "fp16" in variants else sorted(variants)[0]


def _folder_problem(folder: Path) -> str | None:
    """Why a diffusers folder cannot run as text-to-image, as a sentence; None when it can."""
    if not (folder / "model_index.json").is_file():
        return f"{folder} is not a diffusers model folder: it has no model_index.json."
    index = _read_json(folder / "model_index.json")
    if not index:
        return f"The model_index.json in {folder} is damaged or empty."
    pipeline_class = str(index.get("_class_name", ""))
    if "Img2Img" in pipeline_class and "text_encoder" not in index:
        return "This is an SDXL refiner, which only polishes SDXL images; use an SDXL base model."
    if not pipeline_class.startswith(_TEXT_TO_IMAGE):
        return (
            f"This model is a {pipeline_class or 'pipeline of an unknown kind'}; ImageStudio runs "
            "Stable Diffusion 1.x, 2.x and XL text-to-image models."
        )
    components = _folder_components(folder)
    for needed in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        if needed not in components or not (folder / needed).is_dir():
            return f"The model has no {needed} folder; it is incomplete."
    for part in ("unet", "vae"):
        if not _read_json(folder / part / "config.json"):
            return (
                f"The {part} config (config.json) is missing or damaged; the model is incomplete."
            )
    unet = _read_json(folder / "unet" / "config.json")
    in_channels = unet.get("in_channels", 4)
    if in_channels not in (4, 9):
        return f"The UNet takes {in_channels} input channels; this is not a text-to-image model."
    for name, (library, _cls) in components.items():
        if library not in ("diffusers", "transformers") or name.startswith(
            ("tokenizer", "scheduler", "feature_extractor", "safety_checker", "image_encoder")
        ):
            continue
        component = folder / name
        if _weight_files(component):
            continue
        pickles = [p.name for p in component.glob("*") if p.suffix.lower() in PICKLE_SUFFIXES]
        if pickles:
            return (
                f"The {name} weights are pickle files ({pickles[0]}), which can run code when "
                f'loaded; ImageStudio refuses them. Convert them: imagestudio models convert "'
                f'{folder}"'
            )
        return f"The {name} folder has no .safetensors weights; the model is incomplete."
    return None


def _dir_size(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size  # follows the HF cache's symlinks to the blobs
        except OSError:
            continue
    return total


def _folder_precision(folder: Path, variant: str | None) -> str:
    suffix = f".{variant}.safetensors" if variant else ".safetensors"
    files = [p for p in _weight_files(folder / "unet") if p.name.endswith(suffix)]
    if not files:
        return "unknown"
    try:
        return read_header(files[0]).precision()
    except ModelError:
        return "unknown"


def _folder_detail(folder: Path) -> str:
    unet = _read_json(folder / "unet" / "config.json")
    scheduler = _read_json(folder / "scheduler" / "scheduler_config.json")
    if unet.get("in_channels") == 9:
        return "inpainting"
    if unet.get("time_cond_proj_dim") or scheduler.get("_class_name") == "LCMScheduler":
        return "lcm"
    if scheduler.get("prediction_type") == "v_prediction":
        return "v-prediction"
    return ""


def _folder_native_size(folder: Path) -> int | None:
    unet = _read_json(folder / "unet" / "config.json")
    vae = _read_json(folder / "vae" / "config.json")
    sample = unet.get("sample_size")
    channels = vae.get("block_out_channels", ())
    levels = min(len(channels) if isinstance(channels, list) else 0, 8) or 4
    usable = isinstance(sample, int) and not isinstance(sample, bool) and 0 < sample < 2**16
    return sample * 2 ** (levels - 1) if usable else None


def _folder_ref(folder: Path, name: str, source: ModelSource = "library") -> ModelRef:
    """What loading a folder needs (configs only): no walk over its files, no header read."""
    variant = folder_variant(folder)
    builtin = source == "builtin"
    return ModelRef(name, folder, detect_family(folder), builtin, "folder", variant, source)


def describe_folder(folder: Path, name: str, source: ModelSource = "library") -> ModelEntry:
    """A diffusers folder as the library lists it; damaged configs mark this entry only."""
    try:
        return _describe_folder(folder, name, source)
    except _ENTRY_ERRORS as exc:
        ref = ModelRef(name, folder, "unknown", source=source)
        return ModelEntry(ref, 0, "unknown", problem=_damaged(folder, exc))


def _damaged(path: Path, exc: BaseException) -> str:
    detail = type(exc).__name__ if isinstance(exc, RecursionError) else str(exc)[:120]
    return (
        f"{path.name} could not be read ({detail or type(exc).__name__}); its files may be "
        "damaged. Download or copy it again."
    )


def _describe_folder(folder: Path, name: str, source: ModelSource) -> ModelEntry:
    ref = _folder_ref(folder, name, source)
    return ModelEntry(
        ref=ref,
        size_bytes=_dir_size(folder),
        precision=_folder_precision(folder, ref.variant),
        problem=_folder_problem(folder),
        detail=_folder_detail(folder),
        info={"native_size": _folder_native_size(folder)},
    )


def describe_single_file(path: Path, name: str, source: ModelSource = "library") -> ModelEntry:
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    try:
        header, signature = describe_file(path)
    except ModelError as exc:
        ref = ModelRef(name, path, "unknown", layout="single_file", source=source)
        return ModelEntry(ref, size, "unknown", problem=str(exc))
    except _ENTRY_ERRORS as exc:
        ref = ModelRef(name, path, "unknown", layout="single_file", source=source)
        return ModelEntry(ref, size, "unknown", problem=_damaged(path, exc))
    ref = ModelRef(name, path, signature.family, layout="single_file", source=source)
    role: EntryRole = "model"
    if signature.role in ("lora", "embedding", "vae"):
        role = signature.role
    problem = signature.problem if role == "model" else None
    precision = header.precision() if header else "unknown"
    info: dict[str, Any] = {
        "dims": dict(signature.dims),
        "role": signature.role,
        # a single file does not say; the shipped configs it loads with do
        "native_size": native_size(signature.family),
    }
    return ModelEntry(ref, size, precision, role, problem, signature.variant, info)


def _walk(root: Path, depth: int) -> Iterator[Path]:
    try:
        children = sorted(root.iterdir(), key=lambda p: p.name.lower())
    except OSError:
        return
    for child in children:
        if child.name.startswith("."):
            continue  # .partial downloads, hidden files
        yield child
        if child.is_dir() and depth > 1 and not (child / "model_index.json").is_file():
            yield from _walk(child, depth - 1)


def entry_name(models_dir: Path, path: Path) -> str:
    relative = path.relative_to(models_dir)
    if path.is_file():
        relative = relative.with_suffix("")
    return relative.as_posix()


def scan_models_folder(models_dir: Path) -> list[ModelEntry]:
    """Diffusers folders, single files and LoRAs in the models folder (and its sub-folders)."""
    entries: list[ModelEntry] = []
    if not models_dir.is_dir():
        return entries
    upscalers = models_dir / UPSCALER_FOLDER
    for path in _walk(models_dir, _SCAN_DEPTH):
        if path == upscalers or upscalers in path.parents:
            continue  # listed by core.upscale.loading, which knows those networks
        name = entry_name(models_dir, path)
        if path.is_dir() and (path / "model_index.json").is_file():
            entries.append(describe_folder(path, name))
        elif path.is_file() and path.suffix.lower() == SAFETENSORS_SUFFIX:
            entry = describe_single_file(path, name)
            if entry.role != "model" or entry.info.get("role") == "checkpoint" or entry.problem:
                entries.append(entry)
        elif path.is_file() and path.suffix.lower() in PICKLE_SUFFIXES:
            ref = ModelRef(name, path, "unknown", layout="single_file")
            entries.append(
                ModelEntry(ref, path.stat().st_size, "unknown", problem=pickle_refusal(path))
            )
    return entries


def _hf_snapshot(repo: Path) -> Path | None:
    """The snapshot folder of a cached repo: the one `refs/main` names, else the newest."""
    snapshots = repo / "snapshots"
    ref_file = repo / "refs" / "main"
    try:
        revision = ref_file.read_text(encoding="utf-8").strip() if ref_file.is_file() else ""
    except OSError:
        revision = ""
    if revision and (snapshots / revision).is_dir():
        return snapshots / revision
    if not snapshots.is_dir():
        return None
    candidates = sorted(
        (p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime
    )
    return candidates[-1] if candidates else None


def _hf_repo_dir(cache: Path, repo_id: str) -> Path:
    return cache / ("models--" + repo_id.replace("/", "--"))


def scan_hf_cache(cache: Path) -> list[ModelEntry]:
    """Diffusers models in a Hugging Face hub cache, read only (the snapshot `main` points to)."""
    entries: list[ModelEntry] = []
    if not cache.is_dir():
        return entries
    for repo in sorted(cache.glob("models--*")):
        parts = repo.name.split("--")[1:]
        if len(parts) < 2:
            continue
        repo_id = "/".join([parts[0], "--".join(parts[1:])])
        snapshot = _hf_snapshot(repo)
        if snapshot is None:
            continue
        if (snapshot / "model_index.json").is_file():
            entries.append(describe_folder(snapshot, repo_id, source="hf_cache"))
            continue
        # a repo of single-file checkpoints (hf_hub_download of one .safetensors); text
        # encoders, LLMs and other repos that are not pipelines are left out
        for file in sorted(snapshot.glob("*.safetensors")):
            entry = describe_single_file(file, f"{repo_id}/{file.stem}", source="hf_cache")
            if entry.info.get("role") == "checkpoint" and entry.ref.family != "unknown":
                entries.append(entry)
    return entries


def scan_library(
    models_dir: Path, hf_cache: Path | None = None, include_builtin: bool = True
) -> list[ModelEntry]:
    """Every model ImageStudio knows of: built in, models folder, then the HF cache."""
    entries: list[ModelEntry] = []
    builtin = builtin_model_dir()
    if include_builtin and (builtin / "model_index.json").is_file():
        entries.append(describe_folder(builtin, BUILTIN_MODEL, source="builtin"))
    entries += scan_models_folder(models_dir)
    if hf_cache is not None:
        names = {e.name for e in entries}
        entries += [e for e in scan_hf_cache(hf_cache) if e.name not in names]
    return entries


def list_models(models_dir: Path, hf_cache: Path | None = None) -> list[ModelRef]:
    """The loadable text-to-image models, for pickers."""
    return [e.ref for e in scan_library(models_dir, hf_cache) if e.usable]


def check_model_folder(folder: Path) -> None:
    """Raise ModelError with the reason if `folder` cannot be a diffusers model."""
    if not folder.exists():
        raise ModelError(f"The model folder {folder} does not exist.")
    if folder.is_file():
        raise ModelError(f"{folder} is a file, not a diffusers model folder.")
    problem = _folder_problem(folder)
    if problem:
        raise ModelError(problem)


def _require_model_index(path: Path) -> None:
    if not (path / "model_index.json").is_file():
        raise ModelError(
            f"{path} is not a diffusers model folder (it has no model_index.json) and not a "
            ".safetensors checkpoint."
        )


def describe_path(path: Path, source: ModelSource = "path") -> ModelEntry:
    """Describe a folder or file the user pointed at; raise ModelError if it is neither."""
    if not path.exists():
        raise ModelError(f"There is no model at {path}.")
    if path.is_dir():
        _require_model_index(path)
        return describe_folder(path, path.name, source)
    return describe_single_file(path, path.stem, source)


def _usable_ref(entry: ModelEntry) -> ModelRef:
    if entry.role == "lora":
        raise ModelError(
            f"{entry.name} is a LoRA, not a model: choose a model, then add the LoRA to it."
        )
    if entry.role == "vae":
        raise ModelError(
            f"{entry.name} is a VAE, not a model: choose a model, then this VAE in the form's "
            "VAE box (or --vae)."
        )
    if entry.role == "embedding":
        raise ModelError(
            f"{entry.name} is a textual-inversion embedding, not a model: put it in "
            "models/embeddings and write its name in a prompt."
        )
    if entry.problem:
        if entry.ref.layout == "single_file":
            raise ModelError(entry.problem)  # it names the file already
        raise ModelError(f"{entry.name} cannot be loaded. {entry.problem}")
    return entry.ref


def _usable_folder(folder: Path, name: str, source: ModelSource = "library") -> ModelRef:
    problem = _folder_problem(folder)
    if problem:
        raise ModelError(f"{name} cannot be loaded. {problem}")
    return _folder_ref(folder, name, source)


def _usable_path(path: Path, name: str, source: ModelSource) -> ModelRef:
    """A folder (configs read, nothing walked) or a single file (its header read): the work a
    job pays each time it names its model, so no size or precision is measured here."""
    if path.is_dir():
        _require_model_index(path)
        return _usable_folder(path, name, source)
    return _usable_ref(describe_single_file(path, name, source))


def resolve_model(name_or_path: str, models_dir: Path, hf_cache: Path | None = None) -> ModelRef:
    """Turn what the user typed (a name, repo id or path) into a loadable model, or say why not.

    Order: the built-in name, an existing path, a name in the models folder (a folder or a single
    file, without its suffix), a repo id in the Hugging Face cache (`owner/name`, or
    `owner/name/file` for a single-file repo).
    """
    text = name_or_path.strip()
    if not text:
        raise ModelError("No model was given.")
    if text == BUILTIN_MODEL:
        folder = builtin_model_dir()
        if not (folder / "model_index.json").is_file():
            raise ModelError(
                "The built-in starter model is not part of this installation yet "
                f"({folder} is missing). Pass --model with a model folder or file."
            )
        return _folder_ref(folder, BUILTIN_MODEL, source="builtin")
    candidate = Path(text).expanduser()
    looks_like_path = candidate.is_absolute() or text.startswith((".", "~"))
    if candidate.exists() and (looks_like_path or not (models_dir / text).exists()):
        resolved = candidate.resolve()
        name = resolved.name if resolved.is_dir() else resolved.stem
        return _usable_path(resolved, name, "path")
    if looks_like_path:
        raise ModelError(f"There is no model at {candidate}.")
    for path in (models_dir / text, models_dir / f"{text}{SAFETENSORS_SUFFIX}"):
        if path.is_dir() and (path / "model_index.json").is_file():
            return _usable_folder(path, text)
        if path.is_file():
            return _usable_path(path, text, "library")
    for suffix in PICKLE_SUFFIXES:
        if (models_dir / f"{text}{suffix}").is_file():
            raise ModelError(pickle_refusal(models_dir / f"{text}{suffix}"))
    if hf_cache is not None and text.count("/") in (1, 2):
        owner, repo, *file = text.split("/")
        snapshot = _hf_snapshot(_hf_repo_dir(hf_cache, f"{owner}/{repo}"))
        if snapshot is not None and not file and (snapshot / "model_index.json").is_file():
            return _usable_folder(snapshot, text, "hf_cache")
        if snapshot is not None and file:
            single = snapshot / f"{file[0]}{SAFETENSORS_SUFFIX}"
            if single.is_file():
                return _usable_path(single, text, "hf_cache")
    known = ", ".join(ref.name for ref in list_models(models_dir, hf_cache)) or "none yet"
    raise ModelError(
        f"No model named {text!r}. Give the path of a model folder or .safetensors file, or put "
        f"one in {models_dir}. Models found: {known}."
    )
