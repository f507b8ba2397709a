"""GUI benchmarks (not tests): start-up time and event-loop stalls while a job runs.

    python tests/bench/bench_gui.py [--runs 3] [--arch small] [--steps 20] [--only mask]

1. Start-up: wall time from launching `python -m imagestudio` to its first shown window, against
   `python -c "import torch, diffusers"` measured in the same run (floor: ratio <= 0.5).
2. Smoothness: a 5 ms QTimer probe on the GUI thread while the worker generates on a random-weight
   model; the longest gap beyond the timer's interval is the worst stall (floor: <= 50 ms).
3. Mask painting: synthetic mouse strokes over a 2048 × 2048 picture in mask mode, at Fit and at
   100%, with a small and a large brush; each event's handling time, painting and the repaint it
   causes processed, worst and median (floor: worst <= 16 ms, one frame).
Runs offscreen unless QT_QPA_PLATFORM is set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _time_until_line(cmd: list[str], marker: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if marker in line:
            elapsed = time.perf_counter() - started
            proc.wait(timeout=60)
            return elapsed
    proc.wait(timeout=60)
    raise RuntimeError(f"{cmd} ended without printing {marker!r}")


def _time_command(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def startup(runs: int, home: Path) -> dict[str, float]:
    env = dict(os.environ, IMAGESTUDIO_HOME=str(home), IMAGESTUDIO_EXIT_AFTER_SHOW="1")
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    window, imports = [], []
    for _ in range(runs):  # interleaved, so both see the same disk cache and machine load
        window.append(_time_until_line([sys.executable, "-m", "imagestudio"], "window shown", env))
        imports.append(_time_command([sys.executable, "-c", "import torch, diffusers"], env))
    return {"window": statistics.median(window), "imports": statistics.median(imports)}


def stalls(arch: str, steps: int, home: Path) -> dict[str, float]:
    os.environ["IMAGESTUDIO_HOME"] = str(home)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from imagestudio.core.requests import GenerationRequest
    from imagestudio.core.settings import Settings
    from imagestudio.dev.randommodels import build_random_sd
    from imagestudio.gui.main_window import MainWindow

    model = build_random_sd(home / "models" / arch, arch)
    _app = QApplication.instance() or QApplication([])
    window = MainWindow(Settings())
    window.show()
    interval = 5
    clock = QElapsedTimer()
    gaps: dict[str, list[float]] = {"load": [], "steps": []}
    phase = {"name": "load"}
    last = {"t": 0.0}

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        gaps[phase["name"]].append(now - last["t"] - interval)
        last["t"] = now

    def on_step(job_id: int, step: int, total: int, image: object) -> None:
        phase["name"] = "steps"

    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.setInterval(interval)
    probe.timeout.connect(tick)
    window.worker.step_done.connect(on_step)
    loop = QEventLoop()
    window.job_done.connect(lambda job_id, status: loop.quit())
    job = GenerationRequest(prompt="a fox", model=str(model), steps=steps, seed=1)
    results = {}
    for label in ("first job (loads the model)", "second job (model cached)"):
        gaps["load"].clear()
        gaps["steps"].clear()
        phase["name"] = "load"
        clock.start()
        last["t"] = 0.0
        probe.start()
        window.enqueue(job)
        loop.exec()  # the real event loop, as in the app, until the job ends
        probe.stop()
        worst_steps = max(gaps["steps"], default=0.0)
        worst_all = max(gaps["load"] + gaps["steps"], default=0.0)
        results[label] = (worst_steps, worst_all, statistics.mean(gaps["steps"] or [0.0]))
    window.close()
    return results  # type: ignore[return-value]


MASK_SIDE = 2048
MASK_MOVES = 400  # mouse moves per stroke


def mask_painting(home: Path) -> list[tuple[str, dict[str, float]]]:
    """Per-event times (ms) of painting a mask with the mouse, in the window, at each zoom."""
    os.environ["IMAGESTUDIO_HOME"] = str(home)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from PIL import Image
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from imagestudio.core.settings import Settings
    from imagestudio.gui.main_window import MainWindow

    home.mkdir(parents=True, exist_ok=True)
    picture = home / "picture.png"
    noise = np.random.default_rng(1).integers(0, 255, (MASK_SIDE // 8, MASK_SIDE // 8, 3))
    Image.fromarray(noise.astype(np.uint8)).resize((MASK_SIDE, MASK_SIDE)).save(picture)
    app = QApplication.instance() or QApplication([])
    window = MainWindow(Settings())
    window.resize(1400, 900)
    window.show()
    window.canvas.show_result(str(picture))
    editor = window.canvas.mask_editor
    editor.set_on(True)
    view = window.canvas._view
    app.processEvents()

    def send(kind: QEvent.Type, pos: QPointF, button: Qt.MouseButton) -> float:
        held = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
        event = QMouseEvent(
            kind,
            pos,
            view.mapToGlobal(pos),
            button if kind != QEvent.Type.MouseMove else Qt.MouseButton.NoButton,
            held,
            Qt.KeyboardModifier.NoModifier,
        )
        started = time.perf_counter()
        QApplication.sendEvent(view, event)
        app.processEvents()  # the repaint it asked for, too
        return (time.perf_counter() - started) * 1000

    results = []
    left = Qt.MouseButton.LeftButton
    for zoom in ("fit", "100%"):
        window.canvas.set_zoom(zoom)
        app.processEvents()
        for brush, hardness in ((24, 1.0), (160, 0.5)):
            editor.set_brush_size(brush)
            editor.set_hardness(hardness)
            area = view.image_rect() & view.visibleRegion().boundingRect()
            # a zigzag across the visible picture: long strokes grow the undo step's rect
            points = [
                QPointF(
                    area.left() + 10 + (area.width() - 20) * (i / MASK_MOVES),
                    area.top()
                    + 10
                    + (area.height() - 20)
                    * abs(((i * 4) % (2 * MASK_MOVES)) - MASK_MOVES)
                    / MASK_MOVES,
                )
                for i in range(MASK_MOVES)
            ]
            press = send(QEvent.Type.MouseButtonPress, points[0], left)
            moves = [send(QEvent.Type.MouseMove, point, left) for point in points[1:]]
            release = send(QEvent.Type.MouseButtonRelease, points[-1], left)
            results.append(
                (
                    f"{zoom:<4} brush {brush:>3} px, hardness {hardness:.1f}",
                    {
                        "worst move": max(moves),
                        "median move": statistics.median(moves),
                        "press": press,
                        "release": release,
                        "worst": max([press, release, *moves]),
                    },
                )
            )
    steps = editor.layer().undo_steps() if editor.layer() else 0
    undo_mb = editor.layer().undo_bytes() / 1e6 if editor.layer() else 0.0
    results.append((f"undo: {steps} steps kept", {"MB": undo_mb}))
    window.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--arch", default="small", choices=("tiny", "small", "sd15"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--only", choices=("startup", "stalls", "mask"), help="run one of the benchmarks"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="imagestudio-guibench-") as tmp:
        home = Path(tmp)
        if args.only in (None, "mask"):
            rows = mask_painting(home / "mask")
            platform = os.environ.get("QT_QPA_PLATFORM", "offscreen")
            print(f"Mask painting on a {MASK_SIDE}x{MASK_SIDE} picture ({platform}), ms per event")
            print(f"  {'case':<34} {'worst move':>10} {'median':>8} {'press':>7} {'release':>8}")
            for label, row in rows:
                if "MB" in row:
                    print(f"  {label}, {row['MB']:.1f} MB")
                    continue
                print(
                    f"  {label:<34} {row['worst move']:>10.2f} {row['median move']:>8.2f} "
                    f"{row['press']:>7.2f} {row['release']:>8.2f}"
                )
            worst = max(row.get("worst", 0.0) for _, row in rows)
            print(f"  worst event {worst:.2f} ms   (floor: <= 16 ms)")
            if args.only:
                return
        times = startup(args.runs, home / "startup")
        print(f"Start-up (median of {args.runs}, interleaved)")
        print(f"  window shown                  {times['window']:.3f} s")
        print(f"  import torch, diffusers       {times['imports']:.3f} s")
        print(
            f"  ratio window / imports        {times['window'] / times['imports']:.3f}"
            "   (floor <= 0.5)"
        )
        results = stalls(args.arch, args.steps, home / "stalls")
        print(f"Event-loop stalls, 5 ms probe, {args.arch} random model, {args.steps} steps")
        for label, (worst_steps, worst_all, mean_steps) in results.items():
            print(
                f"  {label:<30} worst while stepping {worst_steps:6.1f} ms, "
                f"worst overall {worst_all:6.1f} ms, mean lateness {mean_steps:.2f} ms"
            )
        print("  (floor: worst while stepping <= 50 ms, aim 16 ms)")


if __name__ == "__main__":
    main()
