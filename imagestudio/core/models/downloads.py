"""Download a model from the Hugging Face Hub, only when the user asks for it by repo id.

Nothing here runs on its own: the app stays offline unless a person types a repo id and presses
download. The transfer uses urllib rather than huggingface_hub on purpose: the app runs with
`HF_HUB_OFFLINE=1` so that nothing else ever reaches the network, and an explicit request must
still work; urllib also makes the whole path testable against a local server.

Only safetensors weights are fetched. Pickle-based files (.bin, .ckpt, .pt, .pth, .pkl) can run
code when loaded, so they are never downloaded.

A download writes `<models>/.partial/<name>/...` with `.part` files, resumes them with HTTP Range
requests, and moves the finished folder to `<models>/<name>` in one rename, so the model library
never sees half a model.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from typing import Any

from imagestudio.core.errors import JobCancelled, ModelError, StorageError
from imagestudio.core.models.download_plan import (
    TIMEOUT_S,
    DownloadPlan,
    local_path,
    plan_download,
    refuse_unsafe_path,
)
from imagestudio.core.models.hub import (
    ENDPOINT_ENV,
    RequestContext,
    open_url,
    resolve_url,
    token_value,
)

PARTIAL_DIR = ".partial"
PART_SUFFIX = ".part"
CHUNK_SIZE = 1024 * 1024
PROGRESS_INTERVAL_S = 0.1

_clock = time.monotonic  # tests replace it to check the rate of progress reports

ProgressCallback = Callable[[int, int, str], None]
CancelCheck = Callable[[], bool]


def _destination(plan: DownloadPlan, partial: Path, path: str) -> Path:
    """Where `path` is written inside `partial`, refused (before anything is written) when it
    would land anywhere else: a plan may have been made by other code than `plan_download`."""
    refuse_unsafe_path(plan.repo_id, path, "a file named")
    dest = partial / local_path(plan, path)
    root = partial.resolve()
    if not dest.resolve().is_relative_to(root) or dest.resolve() == root:
        refuse_unsafe_path(plan.repo_id, path, "a file named", why="it resolves outside the folder")
    return dest


# -- downloading --------------------------------------------------------------------------------


def download_model(
    plan_or_repo_id: DownloadPlan | str,
    models_dir: Path,
    *,
    on_progress: ProgressCallback | None = None,
    is_cancelled: CancelCheck | None = None,
    chunk_size: int = CHUNK_SIZE,
    **plan_options: Any,
) -> Path:
    """Download a model into `models_dir/<plan.name>` and return that folder.

    `on_progress(done_bytes, total_bytes, current_file)` is called at most about ten times a
    second and once at the end. `is_cancelled()` is checked between chunks; when it returns True
    `JobCancelled` is raised and the partial files stay, so calling again resumes. A repo id is
    planned first with `plan_download(repo_id, **plan_options)`.
    """
    if isinstance(plan_or_repo_id, DownloadPlan):
        plan = plan_or_repo_id
    else:
        plan = plan_download(plan_or_repo_id, **plan_options)
    timeout = float(plan_options.get("timeout", TIMEOUT_S))
    models_dir = Path(models_dir)
    target = models_dir / plan.name
    _refuse_existing(target, plan)
    partial = models_dir / PARTIAL_DIR / plan.name
    try:
        _prepare_partial(partial, plan)
    except OSError as exc:
        raise StorageError(
            f"Cannot write to the models folder {models_dir}: {exc.strerror or exc}."
        ) from exc
    _check_free_space(partial, plan)

    progress = _Progress(plan.total_bytes, on_progress)
    auth = token_value(plan_options.get("token"))
    destinations = [_destination(plan, partial, path) for path, _ in plan.files]
    for (path, size), dest in zip(plan.files, destinations, strict=True):
        if dest.is_file() and (size == 0 or dest.stat().st_size == size):
            progress.add(dest.stat().st_size, path)
            continue
        _download_file(plan, path, size, dest, auth, timeout, chunk_size, progress, is_cancelled)

    _finish_model_index(partial, plan)
    _refuse_existing(target, plan)
    try:
        os.rename(partial, target)
    except OSError as exc:
        if target.exists():
            _refuse_existing(target, plan)
        raise StorageError(
            f"The download of {plan.repo_id} finished but could not be moved to {target}: "
            f"{exc.strerror or exc}. It is kept in {partial}."
        ) from exc
    _marker(partial).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (models_dir / PARTIAL_DIR).rmdir()  # only when no other download is pending
    progress.finish(plan.files[-1][0] if plan.files else "")
    return target


def partial_download_dir(models_dir: Path, name: str) -> Path:
    """The folder an unfinished download of model `name` waits in."""
    return Path(models_dir) / PARTIAL_DIR / name


def discard_partial_download(models_dir: Path, name: str) -> None:
    """Delete an unfinished download, for when the user gives up on resuming it."""
    partial = partial_download_dir(models_dir, name)
    shutil.rmtree(partial, ignore_errors=True)
    _marker(partial).unlink(missing_ok=True)


def check_target(models_dir: Path, plan: DownloadPlan) -> None:
    """Refuse, before any transfer, a download whose folder already exists in the library."""
    _refuse_existing(Path(models_dir) / plan.name, plan)


def _refuse_existing(target: Path, plan: DownloadPlan) -> None:
    if target.exists():
        raise ModelError(
            f"A model named {plan.name} already exists in {target.parent}. Remove or rename that "
            "folder, or download under another name."
        )


def _marker(partial: Path) -> Path:
    return partial.with_name(partial.name + ".json")


def _prepare_partial(partial: Path, plan: DownloadPlan) -> None:
    """Create the partial folder; throw away parts that belong to another version of the model."""
    marker = _marker(partial)
    identity = {
        "repo_id": plan.repo_id,
        "commit": plan.commit,
        "endpoint": plan.endpoint,
        "files": [list(f) for f in plan.files],
    }
    try:
        previous = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = None
    if previous != identity and partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(identity, indent=1), encoding="utf-8")


def _check_free_space(partial: Path, plan: DownloadPlan) -> None:
    have = sum(f.stat().st_size for f in partial.rglob("*") if f.is_file())
    needed = max(plan.total_bytes - have, 0)
    try:
        free = shutil.disk_usage(partial).free
    except OSError:
        return
    if free < needed:
        raise StorageError(
            f"Not enough free disk space for {plan.repo_id}: it needs {_size(needed)} more, and "
            f"the disk holding {partial.parent.parent} has {_size(free)} free. Free some space "
            "and download again; it resumes where it stopped."
        )


def _finish_model_index(partial: Path, plan: DownloadPlan) -> None:
    # Components left out on purpose are marked absent, as diffusers itself does when saving a
    # pipeline without them, so the folder loads on its own.
    if plan.layout != "folder" or not plan.skipped_components:
        return
    path = partial / "model_index.json"
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(index, dict):
        return
    for component in plan.skipped_components:
        index[component] = [None, None]
    if "requires_safety_checker" in index and "safety_checker" in plan.skipped_components:
        index["requires_safety_checker"] = False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class _Progress:
    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.total = total
        self.done = 0
        self.callback = callback
        self.last = float("-inf")

    def add(self, count: int, current: str) -> None:
        self.done += count
        self._report(current)

    def restart_file(self, count: int, current: str) -> None:
        self.done -= count
        self._report(current)

    def _report(self, current: str) -> None:
        now = _clock()
        if self.callback is not None and now - self.last >= PROGRESS_INTERVAL_S:
            self.last = now
            self.callback(self.done, self.total, current)

    def finish(self, current: str) -> None:
        if self.callback is not None:
            self.callback(self.done, self.total, current)


def _download_file(
    plan: DownloadPlan,
    path: str,
    size: int,
    dest: Path,
    token: str | None,
    timeout: float,
    chunk_size: int,
    progress: _Progress,
    is_cancelled: CancelCheck | None,
) -> None:
    part = dest.with_name(dest.name + PART_SUFFIX)
    dest.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.is_file() else 0
    if size and offset > size:
        part.unlink()
        offset = 0
    progress.add(offset, path)
    context = RequestContext(plan.repo_id, plan.revision, plan.endpoint, token is not None, path)
    if not size or offset < size:
        _cancel_point(is_cancelled, plan)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        url = resolve_url(plan.endpoint, plan.repo_id, plan.commit, path)
        try:
            response = open_url(url, token, timeout, context, headers)
        except ModelError as exc:
            if offset and getattr(exc, "status", None) == 416:
                # The part is unusable against this server's copy: start the file over.
                part.unlink()
                progress.restart_file(offset, path)
                offset = 0
                response = open_url(url, token, timeout, context, {})
            else:
                raise
        with response:
            if offset and response.status != 206:
                # The server ignored Range and sends the whole file: start over.
                progress.restart_file(offset, path)
                offset = 0
            elif offset and not _range_starts_at(response, offset):
                raise ModelError(
                    f"{plan.host} answered the resume of {path} with the wrong part of the file; "
                    "delete the partial download and try again."
                )
            _copy_body(response, part, offset, plan, path, progress, is_cancelled, chunk_size)
    got = part.stat().st_size
    if size and got != size:
        raise ModelError(
            f"The download of {path} from {plan.host} stopped early ({_size(got)} of "
            f"{_size(size)}). Download again to resume where it stopped."
        )
    expected = plan.sha256.get(path)
    if expected and _sha256(part) != expected:
        part.unlink()
        raise ModelError(
            f"{path} from {plan.repo_id} arrived damaged (its checksum does not match). "
            "Download again to fetch it anew."
        )
    os.replace(part, dest)


def _range_starts_at(response: HTTPResponse, offset: int) -> bool:
    content_range = response.headers.get("Content-Range", "")
    match = re.match(r"bytes\s+(\d+)-", content_range)
    return match is None or int(match.group(1)) == offset


def _copy_body(
    response: HTTPResponse,
    part: Path,
    offset: int,
    plan: DownloadPlan,
    path: str,
    progress: _Progress,
    is_cancelled: CancelCheck | None,
    chunk_size: int,
) -> None:
    # A server that sends more than the file list said (or, for a file of unknown size, more
    # than any file a model needs) is not sending this file: stop instead of filling the disk.
    limit = (plan_size(plan, path) or _UNKNOWN_SIZE_LIMIT) - offset
    received = 0
    try:
        with open(part, "ab" if offset else "wb") as fh:
            while True:
                _cancel_point(is_cancelled, plan)
                try:
                    chunk = response.read(chunk_size)
                except (OSError, HTTPException) as exc:
                    raise ModelError(
                        f"The connection to {plan.host} broke while downloading {path}. "
                        "Download again to resume where it stopped."
                    ) from exc
                if not chunk:
                    break
                received += len(chunk)
                if received > limit:
                    raise ModelError(
                        f"{plan.host} sent more of {path} than the file holds; the download "
                        "was stopped. Try again later, or check the mirror set in "
                        f"{ENDPOINT_ENV}."
                    )
                fh.write(chunk)
                progress.add(len(chunk), path)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            needed = max(plan.total_bytes - progress.done, 0)
            raise StorageError(
                f"The disk holding {part.parent} is full: the download of {plan.repo_id} "
                f"needs {_size(needed)} more. Free some space and download again; it resumes "
                "where it stopped."
            ) from exc
        raise StorageError(f"Could not write {part}: {exc.strerror or exc}.") from exc


_UNKNOWN_SIZE_LIMIT = 2**30


def plan_size(plan: DownloadPlan, path: str) -> int:
    """The size the file list gave for `path` (0: not given)."""
    return next((size for name, size in plan.files if name == path), 0)


def _cancel_point(is_cancelled: CancelCheck | None, plan: DownloadPlan) -> None:
    if is_cancelled is not None and is_cancelled():
        raise JobCancelled(
            f"The download of {plan.repo_id} was cancelled. What arrived so far is kept; "
            "downloading it again resumes where it stopped."
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK_SIZE), b""):
            digest.update(block)
    return digest.hexdigest()


def _size(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
