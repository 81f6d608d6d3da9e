"""Test signals and librosa-side helpers shared by the descriptor tests (``test_spectral``, ``test_cepstral``,
``test_pitch``, ``test_temporal``): a 1.5 s batch of noise, sines with digital silence and a chirp at 32 kHz,
its STFT as librosa computes it, and the relative error used against librosa 0.11."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from nnAudio.features.cqt import CQT1992v2

SR = 32000
N_FFT = 1024
HOP = 320
N_SAMPLES = 48000  # 1.5 s
C1_HZ = 32.703195662574764
BIN_HZ = SR / N_FFT
FREQS = torch.arange(N_FFT // 2 + 1, dtype=torch.float32) * BIN_HZ
# Frames whose window lies fully inside the signal (no padding), for oracles that assume a steady tone.
INNER = slice(2, -2)

# Every tolerance against librosa is on max |ours - librosa| / max |librosa| unless stated otherwise. Both
# sides work in float32 (librosa keeps the dtype of S), so 1e-5 leaves about two orders of magnitude for rounding.
REL_TOL = 1e-5


def time_axis() -> torch.Tensor:
    return torch.arange(N_SAMPLES, dtype=torch.float64) / SR


def signals() -> torch.Tensor:
    """(3, N_SAMPLES) float32: white noise, three sines with 0.3 s of digital silence, a linear chirp."""
    t = time_axis()
    noise = 0.3 * torch.randn(N_SAMPLES, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sines = sum(a * torch.sin(2 * math.pi * f * t) for a, f in ((0.5, 440.0), (0.3, 1234.5), (0.2, 5000.0)))
    sines[16000:25600] = 0.0
    chirp = 0.8 * torch.sin(2 * math.pi * (100.0 * t + 0.5 * (8000.0 - 100.0) / 1.5 * t**2))
    return torch.stack([noise, sines, chirp]).to(torch.float32)


def sine(freq_hz: float, amplitude: float = 1.0, phase: float = 0.3) -> torch.Tensor:
    return (amplitude * torch.sin(2 * math.pi * freq_hz * time_axis() + phase)).to(torch.float32)


def magnitude(y: torch.Tensor) -> torch.Tensor:
    window = torch.hann_window(N_FFT, periodic=True)
    return torch.stft(y, N_FFT, HOP, window=window, center=True, pad_mode="constant", return_complex=True).abs()


def frames(y: torch.Tensor, mode: str) -> torch.Tensor:
    """Centred frames (..., n_frames, N_FFT) as librosa cuts them with center=True and the given padding."""
    padded = F.pad(y.unsqueeze(-2), (N_FFT // 2, N_FFT // 2), mode=mode).squeeze(-2)
    return padded.unfold(-1, N_FFT, HOP)


def cqt(y: torch.Tensor, bins_per_octave: int) -> tuple[torch.Tensor, torch.Tensor]:
    """nnAudio's CQT magnitude from C1 over 7 octaves, and its bin frequencies."""
    layer = CQT1992v2(
        sr=SR,
        hop_length=HOP,
        fmin=C1_HZ,
        n_bins=7 * bins_per_octave,
        bins_per_octave=bins_per_octave,
        verbose=False,
        center=True,
        pad_mode="constant",
    )
    return layer(y), torch.as_tensor(layer.frequencies, dtype=torch.float32)


def rel_err(ours: torch.Tensor, ref: np.ndarray) -> float:
    """max |ours - ref| / max |ref| (shapes must agree and ours be finite)."""
    ref_t = torch.as_tensor(ref, dtype=torch.float64)
    assert ours.shape == ref_t.shape
    assert torch.isfinite(ours).all()
    return float((ours.double() - ref_t).abs().max() / ref_t.abs().max())
