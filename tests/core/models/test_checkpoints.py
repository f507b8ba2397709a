"""Single files: headers, family detection from tensor names and shapes, pickle refusal."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from imagestudio.core.errors import ModelError
from imagestudio.core.models.checkpoints import (
    convert_to_safetensors,
    describe_file,
    identify,
    read_header,
)

U = "model.diffusion_model."


def _t(*shape: int, dtype: torch.dtype = torch.float16) -> torch.Tensor:
    return torch.zeros(shape, dtype=dtype)


def _unet(cross: int, in_channels: int = 4, xl: bool = False) -> dict[str, torch.Tensor]:
    keys = {
        U + "input_blocks.0.0.weight": _t(8, in_channels, 3, 3),
        U + "input_blocks.1.0.out_layers.3.weight": _t(8, 8, 3, 3),
        U + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": _t(8, cross),
        U + "out.2.weight": _t(4, 8, 3, 3),
    }
    if xl:
        keys[U + "label_emb.0.0.weight"] = _t(8, 2816)
    return keys


def _vae() -> dict[str, torch.Tensor]:
    return {
        "first_stage_model.encoder.down.0.block.0.conv2.weight": _t(8, 8, 3, 3),
        "first_stage_model.quant_conv.weight": _t(8, 8, 1, 1),
    }


def _clip(prefix: str) -> dict[str, torch.Tensor]:
    return {
        prefix + "text_model.embeddings.token_embedding.weight": _t(16, 8),
        prefix + "text_model.encoder.layers.0.mlp.fc1.weight": _t(32, 8),
        prefix + "text_model.encoder.layers.1.mlp.fc1.weight": _t(32, 8),
    }


def _open_clip(prefix: str) -> dict[str, torch.Tensor]:
    return {
        prefix + "token_embedding.weight": _t(16, 8),
        prefix + "transformer.resblocks.0.mlp.c_fc.weight": _t(32, 8),
        prefix + "text_projection": _t(8, 8),
    }


def _save(tmp_path: Path, name: str, tensors: dict[str, torch.Tensor]) -> Path:
    path = tmp_path / name
    save_file(tensors, str(path))
    return path


CASES = {
    "sd1": (_unet(768) | _vae() | _clip("cond_stage_model.transformer."), "sd1", None),
    "sd2": (_unet(1024) | _vae() | _open_clip("cond_stage_model.model."), "sd2", None),
    "sdxl": (
        _unet(2048, xl=True)
        | _vae()
        | _clip("conditioner.embedders.0.transformer.")
        | _open_clip("conditioner.embedders.1.model."),
        "sdxl",
        None,
    ),
    "refiner": (
        _unet(1280, xl=True) | _vae() | _open_clip("conditioner.embedders.0.model."),
        "sdxl",
        "refiner",
    ),
    "inpainting": (
        _unet(768, in_channels=9) | _vae() | _clip("cond_stage_model.transformer."),
        "sd1",
        None,  # loads (a dedicated inpainting model), see test_inpainting_files_are_named
    ),
    "no-vae": (_unet(768) | _clip("cond_stage_model.transformer."), "sd1", "no VAE"),
    "flux": ({"double_blocks.0.img_attn.qkv.weight": _t(4, 4)}, "unknown", "Flux"),
    "sd3": (
        {U + "joint_blocks.0.x_block.attn.qkv.weight": _t(4, 4)},
        "unknown",
        "Stable Diffusion 3",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_family_comes_from_the_keys_not_the_name(tmp_path: Path, case: str) -> None:
    tensors, family, problem = CASES[case]
    # every file gets the same misleading name: only its contents may decide
    path = _save(tmp_path, "sdxl-turbo-v1-5.safetensors", tensors)
    header, signature = describe_file(path)
    assert header is not None
    assert signature.family == family
    if problem is None:
        assert signature.problem is None
        assert signature.role == "checkpoint"
    else:
        assert signature.problem is not None and problem in signature.problem


def test_inpainting_files_are_named(tmp_path: Path) -> None:
    path = _save(tmp_path, "m.safetensors", CASES["inpainting"][0])
    signature = identify(read_header(path))
    assert signature.variant == "inpainting" and signature.dims["in_channels"] == 9


def test_dims_are_read_from_shapes(tmp_path: Path) -> None:
    path = _save(tmp_path, "m.safetensors", CASES["sdxl"][0])
    signature = identify(read_header(path))
    assert signature.dims["cross_attention_dim"] == 2048
    assert signature.dims["in_channels"] == 4
    assert signature.dims["text_layers"] == 2
    assert signature.dims["text2_projection"] == 8


def test_lora_vae_and_unet_only_files_are_named_for_what_they_are(tmp_path: Path) -> None:
    lora = _save(
        tmp_path,
        "a.safetensors",
        {
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": _t(4, 8),
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": _t(8, 4),
        },
    )
    assert describe_file(lora)[1].role == "lora"
    vae = _save(tmp_path, "b.safetensors", {"encoder.down.0.block.0.conv1.weight": _t(4, 4)})
    assert describe_file(vae)[1].role == "vae"
    unet = _save(tmp_path, "c.safetensors", {"down_blocks.0.resnets.0.conv1.weight": _t(4, 4)})
    kind, problem = describe_file(unet)[1].role, describe_file(unet)[1].problem
    assert kind == "unet" and problem and "only a UNet" in problem


def test_precision_is_the_dtype_of_most_bytes(tmp_path: Path) -> None:
    path = _save(tmp_path, "p.safetensors", {"a": _t(100, dtype=torch.bfloat16), "b": _t(2)})
    assert read_header(path).precision() == "bf16"
    path = _save(tmp_path, "q.safetensors", {"a": _t(10, dtype=torch.float32), "b": _t(10)})
    assert read_header(path).precision() == "mixed"


@pytest.mark.parametrize(
    "content",
    [b"", b"\x01\x02", struct.pack("<Q", 2**40) + b"{}", struct.pack("<Q", 4) + b"nope", b"x" * 64],
)
def test_damaged_safetensors_give_a_sentence(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=r"broken.safetensors"):
        read_header(path)


# -- pickle files ------------------------------------------------------------------------------


class Payload:
    """Unpickling this runs code: it writes a marker file, as a real attack would run anything."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('the payload ran')",))


