"""The curated first models: the shipped file is complete, and a damaged one is no crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagestudio import cli
from imagestudio.core.models.recommended import recommended_models


def test_the_shipped_list_has_a_fast_an_sd15_and_an_sdxl_model() -> None:
    models = recommended_models()
    assert {m.family for m in models} >= {"sd15", "sdxl"}
    assert any(m.steps <= 4 for m in models)  # a few-step model for machines without a GPU
    for model in models:
        assert "/" in model.repo_id and model.download_bytes > 10**9
        assert model.licence and model.hardware and model.good_at
        assert model.native_size in (512, 768, 1024)


def test_a_damaged_list_leaves_out_what_it_cannot_use(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    good = recommended_models()[0].__dict__
    path.write_text(json.dumps({"models": [good, {"repo_id": 5}, "junk", {**good, "steps": True}]}))
    assert [m.repo_id for m in recommended_models(path)] == [good["repo_id"]]
    path.write_text("{not json")
    assert recommended_models(path) == []
    assert recommended_models(tmp_path / "missing.json") == []


def test_the_cli_lists_them_with_the_command_that_gets_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["models", "recommended"]) == cli.EXIT_OK
    out = capsys.readouterr().out
    for model in recommended_models():
        assert f"imagestudio models download {model.repo_id}" in out
