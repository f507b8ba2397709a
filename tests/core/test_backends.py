"""The backends' parts that need no server: names and URLs, token storage, bounded responses,
JSON limits, the websocket's preview frames and frame bound, the refusal sentences, settings."""

from __future__ import annotations

import datetime
import http.server
import io
import ipaddress
import json
import os
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imagestudio.core.backendnames import (
    check_backend_name,
    check_backend_url,
)
from imagestudio.core.backends import tokens
from imagestudio.core.backends.client import (
    ComfyClient,
    _binary_event,
    decode_preview,
    parse_json,
    refusal,
)
from imagestudio.core.backends.remote import match_upscaler
from imagestudio.core.errors import BackendError, BackendModelError, InvalidRequest
from imagestudio.core.requests import GenerationRequest, request_from_dict
from imagestudio.core.settings import Settings, load_settings, save_settings

SECRET = "s3cret-abc"


@pytest.mark.parametrize("name", ["gpu-box", "GPU 2", "a_b", "x" * 40])
def test_good_names(name: str) -> None:
    assert check_backend_name(f" {name} ") == name


@pytest.mark.parametrize("name", ["", "  ", "x" * 41, "a/b", "näme", "local", "AUTO", "a\nb"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidRequest):
        check_backend_name(name)


def test_urls() -> None:
    assert check_backend_url("HTTP://Host:8188/") == "http://Host:8188"
    assert check_backend_url("https://gpu.example.com/comfy/") == "https://gpu.example.com/comfy"
    for bad in ["ftp://x", "host:8188", "http://", "http://h:99999", "http://h/?a=1", "http://h a"]:
        with pytest.raises(InvalidRequest):
            check_backend_url(bad)


def test_credentials_in_a_url_are_refused_without_repeating_them() -> None:
    with pytest.raises(InvalidRequest, match="user name or password") as caught:
        check_backend_url(f"https://me:{SECRET}@gpu.example.com")
    assert SECRET not in str(caught.value)


def test_the_request_field_and_old_requests() -> None:
    assert GenerationRequest("x").backend == "local"
    assert GenerationRequest("x", backend=" Auto ").backend == "auto"
    assert GenerationRequest("x", backend="gpu box").backend == "gpu box"
    with pytest.raises(InvalidRequest):
        GenerationRequest("x", backend="no/such")
    old = GenerationRequest("x").to_dict()
    del old["backend"]
    assert request_from_dict(old).backend == "local"


def test_settings_keep_servers_and_set_aside_bad_ones(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings(backends=[{"name": "box", "url": "http://h:1"}])
    save_settings(settings, path)
    assert load_settings(path).backend_entries()[0].url == "http://h:1"
    data = json.loads(path.read_text())
    data["backends"] = [{"name": "box", "url": "ftp://h"}]
    path.write_text(json.dumps(data))
    loaded = load_settings(path)
    assert loaded.backends == [] and loaded.problems
    save_settings(loaded, path)
    assert json.loads(path.read_text())["backends"] == [{"name": "box", "url": "ftp://h"}]


def test_tokens_go_to_a_private_file_without_a_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGESTUDIO_KEYRING", "off")
    assert tokens.usable_keyring() is None
    where = tokens.save_token("box", SECRET)
    path = tokens.token_file()
    assert where == str(path)
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tokens.load_token("box") == SECRET
    tokens.save_token("other", "t2")
    tokens.delete_token("box")
    assert tokens.load_token("box") is None and tokens.load_token("other") == "t2"
    assert SECRET not in path.read_text()
    assert not list(path.parent.glob(".*.tmp"))


def test_a_token_with_a_line_break_is_refused_without_showing_it() -> None:
    with pytest.raises(InvalidRequest) as caught:
        tokens.save_token("box", f"{SECRET}\r\nX-Evil: 1")
    assert SECRET not in str(caught.value)


class _Keyring:
    priority = 1

    def __init__(self) -> None:
        self.kept: dict[tuple[str, str], str] = {}

    def set_password(self, service: str, name: str, token: str) -> None:
        self.kept[(service, name)] = token

    def get_password(self, service: str, name: str) -> str | None:
        return self.kept.get((service, name))

    def delete_password(self, service: str, name: str) -> None:
        self.kept.pop((service, name), None)


def test_the_keyring_is_used_when_it_is_a_real_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backends import fail

    monkeypatch.delenv("IMAGESTUDIO_KEYRING", raising=False)
    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    assert tokens.usable_keyring() is None
    fake = _Keyring()
    monkeypatch.setattr(keyring, "get_keyring", lambda: fake)
    assert tokens.usable_keyring() is fake
    assert tokens.save_token("box", SECRET) == "the keyring"
    assert not tokens.token_file().exists()  # nothing in a file
    assert tokens.load_token("box") == SECRET
    tokens.delete_token("box")
    assert fake.kept == {}


# -- HTTP against small stub servers on 127.0.0.1 ----------------------------------------------


@pytest.fixture
def stub() -> Iterator[tuple[str, dict[str, Any]]]:
    """A stub HTTP server: `behaviour["status"]`, `["body"]` (bytes or a size to stream),
    `["headers"]`; it records the Authorization header it got."""
    behaviour: dict[str, Any] = {"status": 200, "body": b"{}", "seen": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            behaviour["seen"].append(self.headers.get("Authorization"))
            body = behaviour["body"]
            self.send_response(behaviour["status"])
            if isinstance(body, int):  # a huge body, streamed, without Content-Length
                self.end_headers()
                chunk = b" " * 65536
                try:
                    for _ in range(body // len(chunk) + 1):
                        self.wfile.write(chunk)
                except OSError:
                    pass
                return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", behaviour
    finally:
        server.shutdown()
        server.server_close()


def test_a_wrong_token_says_token_and_never_shows_it(stub: tuple[str, dict[str, Any]]) -> None:
    url, behaviour = stub
    behaviour["status"], behaviour["body"] = 401, b"401: Unauthorized"
    with pytest.raises(BackendError, match="token was refused") as caught:
        ComfyClient("box", url, token=SECRET).system_stats()
    assert SECRET not in str(caught.value)
    assert behaviour["seen"] == [f"Bearer {SECRET}"]
    with pytest.raises(BackendError, match="has no token"):
        ComfyClient("box", url).system_stats()


def test_a_huge_body_is_refused(stub: tuple[str, dict[str, Any]]) -> None:
    url, behaviour = stub
    behaviour["body"] = 40 * 2**20  # more than the 16 MB allowed for JSON
    with pytest.raises(BackendError, match="more than 16 MB"):
        ComfyClient("box", url).system_stats()
    behaviour["body"] = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(BackendError, match="nested too deeply"):
        ComfyClient("box", url).system_stats()


def test_json_limits() -> None:
    with pytest.raises(BackendError, match="not valid JSON"):
        parse_json(b"1" * 5000, "x")  # past Python's integer digit limit
    with pytest.raises(BackendError, match="not valid JSON"):
        parse_json(b"\xff{", "x")
    assert parse_json(b'{"a": [1]}', "x") == {"a": [1]}


def test_preview_frames() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (255, 0, 0)).save(buffer, "JPEG")
    frame = (1).to_bytes(4, "big") + (1).to_bytes(4, "big") + buffer.getvalue()
    event = _binary_event(frame)
    assert event.kind == "preview" and event.preview_format == "JPEG"
    assert event.preview is not None
    array = decode_preview(event.preview, event.preview_format)
    assert array is not None and array.shape == (6, 8, 3) and array.dtype.name == "uint8"
    assert decode_preview(b"not a picture", "PNG") is None
    assert _binary_event(b"\x00\x00\x00\x02\x00\x00\x00\x01abc").kind == "other"


def test_a_missing_checkpoint_sentence() -> None:
    data = {
        "error": {"type": "prompt_outputs_failed_validation", "message": "failed"},
        "node_errors": {
            "1": {
                "class_type": "CheckpointLoaderSimple",
                "errors": [
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": "ckpt_name: 'x' not in [...]",
                        "extra_info": {
                            "input_name": "ckpt_name",
                            "input_config": [["a.safetensors", "b.ckpt"]],
                            "received_value": "x.safetensors",
                        },
                    }
                ],
            }
        },
    }
    error = refusal("The server 'box'", data, {})
    assert isinstance(error, BackendModelError)
    assert str(error) == (
        "The server 'box' has no checkpoint 'x.safetensors' (ckpt_name of node 1, "
        "CheckpointLoaderSimple); it has 2: a.safetensors, b.ckpt."
    )
    data["node_errors"] = {}
    assert str(refusal("S", data, {})) == "S refused the job: failed."


def test_upscaler_names_match_loosely() -> None:
    offered = ("4x-UltraSharp.pth", "RealESRGAN_x4plus.pth")
    assert match_upscaler("realesrgan-x4plus", offered) == "RealESRGAN_x4plus.pth"
    assert match_upscaler("4x-UltraSharp.pth", offered) == "4x-UltraSharp.pth"
    assert match_upscaler("swinir", offered) is None


def test_a_frame_past_the_bound_is_refused_before_it_is_read() -> None:
    from websocket._abnf import frame_buffer

    from imagestudio.core.backends import client

    data = io.BytesIO(bytes([0x82, 0x7F]) + (2**40).to_bytes(8, "big"))

    class FakeSocket:
        pass

    ws = FakeSocket()
    ws.frame_buffer = frame_buffer(data.read, True)  # type: ignore[attr-defined]
    client._bound_frames(ws)
    with pytest.raises(client.FrameTooLarge):
        ws.frame_buffer.recv_frame()


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, signed by its own key (cert.pem, key.pem)."""
    cryptography = pytest.importorskip("cryptography")  # keyring's SecretStorage brings it
    del cryptography
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_https_certificates_are_verified(tmp_path: Path) -> None:
    """A real TLS server on 127.0.0.1 with a self-signed certificate: refused in a sentence by
    default, and answered once that certificate is trusted (so the check is the real one)."""
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    body = b'{"system": {}, "devices": []}'

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        with pytest.raises(BackendError, match="failed the https certificate check"):
            ComfyClient("box", f"https://127.0.0.1:{port}").system_stats()
        trusted = ssl.create_default_context(cafile=str(cert_file))
        client = ComfyClient("box", f"https://127.0.0.1:{port}", ssl_context=trusted)
        assert client.system_stats() == {"system": {}, "devices": []}
    finally:
        server.shutdown()
        server.server_close()
