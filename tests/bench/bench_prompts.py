"""What A1111-style prompts cost: encoding a long weighted prompt with embeddings, against the
same text plain, and against a whole 20-step job (not a test).

    python tests/bench/bench_prompts.py [--family sd1|sdxl] [--repeats 20]

Builds a tiny random SD model with the real CLIP vocabulary (so a word is a real token) in a
temporary folder, and two random embeddings of its width. Times, each the median of --repeats:
- plain: `encode_prompts` on the prompt's text without any syntax (no weights, no embeddings);
- weighted: the ~300-token prompt with (x:1.3), ((x)), [x], BREAK and the two embeddings;
- diffusers: the pipeline's own `encode_prompt` on the plain text (it reads only 77 tokens);
- job: a whole 20-step generation of the weighted prompt through the engine, 64x64, CPU.
The figure that matters: (weighted - plain) / job, the share of a job the syntax costs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.timing import median_seconds

WORDS = (
    "masterpiece, best quality, a lighthouse on a rocky cliff at dusk, stormy sea, waves "
    "crashing, dramatic clouds, golden light through the clouds, seagulls, wet rocks, moss, "
    "volumetric fog, cinematic lighting, highly detailed, sharp focus, oil painting, thick "
    "brush strokes, warm colours against cold blue shadows"
)


def weighted_prompt() -> str:
    parts = [
        "(masterpiece:1.2), ((best quality)), [blurry],",
        WORDS,
        "BREAK (lighthouse:1.3) glowing-ink, [[noise]],",
        WORDS,
        ", rough-paper, (sharp focus:1.1)",
        WORDS,
        "(stormy sea:0.9),",
        WORDS,
    ]
    return " ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=("sd1", "sdxl"), default="sd1")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    import torch
    from safetensors.torch import save_file

    from imagestudio.core.devices import pick_device
    from imagestudio.core.generation.conditioning import (
        encode_prompts,
        encoder_widths,
        tokenize_chunks,
    )
    from imagestudio.core.generation.embeddings import embeddings_for
    from imagestudio.core.generation.engine import Engine
    from imagestudio.core.promptsyntax import plain
    from imagestudio.core.requests import GenerationRequest
    from tests.modelfiles import build_random_family

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = build_random_family(root / "model", args.family, "tiny")
        engine = Engine(
            device=pick_device("cpu", "fp32"), models_dir=root / "models", cache_dir=root / "c"
        )
        request = GenerationRequest(
            prompt=weighted_prompt(), model=str(folder), steps=20, seed=1, width=64, height=64
        )
        engine.generate(request.replace(steps=1))  # loads the model
        pipe = engine.pipeline
        widths = encoder_widths(pipe)
        names = ("glowing-ink", "rough-paper")
        (root / "models" / "embeddings").mkdir(parents=True)
        torch.manual_seed(0)
        for name in names:
            tensors = (
                {"clip_l": torch.randn(4, widths[0]), "clip_g": torch.randn(4, widths[1])}
                if args.family == "sdxl"
                else {"emb_params": torch.randn(4, widths[0])}
            )
            save_file(tensors, str(root / "models" / "embeddings" / f"{name}.safetensors"))

        prompt = weighted_prompt()
        text = plain(prompt)
        tokens = sum(
            sum(1 for w in chunk.weights[1:-1]) for chunk in tokenize_chunks(pipe.tokenizer, text)
        )
        chunks = len(tokenize_chunks(pipe.tokenizer, prompt))
        embeddings = embeddings_for([prompt], engine.models_dir, widths, "unknown")
        assert len(embeddings) == 2

        plain_s = median_seconds(lambda: encode_prompts(pipe, [text], [""], "cpu"), args.repeats)
        weighted_s = median_seconds(
            lambda: encode_prompts(pipe, [prompt], [""], "cpu", embeddings=embeddings),
            args.repeats,
        )

        def diffusers_own() -> None:
            with torch.no_grad():
                pipe.encode_prompt(
                    prompt=text,
                    device="cpu",
                    num_images_per_prompt=1,
                    do_classifier_free_guidance=True,
                )

        own_s = median_seconds(diffusers_own, args.repeats)
        job_s = median_seconds(lambda: engine.generate(request), max(3, args.repeats // 5))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; tiny {args.family}")
    print(f"prompt: {len(prompt)} characters, {tokens} tokens as plain text, {chunks} chunks")
    print()
    print(f"{'what':<52}{'median':>10}")
    print(f"{'encode plain text (ours)':<52}{plain_s * 1000:>8.1f} ms")
    print(f"{'encode weighted + BREAK + 2 embeddings (ours)':<52}{weighted_s * 1000:>8.1f} ms")
    print(f"{'encode plain text (diffusers, first 77 tokens)':<52}{own_s * 1000:>8.1f} ms")
    print(f"{'a whole 20-step job (weighted prompt, 64x64)':<52}{job_s * 1000:>8.1f} ms")
    print()
    extra = weighted_s - plain_s
    print(
        f"syntax and embeddings cost {extra * 1000:+.1f} ms over the plain text: "
        f"{extra / job_s * 100:+.2f}% of a 20-step job (ratio weighted/plain "
        f"{weighted_s / plain_s:.2f}x)"
    )


if __name__ == "__main__":
    main()
