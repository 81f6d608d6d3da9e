"""The one model handle (:mod:`hear_gear_embed.hear.handle`): :func:`load`, the front door, and its options;
:meth:`EmbeddingModel.embed`, which owns batching and the clip-by-clip fallback; a model sent to another process; and
what the workflows accept (:func:`as_model`)."""

from __future__ import annotations

import dataclasses
import importlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import hear_gear_embed as hge
from hear_gear_embed.hear.handle import ClipEmbeddings, ClipError, EmbeddingModel, LazyClips, ModelSpec, as_model
from hear_gear_embed.util import precision as precision_module
from tests import gear_fake_module

from ..conftest import noise

FAKE = "tests.gear_fake_module"


@pytest.fixture(autouse=True)
def _well_behaved_fake() -> None:
    gear_fake_module.BEHAVIOUR["mode"] = "ok"
    yield
    gear_fake_module.BEHAVIOUR["mode"] = "ok"


def test_load_takes_a_name_a_config_or_a_module(tiny_ckpt: Path) -> None:
    by_name = hge.load("tiny_test", weights=tiny_ckpt, device="cpu")
    assert isinstance(by_name, EmbeddingModel) and by_name.name == "tiny_test" and by_name.sample_rate == 32000
    assert by_name.identity.weights == str(tiny_ckpt) and by_name.spec == ModelSpec("tiny_test", str(tiny_ckpt), device="cpu")
    config = dataclasses.replace(hge.get_variant("lowlevel_mel"), name="mel_unregistered")
    unregistered = hge.load(config)
    assert unregistered.module_name == "hear_gear_embed.hear.mel_unregistered" and unregistered.identity.weights == "none"
    module = hge.load(FAKE)
    assert module.name == module.module_name == FAKE and module.sample_rate == 16000
    assert module.identity.weights == "module default" and module.identity.precision == "fp32"
    assert hge.list_variants("passt_2lvl*") == ["passt_2lvl", "passt_2lvlmel", "passt_2lvl_cqt", "passt_2lvl_handcrafted"]
    assert "tiny_test" in hge.list_variants("tiny*", include_unpublished=True) and not hge.list_variants("tiny*")


def test_weights_words_seeds_and_options_that_do_not_apply() -> None:
    first, again = (hge.load("tiny_test", weights="random", seed=3).embed(noise(1, 0.3).numpy())[0] for _ in range(2))
    assert np.array_equal(first.scene, again.scene)
    assert hge.load("tiny_test", weights="random").identity.weights == "random (seed 0)"
    with pytest.raises(ValueError, match="seed applies to weights='random' only"):
        hge.load("tiny_test", seed=1)
    with pytest.raises(ValueError, match="variant handcrafted has no official weights .it needs none"):
        hge.load("handcrafted", weights="official")
    with pytest.raises(ValueError, match="variant passt_cqt has no official weights"):
        hge.load("passt_cqt", weights="official")
    for options, named in (({"weights": "random"}, "weights='random'"), ({"memory_budget_mb": 64}, "memory_budget_mb")):
        with pytest.raises(ValueError, match=f"{named} apply to this package's variants only, not to HEAR module"):
            hge.load(FAKE, **options)
    with pytest.raises(ValueError, match="takes no precision argument"):
        hge.load(FAKE, precision="bf16")
    with pytest.raises(ValueError, match="a model name is needed"):
        ModelSpec("")
    with pytest.raises(hge.hear.loading.ModuleLoadError, match="nor is it a variant: did you mean handcrafted"):
        hge.load("handcraftd")


def test_a_path_named_like_a_word_is_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(hge.model.CheckpointError):
        (tmp_path / "random").write_bytes(b"not a checkpoint")
        hge.load("tiny_test", weights=Path("random"))


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


def test_a_failing_clip_costs_only_itself(caplog: pytest.LogCaptureFixture) -> None:
    model = hge.load(FAKE)
    gear_fake_module.BEHAVIOUR["mode"] = "nan_on_loud"
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


def test_probe_records_the_precision_the_workers_compute_in(tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loaded once on this machine's CPU in fp32 (its CPU may lack the workers' bf16 units), recorded as the workers
    will compute: bf16 for a network asked bf16, fp32 for a weight-free variant whatever is asked."""
    monkeypatch.setattr(precision_module, "cpu_bf16_units", lambda flags=None: ())  # a CPU without bf16 units
    identity, rate = ModelSpec("tiny_test", str(tiny_ckpt), precision="bf16").probe()
    assert identity.precision == "bf16" and rate == 32000 and identity.weights == str(tiny_ckpt)
    assert ModelSpec("handcrafted", precision="bf16").probe()[0].precision == "fp32"


def test_workflows_take_a_model_a_spec_or_a_name(tiny_ckpt: Path) -> None:
    loaded = hge.load("lowlevel_mel")
    assert as_model(loaded) is loaded
    assert as_model(ModelSpec("lowlevel_mel")).identity == loaded.identity == as_model("lowlevel_mel").identity
    assert as_model("tiny_test", model_path=str(tiny_ckpt)).identity.weights == str(tiny_ckpt)
    with pytest.raises(ValueError, match="apply to a model given by name"):
        as_model(loaded, precision="bf16")
    with pytest.warns(DeprecationWarning, match="passing a model of load_model\\(\\) is deprecated"):
        old = as_model(hge.load_embedder(hge.get_variant("lowlevel_mel"), device="cpu"))
    assert old.identity == loaded.identity
    with pytest.raises(TypeError, match="expected an EmbeddingModel"):
        as_model(3)  # type: ignore[arg-type]


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
