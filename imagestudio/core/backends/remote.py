"""A generate or inpaint job run on a ComfyUI server, saved like a local one.

The request becomes ComfyUI's API graph of core nodes (core.outputs.comfygraph: the same graph
every local picture carries): the checkpoint, LoRAs and hires upscaler by the server's file
names, clip skip, the start picture and mask uploaded (the job's own input pictures are the only
files that leave this computer). Each picture is one prompt (seed, seed+1, ...), run one after
the other: progress and cancel then stay per picture, and a failure loses only what was not made.

Events come over the websocket: `progress` gives the step, binary frames the live previews,
`executing` with no node the end. If the websocket breaks during a job it is opened again up to
three times (0.5, 1, 2 s apart: a proxy's idle cut or a network blip); a server that stays away
fails the job with a sentence. The pictures come from /view, are decoded here, and go through
`product_of` like a local result: our A1111 text, our JSON and the graph the server ran.
"""

from __future__ import annotations

import io
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from imagestudio.core.backendnames import BackendEntry
from imagestudio.core.backends.client import ComfyClient, Event, decode_preview
from imagestudio.core.backends.tokens import load_token
from imagestudio.core.callbacks import JobContext
from imagestudio.core.errors import BackendError, BackendModelError, ImageError, JobCancelled
from imagestudio.core.generation.engine import GenerationResult
from imagestudio.core.generation.inpaint import plan_inpaint, read_inputs
from imagestudio.core.generation.job import comfyui_text, keep_inpaint_mask, product_of
from imagestudio.core.images import load_rgb
from imagestudio.core.outcomes import Product
from imagestudio.core.outputs.comfygraph import GraphSettings, HiresGraph, api_graph
from imagestudio.core.outputs.storage import png_bytes
from imagestudio.core.requests import MAX_SEED, GenerationRequest, InpaintRequest, hires_length
from imagestudio.core.schedulers import comfyui_sampler
from imagestudio.core.upscalernames import LATENT
from imagestudio.core.wildcards import resolve_prompts
from imagestudio.core.workspace import Workspace

log = logging.getLogger(__name__)

DEFAULT_SCHEDULER = "Euler a"  # where the request keeps "the model's own": a server has none
RECONNECT_DELAYS = (0.5, 1.0, 2.0)
POLL_SECONDS = 0.2  # how often cancel is checked while waiting for events
SILENCE_CHECK_SECONDS = 5.0  # with no event this long, ask /history whether the job ended
SAVE_NODE = "8"  # comfygraph's SaveImage


@dataclass
class RemoteTimings:
    """Where the time of one remote picture went (seconds), for logs and the benchmark."""

    submitted: float = 0.0  # from the job's start to POST /prompt answered
    server: float | None = None  # execution_start to the end, as the websocket tells it
    first_preview: float | None = None  # from submitting to the first preview frame
    fetched: float = 0.0  # from submitting to the picture decoded here


@dataclass
class RemoteReport:
    backend: str = ""
    pictures: list[RemoteTimings] = field(default_factory=list)
    total: float = 0.0


_LAST = threading.local()


def last_report() -> RemoteReport | None:
    """The timings of the last remote job this thread ran (for benchmarks)."""
    return getattr(_LAST, "report", None)


def native_size(checkpoint: str) -> int:
    """The side to draw at when the request gives no size: a server's checkpoint says nothing
    of its family here, so 1024 for names that say XL, else 512."""
    lowered = checkpoint.lower()
    return 1024 if "xl" in lowered.replace("xlarge", "") else 512


def _normalise(name: str) -> str:
    stem = name.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return "".join(char for char in stem.lower() if char.isalnum())


def match_upscaler(wanted: str, offered: tuple[str, ...]) -> str | None:
    """The server's upscaler file for `wanted` (its file name exactly, or the same name
    ignoring case, suffix and punctuation: realesrgan-x4plus is RealESRGAN_x4plus.pth)."""
    if wanted in offered:
        return wanted
    key = _normalise(wanted)
    return next((name for name in offered if _normalise(name) == key), None)


def _sampler(request: GenerationRequest, context: JobContext) -> tuple[str, str, str]:
    """(our scheduler name, ComfyUI sampler, ComfyUI schedule); a notice when ours has no twin."""
    name = request.scheduler or DEFAULT_SCHEDULER
    pair = comfyui_sampler(name)
    if pair is None:
        fallback = comfyui_sampler(DEFAULT_SCHEDULER)
        assert fallback is not None
        context.notice(
            f"The sampler {name} has no ComfyUI equivalent; the server used {DEFAULT_SCHEDULER} "
            f"({fallback[0]}, {fallback[1]} schedule) instead."
        )
        return DEFAULT_SCHEDULER, *fallback
    return name, *pair


