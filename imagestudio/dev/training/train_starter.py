"""Train the built-in starter model from scratch on the procedural shapes dataset.

    python -m imagestudio.dev.training.train_starter OUT_DIR [--threads 2]

(the defaults are the shipped model's recipe; see resources/models/starter/README.md)

Two stages, both seeded: (1) an AutoencoderKL with a 4x downsampling (64x64 RGB -> 16x16x4),
its reconstruction loss weighted towards the shapes' pixels (`object_weights`) so small stars keep
their points and colours, then checked by reading the evaluation prompts' ground-truth renders
back through it with the analyzer (`check_vae`, logged); (2) a CLIP text encoder and a
UNet2DConditionModel trained together on latents precomputed with the frozen VAE, with 10% of
captions dropped for classifier-free guidance. Each stage runs for a fixed number of steps
(`--vae-steps`, `--unet-steps`); the `--minutes-*` options only cap the time as a safety net.
The output is a diffusers folder (fp16 safetensors) plus `training_log.json`.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from imagestudio.core.paths import resources_dir
from imagestudio.dev.training.shapes import SIZE, random_sample

TOKENIZER_SOURCE = resources_dir() / "tokenizers" / "clip"
# The longest caption of the dataset is about 20 tokens. A 32-token window (instead of CLIP's 77)
# makes the text encoder and every cross-attention cheaper in training and in use; the tokenizer
# is saved with this window, so the pipeline pads prompts to it.
MAX_TOKENS = 32


def _images_to_tensor(images: list) -> torch.Tensor:
    array = np.stack([np.asarray(im, dtype=np.uint8) for im in images])
    return torch.from_numpy(array).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def make_dataset(count: int, seed: int) -> tuple[torch.Tensor, list[str]]:
    rng = random.Random(seed)
    samples = [random_sample(rng) for _ in range(count)]
    return _images_to_tensor([s.render() for s in samples]), [s.caption for s in samples]


def build_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=SIZE,
    )


def build_unet(cross_dim: int):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=SIZE // 4,
        in_channels=4,
        out_channels=4,
        # Attention only at 8x8 and 4x4, where a shape's colour and kind are decided: attention
        # over the 256 positions of the 16x16 level made a training step 1.7x slower.
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(48, 96, 128),
        layers_per_block=1,
        cross_attention_dim=cross_dim,
        attention_head_dim=4,
        norm_num_groups=16,
    )


def build_text_encoder(vocab_size: int, hidden: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=hidden,
            intermediate_size=hidden * 4,
            num_hidden_layers=3,
            num_attention_heads=4,
            max_position_embeddings=MAX_TOKENS,
            bos_token_id=49406,
            eos_token_id=49407,
            pad_token_id=49407,
        )
    )


def _lr(step: int, total: int, peak: float, warmup: int = 200) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def object_weights(x: torch.Tensor, weight: float) -> torch.Tensor:
    """Per-pixel loss weights: `1 + weight` on the shapes and their edges, 1 on the background,
    normalised to a mean of 1 per image.

    A small star covers 3% of the picture: with a plain mean over pixels the autoencoder learns
    the flat background and rounds stars into blobs, with wrong colours (the first VAE read back
    only 62% of the shapes and 85% of the colours of ground-truth renders). The background is
    the corner pixel's colour (the renderer keeps shapes off the corners).
    """
    background = x[:, :, :1, :1]
    mask = ((x - background).abs().sum(dim=1, keepdim=True) > 0.05).float()
    mask = F.max_pool2d(mask, 3, stride=1, padding=1)  # the shape's edge pixels too
    weights = 1.0 + weight * mask
    return weights / weights.mean(dim=(2, 3), keepdim=True)


def train_vae(
    images: torch.Tensor,
    steps: int,
    minutes: float,
    batch: int,
    log: list,
    object_weight: float = 8.0,
    kl_weight: float = 1e-5,
) -> object:
    vae = build_vae()
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    started = time.perf_counter()
    gen = torch.Generator().manual_seed(1)
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = _lr(step, steps, 1e-3, warmup=100)
        idx = torch.randint(0, len(images), (batch,), generator=gen)
        x = images[idx]
        posterior = vae.encode(x).latent_dist
        z = posterior.sample(generator=gen)
        recon = vae.decode(z).sample
        weights = object_weights(x, object_weight)
        error = recon - x
        rec = (error.abs() * weights).mean() + (error.square() * weights).mean()
        kl = posterior.kl().mean() / (4 * (SIZE // 4) ** 2)
        loss = rec + kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            entry = {
                "stage": "vae",
                "step": step,
                "rec": round(rec.item(), 5),
                "kl": round(kl.item(), 4),
                "seconds": round(time.perf_counter() - started, 1),
            }
            log.append(entry)
            print(entry, flush=True)
        if time.perf_counter() - started > minutes * 60:
            log.append({"stage": "vae", "stopped_early_at": step})
            break
    vae.eval()
    return vae


@torch.no_grad()
def check_vae(vae) -> dict[str, float]:
    """The analyzer's reading of the evaluation prompts' ground-truth renders after a VAE round
    trip: the ceiling the denoiser can reach, logged so a weak autoencoder shows up at once."""
    from PIL import Image

    from imagestudio.dev.training.analyze import analyze
    from imagestudio.dev.training.evaluate_starter import select_cases
    from imagestudio.dev.training.shapes import single_shape_sample

    cases = select_cases(240, 0)
    renders = [single_shape_sample(c.colour, c.shape, c.background).render() for c in cases]
    x = _images_to_tensor(renders)
    decoded = torch.cat(
        [
            vae.decode(vae.encode(x[i : i + 60]).latent_dist.mean).sample
            for i in range(0, len(x), 60)
        ]
    )
    pixels = ((decoded.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    hits = {"colour": 0, "background": 0, "shape": 0}
    for case, array in zip(cases, pixels, strict=True):
        found = analyze(Image.fromarray(array))
        hits["colour"] += found.colour == case.colour
        hits["background"] += found.background == case.background
        hits["shape"] += found.shape == case.shape
    return {name: round(count / len(cases), 4) for name, count in hits.items()}


@torch.no_grad()
def encode_all(vae, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    return torch.cat(
        [vae.encode(images[i : i + batch]).latent_dist.mean for i in range(0, len(images), batch)]
    )


def train_denoiser(
    latents: torch.Tensor,
    token_ids: torch.Tensor,
    steps: int,
    minutes: float,
    batch: int,
    log: list,
    checkpoint=None,
    checkpoint_every: float = 600.0,
    noise_offset: float = 0.1,
    min_snr: float = 5.0,
    peak_lr: float = 5e-4,
    init: tuple[object, object] | None = None,
) -> tuple[object, object]:
    from diffusers import DDPMScheduler

    hidden = 64
    if init is not None:
        unet, text_encoder = init  # type: ignore[assignment]
        unet.float().train()  # type: ignore[attr-defined]
        text_encoder.float().train()  # type: ignore[attr-defined]
    else:
        text_encoder = build_text_encoder(49408, hidden)
        unet = build_unet(hidden)
    scheduler = DDPMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000
    )
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=5e-4, weight_decay=1e-2)
    ema_unet, ema_text = copy.deepcopy(unet), copy.deepcopy(text_encoder)
    for model in (ema_unet, ema_text):
        model.requires_grad_(False)
    empty = token_ids[-1:].clone()  # the last row holds the empty caption
    alphas = scheduler.alphas_cumprod
    gen = torch.Generator().manual_seed(2)
    started = last_checkpoint = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = _lr(step, steps, peak_lr)
        idx = torch.randint(0, len(latents), (batch,), generator=gen)
        x0 = latents[idx]
        ids = token_ids[idx].clone()
        drop = torch.rand(batch, generator=gen) < 0.1
        ids[drop] = empty
        noise = torch.randn(x0.shape, generator=gen)
        # Offset noise: SD's schedule never destroys an image's mean colour in training, so a
        # model learns to read the background from the noisy input instead of the caption. A
        # per-image constant in the noise makes the text decide it.
        noise = noise + noise_offset * torch.randn(x0.shape[0], x0.shape[1], 1, 1, generator=gen)
        t = torch.randint(0, 1000, (batch,), generator=gen)
        a = alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
        context = text_encoder(ids)[0]
        pred = unet(noisy, t, encoder_hidden_states=context).sample
        # Min-SNR weighting (Hang et al. 2023): the many low-noise timesteps, which only polish
        # edges, stop dominating the gradient, and the high-noise ones that decide what is drawn
        # get their share: the same quality in fewer steps.
        snr = a.view(-1) / (1 - a.view(-1))
        weight = snr.clamp(max=min_snr) / snr if min_snr > 0 else torch.ones_like(snr)
        loss = (F.mse_loss(pred, noise, reduction="none").mean(dim=(1, 2, 3)) * weight).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for ema, live in ((ema_unet, unet), (ema_text, text_encoder)):
                for pe, pl in zip(ema.parameters(), live.parameters(), strict=True):
                    pe.mul_(decay).add_(pl.detach(), alpha=1 - decay)
        if step % 200 == 0 or step == steps - 1:
            entry = {
                "stage": "denoiser",
                "step": step,
                "loss": round(loss.item(), 5),
                "seconds": round(time.perf_counter() - started, 1),
            }
            log.append(entry)
            print(entry, flush=True)
        if checkpoint is not None and time.perf_counter() - last_checkpoint > checkpoint_every:
            checkpoint(ema_unet, ema_text)
            last_checkpoint = time.perf_counter()
        if time.perf_counter() - started > minutes * 60:
            log.append({"stage": "denoiser", "stopped_early_at": step})
            break
    return ema_unet, ema_text


def save_pipeline(out: Path, vae, unet, text_encoder, scaling: float, log: list) -> None:
    from transformers import CLIPTokenizer

    from imagestudio.core.generation.previews import fit_latent_rgb
    from imagestudio.dev.randommodels import assemble_sd_pipeline

    vae.register_to_config(scaling_factor=scaling)
    tokenizer = CLIPTokenizer.from_pretrained(
        TOKENIZER_SOURCE, local_files_only=True, model_max_length=MAX_TOKENS
    )
    pipe = assemble_sd_pipeline(vae, text_encoder, tokenizer, unet)
    pipe.to(torch.float16)
    pipe.save_pretrained(out, safe_serialization=True)  # type: ignore[attr-defined]
    coeffs = fit_latent_rgb(vae.float(), samples=16, latent_size=16)
    (out / "preview_coefficients.json").write_text(json.dumps(coeffs.to_json(), indent=2) + "\n")
    (out / "training_log.json").write_text(json.dumps(log, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--samples", type=int, default=40_000)
    parser.add_argument("--vae-steps", type=int, default=3000)
    parser.add_argument("--unet-steps", type=int, default=6500)
    parser.add_argument("--minutes-vae", type=float, default=20)
    parser.add_argument("--minutes-unet", type=float, default=75)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--noise-offset", type=float, default=0.15)
    parser.add_argument(
        "--min-snr", type=float, default=5.0, help="min-SNR loss weighting gamma (0: off)"
    )
    parser.add_argument(
        "--object-weight", type=float, default=8.0, help="extra VAE loss weight on shape pixels"
    )
    parser.add_argument("--kl-weight", type=float, default=1e-5, help="VAE KL loss weight")
    parser.add_argument("--lr", type=float, default=6e-4, help="peak learning rate (denoiser)")
    parser.add_argument(
        "--vae-from",
        type=Path,
        help="a folder saved by an earlier run (a checkpoint too): reuse its VAE, train the rest "
        "from scratch",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        help="a folder saved by an earlier run: keep its VAE, continue its UNet and text encoder",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from imagestudio.core.generation.engine import prepare_model_stack

    prepare_model_stack()
    log: list = [{"args": {k: str(v) for k, v in vars(args).items()}}]
    started = time.perf_counter()
    images, captions = make_dataset(args.samples, args.seed)
    print(f"dataset: {len(images)} images in {time.perf_counter() - started:.0f} s", flush=True)
    init = None
    if args.resume is not None:
        from diffusers import AutoencoderKL, UNet2DConditionModel
        from transformers import CLIPTextModel

        vae = AutoencoderKL.from_pretrained(args.resume / "vae", dtype=torch.float32).eval()
        init = (
            UNet2DConditionModel.from_pretrained(args.resume / "unet", dtype=torch.float32),
            CLIPTextModel.from_pretrained(args.resume / "text_encoder", dtype=torch.float32),
        )
        scaling = float(vae.config.scaling_factor)
        latents = encode_all(vae, images) * scaling
        log.append({"resumed_from": str(args.resume), "vae_scaling_factor": scaling})
    elif args.vae_from is not None:
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(args.vae_from / "vae", dtype=torch.float32).eval()
        scaling = float(vae.config.scaling_factor)
        latents = encode_all(vae, images) * scaling
        log.append({"vae_from": str(args.vae_from), "vae_scaling_factor": scaling})
    else:
        vae = train_vae(
            images, args.vae_steps, args.minutes_vae, 16, log, args.object_weight, args.kl_weight
        )
        round_trip = check_vae(vae)
        log.append({"stage": "vae", "round_trip_analyzer": round_trip})
        print(f"VAE round trip, read back by the analyzer: {round_trip}", flush=True)
        latents = encode_all(vae, images)
        scaling = float(1.0 / latents.std())
        latents = latents * scaling
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(TOKENIZER_SOURCE, local_files_only=True)
    token_ids = tokenizer(
        [*captions, ""],
        padding="max_length",
        max_length=MAX_TOKENS,
        truncation=True,
        return_tensors="pt",
    ).input_ids

    # token_ids has one more row than latents: the empty caption, used for guidance dropout
    def checkpoint(unet, text_encoder) -> None:
        save_pipeline(
            args.out / "checkpoint",
            copy.deepcopy(vae),
            copy.deepcopy(unet),
            copy.deepcopy(text_encoder),
            scaling,
            list(log),
        )
        print("checkpoint saved", flush=True)

    unet, text_encoder = train_denoiser(
        latents,
        token_ids,
        args.unet_steps,
        args.minutes_unet,
        args.batch,
        log,
        checkpoint,
        noise_offset=args.noise_offset,
        min_snr=args.min_snr,
        peak_lr=args.lr,
        init=init,
    )
    log.append(
        {"total_seconds": round(time.perf_counter() - started, 1), "vae_scaling_factor": scaling}
    )
    save_pipeline(args.out, vae, unet, text_encoder, scaling, log)
    print(f"saved the starter model to {args.out}", flush=True)


if __name__ == "__main__":
    main()
