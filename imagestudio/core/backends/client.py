"""One ComfyUI server's API, synchronous (jobs run on a worker thread): HTTP through urllib and
events through a websocket (`websocket-client`).

What the server sends back is not trusted: every HTTP body is read up to a limit (JSON 16 MB,
pictures 256 MB), JSON is parsed only within that size and its nesting and number limits, each
websocket frame is refused past `MAX_FRAME_BYTES` before it is read, and the server's file names
only ever go back to it as query values, never into a local path. https certificates are
verified with the system's default context. The bearer token goes in the Authorization header
and nowhere else: no message here includes it.

Every failure is a `BackendError` whose text is one sentence naming the server, and the field
or node at fault.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from imagestudio.core.errors import BackendError, BackendModelError

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 16 * 2**20
MAX_IMAGE_BYTES = 256 * 2**20
MAX_FRAME_BYTES = 32 * 2**20  # a preview frame is a few kB; a picture message at most this
MAX_TEXT_BYTES = 64 * 1024  # an error page: only its first line is shown
MAX_PREVIEW_SIDE = 4096
DEFAULT_TIMEOUT = 30.0

# the three model lists "test connection" shows: node class, its input, what the list is
MODEL_LISTS = (
    ("CheckpointLoaderSimple", "ckpt_name", "checkpoints"),
    ("LoraLoader", "lora_name", "loras"),
    ("UpscaleModelLoader", "model_name", "upscalers"),
)

PREVIEW_EVENT = 1
PREVIEW_FORMATS = {1: "JPEG", 2: "PNG"}


def parse_json(raw: bytes, what: str) -> Any:
    """JSON within limits: the size was bounded by the read; nesting (RecursionError) and
    Python's 4300-digit integer limit (ValueError) turn into one sentence."""
    if len(raw) > MAX_JSON_BYTES:
        raise BackendError(f"{what} is larger than {MAX_JSON_BYTES // 2**20} MB; refused.")
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise BackendError(f"{what} is nested too deeply to read; refused.") from None
    except (UnicodeDecodeError, ValueError):
        raise BackendError(f"{what} is not valid JSON.") from None


@dataclass(frozen=True)
class Device:
    name: str
    kind: str
    vram_total: int
    vram_free: int


@dataclass(frozen=True)
class ServerInfo:
    """What "test connection" shows: the device and the model files the server offers."""

    url: str
    devices: tuple[Device, ...]
    checkpoints: tuple[str, ...]
    loras: tuple[str, ...]
    upscalers: tuple[str, ...]
    python_version: str = ""

    def device_text(self) -> str:
        """ "NVIDIA RTX 4090, 24 GiB" (the first device)."""
        if not self.devices:
            return "unknown device"
        device = self.devices[0]
        name = device.name.split(" : ")[0].strip() or device.kind or "device"
        if device.kind == "cpu" or device.name.startswith("cpu"):
            return "CPU"
        return f"{name}, {device.vram_total / 2**30:.0f} GiB" if device.vram_total else name


