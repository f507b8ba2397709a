"""Importing into the library: checked first, nothing half done, pickles converted safely."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from imagestudio.core.errors import JobCancelled, ModelError
from imagestudio.core.models.importing import import_model
from tests.core.models.test_library import LORA


def test_import_copies_checks_and_leaves_nothing_half_done(tmp_path: Path, tiny_model: Path):
    models = tmp_path / "models"
    entry = import_model(tiny_model, models, name="My model").entry
    assert entry.name == "My model" and entry.usable and (models / "My model").is_dir()
    with pytest.raises(ModelError, match="already has"):
        import_model(tiny_model, models, name="My model")

    lora = tmp_path / "ink.safetensors"
    save_file(LORA, str(lora))
    assert import_model(lora, models).entry.name == "loras/ink"

    pickle_file = tmp_path / "old.ckpt"
    pickle_file.write_bytes(b"\x80\x04")
    with pytest.raises(ModelError, match="pickle"):
        import_model(pickle_file, models)
    with pytest.raises(ModelError, match="no file or folder"):
        import_model(tmp_path / "missing", models)

    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_model(tiny_model, models, name="interrupted", on_progress=stop)
    assert sorted(p.name for p in models.iterdir()) == ["My model", "loras"]


def test_a_pickle_is_converted_on_import_and_the_original_kept(tmp_path: Path) -> None:
    models = tmp_path / "models"
    source = tmp_path / "old.ckpt"
    torch.save({"state_dict": dict(LORA)}, source)
    notices: list[str] = []
    imported = import_model(source, models, convert_pickles=True, on_notice=notices.append)
    assert imported.converted and imported.entry.name == "loras/old"
    assert (models / "loras" / "old.safetensors").is_file() and source.is_file()
    assert any("no code" in text for text in notices)
    assert sorted(p.name for p in models.iterdir()) == ["loras"]  # no staging folder left
    with pytest.raises(ModelError, match=r"already has old.safetensors"):
        import_model(source, models, convert_pickles=True)


def test_a_pickle_with_code_is_refused_whole_on_import(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    source = tmp_path / "evil.ckpt"
    torch.save({"w": torch.zeros(2), "x": Payload()}, source)
    with pytest.raises(ModelError, match="other than tensors"):
        import_model(source, tmp_path / "models", convert_pickles=True)
    assert not (tmp_path / "models" / "evil.safetensors").exists()


def test_a_cancelled_import_leaves_nothing(tmp_path: Path, tiny_model: Path) -> None:
    models = tmp_path / "models"
    with pytest.raises(JobCancelled):
        import_model(tiny_model, models, is_cancelled=lambda: True)
    assert not models.exists() or list(models.iterdir()) == []
