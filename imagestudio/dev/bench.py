"""Benchmark: the engine (with a preview every step) against a bare diffusers `pipe(...)` call.

Both run on the same loaded pipeline object, seed, steps and size, interleaved, so the ratio
measures what the engine adds: scheduler reset, seeding, prompt checks, the step callback, the
preview map. Run with `imagestudio bench` (see --help); figures go in closing notes, not tests.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

PROMPT = "a watercolor fox in a misty forest, soft light"


def _timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def _spread(times: list[float]) -> str:
    return f"{min(times):.3f}-{max(times):.3f} s"


def run_benchmark(
    model: str | None = None,
    arch: str = "small",
    steps: int = 20,
    size: tuple[int, int] | None = None,
    repeats: int = 6,
    seed: int = 1234,
    stream: TextIO = sys.stdout,
    progress: TextIO | None = None,
) -> dict[str, float]:
    """Run the benchmark, print a table to `stream`, and return the figures. `progress` (the
    CLI's stderr) hears what is happening and, after the warm-up, how long the rest takes."""

    def say(text: str) -> None:
        if progress is not None:
            print(f"bench: {text}", file=progress, flush=True)

    import torch

    from imagestudio.core.generation.engine import Engine, prepare_model_stack
    from imagestudio.core.requests import GenerationRequest

    prepare_model_stack()
    with tempfile.TemporaryDirectory(prefix="imagestudio-bench-") as tmp:
        work = Path(tmp)
        build_seconds = 0.0
        label = model
        if model is None:
            from imagestudio.dev.randommodels import build_random_sd

            say(f"building a random-weight {arch} model (sdxl: about 2 minutes on a CPU)…")
            build_seconds, folder = _timed(lambda: build_random_sd(work / arch, arch))
            model, label = str(folder), f"{arch} (random weights, built in {build_seconds:.1f} s)"
        engine = Engine(models_dir=work, cache_dir=work / "cache")
        device = engine.device
        say("loading the model…")
        first_load, _ = _timed(lambda: engine.load(model))
        pipe = engine.pipeline
        vae_scale = getattr(pipe, "vae_scale_factor", 8)
        width, height = size or (int(pipe.unet.config.sample_size) * vae_scale,) * 2
        request = GenerationRequest(
            prompt=PROMPT, model=model, width=width, height=height, steps=steps, seed=seed
        )

        def bare() -> Any:
            return pipe(
                PROMPT,
                width=width,
                height=height,
                num_inference_steps=steps,
                guidance_scale=request.guidance,
                generator=[torch.Generator("cpu").manual_seed(seed)],
                output_type="pil",
            ).images

        previews: list[Any] = []

        def engine_job() -> Any:
            previews.clear()
            return engine.generate(request, on_step=lambda s, t, p: previews.append(p))

        say(f"warming up ({width}x{height}, {steps} steps)…")
        warm_bare, _ = _timed(bare)  # warm-up: first calls pay for kernel selection and growth
        warm = engine_job()
        estimate = 2 * repeats * (warm_bare + warm.duration) / 2
        say(f"timing {repeats} interleaved pairs of runs: about {estimate:.0f} s")
        bare_times, engine_times = [], []
        result = warm
        for round_ in range(repeats):
            say(f"pair {round_ + 1} of {repeats}")
            # ABBA order: whichever runs second in a pair gets a warmer cache; alternate it.
            order = ("bare", "engine") if round_ % 2 == 0 else ("engine", "bare")
            for which in order:
                if which == "bare":
                    bare_times.append(_timed(bare)[0])
                else:
                    seconds, result = _timed(engine_job)
                    engine_times.append(seconds)
        bare_median = statistics.median(bare_times)
        engine_median = statistics.median(engine_times)

        latents = torch.randn(
            1,
            4,
            height // vae_scale,
            width // vae_scale,
            device=device.torch_device,
            dtype=pipe.unet.dtype,
        )
        mapper = engine._loaded.previews  # type: ignore[union-attr]
        mapper(latents)
        calls = 200
        preview_total, _ = _timed(lambda: [mapper(latents) for _ in range(calls)])
        preview_ms = preview_total / calls * 1000
        step_ms = engine_median / steps * 1000

    figures = {
        "bare_seconds": bare_median,
        "engine_seconds": engine_median,
        "ratio": engine_median / bare_median,
        "preview_ms_per_step": preview_ms,
        "preview_share_of_step": preview_ms / step_ms,
        "first_load_seconds": first_load,
        "second_job_load_seconds": result.load_seconds,
        "previews_per_job": float(len(previews)),
    }
    shape = "x".join(str(n) for n in (previews[-1].shape if previews else ()))
    rows = [
        ("model", label),
        ("device", f"{device.describe()} ({device.reason})"),
        (
            "job",
            f"{width}x{height}, {steps} steps, {result.scheduler}, seed {seed}, "
            f"median of {repeats} interleaved runs after a warm-up",
        ),
        (
            "bare pipe(...)",
            f"{bare_median:.3f} s ({steps / bare_median:.2f} it/s), runs {_spread(bare_times)}",
        ),
        (
            "engine.generate + preview/step",
            f"{engine_median:.3f} s ({steps / engine_median:.2f} it/s), "
            f"runs {_spread(engine_times)}",
        ),
        ("ratio engine / bare", f"{figures['ratio']:.3f}"),
        (
            "preview cost per step",
            f"{preview_ms:.3f} ms ({100 * figures['preview_share_of_step']:.2f} % of a step), "
            f"{len(previews)} previews of {shape}",
        ),
        ("first load", f"{first_load:.2f} s"),
        ("second job's load (cached)", f"{result.load_seconds:.4f} s"),
        ("warm-up job", f"{warm.duration:.2f} s"),
    ]
    width_label = max(len(name) for name, _ in rows)
    print("ImageStudio benchmark", file=stream)
    for name, value in rows:
        print(f"  {name:<{width_label}}  {value}", file=stream)
    return figures
