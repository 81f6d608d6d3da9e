"""Embedders built with their weights (:mod:`hear_gear_embed.embedding.factory`): official or given checkpoints,
seeded random weights, weight-free variants."""

from __future__ import annotations

import pytest
import torch

from hear_gear_embed import get_variant, load_embedder
from hear_gear_embed.embedding import Embedder, random_embedder
from hear_gear_embed.model import PaSST

from ..conftest import noise


def test_weight_free_paths_and_missing_checkpoint(tiny_ckpt) -> None:
    with pytest.raises(ValueError, match="has no official weights; pass model_file_path"):
        load_embedder(get_variant("tiny_test"))
    assert isinstance(load_embedder(get_variant("tiny_test"), tiny_ckpt, device="cpu"), Embedder)


def test_random_embedder_is_seeded() -> None:
    variant = get_variant("tiny_test")
    audio = noise(1, 0.5, seed=14)
    first, again, other = (random_embedder(variant, seed).scene_embeddings(audio) for seed in (3, 3, 4))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.allclose(first, other)
    assert random_embedder(get_variant("lowlevel_mel")).net is None


def test_loaded_and_random_weights_are_not_drawn_first(tiny_ckpt, monkeypatch: pytest.MonkeyPatch) -> None:
    """A network about to receive a checkpoint's weights, or seeded random ones, is built without storage: no
    initialiser of torch's layers or of PaSST runs on it first (at full size each such pass costs seconds)."""
    def refusing(init):
        def refused(tensor: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
            if not tensor.is_meta:
                raise AssertionError(f"{init.__name__} initialised a {tuple(tensor.shape)} tensor that is then replaced")
            return init(tensor, *args, **kwargs)

        return refused

    for name in ("trunc_normal_", "kaiming_uniform_", "uniform_", "normal_", "ones_", "zeros_"):
        monkeypatch.setattr(torch.nn.init, name, refusing(getattr(torch.nn.init, name)))
    assert load_embedder(get_variant("tiny_test"), tiny_ckpt, device="cpu").weights_source == str(tiny_ckpt)
    monkeypatch.setattr("hear_gear_embed.embedding.factory.random_passt", lambda config, seed: PaSST(config))
    with pytest.raises(AssertionError, match="initialised a"):  # the check itself: a network built normally is caught
        random_embedder(get_variant("tiny_test"), 0, device="cpu")


def test_weight_free_variants_refuse_a_checkpoint() -> None:
    with pytest.raises(ValueError, match="uses no network weights"):
        load_embedder(get_variant("handcrafted"), "some.pt")
    model = load_embedder(get_variant("handcrafted"), device="cpu")
    assert model.net is None
    with pytest.raises(ValueError, match="no network weights to save"):
        model.save_weights("x.pt")
