"""The Ray engine's stages in process, without Ray (:mod:`hear_gear_embed.io.ray_stages`): :func:`decode_batch` and
:class:`EmbedActor` writing outputs and reporting failures, or returning the embeddings; and the actor refusing another
model than the driver planned for, by the rule of :meth:`ModelIdentity.differences`. What the driver plans
(:meth:`ModelSpec.probe`, the precision workers compute in) is tested in ``tests/hear/test_handle.py``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from hear_gear_embed import get_variant, load_embedder
from hear_gear_embed.embedding.config import KINDS
from hear_gear_embed.hear.handle import EmbeddingModel
from hear_gear_embed.hear.spec import ModelSpec
from hear_gear_embed.io.ray_cluster import RayOptions
from hear_gear_embed.io.ray_stages import RESULT_COLUMNS, EmbedActor, decode_batch

from ..audio_corpus import load, write_corpus


@pytest.fixture(autouse=True)
def torch_threads() -> Iterator[None]:
    """An actor sets this process's torch threads to its CPUs (1): put them back for the tests that follow."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_stages_write_outputs_and_report_failures(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "audio")
    spec = ModelSpec("lowlevel_mel")
    identity, rate = spec.probe()
    paths = [str(corpus / "a_16k_mono.wav"), str(corpus / "empty.flac")]
    clips = decode_batch({"path": np.asarray(paths)}, sample_rate=rate, out_dir=str(tmp_path / "o"))
    assert list(clips["output"]) == [str(tmp_path / "o" / "a_16k_mono.wav.npz"), str(tmp_path / "o" / "empty.flac.npz")]
    assert clips["error"][0] == "" and "empty file" in clips["error"][1]
    result = EmbedActor(spec, identity, KINDS, str(tmp_path / "o"), RayOptions())(clips)
    assert list(result["status"]) == ["embedded", "failed"] and result["seconds"][0] == pytest.approx(1.3)
    assert tuple(result) == RESULT_COLUMNS and result["source_bytes"][0] == (corpus / "a_16k_mono.wav").stat().st_size
    assert result["output_bytes"][0] == (tmp_path / "o" / "a_16k_mono.wav.npz").stat().st_size
    assert np.isnan(result["seconds"][1]) and result["source_bytes"][1] == -1 and result["output"][1] == ""
    assert str(load(tmp_path / "o" / "a_16k_mono.wav.npz")["variant"]) == "lowlevel_mel"


def test_a_model_made_in_hand_returns_the_embeddings_in_the_rows(tmp_path: Path) -> None:
    """Without an output folder the rows carry the embeddings: empty arrays for a failed file, never NaN."""
    corpus = write_corpus(tmp_path / "audio")
    model = EmbeddingModel.from_embedder(load_embedder(get_variant("lowlevel_mel"), device="cpu"))
    paths = [str(corpus / "a_16k_mono.wav"), str(corpus / "corrupt.wav")]
    clips = decode_batch({"path": np.asarray(paths)}, sample_rate=model.sample_rate, out_dir=None)
    rows = EmbedActor(model, model.identity, ("scene",), None, RayOptions())(clips)
    assert tuple(rows) == (*RESULT_COLUMNS, "scene") and list(rows["status"]) == ["embedded", "failed"]
    expected = model.embed([clips["samples"][0]], ("scene",))[0].scene
    np.testing.assert_array_equal(rows["scene"][0], expected)
    assert rows["scene"][1].size == 0 and "not readable as audio" in rows["error"][1]
    assert not list(tmp_path.rglob("*.npz"))


def test_a_worker_with_another_model_than_planned_refuses_to_start(tiny_ckpt: Path, tmp_path: Path) -> None:
    spec = ModelSpec("tiny_test", str(tiny_ckpt), device="cpu")
    identity, _ = spec.probe()
    assert identity.weights == str(tiny_ckpt) and len(identity.weights_sha256) == 64  # the checkpoint's hash is planned
    for key, value in (("weights_sha256", "0" * 64), ("precision", "bf16")):
        with pytest.raises(RuntimeError, match=f"another model than the driver planned for.*{key}"):
            EmbedActor(spec, dataclasses.replace(identity, **{key: value}), KINDS, None, RayOptions())
    # this package's variants compute the same embeddings across its versions: another version is the same model
    EmbedActor(spec, dataclasses.replace(identity, module_version="0.0.1"), KINDS, None, RayOptions())
    # the same checkpoint file elsewhere on a node (its own weights cache) is the same model
    moved = tmp_path / "cache" / tiny_ckpt.name
    moved.parent.mkdir()
    moved.write_bytes(tiny_ckpt.read_bytes())
    actor = EmbedActor(ModelSpec("tiny_test", str(moved), device="cpu"), identity, KINDS, None, RayOptions())
    assert actor.model.identity.weights == str(moved) != identity.weights


def test_a_worker_with_another_version_of_a_module_from_elsewhere_refuses_to_start() -> None:
    spec = ModelSpec("tests.gear_fake_module")
    identity, rate = spec.probe()
    assert rate == 16000 and identity.module == "tests.gear_fake_module"
    EmbedActor(spec, identity, KINDS, None, RayOptions())
    with pytest.raises(RuntimeError, match="another model than the driver planned for.*module_version"):
        EmbedActor(spec, dataclasses.replace(identity, module_version="1.0"), KINDS, None, RayOptions())
