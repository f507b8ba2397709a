"""The window's queue as a small render farm (gui.farm): with two real ComfyUI servers configured,
queued jobs run on both at once (and a local job on this computer meanwhile), each recorded in
the history with where it ran; one running server job is cancelled while the other goes on.
64x64 pictures at 2 steps on the tiny checkpoint; the local job on the tiny local model."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from imagestudio.core.backendnames import AUTO, LOCAL
from imagestudio.core.outputs.history import HistoryStore
from imagestudio.core.paths import app_paths
from imagestudio.core.requests import GenerationRequest
from imagestudio.core.settings import Settings
from imagestudio.dev.comfyserver import ComfyServer, tiny_models
from imagestudio.gui.main_window import MainWindow
from tests.integration.conftest import RunningComfy

FIRST, SECOND = "box one", "box two"
WAIT = 120_000


@pytest.fixture(autouse=True)
def token_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGESTUDIO_KEYRING", "off")


@pytest.fixture(scope="module")
def second_server(
    comfy_server: RunningComfy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with ComfyServer(tmp_path_factory.mktemp("second"), tiny_models().folders) as server:
        yield server.url


@pytest.fixture
def window(qtbot, comfy_server: RunningComfy, second_server: str) -> Iterator[MainWindow]:
    backends = [{"name": FIRST, "url": comfy_server.url}, {"name": SECOND, "url": second_server}]
    win = MainWindow(Settings(device="cpu", backends=backends))
    qtbot.addWidget(win)
    win.show()
    # "auto" jobs go to a server once its checkpoint list is known
    qtbot.waitUntil(
        lambda: all(win.farm.checkpoints(name) for name in (FIRST, SECOND)), timeout=30_000
    )
    yield win
    win.close()
    assert win.finish_closing(30_000)


class Timeline:
    """When each job started and ended, and where it ran (from the workers' signals)."""

    def __init__(self, window: MainWindow) -> None:
        self.started: dict[int, float] = {}
        self.ended: dict[int, tuple[float, str]] = {}
        self.where: dict[int, str] = {}
        for station in window.farm.all_stations():
            station.worker.job_started.connect(
                lambda job, backend=station.backend: self._start(job, backend)
            )
        window.job_done.connect(
            lambda job, status: self.ended.__setitem__(job, (time.perf_counter(), status))
        )

    def _start(self, job: int, backend: str) -> None:
        self.started[job] = time.perf_counter()
        self.where[job] = backend

    def overlap(self, a: int, b: int) -> bool:
        return self.started[a] < self.ended[b][0] and self.started[b] < self.ended[a][0]


def _request(model: str, backend: str, **changes: Any) -> GenerationRequest:
    values: dict[str, Any] = {
        "prompt": "a lighthouse at dusk",
        "model": model,
        "width": 64,
        "height": 64,
        "steps": 2,
        "seed": 42,
        "backend": backend,
    }
    return GenerationRequest(**(values | changes))


def test_queued_jobs_run_on_both_servers_at_once_and_a_local_one_here(
    qtbot, window: MainWindow, comfy_server: RunningComfy, tiny_model: Path
) -> None:
    shutil.copytree(tiny_model, app_paths().models_dir / "tiny")
    timeline = Timeline(window)
    checkpoint = comfy_server.checkpoint
    ids = [window.enqueue(_request(checkpoint, AUTO, seed=seed)) for seed in range(4)]
    ids.append(window.enqueue(_request(checkpoint, FIRST, seed=10)))
    ids.append(window.enqueue(_request(checkpoint, SECOND, seed=11)))
    local = window.enqueue(_request("tiny", LOCAL, seed=12))
    # both servers and this computer took a job at once; the rest wait
    assert sorted(backend for backend, _ in window.running_jobs()) == sorted([FIRST, SECOND, LOCAL])
    assert len(window.queued_jobs()) == 4
    assert window.queue_list.count() == 2 + 4  # the two running beside the one on show, waiting
    qtbot.waitUntil(lambda: len(timeline.ended) == 7, timeout=WAIT)
    assert {job: status for job, (_, status) in timeline.ended.items()} == dict.fromkeys(
        [*ids, local], "done"
    ), window.canvas.error_text()

    assert timeline.where[local] == LOCAL
    assert timeline.where[ids[4]] == FIRST and timeline.where[ids[5]] == SECOND
    first_jobs = [job for job in ids if timeline.where[job] == FIRST]
    second_jobs = [job for job in ids if timeline.where[job] == SECOND]
    assert first_jobs and second_jobs and len(first_jobs) + len(second_jobs) == 6
    # both servers busy at the same time, more than once
    overlapping = [(a, b) for a in first_jobs for b in second_jobs if timeline.overlap(a, b)]
    assert len(overlapping) >= 2, (timeline.started, timeline.ended)
    assert any(timeline.overlap(local, job) for job in ids)

    with HistoryStore() as store:
        records = store.recent()
    assert len(records) == 7 and all(r.status == "done" for r in records)
    ran_on = sorted(r.request["backend"] for r in records)
    assert ran_on == sorted([LOCAL] + [timeline.where[job] for job in ids])
    assert len(window.gallery.paths()) == 7
    assert window.running_jobs() == [] and window.queue_list.isHidden()


def test_cancelling_one_running_server_job_leaves_the_other_running(
    qtbot, window: MainWindow, comfy_server: RunningComfy
) -> None:
    timeline = Timeline(window)
    steps: dict[int, int] = {}
    for station in window.farm.servers():
        station.worker.step_done.connect(
            lambda job, step, total, image: steps.__setitem__(job, step)
        )
    long = {"steps": 30, "width": 128, "height": 128}
    first = window.enqueue(_request(comfy_server.checkpoint, FIRST, **long))
    second = window.enqueue(_request(comfy_server.checkpoint, SECOND, seed=7, **long))
    assert window.running_job() is not None and window.running_job().id == second  # on show
    assert "Running on box one" in window.queue_list.item(0).text()
    qtbot.waitUntil(lambda: first in steps and second in steps, timeout=WAIT)
    window.queue_list.setCurrentRow(0)
    window.remove_selected_queued()  # Delete on the running job's row cancels it
    qtbot.waitUntil(lambda: first in timeline.ended, timeout=WAIT)
    assert timeline.ended[first][1] == "cancelled"
    assert second not in timeline.ended  # the other goes on
    assert window.running_job() is not None and window.running_job().id == second
    qtbot.waitUntil(lambda: second in timeline.ended, timeout=WAIT)
    assert timeline.ended[second][1] == "done", window.canvas.error_text()
    with HistoryStore() as store:
        statuses = {r.request["backend"]: r.status for r in store.recent()}
    assert statuses == {FIRST: "cancelled", SECOND: "done"}
    assert len(window.gallery.paths()) == 1
