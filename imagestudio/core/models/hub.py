"""Talking to the Hugging Face Hub (or a mirror at HF_ENDPOINT) over plain HTTPS with urllib.

Requests carry the token only to the Hub's own host (never to the CDN it redirects to), and every
failure becomes a `ModelError` that says, in the user's terms, what went wrong and what to do.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from http.client import HTTPException, HTTPResponse
from typing import Any

from imagestudio import __version__
from imagestudio.core.errors import ModelError

DEFAULT_ENDPOINT = "https://huggingface.co"
ENDPOINT_ENV = "HF_ENDPOINT"
TOKEN_ENV = "HF_TOKEN"
# A file list or a model_index.json is KBs; a server that sends more is not the Hub.
MAX_JSON_BYTES = 32 * 2**20
JSON_DEADLINE_S = 120.0


class RequestContext:
    """What a request was for, so an error can say it in the user's terms."""

    def __init__(
        self, repo_id: str, revision: str, endpoint: str, has_token: bool, what: str
    ) -> None:
        self.repo_id = repo_id
        self.revision = revision
        self.endpoint = endpoint
        self.has_token = has_token
        self.what = what


class HTTPStatusError(ModelError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follow redirects, keeping the token for the Hub's own host only.

    The Hub redirects file downloads to a CDN with a signed address; the token must not go there.
    """

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            return None
        token = req.unredirected_hdrs.get("Authorization")
        same_host = (
            urllib.parse.urlparse(newurl).netloc == urllib.parse.urlparse(req.full_url).netloc
        )
        if token and same_host:
            new.add_unredirected_header("Authorization", token)
        return new


def endpoint_url(endpoint: str | None) -> str:
    value = (endpoint or os.environ.get(ENDPOINT_ENV, "") or DEFAULT_ENDPOINT).strip()
    return value.rstrip("/")


def token_value(token: str | None) -> str | None:
    value = (token if token is not None else os.environ.get(TOKEN_ENV, "")).strip()
    return value or None


def host_of(endpoint: str) -> str:
    return urllib.parse.urlparse(endpoint).hostname or endpoint


def resolve_url(endpoint: str, repo_id: str, revision: str, path: str) -> str:
    rev = urllib.parse.quote(revision, safe="")
    return f"{endpoint}/{repo_id}/resolve/{rev}/{urllib.parse.quote(path, safe='/')}"


def _read_bounded(response: Any, context: RequestContext) -> bytes:
    """The whole answer, refused when it is larger than any file list or when it trickles in
    for longer than JSON_DEADLINE_S (each read has the socket timeout; this bounds the sum)."""
    started = time.monotonic()
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = response.read(64 * 1024)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > MAX_JSON_BYTES:
            raise ValueError("too large")
        if time.monotonic() - started > JSON_DEADLINE_S:
            raise ModelError(
                f"{host_of(context.endpoint)} took too long to send {context.what} of "
                f"{context.repo_id}. Try again later."
            )
        parts.append(chunk)


def get_json(
    url: str, token: str | None, timeout: float, context: RequestContext
) -> dict[str, Any]:
    with open_url(url, token, timeout, context, {}) as response:
        try:
            raw = _read_bounded(response, context)
            data = json.loads(raw.decode("utf-8"))
        except (OSError, HTTPException) as exc:
            raise ModelError(
                f"The connection to {host_of(context.endpoint)} broke while reading "
                f"{context.what} of {context.repo_id}. Try again."
            ) from exc
        except (ValueError, RecursionError) as exc:  # not UTF-8 or JSON, too deep, too large
            raise ModelError(
                f"{host_of(context.endpoint)} sent {context.what} of {context.repo_id} in a form "
                "ImageStudio does not understand."
            ) from exc
    if not isinstance(data, dict):
        raise ModelError(
            f"{host_of(context.endpoint)} sent {context.what} of {context.repo_id} in a form "
            "ImageStudio does not understand."
        )
    return data


def open_url(
    url: str, token: str | None, timeout: float, context: RequestContext, headers: Mapping[str, str]
) -> HTTPResponse:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "identity", **headers})
    request.add_header("User-Agent", f"ImageStudio/{__version__}")
    if token:
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    try:
        # Built per request so proxy settings from the environment are read when needed.
        opener = urllib.request.build_opener(_RedirectHandler)
        response: HTTPResponse = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        with exc:
            raise _http_error(exc, context) from None
    except urllib.error.URLError as exc:
        raise _network_error(exc.reason, context) from exc
    except (OSError, HTTPException) as exc:
        raise _network_error(exc, context) from exc
    return response


def _network_error(reason: object, context: RequestContext) -> ModelError:
    host = host_of(context.endpoint)
    if isinstance(reason, socket.gaierror):
        detail = "its name could not be looked up"
    elif isinstance(reason, ConnectionRefusedError):
        detail = "the connection was refused"
    elif isinstance(reason, TimeoutError):
        return ModelError(
            f"{host} did not answer in time. The connection may be slow or down; try again later."
        )
    elif isinstance(reason, ssl.SSLError):
        return ModelError(
            f"The secure connection to {host} failed ({reason}). A proxy or firewall may be "
            "intercepting it, or the computer's clock may be wrong."
        )
    else:
        detail = str(getattr(reason, "strerror", None) or reason)
    return ModelError(
        f"Could not reach {host}: the computer seems to be offline ({detail}). Connect to the "
        "internet and try again; models already downloaded keep working offline."
    )


def _http_error(exc: urllib.error.HTTPError, context: RequestContext) -> ModelError:
    host = host_of(context.endpoint)
    status = exc.code
    repo = context.repo_id
    page = f"{context.endpoint}/{repo}"
    if status in (401, 403):
        gated = exc.headers.get("X-Error-Code", "") == "GatedRepo"
        if context.has_token:
            message = (
                f"{host} refused access to {repo} (HTTP {status}) with the token given. "
                f"The model is gated or private: check that the token is right and that your "
                f"account has been granted access on {page}."
            )
        else:
            reason = "gated: you must accept its terms" if gated else "gated or private"
            message = (
                f"{host} refused access to {repo} (HTTP {status}): the model is {reason}. "
                f"Log in on {page} and request access, create an access token at "
                f"{context.endpoint}/settings/tokens, and set it in the {TOKEN_ENV} environment "
                "variable (or give it to the download), then try again."
            )
    elif status == 404:
        if context.what == "the model's file list":
            message = (
                f"{host} has no model {repo} at revision {context.revision!r}. Check the spelling "
                "of the id (owner/model-name) and the revision."
            )
        else:
            message = f"{repo} has no file {context.what} at revision {context.revision!r}."
    elif status == 416:
        message = f"{host} could not resume {context.what} (HTTP 416)."
    elif status == 429:
        message = f"{host} is limiting requests right now (HTTP 429). Wait a few minutes and retry."
    elif status >= 500:
        message = f"{host} had a server problem (HTTP {status} {exc.reason}). Try again later."
    else:
        message = f"{host} answered HTTP {status} {exc.reason} for {context.what} of {repo}."
    return HTTPStatusError(message, status)
