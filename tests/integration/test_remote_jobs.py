"""Jobs run on a real ComfyUI server through the one job path (core.jobs.run_job with a request
whose backend is the server), and the ways such a job ends: cancelled while it waits or runs,
refused (a missing checkpoint, an unknown node, a wrong token), a server unreachable or killed
mid-job. Pictures are 64x64 at 2-4 steps on the tiny checkpoint: a job takes 0.2-1 s."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from imagestudio.core.backendnames import BackendEntry
from imagestudio.core.backends.client import ComfyClient
from imagestudio.core.errors import BackendError, BackendModelError
from imagestudio.core.jobs import run_job
from imagestudio.core.outputs.comfygraph import GraphSettings, api_graph
from imagestudio.core.outputs.history import HistoryStore
from imagestudio.core.requests import GenerationRequest, InpaintRequest
from imagestudio.core.settings import Settings
from imagestudio.core.workspace import EngineConfig, Workspace
from imagestudio.dev.comfyserver import ComfyServer, tiny_models
from tests.integration.conftest import RunningComfy

NAME = "test box"
SIZE = 64


@pytest.fixture
def workspace(comfy_server: RunningComfy, tmp_path: Path) -> Iterator[Workspace]:
    config = EngineConfig.from_settings(
        Settings(), outputs_dir=tmp_path / "out", backends=(BackendEntry(NAME, comfy_server.url),)
    )
    with Workspace(config, HistoryStore(tmp_path / "history.sqlite3")) as space:
        yield space


def _request(server: RunningComfy, **changes: Any) -> GenerationRequest:
    values: dict[str, Any] = {
        "prompt": "a lighthouse at dusk",
        "model": server.checkpoint,
        "width": SIZE,
        "height": SIZE,
        "steps": 3,
        "seed": 42,
        "backend": NAME,
    }
    return GenerationRequest(**(values | changes))


def _chunks(path: Path) -> dict[str, str]:
    with Image.open(path) as picture:
        return dict(picture.text)  # type: ignore[attr-defined]


def _picture(path: Path) -> Path:
    image = Image.new("RGB", (SIZE, SIZE), (200, 60, 40))
    ImageDraw.Draw(image).ellipse((16, 16, 48, 48), fill=(40, 80, 220))
    image.save(path)
    return path


def test_text_to_image_is_saved_with_our_metadata_and_previews(
    workspace: Workspace, comfy_server: RunningComfy
) -> None:
    steps: list[tuple[int, int, Any]] = []
    outcome = run_job(
        _request(comfy_server, count=2),
        workspace,
        on_step=lambda step, total, preview: steps.append((step, total, preview)),
    )
    assert outcome.status == "done"
    assert len(outcome.files) == 2 and outcome.seeds == (42, 43)
    assert outcome.device.startswith(f"ComfyUI '{NAME}'")
    assert [(step, total) for step, total, _ in steps] == [(n, 6) for n in range(1, 7)]
    previews = [p for _, _, p in steps if p is not None]
    assert previews and all(isinstance(p, np.ndarray) and p.ndim == 3 for p in previews)
    for path, seed in zip(outcome.files, (42, 43), strict=True):
        assert path.parent == workspace.outputs_dir  # our names, in our folder
        with Image.open(path) as picture:
            assert picture.size == (SIZE, SIZE)
        chunks = _chunks(path)
        assert "Seed: " + str(seed) in chunks["parameters"]
        graph = json.loads(chunks["prompt"])
        assert graph["1"]["inputs"]["ckpt_name"] == comfy_server.checkpoint
        assert graph["6"]["inputs"]["seed"] == seed
    assert workspace.history is not None
    row = workspace.history.get(outcome.history_id)
    assert row.request["backend"] == NAME and row.status == "done"


def test_the_written_graph_is_accepted_by_the_server(
    workspace: Workspace, comfy_server: RunningComfy
) -> None:
    outcome = run_job(_request(comfy_server, steps=2), workspace)
    graph = json.loads(_chunks(outcome.files[0])["prompt"])
    client = ComfyClient("check", comfy_server.url)
    with client.events("check-graph"):
        assert client.submit(graph, "check-graph")


def test_image_to_image_uploads_the_start_picture(
    workspace: Workspace, comfy_server: RunningComfy, tmp_path: Path
) -> None:
    start = _picture(tmp_path / "start.png")
    outcome = run_job(_request(comfy_server, init_image=str(start), strength=0.7), workspace)
    graph = json.loads(_chunks(outcome.files[0])["prompt"])
    assert graph["4"]["class_type"] == "LoadImage"
    assert graph["4"]["inputs"]["image"].startswith("imagestudio-start-")  # our name, not ours
    assert "start.png" not in json.dumps(graph)  # the local path never leaves


def test_inpainting_uploads_picture_and_mask_and_keeps_the_rest(
    workspace: Workspace, comfy_server: RunningComfy, tmp_path: Path
) -> None:
    start = _picture(tmp_path / "start.png")
    mask = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(mask).rectangle((32, 32, 63, 63), fill=255)
    mask.save(tmp_path / "mask.png")
    request = InpaintRequest(
        prompt="a red door",
        model=comfy_server.checkpoint,
        steps=3,
        seed=1,
        init_image=str(start),
        mask=str(tmp_path / "mask.png"),
        mask_blur=0,
        backend=NAME,
    )
    outcome = run_job(request, workspace)
    assert outcome.status == "done"
    graph = json.loads(_chunks(outcome.files[0])["prompt"])
    assert {graph["30"]["class_type"], graph["31"]["class_type"]} == {
        "LoadImageMask",
        "SetLatentNoiseMask",
    }
    with Image.open(outcome.files[0]) as painted, Image.open(start) as original:
        kept = painted.convert("RGB").crop((0, 0, 32, 32)).tobytes()
        assert kept == original.convert("RGB").crop((0, 0, 32, 32)).tobytes()


def test_a_lora_clip_skip_and_latent_hires_fix(
    workspace: Workspace, comfy_server: RunningComfy
) -> None:
    request = _request(
        comfy_server,
        loras=((comfy_server.lora, 0.8),),
        clip_skip=2,
        hires_scale=2.0,
        hires_upscaler="latent",
        hires_steps=2,
        hires_denoise=0.5,
        steps=2,
    )
    outcome = run_job(request, workspace)
    with Image.open(outcome.files[0]) as picture:
        assert picture.size == (128, 128)
    chunks = _chunks(outcome.files[0])
    graph = json.loads(chunks["prompt"])
    kinds = {node["class_type"] for node in graph.values()}
    assert {"LoraLoader", "CLIPSetLastLayer", "LatentUpscale"} <= kinds
    assert (
        "Clip skip: 2" in chunks["parameters"] and "Hires upscaler: Latent" in chunks["parameters"]
    )
    assert "lora key not loaded" not in comfy_server.log()


def _long_graph(server: RunningComfy, steps: int = 150) -> dict[str, Any]:
    return api_graph(
        GraphSettings(
            prompt="long",
            negative_prompt="",
            seed=1,
            steps=steps,
            cfg=5.0,
            sampler_name="euler",
            scheduler="normal",
            width=256,
            height=256,
            checkpoint=server.checkpoint,
        )
    )


def _wait_idle(client: ComfyClient, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while client.queue() != ([], []):
        assert time.monotonic() < deadline, client.queue()
        time.sleep(0.1)


def test_cancel_while_running_interrupts_the_server(
    workspace: Workspace, comfy_server: RunningComfy
) -> None:
    seen = threading.Event()
    outcome = run_job(
        _request(comfy_server, steps=100, width=256, height=256),
        workspace,
        on_step=lambda *_: seen.set(),
        is_cancelled=seen.is_set,
    )
    assert outcome.status == "cancelled" and not outcome.files
    assert not list(workspace.outputs_dir.glob("*.png"))
    _wait_idle(ComfyClient("check", comfy_server.url), timeout=10)  # interrupted, not run out


def test_cancel_while_waiting_deletes_it_from_the_queue(
    workspace: Workspace, comfy_server: RunningComfy
) -> None:
    other = ComfyClient("other", comfy_server.url)
    with other.events("someone-else"):
        long_id = other.submit(_long_graph(comfy_server), "someone-else")
    waited = []

    def ours_waits() -> bool:
        running, waiting = other.queue()
        if running == [long_id] and waiting:
            waited.append(waiting[0])
            return True
        return False

    try:
        outcome = run_job(_request(comfy_server), workspace, is_cancelled=ours_waits)
        assert outcome.status == "cancelled"
        running, waiting = other.queue()
        assert waited and waited[0] not in waiting  # ours was deleted...
        assert running == [long_id]  # ...and the other job was not interrupted
    finally:
        other.interrupt()
        _wait_idle(other)


def test_a_missing_checkpoint_is_named_with_what_the_server_has(
    workspace: Workspace, comfy_server: RunningComfy
) -> None:
    with pytest.raises(BackendModelError) as caught:
        run_job(_request(comfy_server, model="no-such-model.safetensors"), workspace)
    text = str(caught.value)
    assert "no checkpoint 'no-such-model.safetensors'" in text and comfy_server.checkpoint in text
    assert text.count(".") >= 1 and "\n" not in text
    assert workspace.history is not None
    (row,) = workspace.history.search("")
    assert row.status == "failed" and row.message == text


def test_an_unknown_node_is_one_sentence(comfy_server: RunningComfy) -> None:
    client = ComfyClient("box", comfy_server.url)
    with pytest.raises(BackendError, match=r"could not take the job \(HTTP 500") as caught:
        client.submit({"1": {"class_type": "NoSuchNode", "inputs": {}}}, "x")
    assert "\n" not in str(caught.value)


def test_a_closed_port_is_unreachable(tmp_path: Path) -> None:
    from imagestudio.dev.comfyserver import free_port

    client = ComfyClient("gone", f"http://127.0.0.1:{free_port()}", token="s3cret-token")
    with pytest.raises(BackendError, match="cannot be reached: nothing listens") as caught:
        client.info()
    assert "s3cret" not in str(caught.value)


def test_two_servers_take_jobs_at_once_then_one_is_killed_mid_job(
    tmp_path: Path, comfy_server: RunningComfy
) -> None:
    """One second server for both: two threads send jobs to the two servers at once (as the
    window's queue does with a worker per backend); then that server dies during a job."""
    models = tiny_models()
    with ComfyServer(tmp_path / "second", models.folders) as second:
        config = EngineConfig.from_settings(
            Settings(),
            outputs_dir=tmp_path / "out",
            backends=(BackendEntry(NAME, comfy_server.url), BackendEntry("doomed", second.url)),
        )
        outcomes: dict[str, Any] = {}

        def work(backend: str) -> None:
            with Workspace(config) as space:
                outcomes[backend] = run_job(_request(comfy_server, backend=backend), space)

        threads = [threading.Thread(target=work, args=(name,)) for name in (NAME, "doomed")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert {name: o.status for name, o in outcomes.items()} == {NAME: "done", "doomed": "done"}
        assert outcomes["doomed"].device.startswith("ComfyUI 'doomed'")
        # the same request on two servers: the same picture (same seed, same thread count)
        with Image.open(outcomes[NAME].files[0]) as a, Image.open(outcomes["doomed"].files[0]) as b:
            assert a.tobytes() == b.tobytes()

        def kill(*_: object) -> None:
            if second._process is not None:
                second._process.kill()

        for path in (tmp_path / "out").glob("*.png"):
            path.unlink()
        started = time.perf_counter()
        with Workspace(config) as space, pytest.raises(BackendError) as caught:
            run_job(
                _request(comfy_server, backend="doomed", steps=60, width=256, height=256),
                space,
                on_step=kill,
            )
    assert "went away during the job" in str(caught.value)
    assert time.perf_counter() - started < 30
    assert not list((tmp_path / "out").glob("*.png"))
