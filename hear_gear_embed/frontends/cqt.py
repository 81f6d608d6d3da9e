"""Constant-Q frontend on nnAudio's ``CQT1992v2`` kernels, with our own zero padding and per-octave
kernel trimming.

nnAudio builds every kernel in a window of the longest kernel's length, so its ``conv1d`` mostly multiplies
zeros: the kernels of octave ``o`` are ``2 ** o`` times shorter. We take nnAudio's kernels (and its
librosa-compatible scaling), cut each octave's kernels to their common non-zero span, and run one ``conv1d`` per
octave on the matching slice of the padded signal: the same sum as nnAudio's forward. nnAudio pads by reflection,
which fails on inputs shorter than half the longest kernel; we pad with zeros ourselves (librosa's default), so
any input length works and frame ``j`` is centred on sample ``j * hop_length``.

Why ``CQT1992v2`` and not ``CQT2010v2`` (exact, any hop), and what the trimming saves: docs/features.md.
"""

from __future__ import annotations

import math

import torch
from nnAudio.features.cqt import CQT1992v2
from torch import Tensor, nn

from .config import CqtConfig


class CqtFrontend(nn.Module):
    """Log-power constant-Q spectrogram.

    Input ``(batch, n_samples)`` float32 at ``config.sample_rate``; :meth:`forward` returns
    ``(batch, n_bins, n_frames)`` with ``n_frames = 1 + n_samples // hop_length``, the value
    ``(ln(|C| ** 2 + log_offset) + norm_shift) / norm_scale``.
    """

    scale: Tensor  # buffer (registered in __init__), declared for the type checker

    def __init__(self, config: CqtConfig) -> None:
        super().__init__()
        self.config = config
        reference = CQT1992v2(
            sr=config.sample_rate,
            hop_length=config.hop_length,
            fmin=config.fmin,
            n_bins=config.n_bins,
            bins_per_octave=config.bins_per_octave,
            filter_scale=config.filter_scale,
            norm=1,
            window="hann",
            center=False,
            trainable=False,
            output_format="Magnitude",
            verbose=False,
        )
        if reference.kernel_width != config.kernel_width:
            raise RuntimeError(
                f"nnAudio built {reference.kernel_width}-sample kernels, the configuration expects {config.kernel_width}"
            )
        real = reference.cqt_kernels_real[:, 0]
        imag = reference.cqt_kernels_imag[:, 0]
        self.spans: list[tuple[int, int, int, int]] = []
        for index, first in enumerate(range(0, config.n_bins, config.bins_per_octave)):
            last = min(first + config.bins_per_octave, config.n_bins)
            nonzero = ((real[first:last] != 0) | (imag[first:last] != 0)).any(dim=0).nonzero().flatten()
            start, stop = int(nonzero[0]), int(nonzero[-1]) + 1
            # Real and imaginary kernels stacked: one conv1d gives both parts for the octave.
            weight = torch.cat([real[first:last, start:stop], imag[first:last, start:stop]]).unsqueeze(1)
            self.register_buffer(f"octave{index}", weight.contiguous(), persistent=False)
            self.spans.append((first, last, start, stop))
        # nnAudio's "librosa" normalisation: magnitudes scaled by the square root of each kernel's length.
        self.register_buffer("scale", reference.lenghts.sqrt().view(-1, 1), persistent=False)

    @property
    def pad(self) -> int:
        """Zeros added on each side so that frame ``j`` is centred on sample ``j * hop_length``."""
        return self.config.kernel_width // 2

    def padded(self, audio: Tensor) -> Tensor:
        """``audio`` ``(batch, n)`` with :attr:`pad` zeros on both sides."""
        return nn.functional.pad(audio, (self.pad, self.pad))

    def magnitude_from_padded(self, padded: Tensor) -> Tensor:
        """CQT magnitude ``(batch, n_bins, 1 + (L - kernel_width) // hop)`` of an already padded ``(batch, L)``."""
        hop = self.config.hop_length
        n_frames = 1 + (padded.shape[-1] - self.config.kernel_width) // hop
        signal = padded.unsqueeze(1)
        parts = []
        for index, (first, last, start, stop) in enumerate(self.spans):
            octave = signal[..., start: start + (n_frames - 1) * hop + (stop - start)]
            both = nn.functional.conv1d(octave, getattr(self, f"octave{index}"), stride=hop)
            real, imag = both.split(last - first, dim=1)
            parts.append(torch.sqrt(real.square() + imag.square()))
        return torch.cat(parts, dim=1) * self.scale

    def magnitude(self, audio: Tensor) -> Tensor:
        """CQT magnitude ``(batch, n_bins, 1 + n_samples // hop_length)`` (librosa's scaling)."""
        _check_audio(audio)
        return self.magnitude_from_padded(self.padded(audio))

    def compress(self, magnitude: Tensor) -> Tensor:
        """Normalised log power of a magnitude."""
        cfg = self.config
        return (torch.log(magnitude.square() + cfg.log_offset) + cfg.norm_shift) / cfg.norm_scale

    def forward(self, audio: Tensor) -> Tensor:
        """Normalised log-power CQT of ``audio`` ``(batch, n_samples)`` -> ``(batch, n_bins, n_frames)``."""
        return self.compress(self.magnitude(audio))

    def working_bytes(self, n_samples: int) -> int:
        """Estimated peak float32 working memory (bytes) for one input of ``n_samples``."""
        frames = self.config.n_frames(n_samples)
        return 4 * (n_samples + self.config.kernel_width + 6 * self.config.n_bins * frames)

    def extra_repr(self) -> str:
        cfg = self.config
        top = cfg.frequency(cfg.n_bins - 1)
        return (
            f"sample_rate={cfg.sample_rate}, hop_length={cfg.hop_length} ({cfg.hop_ms:g} ms), n_bins={cfg.n_bins}, "
            f"bins_per_octave={cfg.bins_per_octave}, {cfg.fmin:.2f}-{top:.1f} Hz, kernel_width={cfg.kernel_width}"
        )


def _check_audio(audio: Tensor) -> None:
    if audio.ndim != 2:
        raise ValueError(f"expected audio of shape (batch, n_samples), got {tuple(audio.shape)}")
    if audio.shape[-1] < 1:
        raise ValueError("the CQT frontend needs at least 1 sample, got 0")


def cqt_bin(freq_hz: float, config: CqtConfig) -> float:
    """Fractional bin index of ``freq_hz`` on the CQT grid of ``config``."""
    return config.bins_per_octave * math.log2(freq_hz / config.fmin)
