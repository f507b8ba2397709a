"""The generation job kind: its engine slot and its engine function for `core.jobs`."""

from __future__ import annotations

from pathlib import Path

from imagestudio import __version__
from imagestudio.core.callbacks import JobContext
from imagestudio.core.errors import ModelError
from imagestudio.core.generation.engine import Engine, GenerationResult
from imagestudio.core.generation.lora import resolve_lora
from imagestudio.core.loratags import lora_name
from imagestudio.core.models.hashes import lora_hash, model_hash
from imagestudio.core.outcomes import Picture, Product
from imagestudio.core.outputs.metadata import ImageSettings, format_parameters
from imagestudio.core.requests import GenerationRequest
from imagestudio.core.schedulers import a1111_sampler
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
    )


#: The diffusion engine: one loaded pipeline, kept across jobs.
DIFFUSION = EngineSlot("diffusion", _engine_key, Engine.from_config, Engine.unload)


def model_hashes(result: GenerationResult, models_dir: Path, cache_dir: Path) -> dict[str, str]:
    """A1111's ``Model hash`` and ``Lora hashes`` of the files a result used (cached per file),
    by which Civitai and other readers find them; a folder model has no Model hash."""
    hashes: dict[str, str] = {}
    digest = model_hash(Path(result.model_path), cache_dir)
    if digest:
        hashes["Model hash"] = digest
    loras = []
    for name, _weight in result.request.loras:
        try:
            path = resolve_lora(name, models_dir)
        except ModelError:  # gone since the job ran: the picture goes without its hash
            continue
        digest = lora_hash(path, cache_dir)
        if digest:
            loras.append(f"{lora_name(name)}: {digest}")
    if loras:
        hashes["Lora hashes"] = ", ".join(loras)
    return hashes


def parameters_text(
    result: GenerationResult, index: int, hashes: dict[str, str] | None = None
) -> str:
    """The A1111-style settings text of image `index` of a result: A1111 1.9's sampler and
    schedule, LoRAs as ``<lora:name:w>`` tags, `hashes` (see `model_hashes`), and a denoising
    strength only for image-to-image."""
    request = result.request
    sampler, schedule = a1111_sampler(result.scheduler)
    extra = {"Schedule type": schedule} if schedule else {}
    extra |= hashes or {}
    return format_parameters(
        ImageSettings(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            steps=request.steps,
            sampler=sampler,
            cfg_scale=float(request.guidance),
            seed=result.seeds[index],
            width=result.width,
            height=result.height,
            model=result.model_name,
            denoising_strength=float(request.strength) if request.is_img2img else None,
            extra=extra | {"Version": f"ImageStudio {__version__}"},
            source="imagestudio",
            loras=tuple((lora_name(name), weight) for name, weight in request.loras),
        )
    )


def product_of(result: GenerationResult, hashes: dict[str, str] | None = None) -> Product:
    """The pictures of a result with their metadata; each image's settings re-make it alone."""
    used = result.used_request()
    pictures = [
        Picture(
            image=image,
            parameters=parameters_text(result, index, hashes),
            settings=used.replace(seed=seed, count=1).to_dict() | {"model_family": result.family},
            name=result.request.prompt,
            seed=seed,
        )
        for index, (image, seed) in enumerate(zip(result.images, result.seeds, strict=True))
    ]
    seeds = ", ".join(str(seed) for seed in result.seeds)
    return Product(
        pictures=pictures,
        request=used,
        width=result.width,
        height=result.height,
        summary=f"{result.width}x{result.height}, {result.scheduler}, seed {seeds}",
        model=result.model_name,
        device=result.device,
    )


def run_generation(
    request: GenerationRequest, workspace: Workspace, context: JobContext
) -> Product:
    """Generate the images of `request` on the workspace's diffusion engine."""
    engine = workspace.engine(DIFFUSION)
    result = engine.generate(
        request, context.on_step, context.is_cancelled, context.status, context.previews
    )
    context.notices.extend(result.warnings)  # already shown as they came
    return product_of(result, model_hashes(result, engine.models_dir, engine.cache_dir))