def _not_sent(request: GenerationRequest) -> list[str]:
    """Sentences for the settings a ComfyUI job made of core nodes cannot carry."""
    left = []
    if request.vae:
        left.append("the VAE override (the checkpoint's own VAE is used)")
    if request.variation_seed is not None and request.variation_strength > 0:
        left.append("the variation seed")
    if not left:
        return []
    return [f"The server runs this job without {' and '.join(left)}."]


def _upload(client: ComfyClient, image: Image.Image, what: str) -> str:
    # our own name, random: nothing of the local path leaves this computer
    name = f"imagestudio-{what}-{uuid.uuid4().hex[:16]}.png"
    return client.upload_image(png_bytes(image.convert("RGB")), name)


@dataclass
class _Inputs:
    width: int
    height: int
    init_image: str | None = None  # the server's names
    mask_image: str | None = None
    plan: Any = None  # an InpaintPlan: the composite back into the picture
    notices: list[str] = field(default_factory=list)


def _prepare_inputs(
    client: ComfyClient, request: GenerationRequest, seed: int, native: int
) -> _Inputs:
    """Sizes, and the job's own pictures uploaded (inpaint: the work picture and its mask)."""
    if isinstance(request, InpaintRequest):
        picture, mask, notices = read_inputs(request, seed)
        plan = plan_inpaint(request, picture, mask, native, seed, notices)
        width, height = plan.size
        init = _upload(client, plan.work_image, "picture")
        mask_name = _upload(client, plan.work_mask.convert("RGB"), "mask")
        return _Inputs(width, height, init, mask_name, plan, list(plan.notices))
    if request.init_image is not None:
        loaded = load_rgb(request.init_image)
        image = loaded.image
        width = request.width or max(8, image.width // 8 * 8)
        height = request.height or max(8, image.height // 8 * 8)
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.LANCZOS)
        return _Inputs(width, height, _upload(client, image, "start"), notices=loaded.notices)
    return _Inputs(request.width or native, request.height or native)


def _hires(
    client: ComfyClient, request: GenerationRequest, width: int, height: int
) -> tuple[HiresGraph | None, str | None]:
    """The hires pass as the graph names it, and the upscaler as the pictures record it."""
    if request.hires_scale is None:
        return None, None
    wanted = request.hires_upscaler
    if wanted.lower() == LATENT:
        upscaler, label = "latent", "Latent"
    elif wanted.lower() == "lanczos":
        upscaler, label = "lanczos", "Lanczos"
    else:
        offered = client.options("UpscaleModelLoader", "model_name")
        found = match_upscaler(wanted, offered)
        if found is None:
            has = ", ".join(offered[:5]) if offered else "none"
            raise BackendModelError(
                f"{client.label} has no upscaler {wanted!r} for the hires fix (hires upscaler); "
                f"it has: {has}. Choose one of those, latent or lanczos."
            )
        upscaler, label = found, found.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    scale = float(request.hires_scale)
    graph = HiresGraph(
        upscaler=upscaler,
        width=hires_length(width, scale),
        height=hires_length(height, scale),
        steps=request.second_pass_steps,
        denoise=float(request.hires_denoise),
    )
    return graph, label


def run_remote(
    request: GenerationRequest, entry: BackendEntry, workspace: Workspace, context: JobContext
) -> Product:
    """Run `request` on the server `entry`; the product, saved by `run_job` like a local one."""
    started = time.perf_counter()
    report = RemoteReport(entry.name)
    _LAST.report = report
    context.stop_if_cancelled("Cancelled before the job was sent.")
    client = ComfyClient(entry.name, entry.url, load_token(entry.name))
    context.status(f"Sending the job to ComfyUI '{entry.name}'…")
    devices = client.devices()
    device = ComfyDevice(entry.name, devices[0] if devices else None).text()
    scheduler, sampler, schedule = _sampler(request, context)
    for text in _not_sent(request):
        context.notice(text)
    count = request.count
    first = request.seed
    if first is None:
        first = secrets.randbelow(MAX_SEED - count + 2)
    seeds = [first + index for index in range(count)]
    native = native_size(request.model)
    inputs = _prepare_inputs(client, request, seeds[0], native)
    for text in inputs.notices:
        context.notice(text)
    hires, hires_label = _hires(client, request, inputs.width, inputs.height)
    wildcards = workspace.config.wildcards_dir
    prompts = [request.prompt] * count
    negatives = [request.negative_prompt] * count
    if wildcards is not None:
        prompts = resolve_prompts(request.prompt, seeds, wildcards)
        negatives = resolve_prompts(request.negative_prompt, seeds, wildcards)
    per_picture = request.steps + (hires.steps if hires else 0)
    progress = _Progress(context, count * per_picture)
    images, graphs = [], []
    for index, seed in enumerate(seeds):
        graph = api_graph(
            GraphSettings(
                prompt=comfyui_text(prompts[index], {}),
                negative_prompt=comfyui_text(negatives[index], {}),
                seed=seed,
                steps=request.steps,
                cfg=float(request.guidance),
                sampler_name=sampler,
                scheduler=schedule,
                width=inputs.width,
                height=inputs.height,
                checkpoint=request.model,
                loras=list(request.loras),
                init_image=inputs.init_image,
                denoise=float(request.strength),
                clip_skip=request.clip_skip,
                hires=hires,
                mask_image=inputs.mask_image,
            )
        )
        progress.start_picture(index * per_picture)
        timings = RemoteTimings(submitted=time.perf_counter() - started)
        report.pictures.append(timings)
        image = run_prompt(client, graph, context, progress, timings)
        if inputs.plan is not None:
            image = inputs.plan.composite(image)
        images.append(image)
        graphs.append(graph)
    report.total = time.perf_counter() - started
    log.info(
        "remote job on %r: %.2f s in all, server %s s",
        entry.name,
        report.total,
        [None if t.server is None else round(t.server, 3) for t in report.pictures],
    )
    result = GenerationResult(
        request=request.replace(backend=entry.name),
        images=images,
        seeds=seeds,
        width=inputs.width,
        height=inputs.height,
        scheduler=scheduler,
        model_name=request.model,
        model_path=request.model,
        family="unknown",
        device=device,
        duration=report.total,
        load_seconds=0.0,
        prompts=prompts,
        negative_prompts=negatives,
        hires_upscaler=hires_label,
    )
    product = product_of(result, graphs=graphs)
    if isinstance(request, InpaintRequest):
        product = keep_inpaint_mask(request, product)
    return product


@dataclass
class ComfyDevice:
    backend: str
    device: Any  # client.Device | None

    def text(self) -> str:
        """ "ComfyUI 'gpu-box' (NVIDIA GeForce RTX 4090, 24 GiB)": where the picture was made."""
        if self.device is None:
            return f"ComfyUI '{self.backend}'"
        name = self.device.name.split(" : ")[0].strip()
        if name.startswith("cuda:"):
            name = name.split(" ", 1)[-1].strip()
        if self.device.kind == "cpu" or name == "cpu":
            return f"ComfyUI '{self.backend}' (CPU)"
        memory = self.device.vram_total / 2**30
        return f"ComfyUI '{self.backend}' ({name}, {memory:.0f} GiB)"


class _Progress:
    """Steps over all pictures and passes: one `on_step` per server step, with its preview."""

    def __init__(self, context: JobContext, total: int) -> None:
        self.context = context
        self.total = max(1, total)
        self.base = 0
        self.pass_offset = 0
        self.node: object = None
        self.last_max = 0
        self.pending: int | None = None

    def start_picture(self, base: int) -> None:
        self.flush()
        self.base, self.pass_offset, self.node, self.last_max = base, 0, None, 0

    def step(self, value: int, maximum: int, node: object) -> None:
        self.flush()
        if self.node is not None and node != self.node:
            self.pass_offset += self.last_max  # the hires pass's KSampler
        self.node, self.last_max = node, maximum
        self.pending = min(self.total, self.base + self.pass_offset + value)

    def preview(self, array: Any) -> None:
        if self.pending is not None:
            step, self.pending = self.pending, None
            self.context.step(step, self.total, array)

    def flush(self) -> None:
        if self.pending is not None:
            step, self.pending = self.pending, None
            self.context.step(step, self.total, None)


def _cancel(client: ComfyClient, prompt_id: str) -> None:
    """Drop the job if it waits; stop it if it runs (only ours: another job is left alone)."""
    try:
        client.delete_waiting([prompt_id])
        running, _waiting = client.queue(timeout=5)
        if prompt_id in running:
            client.interrupt(prompt_id)
    except BackendError as exc:  # a server gone while cancelling: cancelled all the same
        log.warning("could not cancel on the server: %s", exc)


def _mine(event: Event, prompt_id: str) -> bool:
    owner = event.data.get("prompt_id")
    return owner is None or owner == prompt_id


def run_prompt(
    client: ComfyClient,
    graph: dict[str, Any],
    context: JobContext,
    progress: _Progress,
    timings: RemoteTimings | None = None,
) -> Image.Image:
    """Submit one graph, follow it to its end, and return its picture."""
    timings = timings or RemoteTimings()
    client_id = uuid.uuid4().hex
    with client.events(client_id) as events:
        submitted = time.perf_counter()
        prompt_id = client.submit(graph, client_id)
        execution_started: float | None = None
        quiet_since = time.perf_counter()
        while True:
            if context.cancelled():
                progress.flush()
                _cancel(client, prompt_id)
                raise JobCancelled("Cancelled; the server dropped the job, no file was written.")
            try:
                event = events.receive(POLL_SECONDS)
            except BackendError as exc:
                log.warning("the websocket of %r broke during a job: %s", client.name, exc)
                if _reconnect(events, context):
                    if client.history(prompt_id) is not None:
                        break
                    continue
                raise BackendError(
                    f"{client.label} went away during the job and did not come back; the job "
                    "failed and nothing was saved."
                ) from None
            now = time.perf_counter()
            if event is None:
                progress.flush()
                if now - quiet_since > SILENCE_CHECK_SECONDS:
                    quiet_since = now
                    if client.history(prompt_id) is not None:
                        break
                continue
            quiet_since = now
            if event.kind == "preview":
                if timings.first_preview is None:
                    timings.first_preview = now - submitted
                if context.previews and event.preview is not None:
                    progress.preview(decode_preview(event.preview, event.preview_format))
                else:
                    progress.flush()
                continue
            if not _mine(event, prompt_id):
                continue
            if event.kind == "execution_start":
                execution_started = now
            elif event.kind == "progress":
                value, maximum = event.data.get("value"), event.data.get("max")
                if isinstance(value, int) and isinstance(maximum, int):
                    progress.step(value, maximum, event.data.get("node"))
            elif event.kind == "execution_error":
                progress.flush()
                raise _execution_error(client, event.data)
            elif event.kind == "execution_interrupted":
                raise BackendError(
                    f"{client.label} stopped the job (it was interrupted on the server)."
                )
            elif (event.kind == "executing" and event.data.get("node") is None) or (
                event.kind == "execution_success"
            ):
                if execution_started is not None:
                    timings.server = now - execution_started
                break
        progress.flush()
    image = _fetch(client, prompt_id)
    timings.fetched = time.perf_counter() - submitted
    return image


def _reconnect(events: Any, context: JobContext) -> bool:
    for delay in RECONNECT_DELAYS:
        time.sleep(delay)
        if context.cancelled():
            return False
        try:
            events.connect()
        except BackendError:
            continue
        return True
    return False


def _execution_error(client: ComfyClient, data: dict[str, Any]) -> BackendError:
    node = data.get("node_id", "?")
    kind = str(data.get("node_type", "?"))[:100]
    message = " ".join(str(data.get("exception_message", "")).split())[:400].rstrip(".")
    return BackendError(
        f"{client.label} failed the job at node {node} ({kind}): {message or 'no reason given'}."
    )


def _fetch(client: ComfyClient, prompt_id: str) -> Image.Image:
    """The picture of the finished job (its SaveImage node's first image), decoded here."""
    entry = client.history(prompt_id)
    if entry is None:
        raise BackendError(f"{client.label} finished the job but has no record of it.")
    status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
    if isinstance(status, dict) and status.get("status_str") == "error":
        raise BackendError(f"{client.label} failed the job (its history says error).")
    outputs = entry.get("outputs") if isinstance(entry.get("outputs"), dict) else {}
    assert isinstance(outputs, dict)
    node = outputs.get(SAVE_NODE) or next(iter(outputs.values()), None)
    images = node.get("images") if isinstance(node, dict) else None
    if not isinstance(images, list) or not images or not isinstance(images[0], dict):
        raise BackendError(f"{client.label} finished the job without a picture.")
    raw = client.view(images[0])
    try:
        with Image.open(io.BytesIO(raw)) as picture:
            picture.load()
            return picture.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(
            f"{client.label} sent a picture that cannot be read ({type(exc).__name__})."
        ) from None
