"""`imagestudio models ...`: list, info, import, convert, and download from a fake local Hub."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from imagestudio import cli
from imagestudio.core.paths import app_paths
from tests.cli.test_cli import one_error_line, run
from tests.core.models.test_downloads import hub, hub_server, tiny_files  # noqa: F401 - fixtures
from tests.modelfiles import build_random_family, to_single_file


@pytest.fixture(scope="module")
def sd1_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-models")
    folder = build_random_family(root / "folder", "sd1", "tiny")
    return to_single_file(folder, root / "dreamy.safetensors", "sd1", torch.float16)


def test_import_list_info_and_generate_from_a_single_file(capsys, sd1_file: Path) -> None:
    code, _, err = run(capsys, "models", "import", str(sd1_file), "--name", "Dreamy")
    assert code == cli.EXIT_OK and "imported Dreamy" in err
    assert (app_paths().models_dir / "Dreamy.safetensors").is_file()
    assert sd1_file.is_file()  # copied, not moved

    code, out, _ = run(capsys, "models", "list")
    assert code == cli.EXIT_OK
    assert "starter" in out and "Dreamy" in out and "Stable Diffusion 1.x" in out
    assert "fp16" in out

    code, out, _ = run(capsys, "models", "info", "Dreamy")
    assert code == cli.EXIT_OK
    assert "single file" in out and "loads:     yes" in out and "cross_attention_dim: 32" in out

    code, out, err = run(
        capsys, "generate", "a cat", "--model", "Dreamy", "--steps", "2", "--size", "64x64"
    )
    assert code == cli.EXIT_OK, err
    assert Path(out.strip().splitlines()[-1]).is_file()


def test_pickles_are_refused_and_converted(capsys, tmp_path: Path) -> None:
    source = tmp_path / "old.ckpt"
    torch.save({"state_dict": {"w": torch.arange(4.0)}, "global_step": 5}, source)
    # import converts it first (running none of its code), then checks what it holds
    code, _, err = run(capsys, "models", "import", str(source))
    assert code == cli.EXIT_MODEL and "Converting old.ckpt" in err
    assert "do not look like a Stable Diffusion checkpoint" in err.splitlines()[-1]
    assert not (app_paths().models_dir / "old.safetensors").exists()
    code, _, err = run(capsys, "generate", "a cat", "--model", str(source))
    assert code == cli.EXIT_MODEL and "pickle" in one_error_line(err)

    code, out, err = run(capsys, "models", "convert", str(source))
    assert code == cli.EXIT_OK and "no code in the file was run" in err
    assert torch.equal(load_file(out.strip())["w"], torch.arange(4.0))
    code, _, err = run(capsys, "models", "convert", str(source))
    assert code == cli.EXIT_MODEL and "already exists" in one_error_line(err)


def test_list_all_shows_why_something_cannot_load(capsys) -> None:
    models = app_paths().models_dir
    models.mkdir(parents=True)
    (models / "weird.ckpt").write_bytes(b"x")
    code, out, err = run(capsys, "models", "list")
    assert "weird" not in out and "1 more that cannot be loaded" in err
    code, out, _ = run(capsys, "models", "list", "--all")
    assert code == cli.EXIT_OK and "weird" in out and "cannot load:" in out


def test_info_and_import_of_nothing(capsys, tmp_path: Path) -> None:
    code, _, err = run(capsys, "models", "info", "nope")
    assert code == cli.EXIT_MODEL and "No model named 'nope'" in one_error_line(err)
    code, _, err = run(capsys, "models", "import", str(tmp_path / "missing"))
    assert code == cli.EXIT_MODEL and "There is no file or folder at" in one_error_line(err)


def test_import_converts_a_pickle_lora(capsys, tmp_path: Path) -> None:
    from tests.core.models.test_library import LORA

    source = tmp_path / "ink.pt"
    torch.save(dict(LORA), source)
    code, _, err = run(capsys, "models", "import", str(source))
    assert code == cli.EXIT_OK, err
    assert "the original is left as it is" in err and source.is_file()
    assert (app_paths().models_dir / "loras" / "ink.safetensors").is_file()
    code, out, _ = run(capsys, "models", "list")
    assert "loras/ink" in out


def test_download_offline_says_so(capsys, monkeypatch) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    code, _, err = run(capsys, "models", "download", "someone/some-model")
    assert code == cli.EXIT_MODEL and "offline" in one_error_line(err)
    code, _, err = run(capsys, "models", "download", "not a repo id")
    assert code == cli.EXIT_BAD_INPUT and "owner/model-name" in one_error_line(err)


def test_generate_with_a_lora_records_it(capsys, tiny_model: Path) -> None:
    from imagestudio.core.outputs.metadata import read_settings
    from tests.core.generation.test_lora import write_lora

    loras = app_paths().models_dir / "loras"
    loras.mkdir(parents=True)
    write_lora(loras / "ink.safetensors", tiny_model, "peft")
    args = ("generate", "a fox", "--model", str(tiny_model), "--steps", "2", "--seed", "4")
    code, out, err = run(capsys, *args, "--lora", "ink:0.8")
    assert code == cli.EXIT_OK, err
    settings = read_settings(out.strip().splitlines()[-1])
    assert settings is not None and settings.request is not None
    assert settings.request["loras"] == [["ink", 0.8]]
    code, _, err = run(capsys, *args, "--lora", "missing")
    assert code == cli.EXIT_MODEL and "No LoRA named 'missing'" in one_error_line(err)
    code, _, err = run(capsys, *args, "--lora", "ink:12")
    assert code == cli.EXIT_BAD_INPUT and "from -4 to 4" in one_error_line(err)


def test_download_then_generate_with_it(capsys, hub) -> None:  # noqa: F811 - the fake Hub
    code, out, err = run(capsys, "models", "download", "test/tiny-sd", "--name", "fetched")
    assert code == cli.EXIT_OK, err
    assert "downloading test/tiny-sd" in err and "--model fetched" in err
    assert Path(out.strip()) == app_paths().models_dir / "fetched"
    code, out, _ = run(capsys, "models", "list")
    assert "fetched" in out
    code, _, err = run(capsys, "generate", "a cat", "--model", "fetched", "--steps", "2")
    assert code == cli.EXIT_OK, err
    code, _, err = run(capsys, "models", "download", "test/tiny-sd", "--name", "fetched")
    assert code != cli.EXIT_OK and "fetched" in one_error_line(err)


def test_embeddings_are_imported_into_their_folder_and_listed(capsys, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    source = tmp_path / "ink-wash.safetensors"
    save_file({"emb_params": torch.ones(2, 768)}, str(source))
    code, _, err = run(capsys, "models", "import", str(source))
    assert code == cli.EXIT_OK, err
    assert (app_paths().models_dir / "embeddings" / "ink-wash.safetensors").is_file()
    xl = app_paths().models_dir / "embeddings" / "xl-style.safetensors"
    save_file({"clip_l": torch.ones(1, 768), "clip_g": torch.ones(1, 1280)}, str(xl))
    vae = app_paths().models_dir / "vae" / "soft.safetensors"
    vae.parent.mkdir()
    save_file({"encoder.down_blocks.0.resnets.0.conv1.weight": torch.ones(4, 3, 3, 3)}, str(vae))
    code, out, _ = run(capsys, "models", "list")
    assert code == cli.EXIT_OK
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "VAE" in rows["vae/soft"]
    assert "Embedding (SD 1.x)" in rows["embeddings/ink-wash"]
    assert "Embedding (SDXL)" in rows["embeddings/xl-style"]
    # an A1111 .pt goes through the safe conversion and lands beside them, still an embedding
    old = tmp_path / "oldstyle.pt"
    torch.save({"string_to_param": {"*": torch.ones(3, 768)}, "name": "oldstyle"}, old)
    code, _, err = run(capsys, "models", "import", str(old))
    assert code == cli.EXIT_OK, err
    from imagestudio.core.generation.embeddings import load_embedding

    converted = app_paths().models_dir / "embeddings" / "oldstyle.safetensors"
    assert load_embedding("oldstyle", converted).count == 3
    code, _, err = run(capsys, "generate", "a cat", "--model", "embeddings/ink-wash")
    assert code == cli.EXIT_MODEL and "write its name in a prompt" in one_error_line(err)
