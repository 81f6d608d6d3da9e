"""Loading any HEAR module and embedding a tone grid with it (:mod:`hear_gear_embed.evaluation.hear_module`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hear_gear_embed.evaluation.hear_module import embed_grid
from hear_gear_embed.evaluation.synth import perceptual_grid
from hear_gear_embed.hear.loading import load_hear_module, resolve_module_name
from tests import gear_fake_module

FAKE = "tests.gear_fake_module"


@pytest.fixture(autouse=True)
def _well_behaved_fake():
    gear_fake_module.BEHAVIOUR["mode"] = "ok"
    yield
    gear_fake_module.BEHAVIOUR["mode"] = "ok"


def test_embedding_is_batch_independent() -> None:
    hear = load_hear_module(FAKE)
    grid = perceptual_grid(16000, n_alpha=3, n_r=3, duration_s=0.1)
    np.testing.assert_allclose(embed_grid(hear, grid, batch_size=2, progress=False),
                               embed_grid(hear, grid, batch_size=9, progress=False), rtol=1e-5, atol=1e-6)


def test_timestamp_embeddings_are_averaged_over_time() -> None:
    hear = load_hear_module(FAKE)
    grid = perceptual_grid(16000, n_alpha=2, n_r=2, duration_s=0.1)
    frames, _ = gear_fake_module.get_timestamp_embeddings(torch.from_numpy(grid.audio(0, grid.n_sounds)), hear.model)
    np.testing.assert_allclose(embed_grid(hear, grid, "timestamp", progress=False), frames.mean(dim=1).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="kind must be one of \\('scene', 'timestamp'\\), got 'timestamp_mean'"):
        embed_grid(hear, grid, "timestamp_mean", progress=False)  # type: ignore[arg-type]


def test_misbehaving_modules_are_reported() -> None:
    hear = load_hear_module(FAKE)
    grid = perceptual_grid(16000, n_alpha=2, n_r=2, duration_s=0.1)
    gear_fake_module.BEHAVIOUR["mode"] = "nan"
    with pytest.raises(ValueError, match="NaN"):
        embed_grid(hear, grid, progress=False)
    gear_fake_module.BEHAVIOUR["mode"] = "shape"
    with pytest.raises(ValueError, match="shape"):
        embed_grid(hear, grid, progress=False)
    with pytest.raises(ValueError, match="16000 Hz"):
        embed_grid(hear, perceptual_grid(32000, n_alpha=2, n_r=2, duration_s=0.1), progress=False)
    with pytest.raises(ValueError, match="cannot import"):
        load_hear_module("no_such_hear_module")
    with pytest.raises(ValueError, match="not a HEAR module"):
        load_hear_module("json")


def test_variant_names_resolve_to_their_hear_modules() -> None:
    assert resolve_module_name("handcrafted") == "hear_gear_embed.hear.handcrafted"
    assert resolve_module_name("tiny_test") == "hear_gear_embed.hear.tiny_test"  # unpublished variants too
    assert resolve_module_name("hearbaseline") == "hearbaseline"
    assert resolve_module_name("hear_gear_embed.hear.handcrafted") == "hear_gear_embed.hear.handcrafted"
