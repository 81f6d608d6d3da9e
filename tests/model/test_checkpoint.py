"""Checkpoint files (:mod:`hear_gear_embed.model.checkpoint`): every layout users have, strict loading that names
what does not fit, files saved by this package, and files that are not checkpoints at all."""

from __future__ import annotations

import importlib
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import hear_gear_embed
from hear_gear_embed import get_variant
from hear_gear_embed.embedding import Embedder
from hear_gear_embed.hear import load_model
from hear_gear_embed.model import PaSST, random_passt
from hear_gear_embed.model.checkpoint import CheckpointError, load_into, read_checkpoint, save_checkpoint

TINY = get_variant("tiny_test").net


def test_strict_load_of_official_layout(tmp_path: Path) -> None:
    src = random_passt(TINY, seed=3)
    torch.save(src.state_dict(), tmp_path / "raw.pt")
    dst = PaSST(TINY)
    state, meta = read_checkpoint(tmp_path / "raw.pt")
    assert meta == {}
    load_into(dst, state)
    for key, value in src.state_dict().items():
        torch.testing.assert_close(dst.state_dict()[key], value, rtol=0, atol=0)


@pytest.mark.parametrize("wrap", ["state_dict", "model", "lightning"])
def test_wrapped_and_prefixed_checkpoints(tmp_path: Path, wrap: str) -> None:
    src = random_passt(TINY, seed=4)
    if wrap == "lightning":
        inner = {f"net.{k}": v for k, v in src.state_dict().items()}
        inner["device_proxy"] = torch.zeros(1)
        obj = {"state_dict": inner, "epoch": 3}
    else:
        obj = {wrap: src.state_dict()}
    torch.save(obj, tmp_path / "w.pt")
    dst = PaSST(TINY)
    load_into(dst, read_checkpoint(tmp_path / "w.pt")[0])
    torch.testing.assert_close(dst.cls_token, src.cls_token, rtol=0, atol=0)


def test_package_saved_file_round_trip(tmp_path: Path) -> None:
    src = random_passt(TINY, seed=5)
    save_checkpoint(tmp_path / "s.pt", src, TINY, "tiny_test")
    state, meta = read_checkpoint(tmp_path / "s.pt")
    assert meta["variant"] == "tiny_test"
    dst = PaSST(TINY)
    load_into(dst, state)
    torch.testing.assert_close(dst.head[1].weight, src.head[1].weight, rtol=0, atol=0)


def test_extra_keys_come_back_in_the_metadata_and_the_file_still_loads(tmp_path: Path) -> None:
    src = random_passt(TINY, seed=6)
    extra = {"training": {"step": 7, "head": {"weight": torch.arange(6.0).reshape(2, 3)}, "labels": ["a", "b"]}}
    save_checkpoint(tmp_path / "x.pt", src, TINY, "tiny_test", extra=extra)
    stream = io.BytesIO()
    save_checkpoint(stream, src, TINY, "tiny_test", extra=extra)  # an open stream, as write_atomic passes one
    assert stream.getvalue()[:2] == b"PK"
    (tmp_path / "stream.pt").write_bytes(stream.getvalue())
    for name in ("x.pt", "stream.pt"):
        state, meta = read_checkpoint(tmp_path / name)
        assert set(state) == set(src.state_dict())  # the record's tensors are not mistaken for the network's
        assert meta["variant"] == "tiny_test" and meta["training"]["step"] == 7
        assert torch.equal(meta["training"]["head"]["weight"], torch.arange(6.0).reshape(2, 3))
        model = importlib.import_module("hear_gear_embed.hear.tiny_test").load_model(str(tmp_path / name))
        assert torch.equal(model.net.cls_token.cpu(), src.cls_token)


