"""The log-mel frontend: Kaldi mel banks against hand-computed values, and DSP oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hear_gear_embed.frontends import MelConfig, MelFrontend, kaldi_mel_banks, kaldi_mel_scale
from hear_gear_embed.frontends.mel import log_mel_floor

from ..conftest import tone


def test_kaldi_mel_scale_formula() -> None:
    # 1127 ln(1 + 700/700) = 1127 ln 2
    assert float(kaldi_mel_scale(700.0)) == pytest.approx(1127 * math.log(2), rel=1e-12)
    assert float(kaldi_mel_scale(0.0)) == 0.0


def test_kaldi_mel_banks_hand_computed() -> None:
    # One band over 0..4000 Hz with n_fft = 8 at 8 kHz: FFT bins at 0, 1000, 2000, 3000 Hz (+ Nyquist).
    # mel(4000) = 1127 ln(1 + 4000/700) = 2146.0756; edges on the mel axis: 0, 1073.0378, 2146.0756.
    # mel(1000) = 999.9907 -> rising slope 999.9907 / 1073.0378 = 0.931925
    # mel(2000) = 1521.3674 -> falling slope (2146.0756 - 1521.3674) / 1073.0378 = 0.582187
    # mel(3000) = 1876.4637 -> falling slope (2146.0756 - 1876.4637) / 1073.0378 = 0.251260
    banks = kaldi_mel_banks(1, 8, 8000, 0.0, 4000.0, dtype=torch.float64)
    expected = [0.0, 0.931925, 0.582187, 0.251260, 0.0]
    assert banks.shape == (1, 5)
    np.testing.assert_allclose(banks[0].numpy(), expected, atol=1e-6)


def test_kaldi_mel_banks_shape_and_triangles() -> None:
    cfg = MelConfig()
    banks = kaldi_mel_banks(cfg.n_mels, cfg.n_fft, cfg.sample_rate, cfg.fmin, cfg.fmax, dtype=torch.float64)
    assert banks.shape == (128, 513)
    assert torch.all(banks[:, -1] == 0), "Kaldi ignores the Nyquist bin"
    assert float(banks.max()) <= 1.0 and float(banks.min()) >= 0.0
    freqs = torch.arange(513, dtype=torch.float64) * cfg.sample_rate / cfg.n_fft
    mel_lo, mel_hi = float(kaldi_mel_scale(cfg.fmin)), float(kaldi_mel_scale(cfg.fmax))
    delta = (mel_hi - mel_lo) / (cfg.n_mels + 1)
    for band in (0, 40, 127):
        support = freqs[banks[band] > 0]
        left_hz = 700 * math.expm1((mel_lo + band * delta) / 1127)
        right_hz = 700 * math.expm1((mel_lo + (band + 2) * delta) / 1127)
        assert float(support.min()) > left_hz and float(support.max()) < right_hz
    # No energy above fmax = 15 kHz.
    assert torch.all(banks[:, freqs > cfg.fmax] == 0)


def test_kaldi_mel_banks_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_fft must be even"):
        kaldi_mel_banks(10, 1023, 16000, 0, 8000)
    with pytest.raises(ValueError, match="fmax"):
        kaldi_mel_banks(10, 1024, 16000, 0, 9000)


def _numpy_log_mel(audio: np.ndarray, cfg: MelConfig) -> np.ndarray:
    """Independent NumPy implementation of the reference pipeline, for one sound."""
    x = audio[1:] - cfg.preemphasis * audio[:-1]
    pad = cfg.n_fft // 2
    x = np.pad(x, pad, mode="reflect")
    n = np.arange(cfg.win_length)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / (cfg.win_length - 1))
    offset = (cfg.n_fft - cfg.win_length) // 2
    full = np.zeros(cfg.n_fft)
    full[offset: offset + cfg.win_length] = window
    frames = 1 + (len(x) - cfg.n_fft) // cfg.hop_length
    power = np.stack([
        np.abs(np.fft.rfft(x[i * cfg.hop_length: i * cfg.hop_length + cfg.n_fft] * full)) ** 2 for i in range(frames)
    ], axis=1)
    banks = kaldi_mel_banks(cfg.n_mels, cfg.n_fft, cfg.sample_rate, cfg.fmin, cfg.fmax, dtype=torch.float64).numpy()
    return (np.log(banks @ power + cfg.log_offset) + cfg.norm_shift) / cfg.norm_scale


@pytest.mark.parametrize("hop", [320, 160, 100])
def test_frontend_matches_numpy_oracle(hop: int) -> None:
    cfg = MelConfig(hop_length=hop)
    audio = tone(440.0, 0.3) + 0.1 * torch.randn(9600, generator=torch.Generator().manual_seed(0))
    ours = MelFrontend(cfg)(audio[None])[0].double().numpy()
    expected = _numpy_log_mel(audio.double().numpy(), cfg)
    assert ours.shape == expected.shape == (128, cfg.n_frames(9600))
    np.testing.assert_allclose(ours, expected, atol=2e-4)


def test_frontend_tone_peaks_at_its_band() -> None:
    cfg = MelConfig()
    spec = MelFrontend(cfg)(tone(1000.0, 1.0)[None])[0]
    peak_band = int(spec.mean(-1).argmax())
    centres = [700 * math.expm1(float(kaldi_mel_scale(0.0)) + (b + 1) * float(kaldi_mel_scale(cfg.fmax)) / 129 / 1127)
               for b in range(128)]
    nearest = min(range(128), key=lambda b: abs(centres[b] - 1000.0))
    assert abs(peak_band - nearest) <= 1


def test_frontend_silence_is_the_floor() -> None:
    cfg = MelConfig()
    spec = MelFrontend(cfg)(torch.zeros(2, 5120))
    assert spec.shape == (2, 128, 16)
    torch.testing.assert_close(spec, torch.full_like(spec, log_mel_floor(cfg)))


def test_frontend_frame_count_and_short_input() -> None:
    cfg = MelConfig()
    front = MelFrontend(cfg)
    for n in (cfg.min_samples, 1920, 5120, 32000):
        assert front(torch.zeros(1, n)).shape[-1] == cfg.n_frames(n)
    with pytest.raises(ValueError, match="at least 514 samples"):
        front(torch.zeros(1, cfg.min_samples - 1))