def _planted(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "payload-ran.txt"
    checkpoint = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "extra": Payload(marker)}, checkpoint)
    return checkpoint, marker


def test_the_planted_payload_is_live(tmp_path: Path) -> None:
    """Guard for the next tests: an ordinary unpickle of the file does run the payload."""
    checkpoint, marker = _planted(tmp_path)
    torch.load(checkpoint, weights_only=False)
    assert marker.read_text() == "the payload ran"


def test_conversion_refuses_a_planted_payload_and_never_runs_it(tmp_path: Path) -> None:
    checkpoint, marker = _planted(tmp_path)
    with pytest.raises(ModelError, match="other than tensors"):
        convert_to_safetensors(checkpoint)
    assert not marker.exists()
    assert not checkpoint.with_suffix(".safetensors").exists()
    assert not list(tmp_path.glob("*.part"))


def test_describing_or_resolving_a_pickle_never_opens_it(tmp_path: Path) -> None:
    from imagestudio.core.models.library import resolve_model, scan_models_folder

    checkpoint, marker = _planted(tmp_path)
    header, signature = describe_file(checkpoint)
    assert (
        header is None and signature.problem and "imagestudio models convert" in signature.problem
    )
    entries = scan_models_folder(tmp_path)
    assert [e.name for e in entries] == ["model"] and entries[0].problem
    with pytest.raises(ModelError, match="pickle"):
        resolve_model(str(checkpoint), tmp_path)
    with pytest.raises(ModelError, match="pickle"):
        resolve_model("model", tmp_path)
    assert not marker.exists()


def test_conversion_keeps_every_tensor(tmp_path: Path) -> None:
    weights = {"a.weight": torch.randn(3, 4), "b.bias": torch.randn(5).half()}
    shared = torch.randn(10)
    weights["view"] = shared[2:6]  # a view into a bigger storage, as pickles often hold
    source = tmp_path / "model.ckpt"
    torch.save({"state_dict": weights, "global_step": 1200}, source)
    notices: list[str] = []
    result = convert_to_safetensors(source, on_notice=notices.append)
    assert result.output == tmp_path / "model.safetensors" and result.tensors == 3
    loaded = load_file(str(result.output))
    for key, tensor in weights.items():
        assert torch.equal(loaded[key], tensor)
    with pytest.raises(ModelError, match="already exists"):
        convert_to_safetensors(source)


def test_conversion_of_damaged_or_empty_pickles(tmp_path: Path) -> None:
    damaged = tmp_path / "cut.ckpt"
    torch.save({"w": torch.ones(1000)}, damaged)
    damaged.write_bytes(damaged.read_bytes()[:300])
    with pytest.raises(ModelError, match=r"cut.ckpt"):
        convert_to_safetensors(damaged)
    empty = tmp_path / "empty.pt"
    torch.save({"step": 3}, empty)
    with pytest.raises(ModelError, match="no tensors"):
        convert_to_safetensors(empty)
    plain = tmp_path / "plain.pkl"  # a bare pickle, not a torch file: refused too
    plain.write_bytes(pickle.dumps({"w": [1.0, 2.0]}))
    with pytest.raises(ModelError, match=r"plain.pkl"):
        convert_to_safetensors(plain)
    with pytest.raises(ModelError, match="no file"):
        convert_to_safetensors(tmp_path / "missing.ckpt")
