"""The one model handle (:mod:`hear_gear_embed.hear.handle`): :meth:`EmbeddingModel.embed`, which owns batching and
the clip-by-clip fallback, a model sent to another process, and an identity that refuses weights changed in place."""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import hear_gear_embed as hge
from hear_gear_embed.hear.handle import ClipEmbeddings, ClipError, EmbeddingModel, LazyClips
from tests import gear_fake_module

from ..conftest import noise

FAKE = "tests.gear_fake_module"


def test_embed_batches_clips_of_one_length_within_the_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    model = hge.load("lowlevel_mel")
    calls: list[tuple[int, ...]] = []
    original = model.module.get_scene_embeddings

    def spy(audio: torch.Tensor, embedder: torch.nn.Module) -> torch.Tensor:
        calls.append(tuple(audio.shape))
        return original(audio, embedder)

    api = type("Api", (), {"get_scene_embeddings": staticmethod(spy),
                           "get_timestamp_embeddings": staticmethod(model.module.get_timestamp_embeddings)})
    monkeypatch.setattr(model, "module", api)
    clips = [noise(1, seconds, seed=i)[0].numpy() for i, seconds in enumerate((0.5, 0.25, 0.5, 0.5, 0.25))]
    done: list[int] = []
    out = model.embed(clips, ("scene",), max_items=2, progress=done.append)
    assert calls == [(2, 8000), (2, 16000), (1, 16000)] and done == [2, 2, 1]
    assert all(isinstance(o, ClipEmbeddings) and o.timestamp_embeddings is None for o in out)
    for clip, result in zip(clips, out, strict=True):  # in input order, each as embedded alone
        alone = model.embed([clip], ("scene",))[0].scene
        np.testing.assert_allclose(result.scene, alone, rtol=1e-5, atol=1e-5)
    calls.clear()
    model.embed(clips, ("scene",), max_samples=16000)
    assert calls == [(2, 8000), (1, 16000), (1, 16000), (1, 16000)]  # a longer clip is a batch of its own
    both = model.embed(np.stack([clips[0], clips[2]]))[1]  # a 2-D array, both kinds
    assert both.timestamp_embeddings is not None and both.timestamp_embeddings.shape == (11, model.timestamp_embedding_size)
    assert both.timestamps_ms is not None and both.timestamps_ms.dtype == np.float64 and both.timestamps_ms[1] == 50.0


def test_a_failing_clip_costs_only_itself(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    model = hge.load(FAKE)
    monkeypatch.setitem(gear_fake_module.BEHAVIOUR, "mode", "nan_on_loud")
    quiet, loud = (np.full(4000, level, np.float32) for level in (0.1, 0.9))
    with caplog.at_level("WARNING"):
        out = model.embed([quiet, loud, quiet], ("scene",), errors="return")
    assert "a batch of 3 clips failed (ValueError" in caplog.text and "embedding them one at a time" in caplog.text
    assert isinstance(out[0], ClipEmbeddings) and isinstance(out[2], ClipEmbeddings)
    assert isinstance(out[1], ValueError) and "returned NaN or Inf" in str(out[1])
    with pytest.raises(ClipError, match="clip 1: ValueError: tests.gear_fake_module.get_scene_embeddings returned NaN") as info:
        model.embed([quiet, loud, quiet], ("scene",))
    assert info.value.index == 1 and isinstance(info.value.cause, ValueError)


def test_bad_clips_and_arguments_are_named() -> None:
    model = hge.load("lowlevel_mel")
    good = noise(1, 0.2)[0].numpy()
    cases = {"dtype int16": good.astype(np.int16), "shape (2, 6400)": np.stack([good, good]), "shape (0,)": good[:0],
             "1 NaN or Inf": np.where(np.arange(good.size) == 7, np.nan, good)}
    for message, clip in cases.items():
        out = model.embed([good, clip], ("scene",), errors="return")
        assert isinstance(out[0], ClipEmbeddings) and message in str(out[1]), message
    with pytest.raises(ValueError, match="kinds must be a non-empty selection"):
        model.embed([good], ())
    with pytest.raises(ValueError, match="2 lengths for 1 clips"):
        model.embed([good], lengths=[6400, 6400])
    with pytest.raises(ValueError, match="errors must be 'raise' or 'return'"):
        model.embed([good], errors="ignore")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="at least 1"):
        model.embed([good], max_items=0)


