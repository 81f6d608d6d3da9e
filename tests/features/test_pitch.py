"""Pitch classes, chroma and CQT peaks (:mod:`hear_gear_embed.features.pitch`) against librosa 0.11 and tone oracles."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from hear_gear_embed.features.pitch import chroma, chroma_matrix, pitch_classes, spectral_peaks

from .signals import C1_HZ, HOP, INNER, N_SAMPLES, REL_TOL, SR, cqt, rel_err, sine


def test_pitch_classes_of_cqt_bins() -> None:
    _, freqs = cqt(torch.zeros(1, HOP), 12)
    assert torch.equal(pitch_classes(freqs), torch.arange(84) % 12)
    freqs36 = torch.as_tensor(C1_HZ * 2.0 ** (np.arange(252) / 36))
    # Three bins per semitone: the bins 1/3 semitone below and above a note fold into that note.
    assert torch.equal(pitch_classes(freqs36), ((torch.arange(252) + 1) // 3) % 12)
    freqs24 = torch.as_tensor(C1_HZ * 2.0 ** (np.arange(48) / 24))
    # Two bins per semitone: the bin half-way between notes goes to the upper one, like librosa's cq_to_chroma.
    assert torch.equal(pitch_classes(freqs24), ((torch.arange(48) + 1) // 2) % 12)
    ref24 = librosa.filters.cq_to_chroma(48, bins_per_octave=24, fmin=C1_HZ)
    assert torch.equal(chroma_matrix(freqs24), torch.as_tensor(ref24))


def test_oracle_chroma_of_c_major_triad() -> None:
    triad = sine(261.6256) + sine(329.6276) + sine(391.9954)
    C, freqs = cqt(triad.unsqueeze(0), 12)
    profile = chroma(C, chroma_matrix(freqs))[0, :, INNER].mean(-1)
    assert set(profile.topk(3).indices.tolist()) == {0, 4, 7}


def test_chroma_36_bins_matches_librosa(audio: torch.Tensor) -> None:
    C, freqs = cqt(audio, 36)
    C[1, :, 40:50] = 0.0  # all-zero frames must stay 0, as in librosa
    ours = chroma(C, chroma_matrix(freqs))
    ref = librosa.feature.chroma_cqt(C=C.numpy(), sr=SR, hop_length=HOP, fmin=C1_HZ, bins_per_octave=36, n_chroma=12)
    assert rel_err(ours, ref) < REL_TOL
    assert (ours[1, :, 40:50] == 0).all()


def test_spectral_peaks_two_tones_and_silence() -> None:
    two_tones = sine(440.0) + 0.5 * sine(659.2551)  # A4 and E5: CQT bins 45 and 52 from C1
    silence = torch.zeros(N_SAMPLES)
    dither = 1e-9 * torch.randn(N_SAMPLES, generator=torch.Generator().manual_seed(1))
    C, _ = cqt(torch.stack([two_tones, silence, dither]), 12)
    peaks = spectral_peaks(C)
    expected = torch.zeros(84)
    expected[[45, 52]] = 1.0
    assert (peaks[0, :, INNER] == expected.unsqueeze(-1)).all()
    assert peaks[1:].sum() == 0


def test_extra_leading_dims(mag: torch.Tensor) -> None:
    S4 = mag.reshape(3, 1, *mag.shape[1:])
    assert torch.allclose(spectral_peaks(S4)[:, 0], spectral_peaks(mag), rtol=1e-6, atol=1e-6)


_S = torch.rand(2, 513, 10)
_FREQS36 = torch.as_tensor(C1_HZ * 2.0 ** (np.arange(72) / 36), dtype=torch.float32)


@pytest.mark.parametrize(
    "call",
    [
        lambda: pitch_classes(C1_HZ * 2.0 ** (torch.arange(30) / 10)),
        lambda: pitch_classes(_FREQS36 * 2.0 ** (0.5 / 12)),
        lambda: pitch_classes(_FREQS36.flip(0)),
        lambda: chroma_matrix(_FREQS36, n_chroma=24),
        lambda: chroma(_S, chroma_matrix(_FREQS36)),
        lambda: spectral_peaks(_S, range_db=0.0),
        lambda: spectral_peaks(_S, floor=-1.0),
    ],
)
def test_bad_inputs_raise(call) -> None:
    with pytest.raises(ValueError):
        call()
