"""Prompts to text embeddings the way A1111 makes them: weighted, of any length, BREAK-aware.

Why our own and not `compel`: compel reads its own syntax (``word++``, ``(word)1.2``) and weighs
differently (down-weighting blends toward a masked prompt, and nothing restores the mean), so a
prompt written for A1111 would come out otherwise even after translating the syntax. The
procedure below is A1111's (modules/sd_hijack_clip.py), written from its description:

1. Parse the attention syntax (core.promptsyntax) into runs of text with weights.
2. Tokenize each run without special tokens; fill chunks of 75 tokens, each token carrying its
   run's weight. A full chunk whose last comma is at most 20 tokens back is cut after that comma
   (the words after it move to the next chunk, so a phrase is not split); BREAK closes a chunk.
3. Each chunk becomes BOS + 75 tokens + EOS, padded after the first EOS with the tokenizer's pad
   token: exactly what diffusers feeds the encoder for a prompt of 75 tokens or fewer, so a plain
   short prompt gives the same embeddings, and the same pixels, as before.
4. Encode each chunk (the pipeline's text encoders, as diffusers uses them: SD 1.x/2.x the last
   hidden state; SDXL the penultimate of both encoders, concatenated), multiply each token's
   vector by its weight, then scale the chunk back to its original mean. Concatenate the chunks.
5. Prompt and negative get the same number of chunks: the shorter is extended with the encoding
   of an empty prompt. SDXL's pooled embedding is the first chunk's, as A1111 and ComfyUI take
   it; an empty negative is zeros where the model asks for that (`force_zeros_for_empty_prompt`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imagestudio.core.generation.embeddings import name_pattern
from imagestudio.core.promptsyntax import parse_attention

if TYPE_CHECKING:
    import torch

    from imagestudio.core.generation.embeddings import Embedding

CHUNK_TOKENS = 75  # CLIP reads 77: BOS, 75 tokens, EOS
COMMA_BACKTRACK = 20  # A1111's default "prompt word wrap length limit"


def chunk_length(tokenizer: Any) -> int:
    """Tokens per chunk: 75 for CLIP; fewer for a model made with a shorter window (the
    built-in starter reads 32), so each chunk is what diffusers would feed that encoder."""
    window = getattr(tokenizer, "model_max_length", None)
    if not isinstance(window, int) or not 3 <= window <= CHUNK_TOKENS + 2:
        return CHUNK_TOKENS
    return window - 2


@dataclass(frozen=True)
class Chunk:
    """The encoder's window of token ids (BOS, tokens, EOS, pad...; 77 for CLIP) and one weight
    per id."""

    ids: tuple[int, ...]
    weights: tuple[float, ...]
    # (position, embedding name): the embedding's vectors go in from that position on
    fixes: tuple[tuple[int, str], ...] = ()

    @property
    def weighted(self) -> bool:
        return any(w != 1.0 for w in self.weights)


def tokenize_chunks(
    tokenizer: Any,
    prompt: str,
    convert: Any = None,
    embeddings: Mapping[str, int] | None = None,
) -> list[Chunk]:
    """`prompt` as 77-token chunks for `tokenizer` (see the module docstring, steps 1-3).

    `convert(text, tokenizer)`, when given, rewrites a run before tokenizing (diffusers'
    `maybe_convert_prompt`). `embeddings` (name -> number of vectors): where a name stands as a
    word, that many placeholder tokens, which the encoder replaces with the vectors; an
    embedding is never split over two chunks (A1111 moves it to the next one).
    """
    bos = tokenizer.bos_token_id
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    comma = _comma_id(tokenizer)
    length = chunk_length(tokenizer)
    backtrack = min(COMMA_BACKTRACK, length // 3)
    found = name_pattern(embeddings or {})
    lookup = {name.lower(): (name, count) for name, count in (embeddings or {}).items()}
    chunks: list[Chunk] = []
    ids: list[int] = []
    weights: list[float] = []
    fixes: list[tuple[int, str]] = []  # (index in `ids`, name)
    last_comma = -1

    def close() -> None:
        nonlocal ids, weights, fixes, last_comma
        fill = length - len(ids)
        # EOS, then the pad token (SD 1.x's pad is EOS itself; SD 2.x's and SDXL's second is
        # not): what the tokenizer's own max-length padding gives.
        body = [bos, *ids, eos, *[pad] * fill]
        placed = tuple((1 + index, name) for index, name in fixes)  # after BOS
        chunks.append(Chunk(tuple(body), (1.0, *weights, 1.0, *[1.0] * fill), placed))
        ids, weights, fixes, last_comma = [], [], [], -1

    def add_token(token: int, weight: float) -> None:
        nonlocal ids, weights, fixes, last_comma
        if len(ids) == length:
            if token != comma and last_comma >= 0 and len(ids) - last_comma <= backtrack:
                # the words after the last comma move on, so a phrase is not cut in two
                cut = last_comma + 1
                carried = (ids[cut:], weights[cut:], [(i - cut, n) for i, n in fixes if i >= cut])
                ids, weights = ids[:cut], weights[:cut]
                fixes = [(i, n) for i, n in fixes if i < cut]
                close()
                ids, weights, fixes = carried
            else:
                close()
        if token == comma:
            last_comma = len(ids)
        ids.append(token)
        weights.append(weight)

    # Any id but BOS and EOS (CLIP pools at the first EOS, so EOS must not stand in here);
    # A1111 uses 0 too. The encoder overwrites these positions' vectors.
    placeholder = next(i for i in (0, 1, 2) if i not in (bos, eos))

    def add_embedding(name: str, count: int, weight: float) -> None:
        if len(ids) + count > length:
            close()
        fixes.append((len(ids), name))
        ids.extend([placeholder] * count)
        weights.extend([weight] * count)

    for run in parse_attention(prompt):
        if run.is_break:
            close()
            continue
        pieces = found.split(run.text) if found is not None else [run.text]
        for index, piece in enumerate(pieces):
            if index % 2:  # a name the pattern caught
                name, count = lookup[piece.lower()]
                add_embedding(name, count, run.weight)
            elif piece:
                text = convert(piece, tokenizer) if convert is not None else piece
                for token in tokenizer(text, add_special_tokens=False, truncation=False).input_ids:
                    add_token(token, run.weight)
    if ids or not chunks:
        close()
    return chunks


def _comma_id(tokenizer: Any) -> int | None:
    # One lookup each (building the whole vocabulary with get_vocab() took 15 ms a call).
    unknown = tokenizer.unk_token_id
    for token in (",</w>", ","):
        found = tokenizer.convert_tokens_to_ids(token)
        if isinstance(found, int) and found != unknown:
            return found
    return None


@dataclass
class Conditioning:
    """What the pipeline takes instead of prompt strings."""

    prompt_embeds: torch.Tensor
    negative_prompt_embeds: torch.Tensor
    pooled: torch.Tensor | None = None
    negative_pooled: torch.Tensor | None = None

    def pipeline_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "prompt_embeds": self.prompt_embeds,
            "negative_prompt_embeds": self.negative_prompt_embeds,
        }
        if self.pooled is not None:
            kwargs["pooled_prompt_embeds"] = self.pooled
            kwargs["negative_pooled_prompt_embeds"] = self.negative_pooled
        return kwargs


@dataclass(frozen=True)
class _Encoder:
    tokenizer: Any
    model: Any
    penultimate: bool  # SDXL: hidden_states[-2]; SD 1.x/2.x: the last hidden state
    pooled: bool  # this encoder gives SDXL's pooled embedding
    slot: int = 0  # which of an embedding's vector sets it reads (SDXL: 0 clip_l, 1 clip_g)


def _encoders(pipe: Any) -> list[_Encoder]:
    second = getattr(pipe, "text_encoder_2", None)
    if second is None:
        return [_Encoder(pipe.tokenizer, pipe.text_encoder, penultimate=False, pooled=False)]
    encoders = []
    if getattr(pipe, "text_encoder", None) is not None:
        encoders.append(_Encoder(pipe.tokenizer, pipe.text_encoder, True, False, 0))
    encoders.append(_Encoder(pipe.tokenizer_2, second, True, True, 1))
    return encoders


def encoder_widths(pipe: Any) -> tuple[int, ...]:
    """The width of each text encoder's vectors, as an embedding for `pipe` must have them (SDXL
    embeddings carry both sets even for a pipeline with only the second encoder)."""
    encoders = _encoders(pipe)
    widths = tuple(int(e.model.config.hidden_size) for e in encoders)
    if len(encoders) == 1 and encoders[0].slot == 1:
        return (768, *widths)
    return widths


def encode_prompts(
    pipe: Any,
    prompts: Sequence[str],
    negatives: Sequence[str],
    device: Any,
    clip_skip: int = 1,
    embeddings: Sequence[Embedding] = (),
) -> Conditioning:
    """Embeddings for a batch: `prompts[i]` with `negatives[i]` (the same length).

    `clip_skip` is A1111's: 1 reads the layer diffusers reads (SD 1.x/2.x the last, SDXL the
    penultimate), each step up one layer earlier (SD 1.x/2.x then through the final layer norm,
    as A1111 and diffusers do). Raises InvalidRequest past the encoder's depth. `embeddings`
    (read and checked, see core.generation.embeddings) go in where their names stand.

    Equal prompts are encoded once. Every row gets the same number of chunks (the longest
    prompt's or negative's), extended with empty-prompt chunks as A1111 does.
    """
    import torch

    if len(prompts) != len(negatives) or not prompts:
        raise ValueError("encode_prompts needs one negative per prompt")
    convert = getattr(pipe, "maybe_convert_prompt", None)
    zero_negative = bool(getattr(pipe.config, "force_zeros_for_empty_prompt", False))
    encoders = _encoders(pipe)
    _check_clip_skip(encoders, clip_skip)
    texts = list(dict.fromkeys([*prompts, *negatives, ""]))
    counts = {e.name: e.count for e in embeddings}
    vectors = {e.name: e.vectors for e in embeddings}
    # text -> per encoder: list of (embeddings (1, 77, dim), pooled (1, dim) or None) per chunk
    encoded: dict[str, list[list[tuple[torch.Tensor, torch.Tensor | None]]]] = {}
    with torch.no_grad():
        for text in texts:
            encoded[text] = [
                [_encode_chunk(encoder, chunk, device, clip_skip, vectors) for chunk in chunks]
                for encoder, chunks in (
                    (e, tokenize_chunks(e.tokenizer, text, convert, counts)) for e in encoders
                )
            ]
        length = max(len(encoded[t][0]) for t in [*prompts, *negatives])

        def rows(text: str, zeros: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
            per_encoder = encoded[text]
            empty = encoded[""]
            pieces = []
            for index in range(len(encoders)):
                chunks = [embeds for embeds, _ in per_encoder[index]]
                chunks += [empty[index][0][0]] * (length - len(chunks))
                pieces.append(torch.cat(chunks, dim=1))
            embeds = torch.cat(pieces, dim=-1)
            pooled = next((p for _, p in per_encoder[-1][:1] if p is not None), None)
            if zeros:
                embeds = torch.zeros_like(embeds)
                pooled = torch.zeros_like(pooled) if pooled is not None else None
            return embeds, pooled

        cond = [rows(text, zeros=False) for text in prompts]
        uncond = [rows(text, zeros=zero_negative and not text) for text in negatives]
    pooled = [p for _, p in cond]
    negative_pooled = [p for _, p in uncond]
    has_pooled = all(p is not None for p in pooled)
    return Conditioning(
        prompt_embeds=torch.cat([e for e, _ in cond]),
        negative_prompt_embeds=torch.cat([e for e, _ in uncond]),
        pooled=torch.cat(pooled) if has_pooled else None,  # type: ignore[arg-type]
        negative_pooled=torch.cat(negative_pooled) if has_pooled else None,  # type: ignore[arg-type]
    )


def _check_clip_skip(encoders: list[_Encoder], clip_skip: int) -> None:
    from imagestudio.core.errors import InvalidRequest

    layers = min(int(e.model.config.num_hidden_layers) for e in encoders)
    if clip_skip > layers:
        raise InvalidRequest(
            f"This model's text encoder has {layers} layers, so clip skip can be at most "
            f"{layers}; {clip_skip} was given."
        )


def _encode_chunk(
    encoder: _Encoder,
    chunk: Chunk,
    device: Any,
    clip_skip: int = 1,
    vectors: Mapping[str, Sequence[torch.Tensor]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    import torch

    ids = torch.tensor([chunk.ids], device=device)
    mask = None
    if getattr(encoder.model.config, "use_attention_mask", False):
        # diffusers masks the padding for encoders that ask (rare); the same here
        first_eos = chunk.ids.index(encoder.tokenizer.eos_token_id)
        mask = torch.tensor([[1] * (first_eos + 1) + [0] * (len(chunk.ids) - first_eos - 1)])
        mask = mask.to(device)
    hidden = encoder.penultimate or clip_skip > 1
    handle = None
    if chunk.fixes and vectors:
        # the embeddings' vectors in place of their placeholder tokens, before the position
        # embeddings are added (A1111 hooks the same layer); the model itself is not changed
        fixes = [(at, vectors[name][encoder.slot]) for at, name in chunk.fixes]

        def put_vectors(module: Any, args: Any, output: torch.Tensor) -> torch.Tensor:
            output = output.clone()
            for at, values in fixes:
                output[:, at : at + values.shape[0]] = values.to(output.device, output.dtype)
            return output

        handle = encoder.model.get_input_embeddings().register_forward_hook(put_vectors)
    try:
        output = encoder.model(ids, attention_mask=mask, output_hidden_states=hidden)
    finally:
        if handle is not None:
            handle.remove()
    if encoder.penultimate:
        embeds = output.hidden_states[-(clip_skip + 1)]
    elif clip_skip > 1:
        # transformers 5 put the layer norm on the model itself; 4.x had it on `text_model`
        # (diffusers 0.42's own clip_skip still looks there and fails on transformers 5)
        norm = getattr(encoder.model, "text_model", encoder.model).final_layer_norm
        embeds = norm(output.hidden_states[-clip_skip])
    else:
        embeds = output[0]
    pooled = output[0] if encoder.pooled else None
    if chunk.weighted:
        weights = torch.tensor(chunk.weights, device=embeds.device, dtype=torch.float32)
        z = embeds.float()
        original_mean = z.mean()
        z = z * weights[None, :, None]
        z = z * (original_mean / z.mean())
        embeds = z.to(embeds.dtype)
    return embeds, pooled
