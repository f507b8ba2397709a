"""A whole job: generate, write PNGs with settings, record history."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagestudio.core.errors import ImageError, ModelError
from imagestudio.core.generation.job import DIFFUSION
from imagestudio.core.jobs import run_job
from imagestudio.core.outputs.history import HistoryStore
from imagestudio.core.outputs.metadata import parse_parameters, read_settings
from imagestudio.core.requests import GenerationRequest
from imagestudio.core.schedulers import sampler_from_metadata
from imagestudio.core.workspace import EngineConfig, Workspace


def workspace(engine, history, out: Path) -> Workspace:
    """A workspace around the session's engine (its model stays loaded across tests)."""
    config = EngineConfig(models_dir=engine.models_dir, cache_dir=engine.cache_dir, outputs_dir=out)
    return Workspace(config, history, engines={DIFFUSION: engine})


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
        outcome = run_job(make(tiny_model, count=2), workspace(engine, history, out))
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
    # plain DPM++ 2M says so: A1111's "Automatic" schedule would restore it as Karras
    assert "Schedule type: Uniform" in text and "Denoising strength" not in text
    from_text = parse_parameters(text)
    assert sampler_from_metadata(from_text.sampler, from_text.extra) == "DPM++ 2M"

    # the stored request re-creates this image (alone rather than in a batch of two, so float
    # rounding in batched kernels may move a channel by one level)
    again = engine.generate(GenerationRequest.from_dict(second.request))
    saved = np.asarray(Image.open(outcome.files[1])).astype(int)
    assert np.abs(np.asarray(again.images[0]).astype(int) - saved).max() <= 1


def test_cancelled_job_writes_nothing_and_is_recorded(engine, tiny_model, tmp_path) -> None:
    out = tmp_path / "out"
    with HistoryStore(tmp_path / "h.sqlite3") as history:
        outcome = run_job(
            make(tiny_model, steps=4), workspace(engine, history, out), is_cancelled=lambda: True
        )
        assert outcome.status == "cancelled" and outcome.files == ()
        assert history.get(outcome.history_id).status == "cancelled"
    assert not out.exists() or list(out.iterdir()) == []


def test_failed_job_is_recorded_and_raised(engine, tmp_path) -> None:
    with HistoryStore(tmp_path / "h.sqlite3") as history:
        with pytest.raises(ModelError):
            run_job(
                GenerationRequest(prompt="x", model=str(tmp_path / "none")),
                workspace(engine, history, tmp_path / "out"),
            )
        (job,) = history.recent()
    assert job.status == "failed" and "There is no model at" in job.message


def test_exact_files_are_used(engine, tiny_model, tmp_path) -> None:
    target = tmp_path / "mine.png"
    outcome = run_job(make(tiny_model), workspace(engine, None, tmp_path), exact_files=[target])
    assert outcome.files == (target,) and target.is_file()


def test_a_missing_input_fails_the_job_not_the_request(engine, tiny_model, tmp_path) -> None:
    # the request is pure data: it builds (and a history entry restores) without the file
    request = make(tiny_model, init_image=str(tmp_path / "moved.png"), steps=4)
    assert Path(request.init_image).is_absolute()
    with HistoryStore(tmp_path / "h.sqlite3") as history:
        with pytest.raises(ImageError, match=r"moved.png does not exist"):
            run_job(request, workspace(engine, history, tmp_path / "out"))
        (job,) = history.recent()
        assert job.status == "failed" and job.to_request() == request
        (tmp_path / "folder.png").mkdir()
        folder = request.replace(init_image=str(tmp_path / "folder.png"))
        with pytest.raises(ImageError, match="is a folder, not an image file"):
            run_job(folder, workspace(engine, history, tmp_path / "out"))


def test_the_outcome_is_one_plain_record(engine, tiny_model, tmp_path) -> None:
    outcome = run_job(make(tiny_model, count=2, seed=None), workspace(engine, None, tmp_path))
    assert outcome.kind == "generate" and outcome.status == "done"
    assert len(outcome.seeds) == 2 and outcome.seeds[1] == outcome.seeds[0] + 1
    assert outcome.summary.startswith("64x64, DPM++ 2M, seed ")
    assert outcome.width == outcome.height == 64 and outcome.duration > 0
    assert outcome.request.seed == outcome.seeds[0]  # the request as it ran


