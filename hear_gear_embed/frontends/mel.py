"""Kaldi-style log-mel frontend of PaSST, written in plain torch (no torchaudio)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .config import MelConfig


def kaldi_mel_scale(freq_hz: Tensor | float) -> Tensor:
    """Kaldi's mel scale: ``1127 ln(1 + f / 700)``, for ``f`` in Hz."""
    return 1127.0 * torch.log1p(torch.as_tensor(freq_hz, dtype=torch.float64) / 700.0)


def kaldi_mel_banks(
    n_mels: int, n_fft: int, sample_rate: int, fmin: float, fmax: float, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Triangular mel filterbank with Kaldi's definition (``compute-fbank-feats``, no VTLN warping).

    Band ``m`` (0-based) has edges ``mel_lo + m d``, ``mel_lo + (m + 1) d`` and ``mel_lo + (m + 2) d``
    on the mel scale, with ``d = (mel(fmax) - mel(fmin)) / (n_mels + 1)``. FFT bin ``k`` sits at
    ``k * sample_rate / n_fft`` Hz and gets weight ``max(0, min(up, down))`` where ``up`` and ``down``
    are the rising and falling slopes measured in mel. Kaldi uses bins ``0 .. n_fft/2 - 1``; the
    Nyquist bin gets weight 0. Computed in float64, returned as ``dtype``.

    Args:
        n_mels: number of bands.
        n_fft: FFT size in samples (even).
        sample_rate: sample rate in Hz.
        fmin: lower edge of the first band in Hz.
        fmax: upper edge of the last band in Hz (``<= sample_rate / 2``).

    Returns:
        Weights of shape ``(n_mels, n_fft // 2 + 1)``.
    """
    if n_fft % 2:
        raise ValueError(f"n_fft must be even, got {n_fft}")
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= sample_rate / 2, got {fmin}, {fmax}, {sample_rate}")
    mel_lo, mel_hi = kaldi_mel_scale(fmin), kaldi_mel_scale(fmax)
    delta = (mel_hi - mel_lo) / (n_mels + 1)
    band = torch.arange(n_mels, dtype=torch.float64).unsqueeze(1)
    left = mel_lo + band * delta
    centre = mel_lo + (band + 1.0) * delta
    right = mel_lo + (band + 2.0) * delta
    bin_mel = kaldi_mel_scale(torch.arange(n_fft // 2, dtype=torch.float64) * (sample_rate / n_fft)).unsqueeze(0)
    up = (bin_mel - left) / (centre - left)
    down = (right - bin_mel) / (right - centre)
    weights = torch.clamp(torch.minimum(up, down), min=0.0)
    weights = torch.nn.functional.pad(weights, (0, 1))
    return weights.to(dtype)


class MelFrontend(nn.Module):
    """Log-mel spectrogram exactly as the PaSST reference computes it at eval time.

    Pipeline: pre-emphasis ``y[n] = x[n+1] - c x[n]`` (one sample shorter), centred STFT with a
    symmetric Hann window of ``win_length`` zero-padded to ``n_fft`` and reflect padding, power,
    Kaldi mel bands, ``ln(mel + log_offset)``, then ``(x + norm_shift) / norm_scale``.

    Input ``(batch, n_samples)`` float32 at ``config.sample_rate``; output
    ``(batch, n_mels, n_frames)`` with ``n_frames = 1 + (n_samples - 1) // hop_length``.
    """

    # buffers (registered in __init__), declared for the type checker
    window: Tensor
    mel_banks: Tensor

    def __init__(self, config: MelConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("window", torch.hann_window(config.win_length, periodic=False), persistent=False)
        banks = kaldi_mel_banks(config.n_mels, config.n_fft, config.sample_rate, config.fmin, config.fmax)
        self.register_buffer("mel_banks", banks, persistent=False)

    @property
    def pad(self) -> int:
        """Samples of reflection padding on each side of the pre-emphasised signal."""
        return self.config.n_fft // 2

    def padded(self, audio: Tensor) -> Tensor:
        """Pre-emphasised, reflect-padded ``(batch, n_samples - 1 + n_fft)`` signal of ``audio`` ``(batch, n_samples)``."""
        cfg = self.config
        if audio.ndim != 2:
            raise ValueError(f"expected audio of shape (batch, n_samples), got {tuple(audio.shape)}")
        if audio.shape[-1] < cfg.min_samples:
            raise ValueError(
                f"the mel frontend needs at least {cfg.min_samples} samples "
                f"({1000 * cfg.min_samples / cfg.sample_rate:.1f} ms), got {audio.shape[-1]}"
            )
        x = audio[:, 1:] - cfg.preemphasis * audio[:, :-1]
        return nn.functional.pad(x.unsqueeze(1), (self.pad, self.pad), mode="reflect").squeeze(1)

    def from_padded(self, padded: Tensor) -> Tensor:
        """Log-mel ``(batch, n_mels, 1 + (L - n_fft) // hop)`` of a padded ``(batch, L)`` from :meth:`padded`."""
        cfg = self.config
        spec = torch.stft(
            padded,
            cfg.n_fft,
            hop_length=cfg.hop_length,
            win_length=cfg.win_length,
            window=self.window,
            center=False,
            normalized=False,
            return_complex=True,
        )
        power = torch.view_as_real(spec).pow(2).sum(-1)
        mel = torch.matmul(self.mel_banks, power)
        return (torch.log(mel + cfg.log_offset) + cfg.norm_shift) / cfg.norm_scale

    def forward(self, audio: Tensor) -> Tensor:
        """Log-mel of ``audio`` ``(batch, n_samples)`` -> ``(batch, n_mels, n_frames)``."""
        return self.from_padded(self.padded(audio))

    def working_bytes(self, n_samples: int) -> int:
        """Estimated peak float32 working memory (bytes) for one input of ``n_samples``: the signal,
        the complex STFT and its power."""
        cfg = self.config
        return 4 * (3 * n_samples + 4 * cfg.n_frames(n_samples) * (cfg.n_fft // 2 + 1))

    def extra_repr(self) -> str:
        cfg = self.config
        return (
            f"sample_rate={cfg.sample_rate}, n_fft={cfg.n_fft}, win_length={cfg.win_length}, "
            f"hop_length={cfg.hop_length} ({cfg.hop_ms:g} ms), n_mels={cfg.n_mels}"
        )


def log_mel_floor(config: MelConfig) -> float:
    """Normalised log-mel value of digital silence: ``(ln(log_offset) + shift) / scale``."""
    return (math.log(config.log_offset) + config.norm_shift) / config.norm_scale