@dataclass
class Event:
    """One websocket message: a JSON event (`kind`, `data`) or a preview (`preview` bytes)."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    preview: bytes | None = None
    preview_format: str = ""


def _first_line(raw: bytes) -> str:
    text = raw[:MAX_TEXT_BYTES].decode("utf-8", "replace").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[0] if lines else ""
    return line if len(line) <= 300 else line[:299] + "…"


class ComfyClient:
    """The calls ImageStudio makes to one ComfyUI server (`name` at `url`)."""

    def __init__(
        self,
        name: str,
        url: str,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self._ssl = ssl_context
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=self._ssl_context())
        )

    def __repr__(self) -> str:  # never the token
        return f"ComfyClient({self.name!r}, {self.url!r}, token={'yes' if self._token else 'no'})"

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()  # certificates and host names verified
        return self._ssl

    @property
    def label(self) -> str:
        return f"The server '{self.name}' ({self.url})"

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": "ImageStudio"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    # -- HTTP ------------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        *,
        limit: int = MAX_JSON_BYTES,
        timeout: float | None = None,
        accept: Sequence[int] = (200,),
    ) -> tuple[int, bytes]:
        """One request; (status, body) when the status is in `accept` (or is 400 or 500, which
        the callers read), else a `BackendError`. The body is read up to `limit` bytes."""
        headers = self._headers()
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self.url + path, body, headers, method=method)
        what = f"{method} {path.split('?')[0]}"
        try:
            response = self._opener.open(request, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as error:
            with error:
                status = error.code
                raw = self._read(error, MAX_TEXT_BYTES if status >= 500 else limit, what)
            if status in accept or status in (400, 500):
                return status, raw
            raise self._http_error(status, raw, what) from None
        except urllib.error.URLError as error:
            raise self._connection_error(error.reason) from None
        except (OSError, ValueError) as error:  # timeouts while reading headers, bad ports
            raise self._connection_error(error) from None
        with response:
            try:
                return response.status, self._read(response, limit, what)
            except (OSError, ValueError) as error:
                if isinstance(error, BackendError):
                    raise
                raise self._connection_error(error) from None

    def _read(self, response: Any, limit: int, what: str) -> bytes:
        length = response.headers.get("Content-Length")
        if length and length.strip().isdigit() and int(length) > limit:
            raise BackendError(
                f"{self.label} sent {int(length) / 2**20:.0f} MB for {what}, more than the "
                f"{limit / 2**20:.0f} MB allowed; refused."
            )
        chunks, size = [], 0
        while True:
            chunk = response.read(min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise BackendError(
                    f"{self.label} sent more than {limit / 2**20:.0f} MB for {what}; refused."
                )
        return b"".join(chunks)

    def _http_error(self, status: int, raw: bytes, what: str) -> BackendError:
        if status in (401, 403):
            why = "has no token" if not self._token else "was refused"
            return BackendError(
                f"{self.label} refused {what} (HTTP {status}): the server's token {why}; "
                "set the right token for this server."
            )
        if status == 404:
            return BackendError(
                f"{self.label} does not know {what} (HTTP 404); is this address a ComfyUI server?"
            )
        detail = _first_line(raw)
        return BackendError(
            f"{self.label} answered {what} with HTTP {status}" + (f": {detail}" if detail else ".")
        )

    def _connection_error(self, reason: object) -> BackendError:
        if isinstance(reason, ssl.SSLCertVerificationError):
            return BackendError(
                f"{self.label} failed the https certificate check "
                f"({reason.verify_message or 'certificate not trusted'}); ImageStudio only "
                "talks to servers whose certificate is valid."
            )
        if isinstance(reason, ssl.SSLError):
            return BackendError(
                f"{self.label} could not set up https ({reason.reason or reason}); check that "
                "the URL's scheme and port are right."
            )
        if isinstance(reason, socket.gaierror):
            host = urllib.parse.urlsplit(self.url).hostname
            return BackendError(
                f"{self.label} cannot be reached: the host name {host!r} is not known."
            )
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return BackendError(f"{self.label} did not answer in time; is it running and up?")
        if isinstance(reason, ConnectionRefusedError):
            return BackendError(
                f"{self.label} cannot be reached: nothing listens there (connection refused); "
                "is ComfyUI running?"
            )
        if isinstance(reason, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            return BackendError(f"{self.label} closed the connection; did it stop?")
        text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
        return BackendError(f"{self.label} cannot be reached ({text}).")

    def get_json(self, path: str, timeout: float | None = None) -> Any:
        status, raw = self.call("GET", path, timeout=timeout)
        if status != 200:
            raise self._http_error(status, raw, f"GET {path}")
        return parse_json(raw, f"{self.label}'s answer to GET {path}")

    # -- what the server is and has ---------------------------------------------------------------

    def system_stats(self, timeout: float | None = None) -> dict[str, Any]:
        data = self.get_json("/system_stats", timeout)
        if not isinstance(data, dict):
            raise BackendError(f"{self.label} answered /system_stats oddly; is it ComfyUI?")
        return data

    def devices(self, stats: dict[str, Any] | None = None) -> tuple[Device, ...]:
        stats = stats if stats is not None else self.system_stats()
        found = []
        for item in stats.get("devices") or []:
            if isinstance(item, dict):
                total, free = item.get("vram_total"), item.get("vram_free")
                found.append(
                    Device(
                        str(item.get("name", ""))[:200],
                        str(item.get("type", ""))[:40],
                        total if isinstance(total, int) and total > 0 else 0,
                        free if isinstance(free, int) and free > 0 else 0,
                    )
                )
        return tuple(found)

    def options(self, node: str, input_name: str) -> tuple[str, ...]:
        """The dropdown of a node's input (the files the server has), [] when it lacks the
        node."""
        status, raw = self.call("GET", f"/object_info/{node}")
        if status != 200:
            raise self._http_error(status, raw, f"GET /object_info/{node}")
        data = parse_json(raw, f"{self.label}'s /object_info/{node}")
        try:
            spec = data[node]["input"]["required"][input_name][0]
        except (KeyError, IndexError, TypeError):
            return ()
        if not isinstance(spec, list):
            return ()
        return tuple(str(item) for item in spec if isinstance(item, str))

    def checkpoints(self) -> tuple[str, ...]:
        return self.options("CheckpointLoaderSimple", "ckpt_name")

    def info(self) -> ServerInfo:
        """Everything "test connection" shows (four small requests)."""
        stats = self.system_stats()
        lists = {what: self.options(node, name) for node, name, what in MODEL_LISTS}
        system = stats.get("system") if isinstance(stats.get("system"), dict) else {}
        return ServerInfo(
            self.url,
            self.devices(stats),
            lists["checkpoints"],
            lists["loras"],
            lists["upscalers"],
            str((system or {}).get("python_version", ""))[:100],
        )

    def queue(self, timeout: float | None = None) -> tuple[list[str], list[str]]:
        """The prompt ids (running, waiting) on the server."""
        data = self.get_json("/queue", timeout)

        def ids(key: str) -> list[str]:
            items = data.get(key) if isinstance(data, dict) else None
            return [
                str(item[1])
                for item in items or []
                if isinstance(item, list) and len(item) > 1 and isinstance(item[1], str)
            ]

        return ids("queue_running"), ids("queue_pending")

    # -- a job ------------------------------------------------------------------------------------

    def submit(self, graph: dict[str, Any], client_id: str) -> str:
        """POST /prompt; the prompt id, or a `BackendError` that names the node and input."""
        body = json.dumps({"prompt": graph, "client_id": client_id}).encode("utf-8")
        status, raw = self.call("POST", "/prompt", body, "application/json")
        if status == 200:
            data = parse_json(raw, f"{self.label}'s answer to POST /prompt")
            prompt_id = data.get("prompt_id") if isinstance(data, dict) else None
            if isinstance(prompt_id, str) and prompt_id:
                return prompt_id
            raise BackendError(f"{self.label} accepted the job but gave it no id; is it ComfyUI?")
        if status == 500:
            detail = _first_line(raw) or "no reason given"
            raise BackendError(
                f"{self.label} could not take the job (HTTP 500: {detail}); an older ComfyUI "
                "says so when the job uses a node it does not have."
            )
        try:
            data = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            detail = _first_line(raw)
            raise BackendError(
                f"{self.label} refused the job (HTTP {status})" + (f": {detail}" if detail else ".")
            )
        raise refusal(self.label, data, graph)

    def upload_image(self, data: bytes, name: str) -> str:
        """POST /upload/image (multipart) of a PNG we made; the name LoadImage reads it by."""
        boundary = uuid.uuid4().hex
        body = b"".join(
            [
                f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
                f'filename="{name}"\r\nContent-Type: image/png\r\n\r\n'.encode(),
                data,
                f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="overwrite"'
                f"\r\n\r\ntrue\r\n--{boundary}--\r\n".encode(),
            ]
        )
        status, raw = self.call(
            "POST", "/upload/image", body, f"multipart/form-data; boundary={boundary}"
        )
        if status != 200:
            raise self._http_error(status, raw, "POST /upload/image")
        reply = parse_json(raw, f"{self.label}'s answer to the upload")
        stored = reply.get("name") if isinstance(reply, dict) else None
        if not isinstance(stored, str) or not stored:
            raise BackendError(f"{self.label} took the upload but did not name the file.")
        folder = reply.get("subfolder") or ""
        return f"{folder}/{stored}" if isinstance(folder, str) and folder else stored

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The finished job's entry (outputs, status), or None while it is not finished."""
        data = self.get_json(f"/history/{urllib.parse.quote(prompt_id)}")
        entry = data.get(prompt_id) if isinstance(data, dict) else None
        return entry if isinstance(entry, dict) else None

    def view(self, image: dict[str, Any]) -> bytes:
        """A picture the job saved, by the server's own reference (sent back only as query
        values)."""
        params = {}
        for key in ("filename", "subfolder", "type"):
            value = image.get(key, "")
            if not isinstance(value, str) or len(value) > 1000:
                raise BackendError(f"{self.label} named a picture oddly ({key}); refused.")
            params[key] = value
        query = urllib.parse.urlencode(params)
        status, raw = self.call("GET", f"/view?{query}", limit=MAX_IMAGE_BYTES, timeout=120)
        if status != 200:
            raise self._http_error(status, raw, "GET /view")
        return raw

    def interrupt(self, prompt_id: str | None = None) -> None:
        """POST /interrupt (newer servers read the prompt id and stop only that job)."""
        body = json.dumps({"prompt_id": prompt_id} if prompt_id else {}).encode()
        self.call("POST", "/interrupt", body, "application/json", timeout=10)

    def delete_waiting(self, prompt_ids: Sequence[str]) -> None:
        body = json.dumps({"delete": list(prompt_ids)}).encode()
        self.call("POST", "/queue", body, "application/json", timeout=10)

    # -- events -----------------------------------------------------------------------------------

    def events(self, client_id: str, timeout: float | None = None) -> EventStream:
        """The websocket of `client_id` (open it before submitting, so no event is missed)."""
        return EventStream(self, client_id, timeout or self.timeout)

    def websocket_url(self, client_id: str) -> str:
        parts = urllib.parse.urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = urllib.parse.urlencode({"clientId": client_id})
        return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path + "/ws", query, ""))


