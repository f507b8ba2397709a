"""A worker per backend (a small render farm): "This computer" plus one per ComfyUI server, each a
`JobWorker` on its own QThread with its own workspace (and history connection), so that jobs
queued in one window run on every server at once while local GPU jobs stay one at a time.

The window keeps the queue; `JobFarm.assign` says which idle worker takes which queued job:
- a job for a named server goes to that server's worker (to the local one when no such server
  is configured: its job then fails with the core's sentence);
- a local job, and every kind of job that only runs here (style, upscale), to the local worker;
- an "auto" job to the first idle server (in the settings' order) whose checkpoints include the
  model, else to the local worker when the model is here or no server has it. Its request is
  resolved to that worker's backend before it runs, so the history records where it ran.
Jobs keep the queue's order among the jobs a worker can run. A server's checkpoints come from
the Run-on list's cache when it has them, else are asked in the background.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, Signal

from imagestudio.core.backendnames import AUTO, LOCAL, BackendEntry
from imagestudio.core.backends import registry
from imagestudio.core.errors import ImageStudioError
from imagestudio.core.paths import app_paths
from imagestudio.core.requests import Request
from imagestudio.core.settings import Settings
from imagestudio.gui.background import run_in_background
from imagestudio.gui.worker import JobWorker

log = logging.getLogger(__name__)

LOCAL_TEXT = "This computer"
RETRY_CHECKPOINTS_S = 15.0  # a server whose checkpoints could not be had is asked again after


@dataclass
class QueuedJob:
    id: int
    request: Request

    def describe(self) -> str:
        return self.request.describe()


class Station(QObject):
    """One backend's worker on its own thread, and the job it runs now."""

    start_job = Signal(int, object)  # to the worker (queued across threads)

    def __init__(
        self, backend: str, settings: Settings, url: str = "", parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.backend = backend
        self.url = url
        self.job: QueuedJob | None = None
        self.started_at = 0.0
        self.retired = False
        self.qthread = QThread(self)
        self.qthread.setObjectName(
            "imagestudio-worker" if backend == LOCAL else f"imagestudio-worker-{backend}"
        )
        self.worker = JobWorker(settings)
        self.worker.moveToThread(self.qthread)
        self.start_job.connect(self.worker.run)
        self.qthread.start()

    def label(self) -> str:
        return LOCAL_TEXT if self.backend == LOCAL else self.backend

    def start(self, job: QueuedJob) -> None:
        self.job = job
        self.started_at = time.perf_counter()
        self.worker.cancel_event.clear()
        self.start_job.emit(job.id, job.request)

    def stop(self) -> None:
        """Cancel the job in flight and end the thread once it returns."""
        self.worker.cancel()
        self.qthread.quit()


class JobFarm(QObject):
    """The workers, one per backend; which idle worker takes which queued job."""

    settings_changed = Signal(object)  # to every worker (queued across threads)
    checkpoints_arrived = Signal(str)  # a server's checkpoint list came (auto jobs may go now)

    def __init__(
        self,
        settings: Settings,
        wire: Callable[[JobWorker], None],
        known_checkpoints: Callable[[str], tuple[str, ...] | None] = lambda name: None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._wire = wire
        self._known = known_checkpoints
        self._settings = settings
        self.local = self._add(LOCAL, settings)
        self.stations: dict[str, Station] = {LOCAL: self.local}
        self._retired: list[Station] = []
        # server -> its checkpoints ((): could not be had); absent while being asked
        self._checkpoints: dict[str, tuple[str, ...]] = {}
        self._asked_at: dict[str, float] = {}
        self.set_settings(settings)

    # -- the workers --------------------------------------------------------------------------

    def _add(self, backend: str, settings: Settings, url: str = "") -> Station:
        station = Station(backend, settings, url, parent=self)
        self._wire(station.worker)
        self.settings_changed.connect(station.worker.apply_settings)
        return station

    def set_settings(self, settings: Settings) -> None:
        """New settings: a worker for each server now listed, none for those gone (a job running
        on one is cancelled); every worker gets the settings."""
        self._settings = settings
        entries = settings.backend_entries()
        names = {entry.name for entry in entries}
        for name in [name for name in self.stations if name != LOCAL and name not in names]:
            self._retire(self.stations.pop(name))
        stations = {LOCAL: self.local}
        for entry in entries:
            station = self.stations.get(entry.name)
            if station is None or station.url != entry.url:
                if station is not None:
                    self._retire(station)
                station = self._add(entry.name, settings, entry.url)
                self._checkpoints.pop(entry.name, None)
                self._ask_checkpoints(entry)
            stations[entry.name] = station
        self.stations = stations
        self.settings_changed.emit(settings)

    def _retire(self, station: Station) -> None:
        station.retired = True
        self._checkpoints.pop(station.backend, None)
        self._retired.append(station)
        station.qthread.finished.connect(lambda: self._forget(station))
        station.stop()

    def _forget(self, station: Station) -> None:
        station.worker.shutdown()
        if station in self._retired:
            self._retired.remove(station)
            station.deleteLater()

    def servers(self) -> list[Station]:
        return [s for name, s in self.stations.items() if name != LOCAL]

    def all_stations(self) -> list[Station]:
        return [*self.stations.values(), *self._retired]

    # -- server checkpoints -------------------------------------------------------------------

    def _ask_checkpoints(self, entry: BackendEntry) -> None:
        self._asked_at[entry.name] = time.monotonic()

        def done(checkpoints: tuple[str, ...]) -> None:
            if self._station_for(entry):
                self._checkpoints[entry.name] = tuple(checkpoints)
                self.checkpoints_arrived.emit(entry.name)

        def failed(message: str) -> None:
            if self._station_for(entry):
                log.info("server %r: no checkpoint list: %s", entry.name, message)
                self._checkpoints[entry.name] = ()
                self.checkpoints_arrived.emit(entry.name)

        run_in_background(
            self, lambda: registry.client_for(entry, timeout=10.0).checkpoints(), done, failed
        )

    def _station_for(self, entry: BackendEntry) -> bool:
        station = self.stations.get(entry.name)
        return station is not None and station.url == entry.url

    def checkpoints(self, name: str) -> tuple[str, ...] | None:
        """A server's checkpoints; None while they are being asked."""
        listed = self._checkpoints.get(name)
        if listed is None:
            return self._known(name)  # being asked: the Run-on list's cache, if it has them
        if listed == () and time.monotonic() - self._asked_at.get(name, 0.0) > RETRY_CHECKPOINTS_S:
            station = self.stations.get(name)
            if station is not None:
                del self._checkpoints[name]
                self._ask_checkpoints(BackendEntry(name, station.url))
                return None
        return listed

    def _model_is_local(self, model: str) -> bool:
        from imagestudio.core.models.library import resolve_model

        try:
            resolve_model(
                model,
                self._settings.resolved_models_dir(app_paths()),
                self._settings.resolved_hf_cache(),
            )
        except (ImageStudioError, OSError):
            return False
        return True

    # -- which worker takes which job ---------------------------------------------------------

    def can_run(self, station: Station, request: Request) -> bool:
        backend = getattr(request, "backend", LOCAL)
        if backend == AUTO:
            model = str(getattr(request, "model", ""))
            if station.backend != LOCAL:
                return model in (self.checkpoints(station.backend) or ())
            if not self.servers():
                return True
            might_have = [
                s for s in self.servers() if model in (self.checkpoints(s.backend) or (model,))
            ]
            return not might_have or self._model_is_local(model)
        if backend in self.stations:
            return station.backend == backend
        return station is self.local  # local; or a server not configured: its job says so

    def assign(self, queue: list[QueuedJob]) -> list[tuple[Station, QueuedJob]]:
        """For each idle worker (servers first, in the settings' order, then this computer), the
        first job in `queue` it can run; "auto" requests are resolved to that worker. The jobs
        stay in `queue`: the caller takes them out and starts them."""
        idle = [s for s in (*self.servers(), self.local) if s.job is None]
        taken: list[tuple[Station, QueuedJob]] = []
        for job in queue:
            station = next((s for s in idle if self.can_run(s, job.request)), None)
            if station is None:
                continue
            idle.remove(station)
            if getattr(job.request, "backend", LOCAL) == AUTO:
                job.request = job.request.replace(backend=station.backend)
            taken.append((station, job))
            if not idle:
                break
        return taken

    # -- jobs in flight -----------------------------------------------------------------------

    def station_of(self, job_id: int) -> Station | None:
        return next((s for s in self.all_stations() if s.job and s.job.id == job_id), None)

    def running(self) -> list[tuple[Station, QueuedJob]]:
        """The jobs that run now, the first started first."""
        busy = [s for s in self.all_stations() if s.job is not None]
        return [(s, s.job) for s in sorted(busy, key=lambda s: s.started_at) if s.job]

    def cancel(self, job_id: int) -> bool:
        station = self.station_of(job_id)
        if station is None:
            return False
        station.worker.cancel()
        return True

    def release(self, job_id: int, status: str) -> None:
        """A job ended: its worker is free (a retired one stops; a server whose job failed is
        asked for its checkpoints again before it takes another "auto" job)."""
        station = self.station_of(job_id)
        if station is None:
            return
        station.job = None
        if station.backend != LOCAL and status == "failed" and not station.retired:
            self._checkpoints[station.backend] = ()
            self._asked_at[station.backend] = 0.0

    # -- shutdown -----------------------------------------------------------------------------

    def stop_all(self) -> None:
        for station in self.all_stations():
            station.stop()

    def all_finished(self) -> bool:
        return all(station.qthread.isFinished() for station in self.all_stations())

    def wait(self, wait_ms: int) -> bool:
        """Wait up to `wait_ms` in all for every worker's thread to end; release what the ended
        ones hold. False when a job still runs."""
        deadline = time.monotonic() + max(0, wait_ms) / 1000
        stopped = True
        for station in self.all_stations():
            left = max(0, int((deadline - time.monotonic()) * 1000))
            if station.qthread.wait(left):
                station.worker.shutdown()
            else:
                stopped = False
        return stopped
