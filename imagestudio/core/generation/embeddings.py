"""Textual-inversion embeddings: `models/embeddings/NAME.safetensors`, used by writing NAME in a
prompt or negative prompt, as in A1111.

Formats read (safetensors only; a pickle `.pt`/`.bin` is converted first with
`imagestudio models convert`, which never runs it):
- A1111 / Civitai SD 1.x and 2.x: ``emb_params`` (vectors x width); a converted A1111 `.pt` keeps
  its ``string_to_param.*`` tensor;
- diffusers: one tensor named after its token, one vector or several;
- SDXL: ``clip_l`` (CLIP-L, 768 wide) and ``clip_g`` (OpenCLIP-G, 1280 wide).

The vectors go into the prompt where the name stands (core.generation.conditioning); the
tokenizer and the text encoder are never changed, so nothing lingers after a job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from imagestudio.core.errors import ModelError
from imagestudio.core.models.checkpoints import embedding_family
from imagestudio.core.models.library import EMBEDDING_FOLDER
from imagestudio.core.vocabulary import FAMILY_LABELS, Family

if TYPE_CHECKING:
    import torch

MAX_VECTORS = 75  # one chunk; A1111's longest are a few dozen
_NAME = re.compile(r"^[\w.\-]{1,100}$")


@dataclass(frozen=True)
class Embedding:
    """One embedding: its name, its family and its vectors per text encoder (first first)."""

    name: str
    path: Path
    family: Family
    vectors: tuple[torch.Tensor, ...]  # (count, width) per encoder

    @property
    def count(self) -> int:
        return int(self.vectors[0].shape[0])


def embedding_files(models_dir: Path) -> dict[str, Path]:
    """name -> file for every `.safetensors` in `models/embeddings/` (names as A1111 uses them:
    the file name without its suffix; a name that is not one word is left out)."""
    folder = Path(models_dir) / EMBEDDING_FOLDER
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.safetensors")):
        if _NAME.match(path.stem) and path.is_file():
            found.setdefault(path.stem, path)
    return found


def name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """Embedding names where they stand as words (not inside another word or a hyphenated
    one), any case, longest first, as one group; None for no names. Every place that looks
    for embedding names in a prompt uses this, so they all agree on what a mention is."""
    ordered = sorted(set(names), key=lambda name: (-len(name), name))
    if not ordered:
        return None
    alternatives = "|".join(re.escape(name) for name in ordered)
    return re.compile(rf"(?<![\w\-])({alternatives})(?![\w\-])", re.IGNORECASE)


def names_in(texts: Iterable[str], names: Iterable[str]) -> list[str]:
    """The embedding names that stand as words in any of `texts` (any case), in name order."""
    by_lower = {name.lower(): name for name in names}
    pattern = name_pattern(by_lower.values())
    if pattern is None:
        return []
    found = {by_lower[m.lower()] for m in pattern.findall("\n".join(texts))}
    return sorted(found)


def load_embedding(name: str, path: Path) -> Embedding:
    """Read an embedding file; ModelError with a sentence when it is not one."""
    if path.suffix.lower() != ".safetensors":
        raise ModelError(
            f"The embedding {path.name} is a pickle file, which can run code when opened; "
            f"convert it first with: imagestudio models convert {path}"
        )
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            keys = list(f.keys())
            if len(keys) > 8:
                raise ModelError(f"{path.name} is not a textual-inversion embedding.")
            tensors = {key: f.get_tensor(key) for key in keys}
    except (OSError, SafetensorError) as exc:
        raise ModelError(
            f"The embedding {path.name} could not be read ({exc}); download it again."
        ) from exc
    if "string_to_param.*" in tensors:  # an A1111 .pt, converted
        tensors = {"emb_params": tensors["string_to_param.*"]}
    family = embedding_family({key: tuple(t.shape) for key, t in tensors.items()})
    if family is None:
        raise ModelError(
            f"{path.name} is not a textual-inversion embedding for SD 1.x, 2.x or XL "
            f"(its tensors: {', '.join(sorted(tensors))})."
        )
    if "clip_l" in tensors and "clip_g" in tensors:  # SDXL's pair (any width: custom models)
        raw = [tensors["clip_l"], tensors["clip_g"]]
    else:
        raw = [tensors.get("emb_params", next(iter(tensors.values())))]
    vectors = tuple(v.reshape(-1, v.shape[-1]).float() for v in raw)
    count = vectors[0].shape[0]
    if not 1 <= count <= MAX_VECTORS or any(v.shape[0] != count for v in vectors):
        raise ModelError(
            f"The embedding {path.name} has {count} vectors; ImageStudio takes 1 to {MAX_VECTORS}."
        )
    return Embedding(name, path, family, vectors)


def embeddings_for(
    texts: Iterable[str], models_dir: Path, widths: tuple[int, ...], family: Family
) -> list[Embedding]:
    """The embeddings `texts` name (by file name in models/embeddings), read and checked
    against the model's text encoders (`widths`, first first); ModelError names one that was
    made for another family."""
    files = embedding_files(models_dir)
    found = []
    for name in names_in(list(texts), files):
        embedding = load_embedding(name, files[name])
        if tuple(int(v.shape[-1]) for v in embedding.vectors) != tuple(widths):
            raise ModelError(
                f"The embedding {name} does not fit this model: it is made for "
                f"{_made_for(embedding.family, embedding.vectors)}, and this model is "
                f"{FAMILY_LABELS.get(family, 'another kind')}. Take it out of the prompt, or "
                "use one made for this model's family."
            )
        found.append(embedding)
    return found


def _made_for(family: Family, vectors: tuple[torch.Tensor, ...]) -> str:
    if family != "unknown":
        return FAMILY_LABELS[family]
    return f"a text encoder {int(vectors[0].shape[-1])} wide"
