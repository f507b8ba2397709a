"""ComfyUI servers' bearer tokens, kept out of the settings file, the logs and the pictures.

They go in the OS keyring (the `keyring` library: Keychain, Windows Credential Locker, Secret
Service/KWallet) when it has a usable backend; otherwise in ``backend-tokens.json`` in the config
folder, a file only the user can read (mode 0600, written atomically, never world-readable even
for a moment). A token is never put into an exception message or a log line here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from imagestudio.core.errors import InvalidRequest, StorageError
from imagestudio.core.paths import app_paths

log = logging.getLogger(__name__)

SERVICE = "ImageStudio ComfyUI servers"
FILE_NAME = "backend-tokens.json"
MAX_TOKEN_CHARS = 4096
_MAX_FILE_BYTES = 1 << 20


def check_token(token: str) -> str:
    """A token as it can go in an HTTP header: visible ASCII, no spaces (said without it)."""
    token = token.strip()
    if not token:
        raise InvalidRequest("The token is empty; give the server's token or none.")
    if len(token) > MAX_TOKEN_CHARS:
        raise InvalidRequest(f"The token is longer than {MAX_TOKEN_CHARS} characters.")
    if not all(33 <= ord(char) <= 126 for char in token):
        # a newline would let the token add headers of its own; say so without showing it
        raise InvalidRequest(
            "The token holds spaces, line breaks or characters that are not plain ASCII; "
            "copy it again."
        )
    return token


def usable_keyring() -> Any | None:
    """The keyring backend to store tokens in, or None when there is no real one (the fail
    and null backends, an empty chain, a priority of 0 or less: headless Linux, CI)."""
    if os.environ.get("IMAGESTUDIO_KEYRING", "").strip().lower() in ("off", "0", "no", "file"):
        return None
    try:
        import keyring
        from keyring.backends import chainer, fail
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken keyring configuration: the file is the safe place
        log.warning("the keyring could not be opened; tokens go to a private file")
        return None
    null_type = _null_keyring_type()
    if isinstance(backend, fail.Keyring) or (null_type and isinstance(backend, null_type)):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    try:
        priority = float(getattr(type(backend), "priority", 1))
    except Exception:
        priority = 1.0
    return backend if priority > 0 else None


def _null_keyring_type() -> type | None:
    try:
        from keyring.backends import null
    except ImportError:
        return None
    return null.Keyring


def token_file() -> Path:
    return app_paths().config_dir / FILE_NAME


def _read_file(path: Path) -> dict[str, str]:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StorageError(
            f"The token file {path} cannot be read ({exc.strerror or exc})."
        ) from None
    try:
        data = json.loads(raw.decode("utf-8")) if len(raw) <= _MAX_FILE_BYTES else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise StorageError(
            f"The token file {path} is damaged; delete it and give the servers' tokens again."
        )
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _write_file(path: Path, tokens: dict[str, str]) -> None:
    """Write atomically, created with mode 0600 from the start (no moment of wider access)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(tokens, indent=1, sort_keys=True).encode("utf-8")
    try:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)  # the umask cannot widen it, but a strange one could narrow
        os.replace(temporary, path)
    except OSError as exc:
        raise StorageError(
            f"The token file {path} could not be written ({exc.strerror or exc})."
        ) from None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()


def save_token(name: str, token: str) -> str:
    """Keep `token` for the server `name`; returns where ("the keyring" or the file's path)."""
    token = check_token(token)
    backend = usable_keyring()
    if backend is not None:
        try:
            backend.set_password(SERVICE, name, token)
        except Exception as exc:  # locked, refused: say the kind, never the token
            log.warning("the keyring refused the token of %r (%s)", name, type(exc).__name__)
        else:
            _forget_in_file(name)
            return "the keyring"
    path = token_file()
    tokens = _read_file(path)
    tokens[name] = token
    _write_file(path, tokens)
    return str(path)


def load_token(name: str) -> str | None:
    """The token of the server `name`, or None when it has none."""
    backend = usable_keyring()
    if backend is not None:
        try:
            token = backend.get_password(SERVICE, name)
        except Exception as exc:
            log.warning("the keyring could not be read for %r (%s)", name, type(exc).__name__)
            token = None
        if token:
            return str(token)
    return _read_file(token_file()).get(name)


def has_token(name: str) -> bool:
    return load_token(name) is not None


def delete_token(name: str) -> None:
    """Forget the token of `name`, wherever it is kept."""
    backend = usable_keyring()
    if backend is not None:
        with contextlib.suppress(Exception):
            backend.delete_password(SERVICE, name)
    _forget_in_file(name)


def _forget_in_file(name: str) -> None:
    path = token_file()
    if not path.is_file():
        return
    tokens = _read_file(path)
    if tokens.pop(name, None) is not None:
        _write_file(path, tokens)