def test_a_job_removes_what_a_killed_writer_left(engine, tiny_model, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    left = out / ".20261202-120000_5_a-fox.png.999999999.k3j2.tmp"  # its process is gone
    left.write_bytes(b"half a png")
    mine = out / "notes.tmp"
    mine.write_bytes(b"the user's")
    run_job(make(tiny_model), workspace(engine, None, out))
    assert not left.exists() and mine.exists()


def test_a_cancelled_quality_style_picture_can_be_kept(tmp_path) -> None:
    """Quality-mode style is slow; the picture it had when cancelled is worth keeping."""
    from PIL import Image

    from imagestudio.core.jobs import keep_partial
    from imagestudio.core.requests import StyleRequest

    content, style = tmp_path / "content.png", tmp_path / "style.png"
    Image.new("RGB", (48, 32), (40, 120, 200)).save(content)
    Image.new("RGB", (32, 32), (230, 40, 40)).save(style)
    request = StyleRequest(str(content), str(style), mode="quality", size=64, iterations=50)
    out = tmp_path / "out"
    config = EngineConfig(models_dir=tmp_path / "m", cache_dir=tmp_path / "c", outputs_dir=out)
    steps: list[int] = []
    with HistoryStore(tmp_path / "h.sqlite3") as history:
        space = Workspace(config, history)
        outcome = run_job(
            request,
            space,
            on_step=lambda step, total, preview: steps.append(step),
            is_cancelled=lambda: len(steps) >= 4,
        )
        assert outcome.status == "cancelled" and outcome.files == ()
        assert not out.exists() or list(out.iterdir()) == []  # nothing saved unless asked
        assert outcome.partial is not None
        kept = keep_partial(outcome, space)
        (path,) = kept.files
        assert path.is_file() and "partial" in path.name
        record = history.get(kept.history_id)
        assert record.status == "done" and record.message.startswith("Partial picture, kept")
        assert "Partial: Cancelled after 4 of" in Image.open(path).text["imagestudio-style"]
        space.close()


def test_dynamic_prompts_record_each_pictures_picks_and_keep_the_template(
    engine, tiny_model, tmp_path, monkeypatch
) -> None:
    wildcards = tmp_path / "wildcards"
    wildcards.mkdir()
    (wildcards / "shape.txt").write_text("circle\nsquare\ntriangle\nstar\n", "utf-8")
    monkeypatch.setattr(engine, "wildcards_dir", wildcards)
    template = "a {red|green|blue|pink} __shape__"
    with HistoryStore(tmp_path / "h.sqlite3") as history:
        outcome = run_job(
            make(tiny_model, prompt=template, count=3), workspace(engine, history, tmp_path)
        )
        job = history.get(outcome.history_id)
    pictures = [read_settings(path) for path in outcome.files]
    prompts = [p.prompt for p in pictures]
    assert all("{" not in p and "__" not in p for p in prompts)
    assert job.prompt == prompts[0]  # the history shows the picks, and finds them
    assert GenerationRequest.from_dict(job.request).prompt == template  # and keeps the template
    for path, settings in zip(outcome.files, pictures, strict=True):
        assert settings.request["prompt_template"] == template
        assert f"{settings.prompt}\n" in Image.open(path).text["parameters"]
    # the same seed gives the same picks: the history entry re-runs to the same prompts
    again = engine.generate(GenerationRequest.from_dict(job.request))
    assert again.prompts == prompts


def test_clip_skip_and_variations_are_written_as_a1111_writes_them(
    engine, tiny_model, tmp_path
) -> None:
    request = make(tiny_model, count=2, clip_skip=2, variation_seed=99, variation_strength=0.4)
    outcome = run_job(request, workspace(engine, None, tmp_path))
    for index, path in enumerate(outcome.files):
        text = Image.open(path).text["parameters"]
        theirs = parse_parameters(text)  # A1111's format, read by the A1111 parser
        assert theirs.extra["Clip skip"] == "2"
        assert theirs.extra["Variation seed"] == str(99 + index)
        assert theirs.extra["Variation seed strength"] == "0.4"
        values = theirs.request_values()
        assert (values["clip_skip"], values["variation_seed"]) == (2, 99 + index)
        assert values["variation_strength"] == 0.4
        ours = read_settings(path).request
        assert (ours["clip_skip"], ours["variation_seed"]) == (2, 99 + index)
        # ComfyUI's graph skips the same layer
        graph = json.loads(Image.open(path).text["prompt"])
        assert {"class_type": "CLIPSetLastLayer"}.items() <= graph["9"].items()
        assert graph["9"]["inputs"]["stop_at_clip_layer"] == -2
