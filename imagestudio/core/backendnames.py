"""Where a job runs, as values: "local" (this computer), "auto", or a ComfyUI server's name; and
a server's settings entry (name and URL), checked in words.

Pure checks with no imports beyond the errors, so requests and settings (low layers) share them
with the backends package (a high one) that talks to the servers.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from imagestudio.core.errors import InvalidRequest

LOCAL = "local"
AUTO = "auto"
RESERVED = (LOCAL, AUTO)
MAX_NAME_CHARS = 40
MAX_URL_CHARS = 2000

_NAME_RE = re.compile(r"[A-Za-z0-9_\- ]+")


@dataclass(frozen=True)
class BackendEntry:
    """One ComfyUI server as the settings keep it (its token is kept apart: backends.tokens)."""

    name: str
    url: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "url": self.url}


def check_backend_name(name: object) -> str:
    """A server's name, stripped: 1-40 letters, digits, '-', '_' or spaces, not local/auto."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequest("A server needs a name (letters, digits, '-', '_' or spaces).")
    name = name.strip()
    if len(name) > MAX_NAME_CHARS:
        raise InvalidRequest(
            f"A server's name can be at most {MAX_NAME_CHARS} characters; {name[:50]!r} is "
            f"{len(name)}."
        )
    if not _NAME_RE.fullmatch(name):
        raise InvalidRequest(
            f"The server name {name!r} may hold only letters, digits, '-', '_' and spaces."
        )
    if name.lower() in RESERVED:
        raise InvalidRequest(
            f"{name!r} means {'this computer' if name.lower() == LOCAL else 'automatic'} "
            "already; give the server another name."
        )
    return name


def check_backend_url(url: object) -> str:
    """A server's base URL (http or https, a host, no credentials, no query), without a final
    slash. Credentials in the URL are refused: they would be written to the settings file."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidRequest("A server needs a URL, such as http://192.168.1.20:8188.")
    url = url.strip()
    if len(url) > MAX_URL_CHARS or any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise InvalidRequest("The server URL holds spaces or control characters; type it again.")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # raises on a port that is not a number or out of range
    except ValueError:
        raise InvalidRequest(
            "The server URL is not a valid address; write it as http://HOST:PORT."
        ) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidRequest(
            "The server URL must start with http:// or https:// (for example "
            "http://192.168.1.20:8188)."
        )
    if parts.username is not None or parts.password is not None:
        # the URL is kept in the settings file and shown: a password in it would leak
        raise InvalidRequest(
            "The server URL holds a user name or password; remove them from the URL and give "
            "the secret as the server's token instead (it is kept out of the settings file)."
        )
    if not parts.hostname:
        raise InvalidRequest("The server URL has no host name; write it as http://HOST:PORT.")
    if parts.query or parts.fragment:
        raise InvalidRequest("The server URL must not have a '?' query or a '#' part.")
    del port
    return urllib.parse.urlunsplit(
        (parts.scheme.lower(), parts.netloc, parts.path.rstrip("/"), "", "")
    )


def check_backend_choice(value: object) -> str:
    """Where a request runs: "local", "auto" or a server's name (whether that server exists is
    the job's question: a history entry still loads after the server is gone)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(
            "Where the job runs must be 'local', 'auto' or a server's name; none was given."
        )
    value = value.strip()
    if value.lower() in RESERVED:
        return value.lower()
    return check_backend_name(value)