def refusal(label: str, data: dict[str, Any], graph: dict[str, Any]) -> BackendError:
    """The sentence for a 400 from POST /prompt: the first node error (node, input, what the
    server has instead, for a model file), or the top-level error."""
    node_errors = data.get("node_errors")
    if isinstance(node_errors, dict):
        for node_id, info in node_errors.items():
            if not isinstance(info, dict):
                continue
            kind = str(info.get("class_type") or graph.get(node_id, {}).get("class_type", "?"))
            for error in info.get("errors") or []:
                if isinstance(error, dict):
                    return _node_error(label, str(node_id), kind, error)
    top = data.get("error")
    if isinstance(top, dict):
        message = str(top.get("message", "")).strip().rstrip(".")
        details = str(top.get("details", "")).strip().rstrip(".")
        text = "; ".join(part for part in (message, details) if part)[:400]
        return BackendError(f"{label} refused the job: {text or 'no reason given'}.")
    return BackendError(f"{label} refused the job without saying why.")


_MODEL_INPUTS = {
    "ckpt_name": ("checkpoint", "BackendModelError"),
    "lora_name": ("LoRA", ""),
    "model_name": ("upscaler", ""),
}


def _node_error(label: str, node_id: str, kind: str, error: dict[str, Any]) -> BackendError:
    extra = error.get("extra_info") if isinstance(error.get("extra_info"), dict) else {}
    assert isinstance(extra, dict)
    input_name = str(extra.get("input_name", ""))
    received = extra.get("received_value")
    if error.get("type") == "value_not_in_list" and input_name in _MODEL_INPUTS:
        what = _MODEL_INPUTS[input_name][0]
        config = extra.get("input_config")
        options = config[0] if isinstance(config, list) and config else []
        names = [str(o) for o in options if isinstance(o, str)] if isinstance(options, list) else []
        has = (
            f"it has {len(names)}: {', '.join(names[:5])}{', …' if len(names) > 5 else ''}"
            if names
            else f"it has no {what} files"
        )
        return BackendModelError(
            f"{label} has no {what} {str(received)[:200]!r} ({input_name} of node {node_id}, "
            f"{kind}); {has}."
        )
    message = str(error.get("message", "")).strip().rstrip(".")
    details = str(error.get("details", "")).strip().rstrip(".")
    where = f"node {node_id} ({kind})" + (f", input {input_name}" if input_name else "")
    text = "; ".join(part for part in (message, details) if part)[:400] or "refused"
    return BackendError(f"{label} refused the job at {where}: {text}.")


