"""Run one request: load or reuse a pipeline, denoise with a step callback, return images.

The engine takes plain callables (`on_step`, `is_cancelled`, `on_notice`) so the CLI, the window's
worker thread and the tests drive it the same way. One pipeline stays loaded and is reused across
jobs; changing the scheduler swaps a small object, never the weights.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from PIL import Image

from imagestudio.core.callbacks import CancelCheck, NoticeCallback, StepCallback
from imagestudio.core.devices import (
    DeviceInfo,
    available_memory,
    pick_device,
    release_memory,
    torch_dtype,
)
from imagestudio.core.errors import (
    ImageError,
    ImageStudioError,
    InvalidRequest,
    JobCancelled,
    ModelError,
    OutOfMemory,
)
from imagestudio.core.generation.conditioning import encode_prompts, encoder_widths
from imagestudio.core.generation.embeddings import embeddings_for
from imagestudio.core.generation.inpaint import InpaintPlan, plan_inpaint, read_inputs
from imagestudio.core.generation.lora import LoraSet, resolve_lora
from imagestudio.core.generation.memory import (
    apply_plan,
    check_fits,
    out_of_memory_advice,
    plan_for_job,
    plan_load,
)
from imagestudio.core.generation.previews import PreviewMapper, latent_rgb_for_model
from imagestudio.core.generation.sizes import size_warning
from imagestudio.core.generation.vae import load_vae, resolve_vae
from imagestudio.core.images import load_rgb
from imagestudio.core.models.library import ModelRef, resolve_model
from imagestudio.core.models.singlefile import load_single_file
from imagestudio.core.paths import app_paths
from imagestudio.core.requests import MAX_SIZE, GenerationRequest, InpaintRequest, hires_length
from imagestudio.core.schedulers import friendly_name, make_scheduler
from imagestudio.core.torchvision_compat import ensure_torchvision_importable
from imagestudio.core.upscalernames import LATENT
from imagestudio.core.vocabulary import FAMILY_LABELS, MEMORY_MODES, Family, MemoryMode, Offload
from imagestudio.core.wildcards import resolve_prompts

if TYPE_CHECKING:
    from imagestudio.core.upscale.job import UpscaleEngine
    from imagestudio.core.workspace import EngineConfig

log = logging.getLogger(__name__)


def prepare_model_stack() -> None:
    """Import the model stack with every network path closed and its chatter silenced."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DIFFUSERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    ensure_torchvision_importable()  # before diffusers/transformers look for it
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


@dataclass
class GenerationResult:
    """What a finished job produced, with every value it actually used."""

    request: GenerationRequest
    images: list[Any]  # PIL images
    seeds: list[int]
    width: int
    height: int
    scheduler: str
    model_name: str
    model_path: str
    family: Family
    device: str
    duration: float
    load_seconds: float
    warnings: list[str] = field(default_factory=list)
    # each image's prompt and negative with its {a|b} choices and __wildcards__ picked (the
    # request's own text when it has none)
    prompts: list[str] = field(default_factory=list)
    negative_prompts: list[str] = field(default_factory=list)
    vae_path: str | None = None  # the VAE file used in place of the model's own
    embeddings: dict[str, str] = field(default_factory=dict)  # name -> file, those used
    # hires fix: the upscaler as pictures record it ("Latent", "Lanczos", a network's name);
    # `width`/`height` stay the first pass's, the images are the enlarged ones
    hires_upscaler: str | None = None
    hires_upscaler_file: str | None = None  # the network's file; None for latent and Lanczos

    def __post_init__(self) -> None:
        if not self.prompts:
            self.prompts = [self.request.prompt] * len(self.images)
        if not self.negative_prompts:
            self.negative_prompts = [self.request.negative_prompt] * len(self.images)

    def used_request(self) -> GenerationRequest:
        """The request with the random parts filled in: re-running it gives the same images."""
        return self.request.replace(
            seed=self.seeds[0], width=self.width, height=self.height, scheduler=self.scheduler
        )