def test_clips_read_on_access_are_read_one_batch_at_a_time() -> None:
    model = hge.load("lowlevel_mel")
    read: list[int] = []

    def clip(index: int) -> np.ndarray:
        read.append(index)
        return noise(1, 0.25, seed=index)[0].numpy()

    out = model.embed(LazyClips(5, clip), ("scene",), lengths=[8000] * 5, max_items=2)
    assert read == [0, 1, 2, 3, 4] and len(out) == 5
    with pytest.raises(IndexError, match="clip 5 of 5"):
        LazyClips(5, clip)[5]
    # a clip whose real length differs from the one given is batched by its real length
    mixed = model.embed([noise(1, 0.25)[0].numpy(), noise(1, 0.5)[0].numpy()], ("scene",), lengths=[8000, 8000])
    assert all(isinstance(o, ClipEmbeddings) for o in mixed)
    with pytest.raises(ValueError, match="timestamp embeddings were not computed for this clip"):
        mixed[0].of("timestamp")


def test_the_embeddings_are_the_hear_functions_outputs() -> None:
    model = hge.load("tiny_test", weights="random")
    audio = noise(2, 0.7, seed=5)
    out = model.embed(audio.numpy())
    module = importlib.import_module("hear_gear_embed.hear.tiny_test")
    emb, stamps = module.get_timestamp_embeddings(audio, model.model)
    assert np.array_equal(out[1].scene, module.get_scene_embeddings(audio, model.model)[1].numpy())
    assert np.array_equal(out[1].timestamp_embeddings, emb[1].numpy())
    assert np.array_equal(out[1].timestamps_ms, stamps[1].double().numpy())
    assert not emb.requires_grad  # the HEAR functions run in inference mode


def test_a_model_travels_to_another_process_as_its_spec_or_whole() -> None:
    loaded = hge.load("tiny_test", weights="random", seed=2)
    again = pickle.loads(pickle.dumps(loaded))
    assert again.spec == loaded.spec and again.identity == loaded.identity
    in_hand = EmbeddingModel.from_embedder(hge.load_embedder(hge.get_variant("handcrafted"), device="cpu"))
    copy = pickle.loads(pickle.dumps(in_hand))
    assert copy.spec is None and copy.identity == in_hand.identity
    module = hge.load(FAKE)
    made = EmbeddingModel.from_module(module.module, module.model)
    with pytest.raises(TypeError, match="made in hand: load it with load"):
        pickle.dumps(made)


def test_weights_changed_in_place_are_not_passed_off_as_the_checkpoint(tmp_path: Path) -> None:
    """A model trained after loading would record the checkpoint it was loaded from: its identity refuses, until its
    weights are saved and loaded from that file (or sent whole, made in hand)."""
    model = hge.load("tiny_test", weights="random", seed=4)
    assert model.identity.weights == "random (seed 4)"
    model.to("cpu")  # moving keeps the weights
    assert model.identity.weights == "random (seed 4)"
    embedder = model.model
    loss = embedder(noise(2, 0.3)).square().mean()
    loss.backward()
    torch.optim.SGD(embedder.parameters(), lr=0.1).step()
    with pytest.raises(hge.hear.handle.WeightsChangedError, match="changed in place since they were loaded from random"):
        model.identity  # noqa: B018
    with pytest.raises(hge.hear.handle.WeightsChangedError):
        pickle.dumps(model)  # its spec would not carry the training
    embedder.save_weights(tmp_path / "trained.pt")
    embedder.load_weights(tmp_path / "trained.pt")
    assert model.identity.weights == str(tmp_path / "trained.pt") and len(model.identity.weights_sha256) == 64