class EventStream:
    """The server's websocket for one client id: JSON events and binary preview frames."""

    def __init__(self, client: ComfyClient, client_id: str, timeout: float) -> None:
        self.client = client
        self.client_id = client_id
        self.timeout = timeout
        self._ws: Any = None
        self.connect()

    def connect(self) -> None:
        import websocket

        client = self.client
        url = client.websocket_url(self.client_id)
        sslopt = {"context": client._ssl_context()} if url.startswith("wss:") else None
        ws = websocket.WebSocket(sslopt=sslopt, enable_multithread=False)
        header = [f"{k}: {v}" for k, v in client._headers().items() if k != "User-Agent"]
        try:
            ws.connect(url, header=header, timeout=self.timeout, suppress_origin=True)
        except websocket.WebSocketBadStatusException as error:
            code = int(getattr(error, "status_code", 0) or 0)
            raise client._http_error(code, b"", "the websocket /ws") from None
        except (OSError, websocket.WebSocketException) as error:
            raise client._connection_error(_root(error)) from None
        _bound_frames(ws)
        self._ws = ws

    def receive(self, wait: float) -> Event | None:
        """The next event, or None when nothing came within `wait` seconds. A closed or broken
        connection raises `BackendError` (the caller may `connect` again)."""
        import websocket

        ws = self._ws
        if ws is None:
            raise BackendError(f"{self.client.label}: the websocket is closed.")
        ws.settimeout(wait)
        try:
            opcode, data = ws.recv_data()
        except websocket.WebSocketTimeoutException:
            return None
        except TimeoutError:
            return None
        except FrameTooLarge as error:
            self.close()
            raise BackendError(f"{self.client.label} sent {error}; refused.") from None
        except (OSError, websocket.WebSocketException) as error:
            self.close()
            raise self.client._connection_error(_root(error)) from None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self.close()
            raise self.client._connection_error(ConnectionResetError())
        if opcode == websocket.ABNF.OPCODE_BINARY:
            return _binary_event(data)
        if opcode != websocket.ABNF.OPCODE_TEXT:
            return Event("other")
        try:
            message = json.loads(data)
        except (ValueError, RecursionError):
            return Event("other")
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return Event("other")
        payload = message.get("data")
        return Event(message["type"], payload if isinstance(payload, dict) else {})

    def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                ws.close(timeout=1)
            except Exception:  # closing a broken socket: nothing to save
                log.debug("websocket close failed", exc_info=True)

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _root(error: BaseException) -> BaseException:
    """The OS error under a websocket library error, when it has one."""
    if isinstance(error, OSError):
        return error
    text = str(error).lower()
    if "connection is already closed" in text or "closed" in text:
        return ConnectionResetError()
    return error


