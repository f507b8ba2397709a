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
import functools
import hashlib
import json
import os
import re
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPException, HTTPResponse
from pathlib import Path, PurePosixPath
from typing import Any

from imagestudio.core.errors import InvalidRequest, JobCancelled, ModelError, StorageError
from imagestudio.core.models.checkpoints import PICKLE_SUFFIXES
from imagestudio.core.models.hub import (
    DEFAULT_ENDPOINT,
    ENDPOINT_ENV,
    RequestContext,
    endpoint_url,
    get_json,
    host_of,
    open_url,
    resolve_url,
    token_value,
)
from imagestudio.core.vocabulary import Layout

PARTIAL_DIR = ".partial"
PART_SUFFIX = ".part"
CHUNK_SIZE = 1024 * 1024
TIMEOUT_S = 30.0
PROGRESS_INTERVAL_S = 0.1

HUB_HOSTS = ("huggingface.co", "www.huggingface.co", "hf.co")
# Components a pipeline can do without; ImageStudio loads with safety_checker=None.
SKIPPED_COMPONENTS = frozenset({"safety_checker"})
# Small files a component folder needs besides its weights: configs and tokenizer files.
CONFIG_SUFFIXES = (".json", ".txt", ".model")

_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
_REPO_ID = re.compile(rf"^{_PART}/{_PART}$")
# diffusers/transformers weight names: base[.variant][-00001-of-00002].safetensors
_WEIGHT = re.compile(
    r"^(?P<base>[^.]+?)(?:\.(?P<variant>[A-Za-z0-9_]+))?(?:-\d{5}-of-\d{5})?\.safetensors$"
)
# and their shard indexes: base.safetensors.index[.variant].json
_INDEX = re.compile(r"^(?P<base>[^.]+)\.safetensors\.index(?:\.(?P<variant>[A-Za-z0-9_]+))?\.json$")

_clock = time.monotonic  # tests replace it to check the rate of progress reports

