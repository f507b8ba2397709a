"""The text a picture carries, wherever each tool puts it: PNG text chunks (also after the image
data), EXIF UserComment (8-byte charset prefix, either UTF-16 byte order), ComfyUI's graphs in
EXIF tags, with UTF-8-in-latin-1 mojibake undone. Bounded in size; never raises for bad data.
`metadata` decides what the text means."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from PIL import Image

from imagestudio.core.outputs.values import MAX_TEXT_CHARS

PARAMETERS_KEY = "parameters"
IMAGESTUDIO_KEY = "imagestudio"
INVOKEAI_KEY = "invokeai_metadata"

_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286


def fix_mojibake(text: str) -> str:
    """UTF-8 written into a latin-1 tEXt chunk (Stability Matrix does) reads as "Ã©" for "é";
    such text is turned back. Real latin-1 text is almost never valid UTF-8, so it is kept."""
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def decode_user_comment(raw: Any) -> str | None:
    """Text of an EXIF UserComment: an 8-byte charset prefix, then the text."""
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, bytes) or len(raw) < 8:
        return None
    prefix, body = raw[:8], raw[8:]
    if prefix == b"UNICODE\x00":
        return decode_utf16(body)
    if prefix in (b"ASCII\x00\x00\x00", b"\x00" * 8):
        # Many tools put UTF-8 under the ASCII label; latin-1 would turn it into mojibake.
        return body.decode("utf-8", errors="replace").rstrip("\x00")
    return None


def decode_utf16(body: bytes) -> str:
    if body.startswith((b"\xfe\xff", b"\xff\xfe")):
        return body.decode("utf-16", errors="replace").rstrip("\x00")
    body = body[: len(body) // 2 * 2]
    # The EXIF standard leaves the byte order open: A1111 (piexif) writes big-endian, some
    # Windows tools little-endian. ASCII characters give a zero high byte, so the side with
    # more zeros is the high byte; with no zeros at all (e.g. all CJK) big-endian is the guess.
    zeros_even = body[0::2].count(0)
    zeros_odd = body[1::2].count(0)
    encoding = "utf-16-le" if zeros_odd > zeros_even else "utf-16-be"
    return body.decode(encoding, errors="replace").rstrip("\x00")


def text_chunk(chunks: dict[str, Any], key: str) -> str | None:
    """A text chunk, or None when it is missing, not text, or larger than any real settings."""
    value = chunks.get(key)
    if isinstance(value, bytes):
        value = value[: MAX_TEXT_CHARS * 4 + 1].decode("utf-8", errors="replace")
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        return None
    return fix_mojibake(value)


def json_chunk(chunks: dict[str, Any], key: str) -> Any:
    """A chunk's JSON value (of any type), or None when it is missing or not JSON."""
    text = text_chunk(chunks, key)
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


# Chunks that carry settings in some tool's format; when none of them comes before the image
# data, the chunks after it are read too.
SETTINGS_KEYS = (
    IMAGESTUDIO_KEY,
    PARAMETERS_KEY,
    INVOKEAI_KEY,
    "parameters-json",
    "prompt",
    "workflow",
    "Comment",
    "generation_data",
    "sd-metadata",
    "Dream",
    "Prompt",
    "XML:com.adobe.xmp",
)


def text_chunks(image: Image.Image) -> dict[str, Any]:
    chunks: dict[str, Any] = {str(k): v for k, v in image.info.items()}
    if any(key in chunks for key in SETTINGS_KEYS):
        return chunks
    # PNG text chunks may also follow the image data; Pillow only sees those after decoding it,
    # which is slow, so it is done only when the chunks before the data held nothing for us.
    if image.format == "PNG":
        # A truncated or corrupt image must not stop us using the chunks already read.
        with contextlib.suppress(Exception):
            chunks.update(image.text)  # type: ignore[attr-defined]
    return chunks


def exif_user_comment(image: Image.Image) -> str | None:
    try:
        exif = image.getexif()
        raw = exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    except Exception:
        # Broken EXIF is malformed metadata, which is skipped, never reported.
        return None
    return decode_user_comment(raw)


def exif_graphs(image: Image.Image) -> dict[str, str]:
    """ComfyUI's graphs in a WebP or JPEG: its savers write ``prompt:{...}`` and
    ``workflow:{...}`` into the first EXIF tags (Model, Make, ImageDescription...)."""
    try:
        values = list(image.getexif().items())[:64]
    except Exception:  # broken EXIF is skipped, as everywhere
        return {}
    graphs: dict[str, str] = {}
    for _tag, value in values:
        if isinstance(value, bytes):
            value = value[: MAX_TEXT_CHARS * 4].decode("utf-8", errors="replace")
        if not isinstance(value, str):
            continue
        name, colon, _ = value[:10].partition(":")
        if colon and name in ("prompt", "workflow") and name not in graphs:
            graphs[name] = value[len(name) + 1 :].strip("\x00")
    return graphs
