"""The engine functions of generate and inpaint jobs (`core.jobs.ENGINES`): they run a request
here or on the ComfyUI server it names.

"auto" asks every server (at once, a few seconds at most) for its queue and checkpoints, and
takes the first, in the settings' order, that is idle and has the model; else this computer
when the model is here; else a busy server that has it (the job waits in its queue); else this
computer (whose error then says the model is missing).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from imagestudio.core.backendnames import AUTO, LOCAL, BackendEntry
from imagestudio.core.backends.registry import client_for, find_backend
from imagestudio.core.backends.remote import run_remote
from imagestudio.core.callbacks import JobContext
from imagestudio.core.errors import BackendError, InvalidRequest, ModelError
from imagestudio.core.generation.job import run_generation, run_inpaint
from imagestudio.core.outcomes import Product
from imagestudio.core.requests import GenerationRequest, InpaintRequest
from imagestudio.core.workspace import Workspace

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class Probe:
    entry: BackendEntry
    has_model: bool
    idle: bool


def _probe(entry: BackendEntry, model: str) -> Probe | None:
    """Whether the server has `model` and is idle; None when it cannot be asked."""
    try:
        client = client_for(entry, PROBE_TIMEOUT)
        running, waiting = client.queue(PROBE_TIMEOUT)
        return Probe(entry, model in client.checkpoints(), not running and not waiting)
    except BackendError as exc:
        log.info("auto: server %r left out: %s", entry.name, exc)
        return None


def _model_is_local(request: GenerationRequest, workspace: Workspace) -> bool:
    from imagestudio.core.models.library import resolve_model

    config = workspace.config
    try:
        resolve_model(request.model, config.models_dir, config.hf_cache)
    except (ModelError, InvalidRequest):
        return False
    return True


def choose_backend(
    request: GenerationRequest, workspace: Workspace, context: JobContext
) -> BackendEntry | None:
    """The server `request` runs on, or None for this computer."""
    entries = workspace.config.backends
    if request.backend == LOCAL:
        return None
    if request.backend != AUTO:
        entry = find_backend(entries, request.backend)
        if entry is None:
            raise BackendError(
                f"No ComfyUI server is named {request.backend!r} (the job's backend); add it "
                "in Settings ▸ Backends (or 'imagestudio backends add'), or run it here."
            )
        return entry
    if not entries:
        return None
    context.status("Looking for an idle server that has the model…")
    with ThreadPoolExecutor(max_workers=min(8, len(entries))) as pool:
        probes = [p for p in pool.map(lambda e: _probe(e, request.model), entries) if p]
    idle = next((p.entry for p in probes if p.has_model and p.idle), None)
    if idle is not None:
        return idle
    if _model_is_local(request, workspace):
        return None
    return next((p.entry for p in probes if p.has_model), None)


def run_generate_anywhere(
    request: GenerationRequest, workspace: Workspace, context: JobContext
) -> Product:
    """A generate job, here or on its server."""
    entry = choose_backend(request, workspace, context)
    if entry is None:
        return run_generation(_local(request), workspace, context)
    return run_remote(request, entry, workspace, context)


def run_inpaint_anywhere(
    request: GenerationRequest, workspace: Workspace, context: JobContext
) -> Product:
    """An inpaint or outpaint job, here or on its server."""
    if not isinstance(request, InpaintRequest):
        raise InvalidRequest("This job is not an inpaint job.")
    entry = choose_backend(request, workspace, context)
    if entry is None:
        return run_inpaint(_local(request), workspace, context)
    return run_remote(request, entry, workspace, context)


def _local(request: GenerationRequest) -> GenerationRequest:
    """The request as it runs here: "auto" is recorded as local."""
    return request if request.backend == LOCAL else request.replace(backend=LOCAL)
