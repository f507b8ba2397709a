"""Textual-inversion embeddings: the file formats, where the vectors go, and pictures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from imagestudio.core.errors import ModelError
from imagestudio.core.generation.conditioning import encode_prompts, tokenize_chunks
from imagestudio.core.generation.embeddings import (
    embedding_files,
    embeddings_for,
    load_embedding,
    names_in,
)
from imagestudio.core.generation.engine import Engine
from imagestudio.core.requests import GenerationRequest
from tests.core.generation.test_conditioning import clip_tokenizer, pipes  # noqa: F401


def save(path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


def test_the_formats_read_and_refusals(tmp_path: Path) -> None:
    a1111 = load_embedding(
        "ink", save(tmp_path / "ink.safetensors", {"emb_params": torch.ones(3, 768)})
    )
    assert (a1111.family, a1111.count) == ("sd1", 3)
    diffusers = load_embedding("d", save(tmp_path / "d.safetensors", {"<d>": torch.ones(1024)}))
    assert (diffusers.family, diffusers.count) == ("sd2", 1)
    converted = load_embedding(
        "c", save(tmp_path / "c.safetensors", {"string_to_param.*": torch.ones(2, 768)})
    )
    assert (converted.family, converted.count) == ("sd1", 2)
    xl = load_embedding(
        "x",
        save(
            tmp_path / "x.safetensors",
            {"clip_l": torch.ones(4, 768), "clip_g": torch.ones(4, 1280)},
        ),
    )
    assert xl.family == "sdxl" and [v.shape for v in xl.vectors] == [(4, 768), (4, 1280)]

    pickle = tmp_path / "old.pt"
    pickle.write_bytes(b"\x80\x04")
    with pytest.raises(ModelError, match="imagestudio models convert"):
        load_embedding("old", pickle)
    with pytest.raises(ModelError, match="not a textual-inversion embedding"):
        load_embedding(
            "w", save(tmp_path / "w.safetensors", {"a": torch.ones(2, 3), "b": torch.ones(1)})
        )
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not safetensors at all")
    with pytest.raises(ModelError, match="could not be read"):
        load_embedding("junk", junk)


def test_names_are_found_as_whole_words_any_case(tmp_path: Path) -> None:
    save(tmp_path / "embeddings" / "bad-hands.safetensors", {"emb_params": torch.ones(1, 768)})
    save(tmp_path / "embeddings" / "sub" / "ink.safetensors", {"emb_params": torch.ones(1, 768)})
    files = embedding_files(tmp_path)
    assert sorted(files) == ["bad-hands", "ink"]
    assert names_in(["a fox in Ink", "bad-hands, blurry"], files) == ["bad-hands", "ink"]
    assert names_in(["inkwell, very-bad-hands2"], files) == []


def test_placeholders_stay_in_one_chunk(clip_tokenizer) -> None:  # noqa: F811
    (chunk,) = tokenize_chunks(clip_tokenizer, "a (MyStyle:1.2) fox", embeddings={"mystyle": 3})
    assert chunk.fixes == ((2, "mystyle"),)
    assert chunk.weights[2:5] == (1.2, 1.2, 1.2)
    fox = clip_tokenizer.encode("fox", add_special_tokens=False)[0]
    assert chunk.ids[5] == fox
    # 73 words, then a 4-vector embedding: it moves whole to the next chunk
    text = " ".join(["cat"] * 73) + " mystyle"
    first, second = tokenize_chunks(clip_tokenizer, text, embeddings={"mystyle": 4})
    assert first.fixes == () and second.fixes == ((1, "mystyle"),)


def test_an_embedding_of_a_words_own_vector_is_that_word(pipes) -> None:  # noqa: F811
    """The strongest check of where the vectors go: an embedding holding the token vector of
    "fox" must give exactly the embeddings of the word itself (SD 1.x and XL)."""
    for family in ("sd1", "sdxl"):
        pipe = pipes[family]
        encoders = [pipe.text_encoder] + ([pipe.text_encoder_2] if family == "sdxl" else [])
        fox = pipe.tokenizer.encode("fox", add_special_tokens=False)
        vectors = tuple(e.get_input_embeddings().weight[fox].detach() for e in encoders)
        from imagestudio.core.generation.embeddings import Embedding

        like_fox = Embedding("vulpes", Path("vulpes.safetensors"), family, vectors)  # type: ignore[arg-type]
        ours = encode_prompts(pipe, ["a red vulpes"], [""], "cpu", embeddings=[like_fox])
        word = encode_prompts(pipe, ["a red fox"], [""], "cpu")
        assert torch.allclose(ours.prompt_embeds, word.prompt_embeds, atol=1e-6)
        if family == "sdxl":
            assert torch.allclose(ours.pooled, word.pooled, atol=1e-6)


def test_an_embedding_changes_the_picture_and_a_wrong_one_is_refused(
    engine: Engine, tiny_model: Path
) -> None:
    width = engine.generate(
        GenerationRequest(prompt="x", model=str(tiny_model), steps=1, seed=1)
    ) and int(engine.pipeline.text_encoder.config.hidden_size)
    folder = engine.models_dir / "embeddings"
    torch.manual_seed(3)
    save(folder / "glowing.safetensors", {"emb_params": torch.randn(2, width)})
    save(folder / "sd15-only.safetensors", {"emb_params": torch.randn(1, 768)})
    try:

        def run(prompt: str) -> np.ndarray:
            request = GenerationRequest(prompt=prompt, model=str(tiny_model), steps=2, seed=4)
            return np.asarray(engine.generate(request).images[0])

        plain = run("a red circle")
        assert not np.array_equal(run("a red circle, glowing"), plain)
        assert np.array_equal(run("a red circle, glowingly"), run("a red circle, glowingly"))
        with pytest.raises(ModelError, match="sd15-only does not fit this model"):
            run("a red circle, sd15-only")
        assert embeddings_for(["glowing"], engine.models_dir, (width,), "unknown")[0].count == 2
    finally:
        for path in folder.iterdir():
            path.unlink()


def test_a_picture_names_its_embeddings_for_a1111_and_comfyui(
    engine: Engine, tiny_model: Path, tmp_path: Path
) -> None:
    import json

    from PIL import Image

    from imagestudio.core.generation.job import DIFFUSION
    from imagestudio.core.jobs import run_job
    from imagestudio.core.outputs.metadata import parse_parameters
    from imagestudio.core.workspace import EngineConfig, Workspace

    engine.generate(GenerationRequest(prompt="x", model=str(tiny_model), steps=1, seed=1))
    width = int(engine.pipeline.text_encoder.config.hidden_size)
    folder = engine.models_dir / "embeddings"
    save(folder / "glowing.safetensors", {"emb_params": torch.randn(2, width)})
    try:
        config = EngineConfig(
            models_dir=engine.models_dir, cache_dir=engine.cache_dir, outputs_dir=tmp_path
        )
        workspace = Workspace(config, None, engines={DIFFUSION: engine})
        request = GenerationRequest(
            prompt="a red circle, Glowing BREAK blue", model=str(tiny_model), steps=2, seed=1
        )
        (path,) = run_job(request, workspace).files
        chunks = Image.open(path).text
        settings = parse_parameters(chunks["parameters"])
        name, digest = settings.extra["TI hashes"].split(": ")
        assert name == "glowing" and len(digest) == 12
        graph = json.loads(chunks["prompt"])
        assert graph["2"]["inputs"]["text"] == "a red circle, embedding:glowing, blue"
    finally:
        for path in folder.iterdir():
            path.unlink()
