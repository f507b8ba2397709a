"""What inpainting costs, on the built-in starter model and this machine (not a test).

    python tests/bench/bench_inpaint.py [--size 256] [--big 2048] [--steps 20] [--repeats 3]

1. Whole picture: an inpaint job through the engine (mask read and blurred, fill, composite,
   previews on) against one bare diffusers inpainting call, timed in turn, on the same picture,
   mask, prompt, seed and steps (the pipeline made from the engine's: the same weights). Ratio.
2. "Only masked" on a --big x --big picture with a 64-px mask, against a plain native-size
   (64 px) text-to-image job and against the same inpaint on the whole big picture (that one
   at --big-steps steps, and scaled to --steps, since it is slow on a CPU).
Medians of --repeats after a warm-up.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.timing import median_seconds


def interleaved(first, second, repeats: int) -> tuple[float, float]:
    """Medians of `first` and `second` timed in turn (after one warm-up call each)."""
    first(), second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for run, kept in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            run()
            kept.append(time.perf_counter() - started)
    return float(np.median(times[0])), float(np.median(times[1]))


def pictures(folder: Path, side: int, hole: int) -> tuple[Path, Path]:
    y, x = np.mgrid[0:side, 0:side]
    rgb = np.stack([x * 255 // side, y * 255 // side, (x + y) * 127 // side], -1)
    from PIL import Image

    Image.fromarray(rgb.astype(np.uint8)).save(folder / f"picture-{side}.png")
    mask = np.zeros((side, side), np.uint8)
    start = side // 2 - hole // 2
    mask[start : start + hole, start : start + hole] = 255
    Image.fromarray(mask).save(folder / f"mask-{side}.png")
    return folder / f"picture-{side}.png", folder / f"mask-{side}.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--big", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--big-steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from imagestudio.core.generation.engine import prepare_model_stack

    prepare_model_stack()  # before diffusers (torchvision beside a CPU torch)
    import torch
    from diffusers import AutoPipelineForInpainting
    from PIL import Image

    from imagestudio.core.devices import pick_device
    from imagestudio.core.generation.engine import Engine
    from imagestudio.core.paths import app_paths
    from imagestudio.core.requests import GenerationRequest, InpaintRequest

    folder = Path(tempfile.mkdtemp())
    device = pick_device(None, None)
    paths = app_paths()
    engine = Engine(device=device, models_dir=paths.models_dir, cache_dir=paths.cache_dir)
    prompt = "a red circle on a blue background"
    image, mask = pictures(folder, args.size, args.size // 2)
    request = InpaintRequest(
        prompt=prompt,
        steps=args.steps,
        seed=3,
        init_image=str(image),
        mask=str(mask),
        scheduler="Euler",
        strength=0.75,
    )
    engine.load(request.model)
    pipe = AutoPipelineForInpainting.from_pipe(engine.pipeline)
    pipe.set_progress_bar_config(disable=True)
    picture, blurred = Image.open(image).convert("RGB"), Image.open(mask).convert("L")

    def bare() -> None:
        pipe(
            prompt=prompt,
            image=picture,
            mask_image=blurred,
            strength=0.75,
            num_inference_steps=args.steps,
            width=args.size,
            height=args.size,
            generator=[torch.Generator("cpu").manual_seed(3)],
        )

    # interleaved, so a busy machine weighs on both alike
    ours, base = interleaved(
        lambda: engine.generate(request, on_step=lambda *a: None), bare, args.repeats
    )
    print(f"device: {device.describe()}; starter model; {args.steps} steps, strength 0.75")
    print(f"{'job':52} {'seconds':>8} {'ratio':>7}")
    print(f"{'bare diffusers inpaint call, ' + str(args.size) + ' px':52} {base:8.3f} {1:7.2f}")
    print(f"{'inpaint job (engine, previews), whole picture':52} {ours:8.3f} {ours / base:7.2f}")

    big, big_mask = pictures(folder, args.big, 64)
    masked = InpaintRequest(
        prompt=prompt,
        steps=args.steps,
        seed=3,
        init_image=str(big),
        mask=str(big_mask),
        area="masked",
        padding=32,
        scheduler="Euler",
    )
    only = median_seconds(lambda: engine.generate(masked), args.repeats)
    native = median_seconds(
        lambda: engine.generate(GenerationRequest(prompt=prompt, steps=args.steps, seed=3)),
        args.repeats,
    )
    whole = masked.replace(area="whole", steps=args.big_steps)
    started = time.perf_counter()
    engine.generate(whole)
    whole_s = time.perf_counter() - started
    # strength 0.75: int(steps * 0.75) denoising steps; the rest of a job is fixed cost
    scaled = whole_s * int(args.steps * 0.75) / max(1, int(args.big_steps * 0.75))
    print(f"{'native 64-px text-to-image job':52} {native:8.3f} {1:7.2f}")
    print(
        f"{f'only masked, {args.big}x{args.big} picture, 64-px mask':52} {only:8.3f} "
        f"{only / native:7.2f}"
    )
    print(
        f"{f'whole {args.big}x{args.big} picture, {args.big_steps} steps (measured)':52} "
        f"{whole_s:8.3f} {whole_s / native:7.2f}"
    )
    print(
        f"{f'whole {args.big}x{args.big} picture, scaled to {args.steps} steps':52} "
        f"{scaled:8.3f} {scaled / native:7.2f}"
    )


if __name__ == "__main__":
    main()
