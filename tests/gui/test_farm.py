"""Which worker takes which queued job (gui.farm), with the servers' checkpoint lists faked (no
network): named servers, "local", "auto" by model, queue order kept per worker; workers made and
retired as the servers in the settings change."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from imagestudio.core.backendnames import AUTO, LOCAL, BackendEntry
from imagestudio.core.requests import GenerationRequest, StyleRequest
from imagestudio.core.settings import Settings
from imagestudio.gui import farm as farm_module
from imagestudio.gui.farm import JobFarm, QueuedJob

LISTS = {"a": ("m.safetensors",), "b": ("m.safetensors", "n.safetensors")}


class FakeClient:
    def __init__(self, entry: BackendEntry) -> None:
        self.entry = entry

    def checkpoints(self) -> tuple[str, ...]:
        return LISTS.get(self.entry.name, ())


def _settings(*names: str) -> Settings:
    return Settings(
        device="cpu", backends=[{"name": n, "url": f"http://127.0.0.1:9/{n}"} for n in names]
    )


@pytest.fixture
def farm(qtbot, monkeypatch: pytest.MonkeyPatch) -> Iterator[JobFarm]:
    monkeypatch.setattr(
        farm_module.registry, "client_for", lambda entry, timeout=None: FakeClient(entry)
    )
    made = JobFarm(_settings("a", "b"), wire=lambda worker: None)
    qtbot.waitUntil(lambda: all(made.checkpoints(n) is not None for n in "ab"), timeout=5_000)
    yield made
    made.stop_all()
    assert made.wait(10_000)


def _job(job_id: int, backend: str, model: str = "m.safetensors", **extra: Any) -> QueuedJob:
    return QueuedJob(job_id, GenerationRequest("a heron", model=model, backend=backend, **extra))


def _taken(farm: JobFarm, queue: list[QueuedJob]) -> dict[str, int]:
    """Assign, mark the workers busy as the window does, and say who took what."""
    taken = farm.assign(queue)
    for station, job in taken:
        station.job = job
        queue.remove(job)
    return {station.backend: job.id for station, job in taken}


def test_each_idle_worker_takes_the_first_job_it_can_run(farm: JobFarm) -> None:
    queue = [
        _job(1, AUTO),  # both servers have m: the first idle one in the settings' order
        _job(2, LOCAL, model="tiny"),
        _job(3, "b"),
        _job(4, AUTO, model="n.safetensors"),  # only b has n, and b is busy: it waits
        _job(5, "a"),
    ]
    assert _taken(farm, queue) == {"a": 1, LOCAL: 2, "b": 3}
    assert farm.stations["a"].job.request.backend == "a"  # resolved: the history says where
    assert [job.id for job in queue] == [4, 5]
    farm.release(3, "done")
    assert _taken(farm, queue) == {"b": 4}
    assert farm.stations["b"].job.request.backend == "b"
    farm.release(1, "done")
    assert _taken(farm, queue) == {"a": 5}
    assert {backend for backend, _ in [(s.backend, j) for s, j in farm.running()]} == {
        "a", "b", LOCAL,
    }  # fmt: skip


def test_jobs_only_this_computer_runs_go_to_the_local_worker(farm: JobFarm) -> None:
    queue = [
        QueuedJob(1, StyleRequest(content_image="c.png", style_image="s.png")),
        _job(2, "gone"),  # a server no longer configured: its job says so, here
        _job(3, AUTO, model="nowhere"),  # no server has it: this computer says it is missing
    ]
    assert _taken(farm, queue) == {LOCAL: 1}
    farm.release(1, "done")
    assert _taken(farm, queue) == {LOCAL: 2}
    farm.release(2, "failed")
    assert _taken(farm, queue) == {LOCAL: 3}
    assert farm.local.job is not None and farm.local.job.request.backend == LOCAL


def test_without_servers_auto_runs_here_as_before(qtbot) -> None:
    alone = JobFarm(Settings(device="cpu"), wire=lambda worker: None)
    try:
        queue = [_job(1, AUTO), _job(2, AUTO)]
        assert _taken(alone, queue) == {LOCAL: 1}
        assert alone.servers() == [] and [job.id for job in queue] == [2]
    finally:
        alone.stop_all()
        assert alone.wait(10_000)


def test_servers_added_and_removed_get_and_lose_their_worker(qtbot, farm: JobFarm) -> None:
    retired = farm.stations["b"]
    farm.set_settings(_settings("a", "c"))
    assert [s.backend for s in farm.servers()] == ["a", "c"]
    assert retired.retired
    qtbot.waitUntil(lambda: retired not in farm.all_stations(), timeout=10_000)
    qtbot.waitUntil(lambda: farm.checkpoints("c") is not None, timeout=5_000)
    assert farm.checkpoints("c") == ()  # the fake knows no c: auto jobs skip it
    assert _taken(farm, [_job(1, "c")]) == {"c": 1}