@dataclass
class _Loaded:
    key: tuple[str | None, ...]
    ref: ModelRef
    pipe: Any
    base_scheduler_class: Any
    base_scheduler_config: dict[str, Any]
    previews: PreviewMapper
    img2img: Any = None
    inpaint: Any = None
    loras: LoraSet = field(default_factory=LoraSet)
    offload: Offload = "none"
    base_vae: Any = None  # the model's own VAE, while another is in
    vae_override: tuple[Path, Any] | None = None  # (file, the loaded VAE)


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text or "failed to allocate" in text
    )


def _short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read_image(path: str) -> Any:
    """Open an input image as upright RGB, or raise ImageError with a sentence about the file."""
    return load_rgb(path).image


def slerp(t: float, start: Any, end: Any) -> Any:
    """Spherical interpolation from `start` (t=0) to `end` (t=1), one row per image, in
    float32; for Gaussian noise it keeps the noise's length where a straight mix would shrink it
    (A1111's variations do the same). Nearly parallel rows are mixed straight."""
    import torch

    a = start.flatten(1).float()
    b = end.flatten(1).float()
    cos = ((a / a.norm(dim=1, keepdim=True)) * (b / b.norm(dim=1, keepdim=True))).sum(1)
    omega = torch.arccos(cos.clamp(-1, 1))[:, None]
    sin = torch.sin(omega)
    straight = (1 - t) * a + t * b
    curved = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / sin.clamp_min(1e-8)
    mixed = torch.where(cos[:, None] > 0.9995, straight, curved)
    return mixed.view_as(start).to(start.dtype)


def variation_noise(
    pipe: Any, request: GenerationRequest, seeds: list[int], width: int, height: int, dtype: Any
) -> Any:
    """The starting latents of a variation job: each image's seed noise moved toward its
    variation seed's (`variation_seed + i`), drawn exactly as diffusers draws them from a CPU
    generator, so strength 0 is the seed's picture and 1 the variation seed's, to the pixel."""
    import torch

    scale = getattr(pipe, "vae_scale_factor", 8)
    shape = (1, pipe.vae.config.latent_channels, height // scale, width // scale)

    def noise(seed: int) -> Any:
        return torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed), dtype=dtype)

    assert request.variation_seed is not None
    rows = []
    for index, seed in enumerate(seeds):
        base, other = noise(seed), noise(request.variation_seed + index)
        strength = float(request.variation_strength)
        if strength >= 1:
            rows.append(other)
        else:
            rows.append(slerp(strength, base, other) if strength > 0 else base)
    return torch.cat(rows)


