"""The generation job kind: its engine slot and its engine function for `core.jobs`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from imagestudio import __version__
from imagestudio.core.callbacks import JobContext
from imagestudio.core.errors import InvalidRequest, ModelError, StorageError
from imagestudio.core.generation.embeddings import name_pattern
from imagestudio.core.generation.engine import Engine, GenerationResult
from imagestudio.core.generation.lora import resolve_lora
from imagestudio.core.generation.vae import vae_name
from imagestudio.core.loratags import lora_name
from imagestudio.core.models.hashes import embedding_hash, lora_hash, model_hash
from imagestudio.core.outcomes import Picture, Product
from imagestudio.core.outputs.comfygraph import GraphSettings, HiresGraph, api_graph
from imagestudio.core.outputs.metadata import ImageSettings, format_parameters
from imagestudio.core.outputs.storage import atomic_write_bytes
from imagestudio.core.paths import app_paths
from imagestudio.core.requests import GenerationRequest, InpaintRequest
from imagestudio.core.schedulers import a1111_sampler, comfyui_sampler
from imagestudio.core.upscale.job import UPSCALE
from imagestudio.core.upscalernames import LATENT
from imagestudio.core.workspace import EngineConfig, EngineSlot, Workspace


def _engine_key(config: EngineConfig) -> tuple[object, ...]:
    return (
        config.models_dir,
        config.cache_dir,
        config.hf_cache,
        config.device,
        config.precision,
        config.memory_mode,
        config.predictions,
        config.wildcards_dir,
    )


#: The diffusion engine: one loaded pipeline, kept across jobs.
DIFFUSION = EngineSlot("diffusion", _engine_key, Engine.from_config, Engine.unload)


def lora_files(request: GenerationRequest, models_dir: Path) -> dict[str, Path]:
    """The file of each of the request's LoRAs, by the name the request gives it; a LoRA gone
    since the job ran is left out (the picture then goes without its hash)."""
    files: dict[str, Path] = {}
    for name, _weight in request.loras:
        with contextlib.suppress(ModelError):
            files[name] = resolve_lora(name, models_dir)
    return files


def model_hashes(
    result: GenerationResult, files: dict[str, Path], cache_dir: Path
) -> dict[str, str]:
    """A1111's ``Model hash`` and ``Lora hashes`` of the files a result used (cached per file),
    by which Civitai and other readers find them; a folder model has no Model hash."""
    hashes: dict[str, str] = {}
    digest = model_hash(Path(result.model_path), cache_dir)
    if digest:
        hashes["Model hash"] = digest
    loras = []
    for name, path in files.items():
        digest = lora_hash(path, cache_dir)
        if digest:
            loras.append(f"{lora_name(name)}: {digest}")
    if loras:
        hashes["Lora hashes"] = ", ".join(loras)
    used = []
    for name, file in result.embeddings.items():
        digest = embedding_hash(Path(file), cache_dir)
        if digest:
            used.append(f"{name}: {digest}")
    if used:
        hashes["TI hashes"] = ", ".join(used)
    if result.vae_path:
        vae = Path(result.vae_path)
        hashes["VAE"] = vae_name(vae)
        digest = model_hash(vae, cache_dir)
        if digest:
            hashes["VAE hash"] = digest
    return hashes


def comfyui_text(text: str, embeddings: dict[str, str]) -> str:
    """A prompt as ComfyUI reads it: an embedding's name as ``embedding:name``, BREAK as a
    comma (ComfyUI has no chunk break; its weights read like A1111's)."""
    pattern = name_pattern(embeddings)
    if pattern is not None:
        canonical = {name.lower(): name for name in embeddings}
        text = pattern.sub(lambda m: f"embedding:{canonical[m[1].lower()]}", text)
    return re.sub(r"\s*\bBREAK\b\s*", ", ", text)


def comfyui_chunks(
    result: GenerationResult, index: int, files: dict[str, Path] | None = None
) -> dict[str, str]:
    """ComfyUI's ``prompt`` chunk for image `index`: the graph that makes it in ComfyUI, named
    by file names; none when our sampler has no twin there."""
    request = result.request
    sampler = comfyui_sampler(result.scheduler)
    if sampler is None or (isinstance(request, InpaintRequest) and request.is_outpaint):
        return {}  # (ComfyUI's outpainting needs its own padding node: no graph)
    files = files or {}
    graph = api_graph(
        GraphSettings(
            prompt=comfyui_text(result.prompts[index], result.embeddings),
            negative_prompt=comfyui_text(result.negative_prompts[index], result.embeddings),
            seed=result.seeds[index],
            steps=request.steps,
            cfg=float(request.guidance),
            sampler_name=sampler[0],
            scheduler=sampler[1],
            width=result.width,
            height=result.height,
            checkpoint=Path(result.model_path).name or result.model_name,
            loras=[
                (files[name].name if name in files else f"{lora_name(name)}.safetensors", weight)
                for name, weight in request.loras
            ],
            init_image=Path(request.init_image).name if request.init_image else None,
            denoise=float(request.strength),
            clip_skip=request.clip_skip,
            hires=_comfyui_hires(result),
            mask_image=(
                Path(request.mask).name
                if isinstance(request, InpaintRequest) and request.mask
                else None
            ),
        )
    )
    return {"prompt": json.dumps(graph, ensure_ascii=False)}


def _comfyui_hires(result: GenerationResult) -> HiresGraph | None:
    """The hires fix's second pass as ComfyUI's nodes name it (a network by its file name)."""
    request = result.request
    if request.hires_scale is None or not result.hires_upscaler or not result.images:
        return None
    width, height = result.images[0].size
    return HiresGraph(
        upscaler=(
            Path(result.hires_upscaler_file).name
            if result.hires_upscaler_file
            else request.hires_upscaler.lower()
        ),
        width=width,
        height=height,
        steps=request.second_pass_steps,
        denoise=float(request.hires_denoise),
    )


MASKED_CONTENT_WORDS = {"original": "original", "fill": "fill", "noise": "latent noise"}


def inpaint_keys(request: InpaintRequest) -> dict[str, str]:
    """A1111's keys for an inpaint job (its img2img tab's words), and our outpaint sides."""
    keys = {"Mask blur": str(request.mask_blur)}
    if request.area == "masked":
        keys["Inpaint area"] = "Only masked"
        keys["Masked area padding"] = str(request.padding)
    else:
        keys["Inpaint area"] = "Whole picture"
    keys["Masked content"] = MASKED_CONTENT_WORDS[request.fill]
    if request.is_outpaint:
        sides = zip(("left", "top", "right", "bottom"), request.extend, strict=True)
        keys["Outpaint"] = " ".join(f"{side}={amount}" for side, amount in sides if amount)
    return keys


KEPT_MASK_PREFIX = "mask-"


def keep_mask_bytes(data: bytes, folder: Path, suffix: str = ".png") -> Path:
    """The mask `data` as a file in `folder` named by its content's hash (written atomically,
    once): the job's history entry and picture name it, and it stays when the original goes."""
    target = folder / f"{KEPT_MASK_PREFIX}{hashlib.sha256(data).hexdigest()[:20]}{suffix}"
    if not target.is_file():
        with contextlib.suppress(FileExistsError):  # the same mask, kept meanwhile
            atomic_write_bytes(target, data)
    return target


def keep_mask(path: str, folder: Path) -> Path:
    """`keep_mask_bytes` of the file at `path`; a mask kept already (the window's) is itself."""
    file = Path(path)
    if file.parent == folder and file.name.startswith(KEPT_MASK_PREFIX):
        return file
    return keep_mask_bytes(file.read_bytes(), folder, file.suffix.lower() or ".png")


def run_inpaint(request: GenerationRequest, workspace: Workspace, context: JobContext) -> Product:
    """Inpaint or outpaint on the diffusion engine. The mask is then kept in the data folder
    (see `keep_mask`) and the pictures' settings name that copy."""
    if not isinstance(request, InpaintRequest):
        raise InvalidRequest("This job is not an inpaint job.")
    return keep_inpaint_mask(request, run_generation(request, workspace, context))


def keep_inpaint_mask(request: InpaintRequest, product: Product) -> Product:
    """The product of an inpaint job (here or on a server) with its mask kept in the data
    folder, the pictures' settings naming that copy."""
    if request.mask:
        folder = app_paths().masks_dir
        try:
            kept = str(keep_mask(request.mask, folder))
        except StorageError:
            raise
        except OSError as exc:
            raise StorageError(
                f"Could not keep a copy of the mask in {folder}: {exc.strerror or exc}."
            ) from exc
        product.request = product.request.replace(mask=kept)
        for picture in product.pictures:
            picture.settings["mask"] = kept
    return product


def parameters_text(
    result: GenerationResult, index: int, hashes: dict[str, str] | None = None
) -> str:
    """The A1111-style settings text of image `index` of a result: A1111 1.9's sampler and
    schedule, LoRAs as ``<lora:name:w>`` tags, `hashes` (see `model_hashes`), and a denoising
    strength only for image-to-image."""
    request = result.request
    sampler, schedule = a1111_sampler(result.scheduler)
    extra = {"Schedule type": schedule} if schedule else {}
    if request.clip_skip > 1:
        extra["Clip skip"] = str(request.clip_skip)
    if request.variation_seed is not None and request.variation_strength > 0:
        extra["Variation seed"] = str(request.variation_seed + index)
        extra["Variation seed strength"] = f"{float(request.variation_strength):g}"
    strength = float(request.strength) if request.is_img2img else None
    if isinstance(request, InpaintRequest):
        extra |= inpaint_keys(request)
    if request.hires_scale is not None and result.hires_upscaler:
        # A1111's keys; its Denoising strength is then the second pass's
        strength = float(request.hires_denoise)
        extra["Hires upscale"] = f"{float(request.hires_scale):g}"
        if request.hires_steps:
            extra["Hires steps"] = str(request.hires_steps)
        extra["Hires upscaler"] = result.hires_upscaler
    extra |= hashes or {}
    return format_parameters(
        ImageSettings(
            prompt=result.prompts[index],
            negative_prompt=result.negative_prompts[index],
            steps=request.steps,
            sampler=sampler,
            cfg_scale=float(request.guidance),
            seed=result.seeds[index],
            width=result.width,
            height=result.height,
            model=result.model_name,
            denoising_strength=strength,
            extra=extra | {"Version": f"ImageStudio {__version__}"},
            source="imagestudio",
            loras=tuple((lora_name(name), weight) for name, weight in request.loras),
        )
    )


def product_of(
    result: GenerationResult,
    hashes: dict[str, str] | None = None,
    files: dict[str, Path] | None = None,
    graphs: list[dict[str, Any]] | None = None,
) -> Product:
    """The pictures of a result with their metadata; each image's settings re-make it alone,
    here and in A1111 and ComfyUI. `graphs`: each image's ComfyUI graph as a server ran it
    (a remote job), written as the ``prompt`` chunk instead of one made from the result."""
    used = result.used_request()
    pictures = []
    for index, (image, seed) in enumerate(zip(result.images, result.seeds, strict=True)):
        # The picture's own settings re-make it alone: its prompt as picked; a template with
        # {a|b} or __wildcards__ is kept beside it.
        own = used.replace(
            seed=seed,
            count=1,
            prompt=result.prompts[index],
            negative_prompt=result.negative_prompts[index],
            variation_seed=None if used.variation_seed is None else used.variation_seed + index,
        )
        templates = {
            key: text
            for key, text, picked in (
                ("prompt_template", used.prompt, own.prompt),
                ("negative_prompt_template", used.negative_prompt, own.negative_prompt),
            )
            if text != picked
        }
        pictures.append(
            Picture(
                image=image,
                parameters=parameters_text(result, index, hashes),
                settings=own.to_dict() | templates | {"model_family": result.family},
                name=own.prompt,
                seed=seed,
                chunks=(
                    {"prompt": json.dumps(graphs[index], ensure_ascii=False)}
                    if graphs is not None
                    else comfyui_chunks(result, index, files)
                ),
            )
        )
    seeds = ", ".join(str(seed) for seed in result.seeds)
    width, height = result.images[0].size if result.images else (result.width, result.height)
    size = f"{width}x{height}"
    if used.hires_scale is not None and (width, height) != (result.width, result.height):
        size = f"{result.width}x{result.height} → {size} (hires fix)"
    elif isinstance(used, InpaintRequest):
        what = "outpainted" if used.is_outpaint else "inpainted"
        area = f", only masked at {result.width}x{result.height}" if used.area == "masked" else ""
        size = f"{size}, {what}{area}"
    return Product(
        pictures=pictures,
        request=used,
        width=width,
        height=height,
        summary=f"{size}, {result.scheduler}, seed {seeds}",
        model=result.model_name,
        device=result.device,
        shown_prompt=result.prompts[0] if result.prompts[0] != used.prompt else None,
    )


def run_generation(
    request: GenerationRequest, workspace: Workspace, context: JobContext
) -> Product:
    """Generate the images of `request` on the workspace's diffusion engine."""
    engine = workspace.engine(DIFFUSION)
    upscaler = None
    if request.hires_scale is not None and request.hires_upscaler.lower() != LATENT:
        upscaler = workspace.engine(UPSCALE)  # shared with upscale jobs: one network loaded
    result = engine.generate(
        request,
        context.on_step,
        context.is_cancelled,
        context.status,
        context.previews,
        upscaler=upscaler,
    )
    context.notices.extend(result.warnings)  # already shown as they came
    files = lora_files(result.request, engine.models_dir)
    return product_of(result, model_hashes(result, files, engine.cache_dir), files)
