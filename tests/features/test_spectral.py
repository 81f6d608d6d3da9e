"""Spectral shape descriptors (:mod:`hear_gear_embed.features.spectral`) against librosa 0.11 and simple oracles."""

from __future__ import annotations

import functools

import librosa
import librosa.feature.spectral
import numpy as np
import pytest
import torch

from hear_gear_embed.features.spectral import (
    spectral_bandwidth,
    spectral_centroid,
    spectral_contrast,
    spectral_flatness,
    spectral_rolloff,
)

from .signals import BIN_HZ, FREQS, INNER, N_FFT, REL_TOL, SR, magnitude, rel_err, sine


def test_silent_frames_present(mag: torch.Tensor) -> None:
    assert int((mag[1].sum(0) == 0).sum()) >= 20


@pytest.mark.parametrize(
    ("ours", "ref"),
    [
        (lambda S: spectral_centroid(S, FREQS), lambda S: librosa.feature.spectral_centroid(S=S, sr=SR, n_fft=N_FFT)),
        (lambda S: spectral_bandwidth(S, FREQS), lambda S: librosa.feature.spectral_bandwidth(S=S, sr=SR, n_fft=N_FFT)),
        (
            lambda S: spectral_bandwidth(S, FREQS, p=1.0),
            lambda S: librosa.feature.spectral_bandwidth(S=S, sr=SR, n_fft=N_FFT, p=1),
        ),
        (spectral_flatness, lambda S: librosa.feature.spectral_flatness(S=S)),
    ],
    ids=["centroid", "bandwidth", "bandwidth_p1", "flatness"],
)
def test_spectral_shape_matches_librosa(mag: torch.Tensor, ours, ref) -> None:
    assert rel_err(ours(mag), ref(mag.numpy())) < REL_TOL


def test_silent_frames_give_zero_centroid_and_bandwidth(mag: torch.Tensor) -> None:
    silent = mag[1].sum(0) == 0
    assert (spectral_centroid(mag, FREQS)[1, 0, silent] == 0).all()
    assert (spectral_bandwidth(mag, FREQS)[1, 0, silent] == 0).all()


@pytest.mark.parametrize("roll_percent", [0.85, 0.1, 0.99])
def test_rolloff_matches_librosa(mag: torch.Tensor, roll_percent: float) -> None:
    ours = spectral_rolloff(mag, FREQS, roll_percent=roll_percent)
    ref = torch.as_tensor(librosa.feature.spectral_rolloff(S=mag.numpy(), sr=SR, n_fft=N_FFT, roll_percent=roll_percent))
    diff = (ours.double() - ref).abs()
    # torch accumulates the float32 cumulative sum in float64 on CPU and numpy in float32, so a bin whose
    # cumulative sum ties with the threshold may land on either side: at most one bin apart, and rarely.
    assert float(diff.max()) <= BIN_HZ + 1e-3
    assert float((diff > 0).double().mean()) < 0.02
    assert (ours[1, 0, mag[1].sum(0) == 0] == 0).all()


def _contrast_reference(S: np.ndarray, monkeypatch: pytest.MonkeyPatch, **kwargs) -> np.ndarray:
    # librosa clips peak and valley dB to 80 dB below their maximum over the whole input (power_to_db's
    # default top_db); ours does not, by design (see spectral_contrast), so the reference disables it.
    monkeypatch.setattr(librosa.feature.spectral, "power_to_db", functools.partial(librosa.power_to_db, top_db=None))
    return librosa.feature.spectral_contrast(S=S, sr=SR, n_fft=N_FFT, **kwargs)


@pytest.mark.parametrize(
    "kwargs", [{}, {"n_bands": 4, "fmin": 400.0, "quantile": 0.1}, {"n_bands": 7, "fmin": 100.0, "quantile": 0.5}]
)
def test_contrast_matches_librosa(mag: torch.Tensor, monkeypatch: pytest.MonkeyPatch, kwargs: dict) -> None:
    ours = spectral_contrast(mag, FREQS, SR, **kwargs)
    assert rel_err(ours, _contrast_reference(mag.numpy(), monkeypatch, **kwargs)) < REL_TOL


def test_contrast_equals_plain_librosa_where_clipping_is_inactive(mag: torch.Tensor) -> None:
    noise = mag[:1].numpy()
    assert rel_err(spectral_contrast(mag[:1], FREQS, SR), librosa.feature.spectral_contrast(S=noise, sr=SR, n_fft=N_FFT)) < REL_TOL


def test_oracle_centroid_of_a_tone() -> None:
    centroid = spectral_centroid(magnitude(sine(1000.0)), FREQS)[0, INNER]
    assert float((centroid - 1000.0).abs().max()) < BIN_HZ


def test_oracle_flatness_noise_vs_tone(audio: torch.Tensor) -> None:
    # White noise: |X|^2 is exponential, whose geometric / arithmetic mean is exp(-euler_gamma) = 0.56;
    # single frames scatter around it (513 bins), hence the looser per-frame bound.
    noise_flatness = spectral_flatness(magnitude(audio[0]))
    assert float(noise_flatness.mean()) > 0.5
    assert float(noise_flatness.min()) > 0.4
    assert float(spectral_flatness(magnitude(sine(1000.0)))[0, INNER].max()) < 0.01


def test_extra_leading_dims(mag: torch.Tensor) -> None:
    S4 = mag.reshape(3, 1, *mag.shape[1:])
    for fn in (
        lambda S: spectral_centroid(S, FREQS),
        lambda S: spectral_bandwidth(S, FREQS),
        spectral_flatness,
        lambda S: spectral_rolloff(S, FREQS),
        lambda S: spectral_contrast(S, FREQS, SR),
    ):
        assert torch.allclose(fn(S4)[:, 0], fn(mag), rtol=1e-6, atol=1e-6)


_S = torch.rand(2, 513, 10)


@pytest.mark.parametrize(
    "call",
    [
        lambda: spectral_centroid(_S[0, :, 0], FREQS),
        lambda: spectral_centroid(_S, FREQS[:-1]),
        lambda: spectral_centroid(_S.to(torch.int64), FREQS),
        lambda: spectral_bandwidth(_S, FREQS, p=0.0),
        lambda: spectral_flatness(_S, amin=0.0),
        lambda: spectral_rolloff(_S, FREQS, roll_percent=0.0),
        lambda: spectral_rolloff(_S, FREQS, roll_percent=1.0),
        lambda: spectral_contrast(_S, FREQS, SR, quantile=0.0),
        lambda: spectral_contrast(_S, FREQS, SR, quantile=1.0),
        lambda: spectral_contrast(_S, FREQS, SR, n_bands=0),
        lambda: spectral_contrast(_S, FREQS, SR, fmin=0.0),
        lambda: spectral_contrast(_S, FREQS, SR, n_bands=8),
        lambda: spectral_contrast(_S, FREQS, SR, fmin=10.0),
    ],
)
def test_bad_inputs_raise(call) -> None:
    with pytest.raises(ValueError):
        call()
