"""RMS and zero-crossing rate (:mod:`hear_gear_embed.features.temporal`) against librosa 0.11 and tone oracles."""

from __future__ import annotations

import math

import librosa
import pytest
import torch

from hear_gear_embed.features.temporal import rms, zero_crossing_rate, zero_crossing_rate_padded

from .signals import HOP, INNER, N_FFT, REL_TOL, SR, frames, rel_err, sine


def test_rms_matches_librosa(audio: torch.Tensor) -> None:
    ref = librosa.feature.rms(y=audio.numpy(), frame_length=N_FFT, hop_length=HOP, center=True)
    assert rel_err(rms(frames(audio, "constant")), ref) < REL_TOL


def test_zcr_matches_librosa(audio: torch.Tensor) -> None:
    ref = librosa.feature.zero_crossing_rate(audio.numpy(), frame_length=N_FFT, hop_length=HOP, center=True)
    # librosa pads with edge values for zcr (not zeros), and counts exactly, so the match is exact.
    assert rel_err(zero_crossing_rate(frames(audio, "replicate")), ref) == 0.0


def test_oracle_rms_and_zcr_of_a_tone() -> None:
    tone = sine(1000.0)
    assert torch.allclose(rms(frames(tone, "constant"))[0, INNER], torch.tensor(1 / math.sqrt(2)), atol=1e-3)
    # 2 crossings per period; a frame holds 32 periods, and its first pair boundary may fall on either side.
    zcr = zero_crossing_rate(frames(tone, "replicate"))[0, INNER]
    assert float((zcr - 2 * 1000.0 / SR).abs().max()) <= 1.0 / N_FFT


def test_extra_leading_dims(audio: torch.Tensor) -> None:
    framed = frames(audio, "constant")
    assert torch.equal(rms(framed[None])[0], rms(framed))
    assert torch.equal(zero_crossing_rate(framed[None])[0], zero_crossing_rate(framed))


def test_zero_crossing_rate_padded_equals_framed() -> None:
    g = torch.Generator().manual_seed(3)
    signal = torch.randn(2, 9000, generator=g)
    signal[:, 2000:3000] = 0.0
    framed = zero_crossing_rate(signal.unfold(-1, 1024, 320))
    torch.testing.assert_close(zero_crossing_rate_padded(signal, 1024, 320), framed, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="frame_length"):
        zero_crossing_rate_padded(signal[:, :100], 1024, 320)


@pytest.mark.parametrize(
    "call",
    [
        lambda: rms(torch.zeros(N_FFT)),
        lambda: zero_crossing_rate(torch.zeros(3, N_FFT), threshold=-1.0),
    ],
)
def test_bad_inputs_raise(call) -> None:
    with pytest.raises(ValueError):
        call()
