"""Slaney mel filterbank, dB conversion, orthonormal DCT and MFCCs, matching librosa (0.11)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

_F_SP = 200.0 / 3.0  # Hz per mel in the linear part of the Slaney scale
_MIN_LOG_HZ = 1000.0  # where the Slaney scale turns logarithmic
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOG_STEP = math.log(6.4) / 27.0  # natural-log step per mel in the logarithmic part


def _hz_to_slaney_mel(freq_hz: Tensor) -> Tensor:
    log_part = _MIN_LOG_MEL + torch.log(freq_hz / _MIN_LOG_HZ) / _LOG_STEP
    return torch.where(freq_hz >= _MIN_LOG_HZ, log_part, freq_hz / _F_SP)


def _slaney_mel_to_hz(mel: Tensor) -> Tensor:
    log_part = _MIN_LOG_HZ * torch.exp(_LOG_STEP * (mel - _MIN_LOG_MEL))
    return torch.where(mel >= _MIN_LOG_MEL, log_part, mel * _F_SP)


def slaney_mel_banks(n_mels: int, n_fft: int, sample_rate: float, fmin: float = 0.0, fmax: float | None = None) -> Tensor:
    """Triangular mel filterbank of ``librosa.filters.mel`` with its defaults (``htk=False``, ``norm="slaney"``).

    ``n_mels + 2`` edges are spaced uniformly on the Slaney mel scale (linear below 1 kHz, logarithmic
    above) between ``fmin`` and ``fmax``; band ``m`` rises from edge ``m`` to edge ``m + 1`` and falls to
    edge ``m + 2`` (slopes measured in Hz) and is scaled by ``2 / (f_{m+2} - f_m)`` so every band has
    about the same area. Computed in float64 (the slopes are differences of nearby large frequencies),
    returned as float32.

    Args:
        n_mels: number of bands, ``>= 1``.
        n_fft: FFT size in samples; bin ``k`` of the ``n_fft // 2 + 1`` rFFT bins is at ``k * sample_rate / n_fft`` Hz.
        sample_rate: sample rate in Hz.
        fmin: lower edge of the first band in Hz, ``>= 0``.
        fmax: upper edge of the last band in Hz; defaults to ``sample_rate / 2``.

    Returns:
        Weights of shape ``(n_mels, n_fft // 2 + 1)``, float32; apply as ``banks @ power_spectrogram``.
    """
    if n_mels < 1:
        raise ValueError(f"n_mels must be >= 1, got {n_mels}")
    if n_fft < 1:
        raise ValueError(f"n_fft must be >= 1, got {n_fft}")
    if not sample_rate > 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    fmax = sample_rate / 2.0 if fmax is None else fmax
    if not 0.0 <= fmin < fmax:
        raise ValueError(f"need 0 <= fmin < fmax, got fmin={fmin}, fmax={fmax}")
    bin_hz = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * (sample_rate / n_fft)
    mel_edges = torch.linspace(
        float(_hz_to_slaney_mel(torch.tensor(fmin, dtype=torch.float64))),
        float(_hz_to_slaney_mel(torch.tensor(fmax, dtype=torch.float64))),
        n_mels + 2,
        dtype=torch.float64,
    )
    edges_hz = _slaney_mel_to_hz(mel_edges)
    width = torch.diff(edges_hz).unsqueeze(1)
    offset = edges_hz.unsqueeze(1) - bin_hz.unsqueeze(0)
    rising = -offset[:-2] / width[:-1]
    falling = offset[2:] / width[1:]
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    weights = weights * (2.0 / (edges_hz[2:] - edges_hz[:-2])).unsqueeze(1)
    return weights.to(torch.float32)


def power_to_db(S: Tensor, amin: float = 1e-10) -> Tensor:
    """Power to decibels, ``10 log10(max(S, amin))`` with reference 1.

    Unlike ``librosa.power_to_db`` there is no ``top_db`` clipping: it is relative to the maximum of the
    whole input, so it would make a frame's value depend on the rest of the clip and on how audio is
    batched or chunked.

    Args:
        S: power (or any non-negative quantity), any shape.
        amin: floor before the logarithm, ``> 0``; ``1e-10`` gives a floor of -100 dB.

    Returns:
        dB values, same shape, dtype and device as ``S``.
    """
    if not amin > 0:
        raise ValueError(f"amin must be strictly positive, got {amin}")
    return 10.0 * torch.log10(torch.clamp(S, min=amin))


def dct_ortho(n_out: int, n_in: int) -> Tensor:
    """Orthonormal DCT-II matrix: row ``k`` is ``scipy.fft.dct(eye(n_in), type=2, norm="ortho")[k]``.

    ``D[k, n] = s_k cos(pi k (2n + 1) / (2 n_in))`` with ``s_0 = sqrt(1 / n_in)`` and ``s_k = sqrt(2 / n_in)``;
    ``D @ x`` gives the first ``n_out`` coefficients of the DCT of ``x`` along its first axis.
    Computed in float64, returned as float32.

    Args:
        n_out: number of coefficients kept, ``1 <= n_out <= n_in``.
        n_in: length of the transformed axis.

    Returns:
        Matrix of shape ``(n_out, n_in)``, float32.
    """
    if not 1 <= n_out <= n_in:
        raise ValueError(f"need 1 <= n_out <= n_in, got n_out={n_out}, n_in={n_in}")
    k = torch.arange(n_out, dtype=torch.float64).unsqueeze(1)
    n = torch.arange(n_in, dtype=torch.float64).unsqueeze(0)
    matrix = torch.cos(math.pi * k * (2.0 * n + 1.0) / (2.0 * n_in)) * math.sqrt(2.0 / n_in)
    matrix[0] /= math.sqrt(2.0)
    return matrix.to(torch.float32)


def mfcc(power: Tensor, mel_banks: Tensor, n_mfcc: int, dct: Tensor | None = None) -> Tensor:
    """Mel-frequency cepstral coefficients from a power spectrogram.

    ``dct_ortho(n_mfcc, n_mels) @ power_to_db(mel_banks @ power)``, i.e.
    ``librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=n_mfcc)`` (DCT-II, ``norm="ortho"``,
    no liftering) with ``mel = mel_banks @ power``.

    Args:
        power: power spectrogram ``(..., n_freqs, n_frames)`` (squared magnitude).
        mel_banks: filterbank ``(n_mels, n_freqs)``, e.g. from :func:`slaney_mel_banks`.
        n_mfcc: number of coefficients, ``1 <= n_mfcc <= n_mels``.
        dct: optional precomputed ``dct_ortho(n_mfcc, n_mels)`` to avoid rebuilding it per call.

    Returns:
        MFCCs (in dB units), shape ``(..., n_mfcc, n_frames)``, dtype and device of ``power``.
    """
    if power.ndim < 2 or not power.is_floating_point():
        raise ValueError(f"power must be a floating tensor (..., n_freqs, n_frames), got {power.dtype} {tuple(power.shape)}")
    if mel_banks.ndim != 2 or mel_banks.shape[1] != power.shape[-2]:
        raise ValueError(f"mel_banks must have shape (n_mels, {power.shape[-2]}), got {tuple(mel_banks.shape)}")
    n_mels = mel_banks.shape[0]
    if dct is None:
        dct = dct_ortho(n_mfcc, n_mels)
    elif dct.shape != (n_mfcc, n_mels):
        raise ValueError(f"dct must have shape ({n_mfcc}, {n_mels}), got {tuple(dct.shape)}")
    mel_db = power_to_db(torch.matmul(mel_banks.to(power), power))
    return torch.matmul(dct.to(power), mel_db)
