"""Remote jobs benchmark (not a test): what sending a job to a ComfyUI server costs over the
server's own work, the time to the first preview, and jobs per minute with one and two servers.

    python tests/bench/bench_remote.py [--jobs 10] [--steps 4]

Starts one or two real ComfyUI servers on 127.0.0.1 (imagestudio.dev.comfyserver; install with
`bash .ci/install_comfyui`) with the tiny checkpoint, and runs 64x64 jobs through
core.jobs.run_job. "server" is execution_start to the end as the websocket says it; "overhead"
is the whole run_job (connect, upload, submit, events, /view, decode, PNG with metadata, history
row) minus that. Two servers: two threads, one per server, take jobs from one shared queue (as
the window's queue does with a worker per backend). On a 2-core machine the two servers share
the cores, so the second server buys little there; on two GPU boxes it doubles.
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from imagestudio.core.backendnames import BackendEntry
from imagestudio.core.backends.remote import last_report
from imagestudio.core.jobs import run_job
from imagestudio.core.requests import GenerationRequest
from imagestudio.core.settings import Settings
from imagestudio.core.workspace import EngineConfig, Workspace
from imagestudio.dev.comfyserver import ComfyServer, tiny_models


def _request(checkpoint: str, backend: str, steps: int, seed: int) -> GenerationRequest:
    return GenerationRequest(
        "a lighthouse", model=checkpoint, width=64, height=64, steps=steps, seed=seed,
        backend=backend,
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    os.environ["IMAGESTUDIO_HOME"] = str(home)
    models = tiny_models()
    with (
        ComfyServer(home / "a", models.folders) as first,
        ComfyServer(home / "b", models.folders) as second,
    ):
        entries = (BackendEntry("a", first.url), BackendEntry("b", second.url))
        config = EngineConfig.from_settings(Settings(), outputs_dir=home / "out", backends=entries)
        rows = []
        with Workspace(config) as space:
            for name in ("a", "b"):  # warm both (the first job loads the checkpoint)
                run_job(_request(models.checkpoint, name, args.steps, 0), space)
            for seed in range(1, args.jobs + 1):
                started = time.perf_counter()
                run_job(_request(models.checkpoint, "a", args.steps, seed), space)
                total = time.perf_counter() - started
                report = last_report()
                assert report is not None and report.pictures
                picture = report.pictures[0]
                rows.append((total, picture.server or 0.0, picture.first_preview or 0.0))
        totals, servers, previews = zip(*rows, strict=True)
        overheads = [t - s for t, s in zip(totals, servers, strict=True)]
        print(f"\n64x64, {args.steps} steps, {args.jobs} jobs on one warm server (median / max):")
        print(f"{'':<32}{'median':>10}{'max':>10}")
        for label, values in (
            ("run_job total (s)", totals),
            ("server execution (s)", servers),
            ("overhead (s)", overheads),
            ("first preview after submit (s)", previews),
        ):
            print(f"{label:<32}{statistics.median(values):>10.3f}{max(values):>10.3f}")

        for count in (1, 2):
            jobs: queue.Queue[int] = queue.Queue()
            for seed in range(100, 100 + args.jobs * 2):
                jobs.put(seed)

            def worker(name: str, jobs: queue.Queue[int] = jobs) -> None:
                with Workspace(config) as space:
                    while True:
                        try:
                            seed = jobs.get_nowait()
                        except queue.Empty:
                            return
                        run_job(_request(models.checkpoint, name, args.steps, seed), space)

            started = time.perf_counter()
            threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")[:count]]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            done = args.jobs * 2
            print(
                f"{count} server(s): {done} jobs in {elapsed:.1f} s = {done / elapsed * 60:.0f}/min"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
