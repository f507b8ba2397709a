"""The generation job kind: its engine slot and its engine function for `core.jobs`."""

from __future__ import annotations

from imagestudio import __version__
from imagestudio.core.callbacks import JobContext
from imagestudio.core.generation.engine import Engine, GenerationResult
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


def parameters_text(result: GenerationResult, index: int) -> str:
    """The A1111-style settings text of image `index` of a result."""
    request = result.request
    sampler, schedule = a1111_sampler(result.scheduler)
    extra = {"Schedule type": schedule} if schedule else {}
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
        )
    )


def product_of(result: GenerationResult) -> Product:
    """The pictures of a result with their metadata; each image's settings re-make it alone."""
    used = result.used_request()
    pictures = [
        Picture(
            image=image,
            parameters=parameters_text(result, index),
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
    return product_of(result)