class Engine:
    """Runs requests one at a time, keeping the last model loaded."""

    def __init__(
        self,
        device: DeviceInfo | None = None,
        models_dir: Path | None = None,
        cache_dir: Path | None = None,
        device_setting: str | None = None,
        precision_setting: str | None = None,
        hf_cache: Path | None = None,
        memory_setting: str | None = None,
        prediction_overrides: dict[str, str] | None = None,
        wildcards_dir: Path | None = None,
    ) -> None:
        self._device = device
        self.wildcards_dir = wildcards_dir or app_paths().wildcards_dir
        self.memory_mode: MemoryMode = memory_setting if memory_setting in MEMORY_MODES else "auto"
        # model name or path -> "epsilon" | "v_prediction", for models whose files do not say
        self.prediction_overrides = dict(prediction_overrides or {})
        self._device_setting = device_setting
        self._precision_setting = precision_setting
        self.models_dir = models_dir or app_paths().models_dir
        self.cache_dir = cache_dir or app_paths().cache_dir
        self.hf_cache = hf_cache
        self._loaded: _Loaded | None = None
        self._own_upscaler: UpscaleEngine | None = None  # hires fix's, when none is given
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: EngineConfig) -> Engine:
        """The engine the settings describe (see core.workspace)."""
        return cls(
            models_dir=config.models_dir,
            cache_dir=config.cache_dir,
            device_setting=config.device,
            precision_setting=config.precision,
            hf_cache=config.hf_cache,
            memory_setting=config.memory_mode,
            prediction_overrides=dict(config.predictions),
            wildcards_dir=config.wildcards_dir,
        )

    def describe_device(self) -> tuple[str, str]:
        """(device, memory in use) for the status bar."""
        from imagestudio.core.devices import memory_in_use

        return self.device.describe(), memory_in_use(self.device)

    @property
    def device(self) -> DeviceInfo:
        if self._device is None:
            self._device = pick_device(self._device_setting, self._precision_setting)
        return self._device

    @property
    def pipeline(self) -> Any:
        """The loaded text-to-image pipeline, or None (for benchmarks and instrumentation)."""
        return self._loaded.pipe if self._loaded else None

    @property
    def loaded_model(self) -> ModelRef | None:
        return self._loaded.ref if self._loaded else None

    def unload(self) -> None:
        with self._lock:
            self._unload()
            if self._own_upscaler is not None:
                self._own_upscaler.unload()

    def _unload(self) -> None:
        if self._loaded is not None:
            self._loaded = None
            release_memory(self.device)

    # -- loading ------------------------------------------------------------------------------

    def load(self, model: str, on_notice: NoticeCallback | None = None) -> float:
        """Load `model` (a name or a folder) unless it is already loaded; return seconds spent."""
        with self._lock:
            return self._load(model, on_notice)[1]

    def _load(self, model: str, on_notice: NoticeCallback | None) -> tuple[_Loaded, float]:
        ref = resolve_model(model, self.models_dir, self.hf_cache)
        device = self.device
        prediction = self.prediction_overrides.get(ref.name) or self.prediction_overrides.get(
            str(ref.path)
        )
        key = (str(ref.path), device.torch_device, device.precision, self.memory_mode, prediction)
        if self._loaded is not None and self._loaded.key == key:
            return self._loaded, 0.0
        self._unload()
        if on_notice:
            on_notice(f"Loading {ref.name} ({FAMILY_LABELS[ref.family]}) on {device.describe()}…")
        started = time.perf_counter()
        prepare_model_stack()
        from diffusers import DiffusionPipeline

        try:
            if ref.layout == "single_file":
                pipe = load_single_file(
                    ref.path, ref.family, torch_dtype(device.precision), self.cache_dir, prediction
                )
            else:
                pipe = DiffusionPipeline.from_pretrained(
                    ref.path,
                    dtype=torch_dtype(device.precision),
                    local_files_only=True,
                    use_safetensors=True,
                    variant=ref.variant,
                    safety_checker=None,
                    requires_safety_checker=False,
                )
        except ImageStudioError:
            raise
        except Exception as exc:
            if _is_oom(exc):
                raise self._model_too_big(ref) from exc
            message = _short(exc)
            hint = ""
            if "safetensors" in message.lower():
                hint = (
                    " ImageStudio loads .safetensors weights only; pickle-based .bin files can run"
                    " code when loaded."
                )
            raise ModelError(f"Could not load the model at {ref.path}: {message}.{hint}") from exc
        for needed in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
            if getattr(pipe, needed, None) is None:
                raise ModelError(
                    f"The model at {ref.path} has no {needed}; ImageStudio runs Stable "
                    "Diffusion-type text-to-image models."
                )
        free = available_memory(device.device_type, device.index)
        offload, why = plan_load(pipe, self.memory_mode, device, free)
        try:
            if offload == "model":
                pipe.enable_model_cpu_offload(device=device.torch_device)
            elif offload == "sequential":
                pipe.enable_sequential_cpu_offload(device=device.torch_device)
            else:
                pipe.to(device.torch_device)
        except Exception as exc:
            if _is_oom(exc):
                raise self._model_too_big(ref) from exc
            raise ModelError(
                f"Could not move {ref.name} to {device.device_type}: {_short(exc)}"
            ) from exc
        if why and on_notice:
            on_notice(f"Memory: {offload} CPU offload, because {why}.")
        pipe.set_progress_bar_config(disable=True)
        mapper = PreviewMapper(latent_rgb_for_model(ref.path, ref.family, pipe.vae, self.cache_dir))
        self._loaded = _Loaded(
            key=key,
            ref=ref,
            pipe=pipe,
            base_scheduler_class=type(pipe.scheduler),
            base_scheduler_config=dict(pipe.scheduler.config)
            | ({"prediction_type": prediction} if prediction else {}),
            previews=mapper,
            offload=offload,
        )
        seconds = time.perf_counter() - started
        log.info(
            "loaded %s in %.2f s (preview map: %s)", ref.path, seconds, mapper.latent_rgb.source
        )
        return self._loaded, seconds

    def _model_too_big(self, ref: ModelRef) -> OutOfMemory:
        release_memory(self.device)
        advice = out_of_memory_advice(self.memory_mode, self.device.device_type)
        return OutOfMemory(
            f"The model {ref.name} does not fit in the memory of the "
            f"{self.device.device_type.upper()}. {advice}"
        )

    # -- running ------------------------------------------------------------------------------

    def generate(
        self,
        request: GenerationRequest,
        on_step: StepCallback | None = None,
        is_cancelled: CancelCheck | None = None,
        on_notice: NoticeCallback | None = None,
        previews: bool = True,
        upscaler: UpscaleEngine | None = None,
    ) -> GenerationResult:
        """Run `request` to the end and return its images.

        A hires fix enlarges the first pass's pictures with `upscaler` (the workspace's upscale
        engine; one of the engine's own when None) unless the request's upscaler is "latent".

        `on_step(step, total, preview)` is called after every denoising step; `preview` is a small
        uint8 RGB array (latent resolution, batch side by side), or None when `previews` is off.
        `is_cancelled()` is checked before the first step and after every step; when it returns
        True the job stops with `JobCancelled` before the VAE decode, so nothing is produced.
        """
        with self._lock:
            started = time.perf_counter()
            first = request.seed
            if first is None:
                first = random.randint(0, 2**32 - request.count)
            seeds = [first + i for i in range(request.count)]
            # Read the pictures first: a bad file (or an empty mask) should not cost a model load.
            init: Any = None
            if isinstance(request, InpaintRequest):
                init = read_inputs(request, first)
            elif request.init_image:
                init = read_image(request.init_image)
            loras = [(resolve_lora(name, self.models_dir), w) for name, w in request.loras]
            vae_file = resolve_vae(request.vae, self.models_dir) if request.vae else None
            upscaler_file = None
            if request.hires_scale is not None:
                upscaler, upscaler_file = self._hires_upscaler(request.hires_upscaler, upscaler)
            # Each image's {a|b} and __wildcard__ picks, by its seed; a missing wildcard file is
            # said before a model loads.
            texts = (
                resolve_prompts(request.prompt, seeds, self.wildcards_dir),
                resolve_prompts(request.negative_prompt, seeds, self.wildcards_dir),
            )
            loaded, load_seconds = self._load(request.model, on_notice)
            try:
                return self._run(
                    loaded,
                    request,
                    init,
                    loras,
                    seeds,
                    texts,
                    vae_file,
                    on_step,
                    is_cancelled,
                    on_notice,
                    previews,
                    started,
                    load_seconds,
                    upscaler,
                    upscaler_file,
                )
            except (JobCancelled, ImageStudioError):
                raise
            except Exception as exc:
                if _is_oom(exc):
                    release_memory(self.device)
                    advice = out_of_memory_advice(self.memory_mode, self.device.device_type)
                    raise OutOfMemory(
                        f"Ran out of memory on the {self.device.device_type.upper()} while making "
                        f"{request.count} image(s). {advice} The model stays loaded for the "
                        "next try."
                    ) from exc
                log.exception("generation failed")
                raise ImageStudioError(f"The generation failed: {_short(exc)}") from exc

    def _run(
        self,
        loaded: _Loaded,
        request: GenerationRequest,
        init: Any,
        loras: list[tuple[Path, float]],
        seeds: list[int],
        texts: tuple[list[str], list[str]],
        vae_file: Path | None,
        on_step: StepCallback | None,
        is_cancelled: CancelCheck | None,
        on_notice: NoticeCallback | None,
        previews: bool,
        started: float,
        load_seconds: float,
        upscaler: UpscaleEngine | None = None,
        upscaler_file: Path | None = None,
    ) -> GenerationResult:
        import torch

        pipe = loaded.pipe
        warnings: list[str] = []

        def notice(text: str) -> None:
            warnings.append(text)
            if on_notice:
                on_notice(text)

        loaded.loras.apply(pipe, loras, on_notice)
        self._use_vae(loaded, vae_file)
        init_image = None
        layout: InpaintPlan | None = None
        native = int(pipe.unet.config.sample_size) * getattr(pipe, "vae_scale_factor", 8)
        inpainting_model = pipe.unet.config.in_channels == 9
        if inpainting_model and request.hires_scale is not None:
            raise InvalidRequest(
                f"{loaded.ref.name} is an inpainting model, which hires fix cannot use; turn "
                "hires fix off or choose another model."
            )
        if isinstance(request, InpaintRequest):
            picture, mask, notes = init
            layout = plan_inpaint(request, picture, mask, native, seeds[0], notes)
            for text in layout.notices:
                notice(text)
            width, height = layout.size
        elif init is not None:
            init_image, width, height = self._fit_init_image(init, request, notice)
        else:
            width = request.width or native
            height = request.height or native
            far = size_warning(width, height, native)
            if far and on_notice:
                # said as the job starts (the CLI prints it); not kept among the result's
                # warnings, which the window would raise as a banner after every such job
                on_notice(far)

        final = (width, height)
        if request.hires_scale is not None:
            final = (
                hires_length(width, request.hires_scale),
                hires_length(height, request.hires_scale),
            )
            if max(final) > MAX_SIZE:
                raise InvalidRequest(
                    f"Hires fix ×{request.hires_scale:g} of {width}x{height} would make "
                    f"{final[0]}x{final[1]} pixels, over {MAX_SIZE} a side; lower the scale."
                )
        # the memory plan is for the largest pass
        free = available_memory(self.device.device_type, self.device.index)
        plan, needed = plan_for_job(
            pipe,
            self.memory_mode,
            self.device,
            loaded.offload,
            final,
            request.count,
            request.guidance,
            free,
        )
        apply_plan(pipe, plan)
        if plan.worth_telling:
            notice(plan.describe())
        check_fits(needed, free, final[0], final[1], request.count, self.device)

        if request.scheduler is not None:
            scheduler = make_scheduler(request.scheduler, loaded.base_scheduler_config)
        else:
            scheduler = loaded.base_scheduler_class.from_config(loaded.base_scheduler_config)
        pipe.scheduler = scheduler

        # CPU generators make a seed give the same starting noise on CUDA, MPS and CPU.
        generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]

        if is_cancelled and is_cancelled():
            raise JobCancelled("Cancelled before the first step.")

        mapper = loaded.previews
        # steps already shown (the first pass's, in the second) and steps still to come after
        # this pass (the second's, in the first), so a hires job shows one progress
        progress = {"before": 0, "after": 0}
        if request.hires_scale is not None:
            progress["after"] = int(request.second_pass_steps * request.hires_denoise)

        def step_end(p: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if is_cancelled and is_cancelled():
                raise JobCancelled(f"Cancelled after step {i + 1}.")
            if on_step is not None:
                preview = mapper(tensors["latents"]) if previews else None
                if preview is not None and layout is not None:
                    preview = layout.composite_preview(preview, len(seeds))
                before, count = progress["before"], p.num_timesteps
                after = round(progress["after"] * count / max(1, request.steps))
                on_step(before + i + 1, before + count + after, preview)
            return tensors

        # A1111's prompt syntax (weights, BREAK, any length) becomes embeddings here; the
        # pipeline never sees the text (see core.generation.conditioning).
        prompts, negatives = texts
        embeddings = embeddings_for(
            [*prompts, *negatives], self.models_dir, encoder_widths(pipe), loaded.ref.family
        )
        conditioning = encode_prompts(
            pipe, prompts, negatives, pipe._execution_device, request.clip_skip, embeddings
        )
        common: dict[str, Any] = {
            **conditioning.pipeline_kwargs(),
            "num_inference_steps": request.steps,
            "guidance_scale": request.guidance,
            "generator": generators,
            "callback_on_step_end": step_end,
            "callback_on_step_end_tensor_inputs": ["latents"],
            "output_type": "pil",
        }
        hires_name = None
        if layout is not None or inpainting_model:
            if layout is None:
                # an inpainting model asked for a whole picture: everything masked, from grey
                # (or the start picture, repainted at the strength asked for)
                start = init_image or Image.new("RGB", (width, height), (127, 127, 127))
                mask = Image.new("L", (width, height), 255)
                strength = request.strength if init_image is not None else 1.0
            else:
                start, mask, strength = layout.work_image, layout.work_mask, request.strength
            if request.variation_seed is not None and request.variation_strength > 0:
                common["latents"] = variation_noise(
                    pipe, request, seeds, width, height, conditioning.prompt_embeds.dtype
                )
            inpaint = self._inpaint_pipe(loaded)
            inpaint.scheduler = scheduler
            output = inpaint(
                image=start,
                mask_image=mask,
                strength=strength,
                width=width,
                height=height,
                **common,
            )
        elif init_image is not None:
            img2img = self._img2img_pipe(loaded)
            img2img.scheduler = scheduler
            output = img2img(image=init_image, strength=request.strength, **common)
        else:
            if request.variation_seed is not None and request.variation_strength > 0:
                common["latents"] = variation_noise(
                    pipe, request, seeds, width, height, conditioning.prompt_embeds.dtype
                )
            if request.hires_scale is None:
                output = pipe(width=width, height=height, **common)
            else:
                first_pass = pipe(
                    width=width,
                    height=height,
                    **(common | {"output_type": "latent" if upscaler is None else "pil"}),
                )
                progress["before"], progress["after"] = request.steps, 0
                if is_cancelled and is_cancelled():
                    raise JobCancelled("Cancelled between the two passes of the hires fix.")
                common.pop("latents", None)
                start, hires_name = self._enlarge(
                    first_pass.images,
                    final,
                    getattr(pipe, "vae_scale_factor", 8),
                    request,
                    upscaler,
                    on_notice,
                    is_cancelled,
                )
                if request.hires_denoise == 0:
                    # enlarge only: the upscaler's pictures are the result (a model that
                    # cannot work at the bigger size, like the starter, stays crisp)
                    output = SimpleNamespace(images=start)
                else:
                    img2img = self._img2img_pipe(loaded)
                    img2img.scheduler = scheduler
                    # fresh generators: the second pass's noise follows from the seeds alone
                    common["generator"] = [torch.Generator("cpu").manual_seed(s) for s in seeds]
                    common["num_inference_steps"] = request.second_pass_steps
                    output = img2img(image=start, strength=request.hires_denoise, **common)
        images = list(output.images)
        if layout is not None:
            images = [layout.composite(image) for image in images]
        return GenerationResult(
            request=request,
            images=images,
            seeds=seeds,
            width=width,
            height=height,
            scheduler=friendly_name(scheduler),
            model_name=loaded.ref.name,
            model_path=str(loaded.ref.path),
            family=loaded.ref.family,
            device=self.device.describe(),
            duration=time.perf_counter() - started,
            load_seconds=load_seconds,
            warnings=warnings,
            prompts=prompts,
            negative_prompts=negatives,
            vae_path=str(vae_file) if vae_file else None,
            embeddings={e.name: str(e.path) for e in embeddings},
            hires_upscaler=hires_name,
            hires_upscaler_file=str(upscaler_file) if upscaler_file else None,
        )

    def _hires_upscaler(
        self, name: str, given: UpscaleEngine | None
    ) -> tuple[UpscaleEngine | None, Path | None]:
        """The upscale engine a hires fix with upscaler `name` uses (None for latent) and the
        network's file (None for latent and Lanczos); an unknown name is said before any model
        loads."""
        if name.lower() == LATENT:
            return None, None
        from imagestudio.core.upscale.job import UpscaleEngine
        from imagestudio.core.upscale.loading import resolve_upscaler
        from imagestudio.core.upscalernames import LANCZOS

        file = None
        if name.lower() != LANCZOS:
            try:
                file = resolve_upscaler(name, self.models_dir).path
            except ModelError as exc:
                raise ModelError(f"{exc} For hires fix, latent works too.") from exc
        if given is None:
            if self._own_upscaler is None:
                self._own_upscaler = UpscaleEngine(self.models_dir, self._device_setting)
            given = self._own_upscaler
        return given, file

    @staticmethod
    def _enlarge(
        first: Any,
        size: tuple[int, int],
        vae_scale: int,
        request: GenerationRequest,
        upscaler: UpscaleEngine | None,
        on_notice: NoticeCallback | None,
        is_cancelled: CancelCheck | None,
    ) -> tuple[Any, str]:
        """The first pass's output at `size`, ready for the second pass: its latents resized
        (bilinear, as A1111's "Latent"), or its pictures by `upscaler`; and the upscaler's name
        as the picture records it."""
        from imagestudio.core.upscalernames import a1111_upscaler

        if on_notice:
            on_notice(f"Hires fix: enlarging to {size[0]}x{size[1]}…")
        if upscaler is None:
            import torch.nn.functional as functional

            latents = first
            grid = (size[1] // vae_scale, size[0] // vae_scale)
            resized = functional.interpolate(
                latents.float(), size=grid, mode="bilinear", align_corners=False
            )
            return resized.to(latents.dtype), a1111_upscaler(LATENT)
        pictures = []
        name = ""
        for picture in first:
            enlarged, name = upscaler.enlarge(
                picture.convert("RGB"), size, request.hires_upscaler, None, is_cancelled
            )
            pictures.append(enlarged)
        return pictures, a1111_upscaler(name)

    @staticmethod
    def _use_vae(loaded: _Loaded, path: Path | None) -> None:
        """Decode with the VAE in `path` (loaded once, kept while the same file is asked for),
        or with the model's own when None."""
        pipe = loaded.pipe
        if loaded.base_vae is None:
            loaded.base_vae = pipe.vae
        if path is None:
            vae = loaded.base_vae
        else:
            if loaded.vae_override is None or loaded.vae_override[0] != path:
                loaded.vae_override = None  # the old one goes before the new one loads
                loaded.vae_override = (path, load_vae(path, loaded.base_vae))
            vae = loaded.vae_override[1]
        pipe.vae = vae
        if loaded.img2img is not None:
            loaded.img2img.vae = vae

    def _inpaint_pipe(self, loaded: _Loaded) -> Any:
        """The inpainting pipeline on the loaded weights (no second copy): diffusers blends the
        picture back outside the mask at every step for an ordinary model, and gives a 9-channel
        inpainting model the mask and the masked picture."""
        if loaded.inpaint is None:
            from diffusers import AutoPipelineForInpainting

            if "Inpaint" in type(loaded.pipe).__name__:
                loaded.inpaint = loaded.pipe
            else:
                try:
                    loaded.inpaint = AutoPipelineForInpainting.from_pipe(loaded.pipe)
                except Exception as exc:
                    raise ModelError(f"{loaded.ref.name} cannot inpaint: {_short(exc)}") from exc
                loaded.inpaint.set_progress_bar_config(disable=True)
        loaded.inpaint.vae = loaded.pipe.vae
        return loaded.inpaint

    def _img2img_pipe(self, loaded: _Loaded) -> Any:
        if loaded.img2img is None:
            from diffusers import AutoPipelineForImage2Image

            try:
                # from_pipe shares the loaded modules: no second copy of the weights.
                loaded.img2img = AutoPipelineForImage2Image.from_pipe(loaded.pipe)
            except Exception as exc:
                raise ModelError(
                    f"{loaded.ref.name} cannot do image-to-image: {_short(exc)}"
                ) from exc
            loaded.img2img.set_progress_bar_config(disable=True)
        return loaded.img2img

    @staticmethod
    def _fit_init_image(
        image: Any, request: GenerationRequest, notice: NoticeCallback
    ) -> tuple[Any, int, int]:
        from PIL import Image

        width = request.width or image.width - image.width % 8
        height = request.height or image.height - image.height % 8
        if width < 8 or height < 8:
            raise ImageError(
                f"The init image is too small ({image.width}x{image.height}); it needs at least "
                "8x8 pixels."
            )
        if (width, height) != image.size:
            notice(
                f"The init image is {image.width}x{image.height}; it was resized to "
                f"{width}x{height}."
            )
            image = image.resize((width, height), Image.Resampling.LANCZOS)
        return image, width, height