def _binary_event(data: bytes) -> Event:
    """A preview frame: big-endian uint32 event type (1), uint32 format (1 JPEG, 2 PNG), then
    the image's bytes."""
    if len(data) < 8 or int.from_bytes(data[:4], "big") != PREVIEW_EVENT:
        return Event("other")
    kind = PREVIEW_FORMATS.get(int.from_bytes(data[4:8], "big"))
    if kind is None:
        return Event("other")
    return Event("preview", preview=data[8:], preview_format=kind)


def decode_preview(data: bytes, kind: str) -> Any | None:
    """A preview frame's picture as a uint8 RGB array, or None when it is not a picture of the
    kind it claims (or is absurdly large)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=[kind]) as image:
            if max(image.size) > MAX_PREVIEW_SIDE:
                return None
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


class FrameTooLarge(Exception):
    pass


def _bound_frames(ws: Any) -> None:
    """Make `ws` refuse a frame whose declared length passes MAX_FRAME_BYTES before reading
    its payload (websocket-client has no size limit of its own)."""
    from websocket._abnf import frame_buffer

    class _Bounded(frame_buffer):
        def recv_length(self) -> None:
            super().recv_length()
            if self.length is not None and self.length > MAX_FRAME_BYTES:
                raise FrameTooLarge(
                    f"a websocket message of {self.length / 2**20:.0f} MB (more than "
                    f"{MAX_FRAME_BYTES // 2**20} MB)"
                )

    old = ws.frame_buffer
    ws.frame_buffer = _Bounded(old.recv, old.skip_utf8_validation)
