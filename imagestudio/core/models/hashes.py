"""The short hashes other tools name model files by, computed once per file and cached.

A1111 writes ``Model hash`` as the first 10 hex digits of the checkpoint file's sha256 (Civitai
calls it "AutoV2") and ``Lora hashes`` as the first 12 of a LoRA's "addnet" hash: the sha256 of a
safetensors file without its header, so that editing the header's metadata keeps the hash.
Civitai and other readers find the model and LoRAs of a picture by these. Hashing a 6 GB file
takes seconds, so each result is kept in ``hashes.json`` in the cache folder, keyed by the
file's path, size and modification time. Other facts that are slow to learn about a file (what
an upscaler is, which needs torch and the whole network) are kept the same way
(`cached_fact`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imagestudio.core.errors import StorageError
from imagestudio.core.outputs.storage import atomic_write_bytes

__all__ = ["cached_fact", "embedding_hash", "lora_hash", "model_hash"]

CACHE_NAME = "hashes.json"
_CHUNK = 4 << 20
# Entries for files that have gone are dropped once the cache holds more than this many.
_MAX_ENTRIES = 2000
_lock = threading.Lock()
log = logging.getLogger(__name__)


def _sha256(path: Path, skip_header: bool) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        if skip_header:
            # safetensors: an 8-byte little-endian header length, the JSON header, the tensors
            (length,) = struct.unpack("<Q", handle.read(8))
            handle.seek(8 + length)
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _load(cache: Path) -> dict[str, Any]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no cache yet, or a damaged one: it is rebuilt
    return data if isinstance(data, dict) else {}


def cached_fact(path: Path, cache_dir: Path, kind: str, compute: Callable[[Path], Any]) -> Any:
    """`compute(path)` (JSON-able), kept under `kind` for this file's path, size and mtime, so
    it runs once per version of the file. None when the file cannot be read or `compute`
    raises OSError or ValueError (nothing is cached then)."""
    try:
        path = path.resolve()
        stat = path.stat()
    except OSError:
        return None
    stamp = [stat.st_size, stat.st_mtime_ns]
    cache = cache_dir / CACHE_NAME
    with _lock:
        entries = _load(cache)
        entry = entries.get(str(path))
        if isinstance(entry, dict) and entry.get("stamp") == stamp and kind in entry:
            return entry[kind]
        try:
            value = compute(path)
        except (OSError, ValueError, struct.error) as exc:
            log.warning("could not read %s (%s): %s", path, kind, exc)
            return None
        entry = entry if isinstance(entry, dict) and entry.get("stamp") == stamp else {}
        entries[str(path)] = entry | {"stamp": stamp, kind: value}
        if len(entries) > _MAX_ENTRIES:
            entries = {k: v for k, v in entries.items() if Path(k).exists()}
        try:
            atomic_write_bytes(cache, json.dumps(entries, indent=1).encode(), overwrite=True)
        except StorageError as exc:  # a full disk costs only the cache
            log.warning("could not save the file cache: %s", exc)
        return value


def _cached(path: Path, cache_dir: Path, kind: str) -> str | None:
    """The `kind` ("sha256" or "addnet") hash of `path`, from the cache or computed now; None
    when the file cannot be read (the picture is then written without it)."""
    if kind == "addnet" and path.suffix.lower() != ".safetensors":
        kind = "sha256"  # other formats have no header to skip
    value = cached_fact(path, cache_dir, kind, lambda p: _sha256(p, skip_header=kind == "addnet"))
    return value if isinstance(value, str) else None


def model_hash(path: Path, cache_dir: Path) -> str | None:
    """A1111's ``Model hash`` of a checkpoint file (10 hex digits), or None for a folder model
    (A1111 hashes single files only) or a file that cannot be read."""
    if not path.is_file():
        return None
    value = _cached(path, cache_dir, "sha256")
    return value[:10] if value else None


def lora_hash(path: Path, cache_dir: Path) -> str | None:
    """A1111's hash of a LoRA file in ``Lora hashes`` (12 hex digits), or None."""
    if not path.is_file():
        return None
    value = _cached(path, cache_dir, "addnet")
    return value[:12] if value else None


def embedding_hash(path: Path, cache_dir: Path) -> str | None:
    """A1111's hash of a textual-inversion embedding in ``TI hashes``: the file's sha256, 12 hex
    digits (how Civitai finds the embedding a picture used), or None."""
    if not path.is_file():
        return None
    value = _cached(path, cache_dir, "sha256")
    return value[:12] if value else None
