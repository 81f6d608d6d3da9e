"""``hear_gear_embed.hear.diverse``: a saved model loads back to the same embeddings, passes the in-process validator
and works through the package's front door; a timestamp's window is the scene's chunk; the neuralogram comes from any
HEAR module, resampled to its rate, cached by content, and is checked against the one the model was trained with."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hear_gear_embed import load
from hear_gear_embed.diverse.config import get_diverse
from hear_gear_embed.diverse.model import DiverseModel, read_diverse_checkpoint
from hear_gear_embed.embedding.factory import random_embedder
from hear_gear_embed.evaluation.validate import validate_module
from hear_gear_embed.hear import diverse
from hear_gear_embed.model.checkpoint import CheckpointError
from hear_gear_embed.registry import get_variant

RATE = 32000
TINY = get_diverse("diverse_tiny")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[DiverseModel, Path]:
    model = diverse.new_model(TINY, seed=3, device="cpu")
    path = tmp_path_factory.mktemp("diverse") / "model.pt"
    model.save_weights(path)
    return model, path


def audio(n_sounds: int = 2, seconds: float = 1.3, seed: int = 0) -> torch.Tensor:
    return 0.1 * torch.randn(n_sounds, int(seconds * RATE), generator=torch.Generator().manual_seed(seed))


def test_save_and_load_give_the_same_embeddings(saved: tuple[DiverseModel, Path]) -> None:
    model, path = saved
    loaded = diverse.load_model(str(path), device="cpu")
    x = audio()
    assert torch.allclose(diverse.get_scene_embeddings(x, loaded), diverse.get_scene_embeddings(x, model), atol=1e-6)
    (a, stamps), (b, _) = diverse.get_timestamp_embeddings(x, loaded), diverse.get_timestamp_embeddings(x, model)
    assert a.shape == (2, int(1.3 * RATE) // 1600 + 1, TINY.embedding_size) and torch.allclose(a, b, atol=1e-6)
    assert stamps[0, :3].tolist() == [0.0, 50.0, 100.0]
    assert loaded.weights_source == str(path) and not loaded.training
    config, source = read_diverse_checkpoint(path)
    assert config == TINY and source is not None and source["name"] == "tiny_test" and source["dim"] == 906


def test_the_saved_module_passes_the_in_process_validator(saved: tuple[DiverseModel, Path]) -> None:
    report = validate_module("hear_gear_embed.hear.diverse", str(saved[1]), device="cpu")
    assert report.passed, report.format()


def test_a_timestamp_window_is_the_scene_chunk_of_a_clip_one_window_long(saved: tuple[DiverseModel, Path]) -> None:
    model = saved[0]
    x = audio(seconds=TINY.window_ms / 1000)  # one chunk, centred on the clip: the timestamp at its middle
    middle = TINY.window_samples // 2 // TINY.timestamp_hop_samples
    stamps, _ = diverse.get_timestamp_embeddings(x, model)
    assert torch.allclose(stamps[:, middle], diverse.get_scene_embeddings(x, model), atol=1e-6)


def test_the_front_door_loads_it_by_its_short_name(saved: tuple[DiverseModel, Path]) -> None:
    handle = load("diverse", weights=saved[1], device="cpu")
    assert handle.module_name == "hear_gear_embed.hear.diverse" and handle.identity.weights_sha256
    out = handle.embed([np.zeros(RATE, dtype=np.float32), 0.1 * np.ones(RATE // 2, dtype=np.float32)], ("scene",))
    assert [o.of("scene").shape for o in out] == [(TINY.embedding_size,)] * 2
    with pytest.raises(ValueError, match="takes no precision argument"):
        load("diverse", weights=saved[1], device="cpu", precision="bf16")


def test_loading_errors_name_the_problem(saved: tuple[DiverseModel, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no official weights: pass the checkpoint"):
        diverse.load_model()
    passt = tmp_path / "passt.pt"
    random_embedder(get_variant("tiny_test")).save_weights(passt)
    with pytest.raises(CheckpointError, match="holds no diverse model"):
        diverse.load_model(str(passt))
    with pytest.raises(TypeError, match="must come from hear_gear_embed.hear.diverse.load_model"):
        diverse.get_scene_embeddings(audio(), random_embedder(get_variant("tiny_test")))  # type: ignore[arg-type]


def test_non_finite_weights_are_an_error_not_a_nan(tmp_path: Path) -> None:
    model = diverse.new_model(TINY, seed=0, device="cpu")
    with torch.no_grad():
        model.net.encoders["timbre"].proj.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="diverse_tiny network returned non-finite values"):
        diverse.get_scene_embeddings(audio(), model)


def test_the_neuralogram_must_be_the_one_it_was_trained_with(tmp_path: Path) -> None:
    weights = []
    for seed in (0, 1):
        weights.append(tmp_path / f"source{seed}.pt")
        random_embedder(get_variant("tiny_test"), seed).save_weights(weights[-1])
    config = TINY.with_source("tiny_test", str(weights[0]))
    model = diverse.new_model(config, seed=0, device="cpu")
    model.save_weights(tmp_path / "model.pt")
    moved = tmp_path / "moved.pt"
    moved.write_bytes(weights[0].read_bytes())
    same = diverse.load_model(str(tmp_path / "model.pt"), neuralogram_weights=str(moved))
    x = audio()
    assert torch.equal(diverse.get_scene_embeddings(x, same), diverse.get_scene_embeddings(x, model))
    with pytest.raises(CheckpointError, match="the weights loaded now .* differ"):
        diverse.load_model(str(tmp_path / "model.pt"), neuralogram_weights=str(weights[1]))


def test_a_neuralogram_from_another_package_at_its_own_rate_is_resampled() -> None:
    source = diverse.neuralogram_for(TINY.with_source("tests.gear_fake_module"), device="cpu")
    assert source is not None and source.dim == 24 and source.handle.sample_rate == 16000
    t = torch.arange(RATE) / RATE
    tone = (0.5 * torch.sin(2 * math.pi * 1000.0 * t))[None]
    frames = source(tone)
    assert frames.first == 512.0 and frames.hop == 512.0  # 16 ms at 16 kHz, in samples at 32 kHz
    model = source.handle.model
    band = int((model.bands.T[torch.fft.rfftfreq(512, 1 / 16000) >= 1000.0][0]).argmax())
    assert bool((frames.frames[0, 2:-2].argmax(dim=-1) == band).all())  # 1 kHz, not 2 kHz as unresampled audio gives
    source(tone)
    assert (source.hits, source.misses) == (1, 1)