def test_extra_may_not_use_the_reserved_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"extra checkpoint keys \['state_dict', 'variant'\] are reserved"):
        save_checkpoint(tmp_path / "x.pt", random_passt(TINY), TINY, "tiny_test",
                        extra={"variant": "other", "state_dict": {}, "fine": 1})
    assert not (tmp_path / "x.pt").exists()


def test_mismatches_are_named(tmp_path: Path) -> None:
    state = dict(random_passt(TINY).state_dict())
    del state["blocks.1.mlp.fc2.bias"]
    state["blocks.7.attn.qkv.weight"] = torch.zeros(3)
    state["time_new_pos_embed"] = torch.zeros(1, 64, 1, 50)
    with pytest.raises(CheckpointError) as info:
        load_into(PaSST(TINY), state, "bad.pt")
    message = str(info.value)
    assert "missing keys (1): blocks.1.mlp.fc2.bias" in message
    assert "unexpected keys (1): blocks.7.attn.qkv.weight" in message
    assert "time_new_pos_embed: checkpoint (1, 64, 1, 50) vs network (1, 64, 1, 99)" in message


def test_full_size_checkpoint_refused_by_other_geometry(official_ckpt: Callable[[str], Path]) -> None:
    state, _ = read_checkpoint(official_ckpt("passt_base"))
    with torch.device("meta"):
        net = PaSST(get_variant("passt_lm2rf_hop5").net)
    with pytest.raises(CheckpointError, match="time_new_pos_embed"):
        load_into(net, state)


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a checkpoint at all\n")
    with pytest.raises(CheckpointError, match="notes.txt is not a PyTorch checkpoint: it is neither a zip archive nor a pickle"):
        read_checkpoint(tmp_path / "notes.txt")
    torch.save({"x": torch.ones(3)}, tmp_path / "whole.pt")
    (tmp_path / "truncated.pt").write_bytes((tmp_path / "whole.pt").read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated.pt is a truncated or corrupt PyTorch checkpoint: it starts as a zip"):
        read_checkpoint(tmp_path / "truncated.pt")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("readme.txt", "a zip archive, but not one torch.save wrote")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(tmp_path / "other.zip")
    with pytest.raises(CheckpointError, match="is not a file"):
        read_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_checkpoint(tmp_path / "absent.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not a state dict"):
        read_checkpoint(tmp_path / "list.pt")
    torch.save({"epoch": 1}, tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="no tensors"):
        read_checkpoint(tmp_path / "empty.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"\x80\x02garbage")
    with pytest.raises(CheckpointError, match="corrupt or truncated PyTorch checkpoint"):
        read_checkpoint(tmp_path / "corrupt.pt")
    torch.save({"net": torch.nn.Linear(2, 2)}, tmp_path / "pickled_module.pt")
    with pytest.raises(CheckpointError, match="pickled objects other than tensors"):
        read_checkpoint(tmp_path / "pickled_module.pt")


def test_text_file_through_load_model(tmp_path: Path) -> None:
    (tmp_path / "weights.pt").write_text("model: passt\n")
    with pytest.raises(CheckpointError, match="is not a PyTorch checkpoint"):
        load_model(str(tmp_path / "weights.pt"), variant="tiny_test", device="cpu")


def test_wrong_checkpoint_is_named(official_ckpt: Callable[[str], Path], tiny_ckpt: Path) -> None:
    with pytest.raises(CheckpointError, match="shape mismatches"):
        hear_gear_embed.load_model(str(tiny_ckpt))
    with pytest.raises(CheckpointError, match="time_new_pos_embed"):
        importlib.import_module("hear_gear_embed.hear.passt_lm2rf_hop5").load_model(str(official_ckpt("passt_base")))


def test_saved_file_for_other_geometry_is_refused(tmp_path: Path, tiny: Embedder) -> None:
    tiny.save_weights(tmp_path / "tiny_saved.pt")
    with pytest.raises(CheckpointError, match="was saved for network"):
        hear_gear_embed.load_model(str(tmp_path / "tiny_saved.pt"))
