"""A real ComfyUI server for tests/integration, on a free port of 127.0.0.1
(imagestudio.dev.comfyserver).

Where ComfyUI is not installed (`bash .ci/install_comfyui` installs it) the tests skip and say
why; under CI=true that is a failure instead, so a CI that lost the server cannot pass quietly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from imagestudio.dev.comfyserver import ComfyServer, installation_problem, tiny_models
from tests.integration.comfyapi import ComfyClient


@dataclass(frozen=True)
class RunningComfy:
    url: str
    checkpoint: str  # the tiny checkpoint's file name, as the server lists it
    lora: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text("utf-8", errors="replace")


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


# package scope: one server for all of tests/integration, stopped when they are done
@pytest.fixture(scope="package")
def comfy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningComfy]:
    problem = installation_problem()
    if problem is not None:
        if _under_ci():
            pytest.fail(f"under CI the integration tests must run, but {problem}", pytrace=False)
        pytest.skip(problem)
    started = time.perf_counter()
    models = tiny_models()  # built once into the install folder (3-5 s), then reused
    built = time.perf_counter() - started
    with ComfyServer(tmp_path_factory.mktemp("comfyui"), models.folders) as server:
        print(f"\nComfyUI: models {built:.1f} s, server ready in {server.start_seconds:.1f} s")
        yield RunningComfy(server.url, models.checkpoint, models.lora, server.log_path)


@pytest.fixture
def comfy(comfy_server: RunningComfy) -> ComfyClient:
    return ComfyClient(comfy_server.url)
