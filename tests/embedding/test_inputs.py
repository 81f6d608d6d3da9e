"""Audio given to the embedder (:mod:`hear_gear_embed.embedding.inputs`): accepted types, and the errors and
warnings of bad inputs, through both embedding functions of the tiny model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from hear_gear_embed.embedding import Embedder

from ..conftest import noise


def test_numpy_and_float64_inputs_accepted(tiny: Embedder) -> None:
    audio = noise(2, 0.4, seed=14)
    ref = tiny.scene_embeddings(audio)
    torch.testing.assert_close(tiny.scene_embeddings(audio.numpy()), ref)
    torch.testing.assert_close(tiny.scene_embeddings(audio.double()), ref)
    emb, ts = tiny.timestamp_embeddings(audio.numpy().astype(np.float64))
    assert isinstance(emb, torch.Tensor) and emb.dtype == torch.float32


@pytest.mark.parametrize(
    ("audio", "error", "match"),
    [
        (torch.zeros(16000), ValueError, r"2-D.*\(n_sounds, n_samples\)|audio\[None\]"),
        (torch.zeros(1, 1, 16000), ValueError, "3-D"),
        (torch.zeros(2, 0), ValueError, "0 samples"),
        (torch.zeros(0, 16000), ValueError, "no sounds"),
        (torch.zeros(1, 16000, dtype=torch.int16), TypeError, "scale integer PCM"),
        (np.zeros((1, 16000), dtype=np.int32), TypeError, "scale integer PCM"),
        (torch.zeros(1, 100, dtype=torch.bool), TypeError, "floating point"),
        ([[0.0] * 100], TypeError, "torch.Tensor or numpy.ndarray"),
    ],
)
def test_bad_inputs(tiny: Embedder, audio: object, error: type, match: str) -> None:
    for fn in (tiny.scene_embeddings, tiny.timestamp_embeddings):
        with pytest.raises(error, match=match):
            fn(audio)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_audio_is_refused(tiny: Embedder, value: float) -> None:
    audio = noise(2, 0.3)
    audio[1, 77] = value
    with pytest.raises(ValueError, match="NaN or Inf values \\(first at sound 1, sample 77\\)"):
        tiny.timestamp_embeddings(audio)


def test_out_of_range_audio_warns(tiny: Embedder) -> None:
    with pytest.warns(UserWarning, match="outside the \\[-1, 1\\] range"):
        tiny.scene_embeddings(noise(1, 0.3) * 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny.scene_embeddings(noise(1, 0.3))
