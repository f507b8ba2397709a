"""A whole job: generate, write PNGs with settings, record history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagestudio.core.errors import ModelError
from imagestudio.core.jobs import run_job
from imagestudio.core.outputs.history import HistoryStore
from imagestudio.core.outputs.metadata import read_settings
from imagestudio.core.requests import GenerationRequest


def make(tiny_model: Path, **changes) -> GenerationRequest:
    values = {
        "prompt": "a small yellow star at the top left",
        "negative_prompt": "blurry, dark",
        "model": str(tiny_model),
        "steps": 2,
        "seed": 5,
        "scheduler": "DPM++ 2M",
    }
    values.update(changes)
    return GenerationRequest(**values)


def test_done_job_writes_pngs_with_settings_and_history(engine, tiny_model, tmp_path) -> None:
    out = tmp_path / "out"
    with HistoryStore(tmp_path / "h.sqlite3") as history:
        outcome = run_job(make(tiny_model, count=2), engine, history, out)
        assert outcome.status == "done"
        assert [p.parent for p in outcome.files] == [out, out]
        assert [p.name.split("_")[1] for p in outcome.files] == ["5", "6"]
        job = history.get(outcome.history_id)
    assert job.status == "done" and job.seed == 5 and job.width == 64
    assert job.outputs == tuple(str(p) for p in outcome.files)
    assert job.scheduler == "DPM++ 2M" and job.duration > 0

    second = read_settings(outcome.files[1])
    assert second.source == "imagestudio"
    assert second.prompt == "a small yellow star at the top left"
    assert second.negative_prompt == "blurry, dark"
    assert (second.seed, second.steps, second.width, second.height) == (6, 2, 64, 64)
    assert second.sampler == "DPM++ 2M" and second.cfg_scale == 7.5
    # the A1111 text chunk alone is enough for other tools
    text = Image.open(outcome.files[1]).text["parameters"]
    assert "Seed: 6" in text and "Sampler: DPM++ 2M" in text and "Size: 64x64" in text

    # the stored request re-creates this image (alone rather than in a batch of two, so float
    # rounding in batched kernels may move a channel by one level)
    again = engine.generate(GenerationRequest.from_dict(second.request))
    saved = np.asarray(Image.open(outcome.files[1])).astype(int)
    assert np.abs(np.asarray(again.images[0]).astype(int) - saved).max() <= 1


def test_cancelled_job_writes_nothing_and_is_recorded(engine, tiny_model, tmp_path) -> None:
    out = tmp_path / "out"
    with HistoryStore(tmp_path / "h.sqlite3") as history:
        outcome = run_job(
            make(tiny_model, steps=4), engine, history, out, is_cancelled=lambda: True
        )
        assert outcome.status == "cancelled" and outcome.files == []
        assert history.get(outcome.history_id).status == "cancelled"
    assert not out.exists() or list(out.iterdir()) == []


def test_failed_job_is_recorded_and_raised(engine, tmp_path) -> None:
    with HistoryStore(tmp_path / "h.sqlite3") as history:
        with pytest.raises(ModelError):
            run_job(
                GenerationRequest(prompt="x", model=str(tmp_path / "none")),
                engine,
                history,
                tmp_path / "out",
            )
        (job,) = history.recent()
    assert job.status == "failed" and "There is no model at" in job.message


def test_exact_files_are_used(engine, tiny_model, tmp_path) -> None:
    target = tmp_path / "mine.png"
    outcome = run_job(make(tiny_model), engine, None, tmp_path, exact_files=[target])
    assert outcome.files == [target] and target.is_file()
