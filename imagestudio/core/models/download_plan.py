"""Plan a download from the Hugging Face Hub: which files a local model needs, and where each lands.

Planning reads the repo's file list (and its model_index.json) and chooses safetensors weights
only; nothing here downloads weights. Every path a server sends is checked before it can become a
file name, so a hostile or broken server cannot make ImageStudio write outside the models folder.
`downloads` carries a plan out.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from imagestudio.core.errors import InvalidRequest, ModelError
from imagestudio.core.models.checkpoints import PICKLE_SUFFIXES
from imagestudio.core.models.hub import (
    DEFAULT_ENDPOINT,
    ENDPOINT_ENV,
    RequestContext,
    endpoint_url,
    get_json,
    host_of,
    resolve_url,
    token_value,
)
from imagestudio.core.vocabulary import Layout

TIMEOUT_S = 30.0
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
        refuse_unsafe_path(repo_id, chosen, "a file named")
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
        refuse_unsafe_path(repo_id, path, "a file named")
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


def refuse_unsafe_path(
    repo_id: str, path: str, what: str, single: bool = False, why: str | None = None
) -> None:
    """Raise ModelError when a path a server sent (or `why` says) cannot be written safely."""
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
        refuse_unsafe_path(repo_id, component, "a component named", single=True)

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
