"""A1111-style prompt encoding: chunks, weights, BREAK, and equality with diffusers' own encoding
for plain prompts (tiny random SD 1.x / 2.x / XL pipelines, the real CLIP vocabulary)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from imagestudio.core.generation.conditioning import (
    CHUNK_TOKENS,
    encode_prompts,
    tokenize_chunks,
)
from imagestudio.core.generation.engine import Engine
from imagestudio.core.requests import GenerationRequest
from tests.modelfiles import CLIP_VOCAB, build_random_family


@pytest.fixture(scope="module")
def clip_tokenizer():
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(CLIP_VOCAB, local_files_only=True)


@pytest.fixture(scope="module")
def pipes(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from imagestudio.core.generation.engine import prepare_model_stack

    prepare_model_stack()  # the app's one way into diffusers (see core.torchvision_compat)
    from diffusers import DiffusionPipeline

    root = tmp_path_factory.mktemp("families")
    loaded = {}
    for family in ("sd1", "sd2", "sdxl"):
        folder = build_random_family(root / family, family, "tiny")
        pipe = DiffusionPipeline.from_pretrained(folder, local_files_only=True)
        pipe.set_progress_bar_config(disable=True)
        loaded[family] = pipe
    return loaded


# --- chunks -------------------------------------------------------------------------------------


def test_a_short_prompt_is_one_chunk_like_the_tokenizers_own_padding(clip_tokenizer) -> None:
    (chunk,) = tokenize_chunks(clip_tokenizer, "a cat on a mat")
    own = clip_tokenizer("a cat on a mat", padding="max_length", max_length=77).input_ids
    assert list(chunk.ids) == own
    assert not chunk.weighted


def test_weights_follow_their_tokens(clip_tokenizer) -> None:
    (chunk,) = tokenize_chunks(clip_tokenizer, "(red:1.5) cat [dog]")
    words = clip_tokenizer("red cat dog", add_special_tokens=False).input_ids
    assert list(chunk.ids[1:4]) == words
    assert chunk.weights[:5] == pytest.approx([1.0, 1.5, 1.0, 1 / 1.1, 1.0])
    assert set(chunk.weights[5:]) == {1.0}


def test_long_prompts_fill_chunks_of_75_and_break_at_a_recent_comma(clip_tokenizer) -> None:
    words = " ".join(["cat"] * 80)
    chunks = tokenize_chunks(clip_tokenizer, words)
    assert [len(c.ids) for c in chunks] == [77, 77]
    assert chunks[0].ids.count(clip_tokenizer.encode("cat", add_special_tokens=False)[0]) == 75
    # 70 words, a comma, 10 words: the first chunk ends at the comma, the 10 words move on
    text = " ".join(["cat"] * 70) + ", " + " ".join(["dog"] * 10)
    first, second = tokenize_chunks(clip_tokenizer, text)
    dog = clip_tokenizer.encode("dog", add_special_tokens=False)[0]
    assert dog not in first.ids and second.ids.count(dog) == 10
    # no comma within 20 tokens of the end: a plain cut at 75
    text = "cat, " + " ".join(["dog"] * 90)
    first, second = tokenize_chunks(clip_tokenizer, text)
    assert first.ids.count(dog) == CHUNK_TOKENS - 2 and second.ids.count(dog) == 90 - 73


def test_break_starts_a_new_chunk(clip_tokenizer) -> None:
    chunks = tokenize_chunks(clip_tokenizer, "a red house BREAK a blue sky")
    assert len(chunks) == 2
    # a trailing BREAK opens nothing (as in A1111): no empty chunk after it
    assert tokenize_chunks(clip_tokenizer, "a red house BREAK") == tokenize_chunks(
        clip_tokenizer, "a red house"
    )
    assert tokenize_chunks(clip_tokenizer, "BREAK") == tokenize_chunks(clip_tokenizer, "")


# --- embeddings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
@pytest.mark.parametrize("negative", ["", "blurry, text"])
def test_plain_prompts_embed_exactly_as_diffusers_does(pipes, family: str, negative: str) -> None:
    pipe = pipes[family]
    prompt = "a watercolour fox in the snow"
    ours = encode_prompts(pipe, [prompt], [negative], "cpu")
    with torch.no_grad():
        theirs = pipe.encode_prompt(
            prompt=prompt,
            device="cpu",
            num_images_per_prompt=1,
            do_classifier_free_guidance=True,
            negative_prompt=negative or None,
        )
    assert torch.equal(ours.prompt_embeds, theirs[0])
    assert torch.equal(ours.negative_prompt_embeds, theirs[1])
    if family == "sdxl":
        assert torch.equal(ours.pooled, theirs[2])
        assert torch.equal(ours.negative_pooled, theirs[3])
        if not negative:  # SDXL's empty negative is zeros, as diffusers makes it
            assert not ours.negative_prompt_embeds.any()
    else:
        assert ours.pooled is None


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_weights_scale_the_tokens_and_keep_the_mean(pipes, family: str) -> None:
    pipe = pipes[family]
    plain = encode_prompts(pipe, ["red cat"], [""], "cpu").prompt_embeds
    one = encode_prompts(pipe, ["(red:1.0) cat"], [""], "cpu").prompt_embeds
    more = encode_prompts(pipe, ["(red:1.5) cat"], [""], "cpu").prompt_embeds
    assert torch.equal(plain, one)
    assert not torch.equal(plain, more)
    # A1111: token vectors times their weights, then the whole chunk back to its mean
    assert float(more.mean()) == pytest.approx(float(plain.mean()), rel=1e-4, abs=1e-6)
    ratio = (more[0, 1] / plain[0, 1]).median()  # "red" (after BOS), up to the mean factor
    rest = (more[0, 2] / plain[0, 2]).median()
    assert float(ratio / rest) == pytest.approx(1.5, rel=1e-3)


def test_prompt_and_negative_get_the_same_number_of_chunks(pipes) -> None:
    pipe = pipes["sdxl"]
    long = ", ".join(["a lighthouse on a cliff"] * 20)  # about 120 tokens: two chunks
    cond = encode_prompts(pipe, [long, "short"], ["", "x BREAK y BREAK z"], "cpu")
    width = pipe.unet.config.cross_attention_dim
    assert cond.prompt_embeds.shape == cond.negative_prompt_embeds.shape == (2, 3 * 77, width)
    # the first row's empty negative is zeros (SDXL); its pooled comes from the first chunk
    assert not cond.negative_prompt_embeds[0].any()
    alone = encode_prompts(pipe, [long], [""], "cpu")
    assert torch.equal(cond.pooled[0], alone.pooled[0])
    assert torch.equal(cond.prompt_embeds[0, : 2 * 77], alone.prompt_embeds[0])


# --- pictures through the engine ----------------------------------------------------------------


def picture(engine: Engine, model: Path, prompt: str, notices: list[str] | None = None):
    request = GenerationRequest(prompt=prompt, model=str(model), steps=2, seed=7)
    result = engine.generate(request, on_notice=(notices.append if notices is not None else None))
    return np.asarray(result.images[0])


def test_weighting_break_and_long_prompts_change_the_picture_as_they_should(
    engine: Engine, tiny_model: Path
) -> None:
    word = picture(engine, tiny_model, "a red circle")
    assert np.array_equal(picture(engine, tiny_model, "a (red:1.0) circle"), word)
    assert not np.array_equal(picture(engine, tiny_model, "a (red:1.5) circle"), word)
    assert not np.array_equal(picture(engine, tiny_model, "a red BREAK circle"), word)

    # the tiny tokenizer reads one token per character: token 90 is in the second chunk
    notices: list[str] = []
    long = "b" * 89 + "c" + "d" * 30
    changed = "b" * 89 + "e" + "d" * 30
    first = picture(engine, tiny_model, long, notices)
    assert not np.array_equal(first, picture(engine, tiny_model, changed))
    assert notices == []  # read whole: no "the rest is ignored" notice any more


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_clip_skip_is_a1111s_and_matches_diffusers_one_less(pipes, family: str) -> None:
    pipe = pipes[family]
    prompt = "a watercolour fox"
    default = encode_prompts(pipe, [prompt], [""], "cpu")
    assert torch.equal(
        encode_prompts(pipe, [prompt], [""], "cpu", clip_skip=1).prompt_embeds,
        default.prompt_embeds,
    )
    skipped = encode_prompts(pipe, [prompt], [""], "cpu", clip_skip=2)
    assert not torch.equal(skipped.prompt_embeds, default.prompt_embeds)
    with torch.no_grad():
        if family == "sdxl":  # diffusers counts from 0: its clip_skip=1 is A1111's "Clip skip 2"
            expected = pipe.encode_prompt(
                prompt=prompt,
                device="cpu",
                num_images_per_prompt=1,
                do_classifier_free_guidance=True,
                negative_prompt=None,
                clip_skip=1,
            )[0]
        else:  # A1111 and diffusers: the layer before the last, through the final layer norm
            ids = pipe.tokenizer(prompt, padding="max_length", return_tensors="pt").input_ids
            encoder = pipe.text_encoder
            hidden = encoder(ids, output_hidden_states=True).hidden_states[-2]
            expected = encoder.final_layer_norm(hidden)
    assert torch.allclose(skipped.prompt_embeds, expected, atol=1e-6)


def test_clip_skip_past_the_encoder_is_a_sentence(pipes) -> None:
    from imagestudio.core.errors import InvalidRequest

    layers = pipes["sd1"].text_encoder.config.num_hidden_layers
    encode_prompts(pipes["sd1"], ["x"], [""], "cpu", clip_skip=layers)
    with pytest.raises(InvalidRequest, match=f"has {layers} layers"):
        encode_prompts(pipes["sd1"], ["x"], [""], "cpu", clip_skip=layers + 1)


def test_variations_run_from_the_seed_to_the_variation_seed(engine: Engine, tiny_model: Path):
    def run(**changes) -> np.ndarray:
        request = GenerationRequest(prompt="a red circle", model=str(tiny_model), steps=2, seed=7)
        return np.asarray(engine.generate(request.replace(**changes)).images[0])

    seed, other = run(), run(seed=99)
    assert np.array_equal(run(variation_seed=99, variation_strength=0.0), seed)
    assert np.array_equal(run(variation_seed=99, variation_strength=1.0), other)
    halfway = run(variation_seed=99, variation_strength=0.5)
    assert not np.array_equal(halfway, seed) and not np.array_equal(halfway, other)
    assert not np.array_equal(run(clip_skip=2), seed)
