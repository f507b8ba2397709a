"""The window's queue as a render farm (benchmark, not a test): jobs per minute with one ComfyUI
server configured against two, every job queued in the window as "auto" and run by its workers
(gui.farm: one per server), from the first enqueue to the last job's end.

    python tests/bench/bench_farm.py [--jobs 12] [--steps 4]

Starts two real ComfyUI servers on 127.0.0.1 (imagestudio.dev.comfyserver; install with
`bash .ci/install_comfyui`) with the tiny checkpoint; 64x64 pictures. Each server is warmed with
one job first. On a 2-core machine the two servers share the cores, so the second server buys
less there than on two GPU boxes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=12)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-farm-"))
    os.environ["IMAGESTUDIO_HOME"] = str(home)
    os.environ["IMAGESTUDIO_KEYRING"] = "off"

    from PySide6.QtWidgets import QApplication

    from imagestudio.core.requests import GenerationRequest
    from imagestudio.core.settings import Settings
    from imagestudio.dev.comfyserver import ComfyServer, tiny_models
    from imagestudio.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    models = tiny_models()

    def wait_until(ready: Callable[[], bool], timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError("the jobs did not end in time")
            app.processEvents()
            time.sleep(0.005)

    def request(backend: str, seed: int) -> GenerationRequest:
        return GenerationRequest(
            "a lighthouse", model=models.checkpoint, width=64, height=64, steps=args.steps,
            seed=seed, backend=backend,
        )  # fmt: skip

    rows = []
    with (
        ComfyServer(home / "a", models.folders) as first,
        ComfyServer(home / "b", models.folders) as second,
    ):
        servers = [{"name": "a", "url": first.url}, {"name": "b", "url": second.url}]
        for count in (1, 2):
            window = MainWindow(Settings(device="cpu", backends=servers[:count]))
            window.show()
            names = [s["name"] for s in servers[:count]]
            wait_until(lambda: all(window.farm.checkpoints(n) for n in names))  # noqa: B023
            ended: list[tuple[int, str]] = []
            window.job_done.connect(lambda job, status: ended.append((job, status)))  # noqa: B023
            for name in names:  # warm each server (the first job loads the checkpoint)
                window.enqueue(request(name, 0))
            wait_until(lambda: len(ended) == count)  # noqa: B023
            ended.clear()
            started = time.perf_counter()
            for seed in range(1, args.jobs + 1):
                window.enqueue(request("auto", seed))
            wait_until(lambda: len(ended) == args.jobs)  # noqa: B023
            elapsed = time.perf_counter() - started
            failed = [job for job, status in ended if status != "done"]
            assert not failed, window.canvas.error_text()
            rows.append((count, elapsed))
            window.close()
            window.finish_closing(30_000)
            window.deleteLater()
            app.processEvents()
    print(f"\n{args.jobs} 'auto' jobs through the window, 64x64, {args.steps} steps:")
    print(f"{'servers':<10}{'seconds':>10}{'jobs/min':>10}")
    for count, elapsed in rows:
        print(f"{count:<10}{elapsed:>10.1f}{args.jobs / elapsed * 60:>10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
