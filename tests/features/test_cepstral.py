"""Mel filterbank, DCT, dB conversion and MFCC (:mod:`hear_gear_embed.features.cepstral`) against librosa 0.11 and scipy."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.fft
import torch

from hear_gear_embed.features.cepstral import dct_ortho, mfcc, power_to_db, slaney_mel_banks

from .signals import N_FFT, REL_TOL, SR, rel_err


def test_slaney_mel_banks_match_librosa() -> None:
    for kwargs in ({"n_mels": 128}, {"n_mels": 64, "fmin": 50.0, "fmax": 14000.0}):
        ours = slaney_mel_banks(n_fft=N_FFT, sample_rate=SR, **kwargs)
        ref = librosa.filters.mel(sr=SR, n_fft=N_FFT, **kwargs)
        assert ours.dtype == torch.float32
        assert rel_err(ours, ref) < 1e-6


def test_dct_ortho_matches_scipy() -> None:
    ref = scipy.fft.dct(np.eye(128), type=2, norm="ortho", axis=0)[:20]
    assert float((dct_ortho(20, 128).double() - torch.as_tensor(ref)).abs().max()) < 1e-6


def test_power_to_db_has_no_top_db() -> None:
    x = torch.tensor([1.0, 1e-3, 1e-12, 0.0])
    assert torch.allclose(power_to_db(x), torch.tensor([0.0, -30.0, -100.0, -100.0]))


def test_mfcc_matches_librosa(mag: torch.Tensor) -> None:
    power = mag.square()
    ours = mfcc(power, slaney_mel_banks(128, N_FFT, SR), 20)
    mel = librosa.feature.melspectrogram(S=power.numpy(), sr=SR, n_fft=N_FFT, n_mels=128)
    ref = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=20)
    assert rel_err(ours, ref) < REL_TOL
    assert torch.equal(ours, mfcc(power, slaney_mel_banks(128, N_FFT, SR), 20, dct=dct_ortho(20, 128)))


def test_extra_leading_dims(mag: torch.Tensor) -> None:
    banks = slaney_mel_banks(40, N_FFT, SR)
    S4 = mag.reshape(3, 1, *mag.shape[1:])
    assert torch.allclose(mfcc(S4.square(), banks, 13)[:, 0], mfcc(mag.square(), banks, 13), rtol=1e-6, atol=1e-6)


_S = torch.rand(2, 513, 10)


@pytest.mark.parametrize(
    "call",
    [
        lambda: slaney_mel_banks(64, N_FFT, SR, fmin=9000.0, fmax=8000.0),
        lambda: power_to_db(_S, amin=0.0),
        lambda: dct_ortho(21, 20),
        lambda: mfcc(_S, slaney_mel_banks(64, 2048, SR), 20),
        lambda: mfcc(_S, slaney_mel_banks(64, N_FFT, SR), 20, dct=dct_ortho(13, 64)),
    ],
)
def test_bad_inputs_raise(call) -> None:
    with pytest.raises(ValueError):
        call()