ProgressCallback = Callable[[int, int, str], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class DownloadPlan:
    """What one download fetches: every file with its size, and where it lands.

    `files` holds `(path in the repo, size in bytes)` pairs. `commit` pins the revision the plan
    was made from, so a download resumed days later never mixes two versions of a file.
    `variant` weights (e.g. `unet/diffusion_pytorch_model.fp16.safetensors`) are saved under the
    plain name, so the folder loads without naming the variant.
    """

    repo_id: str
    revision: str
    files: tuple[tuple[str, int], ...]
    total_bytes: int
    name: str
    layout: Layout = "folder"
    commit: str = ""
    endpoint: str = DEFAULT_ENDPOINT
    variant: str | None = None
    skipped_components: tuple[str, ...] = ()
    alternatives: tuple[str, ...] = ()
    sha256: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def host(self) -> str:
        return host_of(self.endpoint)


# -- repo ids -----------------------------------------------------------------------------------


def validate_repo_id(text: str) -> str:
    """Return `owner/name` from what the user typed (a repo id or a huggingface.co address)."""
    value = text.strip()
    if not value:
        raise InvalidRequest("Type the model's Hugging Face id, such as owner/model-name.")
    lowered = value.lower()
    if "://" in value or lowered.startswith(tuple(f"{h}/" for h in HUB_HOSTS)):
        value = _repo_from_url(value)
    value = value.strip("/")
    if _REPO_ID.match(value) and "--" not in value and ".." not in value:
        return value
    if "/" not in value and re.fullmatch(r"[A-Za-z0-9._-]+", value):
        raise InvalidRequest(
            f"{value!r} is not a full Hugging Face id: add the owner, as in owner/{value}."
        )
    raise InvalidRequest(
        f"{value!r} is not a Hugging Face model id. An id looks like owner/model-name and uses "
        "only letters, digits, '-', '_' and '.'."
    )


def _repo_from_url(text: str) -> str:
    url = text if "://" in text else f"https://{text}"
    parsed = urllib.parse.urlparse(url)
    host = (parsed.hostname or "").lower()
    if host not in HUB_HOSTS:
        raise InvalidRequest(
            f"{text} is not a Hugging Face address; give a model id such as owner/model-name, "
            "or an address that starts with https://huggingface.co/."
        )
    parts = [p for p in parsed.path.split("/") if p]
    if parts and parts[0] in ("datasets", "spaces"):
        raise InvalidRequest(f"{text} is a Hugging Face {parts[0][:-1]}, not a model.")
    if parts and parts[0] == "models":
        parts = parts[1:]
    if len(parts) < 2:
        raise InvalidRequest(
            f"{text} does not name a model: the address should end in /owner/model-name."
        )
    return f"{parts[0]}/{parts[1]}"


def _safe_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-_ ")
    if not name:
        raise InvalidRequest(f"{text!r} cannot be used as a folder name; choose another name.")
    return name[:96]


# -- planning -----------------------------------------------------------------------------------


def plan_download(
    repo_id: str,
    *,
    revision: str = "main",
    endpoint: str | None = None,
    token: str | None = None,
    variant: str | None = None,
    filename: str | None = None,
    name: str | None = None,
    timeout: float = TIMEOUT_S,
) -> DownloadPlan:
    """Ask the Hub which files `repo_id` has and choose the ones a local model needs.

    A diffusers repo (with model_index.json) gets its configs, tokenizer files and one set of
    safetensors weights per component: the `variant` asked for (e.g. "fp16"), otherwise the plain
    weights, otherwise fp16. A repo of single-file checkpoints gets one `.safetensors` file: the
    `filename` given, otherwise the smallest. Reads the network; downloads no weights.
    """
    repo_id = validate_repo_id(repo_id)
    revision = revision.strip() or "main"
    endpoint = endpoint_url(endpoint)
    token = token_value(token)
    api = (
        f"{endpoint}/api/models/{repo_id}/revision/"
        f"{urllib.parse.quote(revision, safe='')}?blobs=true"
    )
    context = RequestContext(
        repo_id, revision, endpoint, token is not None, "the model's file list"
    )
    info = get_json(api, token, timeout, context)
    commit = str(info.get("sha") or revision)
    siblings: dict[str, int] = {}
    sha256: dict[str, str] = {}
    listed = info.get("siblings")
    for entry in listed if isinstance(listed, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("rfilename"), str):
            continue
        path = entry["rfilename"]
        lfs: dict[str, Any] = entry["lfs"] if isinstance(entry.get("lfs"), dict) else {}
        size = entry.get("size", lfs.get("size"))
        siblings[path] = max(0, size) if isinstance(size, int) and not isinstance(size, bool) else 0
        if isinstance(lfs.get("sha256"), str):
            sha256[path] = lfs["sha256"]
    folder_name = _safe_name(name) if name else _safe_name(repo_id.split("/")[1])

    plan = functools.partial(
        DownloadPlan,
        repo_id=repo_id,
        revision=revision,
        name=folder_name,
        commit=commit,
        endpoint=endpoint,
    )
    if filename is not None or "model_index.json" not in siblings:
        chosen, alternatives = _choose_single_file(repo_id, siblings, filename)
        _refuse_unsafe(repo_id, chosen, "a file named")
        return plan(
            files=((chosen, siblings[chosen]),),
            total_bytes=siblings[chosen],
            layout="single_file",
            alternatives=alternatives,
            sha256={chosen: sha256[chosen]} if chosen in sha256 else {},
        )

    index_url = resolve_url(endpoint, repo_id, commit, "model_index.json")
    context.what = "model_index.json"
    index = get_json(index_url, token, timeout, context)
    paths, skipped = _choose_diffusers_files(repo_id, index, siblings, variant)
    for path in paths:
        _refuse_unsafe(repo_id, path, "a file named")
    files = tuple((p, siblings[p]) for p in paths)
    return plan(
        files=files,
        total_bytes=sum(size for _, size in files),
        layout="folder",
        variant=variant,
        skipped_components=skipped,
        sha256={p: sha256[p] for p in paths if p in sha256},
    )


def _unsafe_path(path: str, single: bool = False) -> str | None:
    """Why a path a server sent cannot be written under the model's folder; None if it can.

    Only plain relative paths pass: no absolute path or drive, no "." or ".." part, no empty
    part, no backslash (a separator on Windows), no colon (drives, NTFS streams), no control
    characters, no part longer than a file name may be.
    """
    if not isinstance(path, str) or not path:
        return "it is empty"
    if any(ord(c) < 32 or c in "\\:" for c in path):
        return "it holds a backslash, a colon or a control character"
    if path.startswith("/"):
        return "it is an absolute path"
    parts = path.split("/")
    if single and len(parts) > 1:
        return "a folder name cannot hold a slash"
    if any(part in ("", ".", "..") for part in parts):
        return "it climbs out of the folder or has an empty part"
    if any(len(part.encode("utf-8", "surrogatepass")) > 255 for part in parts):
        return "a part of it is longer than a file name can be"
    return None


def _refuse_unsafe(
    repo_id: str, path: str, what: str, single: bool = False, why: str | None = None
) -> None:
    why = why or _unsafe_path(path, single)
    if why is not None:
        raise ModelError(
            f"The server listed {what} {path[:120]!r} for {repo_id}, which ImageStudio will not "
            f"write ({why}): it could land outside the models folder. Nothing was downloaded. "
            f"If {ENDPOINT_ENV} points at a mirror, check that the mirror can be trusted."
        )


def _pickle_refusal(repo_id: str, where: str, names: list[str]) -> ModelError:
    kinds = ", ".join(sorted({PurePosixPath(n).suffix for n in names}))
    return ModelError(
        f"{repo_id} has only pickle-based weights ({kinds}) {where}. Such files can run code when "
        "loaded, so ImageStudio never downloads them. Look for a version of this model with "
        ".safetensors files."
    )


def _choose_single_file(
    repo_id: str, siblings: Mapping[str, int], filename: str | None
) -> tuple[str, tuple[str, ...]]:
    candidates = sorted(p for p in siblings if p.lower().endswith(".safetensors"))
    if filename is not None:
        wanted = filename.strip().lstrip("/")
        if wanted.lower().endswith(PICKLE_SUFFIXES):
            raise ModelError(
                f"{wanted} is a pickle-based file, which can run code when loaded; ImageStudio "
                "never downloads such files. Choose a .safetensors file instead."
            )
        if wanted not in siblings:
            listed = ", ".join(candidates) or "none"
            raise ModelError(
                f"{repo_id} has no file named {wanted}. Its .safetensors files: {listed}."
            )
        if not wanted.lower().endswith(".safetensors"):
            raise ModelError(f"{wanted} is not a .safetensors checkpoint; choose one that is.")
        return wanted, tuple(c for c in candidates if c != wanted)
    top_level = [c for c in candidates if "/" not in c]
    if top_level:
        # Several checkpoints usually mean full/pruned/fp16 copies of one model; the smallest
        # is enough to make images. The others are listed so the user can pick one instead.
        chosen = min(top_level, key=lambda p: (siblings[p], p))
        return chosen, tuple(c for c in candidates if c != chosen)
    pickles = [p for p in siblings if p.lower().endswith(PICKLE_SUFFIXES)]
    if pickles:
        raise _pickle_refusal(repo_id, "and no .safetensors files", pickles)
    raise ModelError(
        f"{repo_id} does not look like an image model: it has neither a model_index.json "
        "(a diffusers model) nor a .safetensors checkpoint."
    )


def _choose_diffusers_files(
    repo_id: str, index: Mapping[str, Any], siblings: Mapping[str, int], variant: str | None
) -> tuple[list[str], tuple[str, ...]]:
    components: list[str] = []
    skipped: list[str] = []
    for key, value in index.items():
        if key.startswith("_") or not isinstance(value, list) or len(value) != 2:
            continue
        if value[0] is None or value[1] is None:
            continue
        (skipped if key in SKIPPED_COMPONENTS else components).append(key)
    if not components:
        raise ModelError(f"The model_index.json of {repo_id} lists no components to download.")
    for component in components + skipped:
        _refuse_unsafe(repo_id, component, "a component named", single=True)

    chosen = ["model_index.json"]
    for component in components:
        inside = {
            p[len(component) + 1 :]: p
            for p in siblings
            if p.startswith(f"{component}/") and "/" not in p[len(component) + 1 :]
        }
        if not inside:
            raise ModelError(
                f"{repo_id} lists a {component} in its model_index.json but has no {component} "
                "folder, so it cannot be loaded as a diffusers model."
            )
        weights = _choose_weights(list(inside), variant)
        pickles = [n for n in inside if n.lower().endswith(PICKLE_SUFFIXES)]
        if weights is None and pickles:
            raise _pickle_refusal(repo_id, f"for its {component}", pickles)
        weight_names, picked_variant = weights or ([], None)
        for local, path in sorted(inside.items()):
            if local in weight_names:
                chosen.append(path)
                continue
            index_match = _INDEX.match(local)
            if index_match:
                if index_match["variant"] == picked_variant and weight_names:
                    chosen.append(path)
                continue
            if local.lower().endswith(CONFIG_SUFFIXES):
                chosen.append(path)
    return chosen, tuple(skipped)


def _choose_weights(names: list[str], variant: str | None) -> tuple[list[str], str | None] | None:
    """The safetensors files of one component folder for one variant, or None if there are none."""
    by_variant: dict[str | None, list[str]] = {}
    for name in names:
        match = _WEIGHT.match(name)
        if match:
            by_variant.setdefault(match["variant"], []).append(name)
    if not by_variant:
        return None
    for preferred in (variant, None, "fp16"):
        if preferred in by_variant:
            return sorted(by_variant[preferred]), preferred
    first = sorted(v for v in by_variant if v is not None)[0]
    return sorted(by_variant[first]), first


def _destination(plan: DownloadPlan, partial: Path, path: str) -> Path:
    """Where `path` is written inside `partial`, refused (before anything is written) when it
    would land anywhere else: a plan may have been made by other code than `plan_download`."""
    _refuse_unsafe(plan.repo_id, path, "a file named")
    dest = partial / local_path(plan, path)
    root = partial.resolve()
    if not dest.resolve().is_relative_to(root) or dest.resolve() == root:
        _refuse_unsafe(plan.repo_id, path, "a file named", why="it resolves outside the folder")
    return dest


def local_path(plan: DownloadPlan, path: str) -> str:
    """Where a repo file is saved inside the model folder (variants under their plain names).

    The engine loads folders without naming a variant, so `x.fp16.safetensors` becomes
    `x.safetensors` and `x.safetensors.index.fp16.json` becomes `x.safetensors.index.json`.
    Sharded variant weights keep their names: the index refers to them by name.
    """
    if plan.layout == "single_file":
        return PurePosixPath(path).name
    folder, _, name = path.rpartition("/")
    match = _WEIGHT.match(name)
    if match and match["variant"] and re.search(r"-\d{5}-of-\d{5}\.", name) is None:
        name = f"{match['base']}.safetensors"
    index_match = _INDEX.match(name)
    if index_match and index_match["variant"]:
        name = f"{index_match['base']}.safetensors.index.json"
    return f"{folder}/{name}" if folder else name


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
