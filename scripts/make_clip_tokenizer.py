"""Derive CLIP's tokenizer files (vocab.json, merges.txt) from the BPE table in open-clip-torch.

    python scripts/make_clip_tokenizer.py OUT_DIR [--wheel PATH]

The BPE merge list ships, MIT-licensed, in the PyPI wheel `open-clip-torch` as
`open_clip/bpe_simple_vocab_16e6.txt.gz`. Without --wheel the script downloads that wheel from
PyPI with pip (a package registry, not a model hub). The vocabulary is built the way CLIP builds
it: 256 byte symbols, the same with an end-of-word mark, one token per merge, then the two special
tokens; the result is checked against a known tokenisation.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from imagestudio.dev.randommodels import byte_unicode_alphabet

MERGES = 49152 - 256 - 2  # CLIP keeps the first 48,894 merges of the file
EXPECTED = {"a photo of a cat": [49406, 320, 1125, 539, 320, 2368, 49407]}


def read_bpe(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read("open_clip/bpe_simple_vocab_16e6.txt.gz")
    lines = gzip.GzipFile(fileobj=io.BytesIO(data)).read().decode("utf-8").split("\n")
    return lines[1 : MERGES + 1]  # line 0 is a version header


def write_tokenizer(out: Path, merges: list[str]) -> None:
    symbols = byte_unicode_alphabet()
    vocab = symbols + [s + "</w>" for s in symbols]
    vocab += ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(
        json.dumps({tok: i for i, tok in enumerate(vocab)}, ensure_ascii=False), "utf-8"
    )
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", "utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": 77,
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "do_lower_case": True,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", "utf-8")


def check(out: Path) -> None:
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(out, local_files_only=True)
    for text, ids in EXPECTED.items():
        got = tokenizer(text).input_ids
        if got != ids:
            raise SystemExit(f"tokenizer check failed: {text!r} -> {got}, expected {ids}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--wheel", type=Path, help="a downloaded open-clip-torch wheel")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel
        if wheel is None:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-q",
                    "open-clip-torch==3.3.0",
                    "-d",
                    tmp,
                ],
                check=True,
            )
            wheel = next(Path(tmp).glob("open_clip_torch-*.whl"))
        write_tokenizer(args.out, read_bpe(wheel))
    check(args.out)
    print(f"wrote and checked CLIP tokenizer files in {args.out}")


if __name__ == "__main__":
    main()
