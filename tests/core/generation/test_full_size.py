"""Full-size SD 1.5 and SDXL single files (random weights) load offline: slow, off by default.

    python -m pytest -m slow tests/core/generation/test_full_size.py -s

Each test builds the real architecture (SD 1.5: 1.07 B parameters, 2.1 GB in fp16; SDXL:
3.5 B parameters, 6.9 GB), writes it as one original-layout .safetensors file as model sites
ship them, puts it in the models folder, and goes through the app's own path: the library scan
detects its family from the keys, the engine loads it with the shipped configs with every
socket closed, and one small image is made. Times and peak memory are printed (-s shows them).
"""

from __future__ import annotations

import resource
import shutil
import socket
import time
from pathlib import Path

import pytest
import torch

from imagestudio.core.models.library import scan_models_folder
from imagestudio.core.requests import GenerationRequest
from tests.modelfiles import build_random_family, to_single_file

pytestmark = pytest.mark.slow

EXPECTED_UNET = {"sd1": 859_520_964, "sdxl": 2_567_463_684}


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


@pytest.mark.parametrize("family", ["sd1", "sdxl"])
def test_full_size_single_file_loads_offline(
    family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagestudio.core.devices import pick_device
    from imagestudio.core.generation.engine import Engine

    # SDXL in fp32 would need about 14 GB of RAM for the weights alone; fp16 keeps it at 7
    device = pick_device("cpu", "fp32" if family == "sd1" else "fp16")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    folder = build_random_family(tmp_path / "folder", family, "full", dtype=torch.float16)
    timings["build"] = time.perf_counter() - started
    models = tmp_path / "models"
    started = time.perf_counter()
    file = to_single_file(folder, models / f"random-{family}.safetensors", family)
    timings["write single file"] = time.perf_counter() - started
    shutil.rmtree(folder)  # from here on only the single file exists

    [entry] = scan_models_folder(models)
    assert entry.ref.family == family and entry.usable and entry.precision == "fp16"

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)

    engine = Engine(device=device, models_dir=models, cache_dir=tmp_path / "cache")
    started = time.perf_counter()
    engine.load(entry.name)
    timings["load (engine)"] = time.perf_counter() - started
    unet = engine.pipeline.unet
    assert sum(p.numel() for p in unet.parameters()) == EXPECTED_UNET[family]
    started = time.perf_counter()
    result = engine.generate(
        GenerationRequest(
            prompt="a lighthouse at dusk", model=entry.name, steps=1, seed=1, width=256, height=256
        ),
        previews=False,
    )
    timings["1 step at 256 px (CPU)"] = time.perf_counter() - started
    assert result.images[0].size == (256, 256) and result.family == family
    size = file.stat().st_size / 2**30
    print(f"\n{family}: file {size:.2f} GiB, peak RSS {_peak_gib():.1f} GiB")
    for what, seconds in timings.items():
        print(f"  {what:<24} {seconds:7.1f} s")
