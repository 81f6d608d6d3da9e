"""Constant-Q frontend on nnAudio's ``CQT1992v2`` kernels, with our own zero padding.

Why ``CQT1992v2`` and not ``CQT2010v2`` (measured in ``benchmarks/bench_features.py``, written up in
``docs/features.md``):

* it is exact: one time-domain kernel per bin, no octave-wise anti-aliasing filter and resampling;
* it accepts any hop, while ``CQT2010v2`` halves the hop once per octave and so needs a hop divisible
  by ``2 ** (n_octaves - 1)`` (it fails for the 8-octave PaSST grid at the 10 ms hop of 320 samples);
* on CPU it was as fast or faster for the 7-octave default, and torch's ``conv1d`` does not
  materialise the long kernels' frames, so memory stays bounded by the output.

nnAudio pads the input by reflection, which fails when the input is shorter than half the longest
kernel (about 0.5 s at C1): we pad with zeros ourselves (librosa's default) and run the kernels
unpadded, so any input length works and frame ``j`` is centred on sample ``j * hop_length``.
"""

from __future__ import annotations

import math

import torch
from nnAudio.features.cqt import CQT1992v2
from torch import Tensor, nn

from ..config import CqtConfig


class CqtFrontend(nn.Module):
    """Log-power constant-Q spectrogram.

    Input ``(batch, n_samples)`` float32 at ``config.sample_rate``; :meth:`forward` returns
    ``(batch, n_bins, n_frames)`` with ``n_frames = 1 + n_samples // hop_length``, the value
    ``(ln(|C| ** 2 + log_offset) + norm_shift) / norm_scale``.
    """

    def __init__(self, config: CqtConfig) -> None:
        super().__init__()
        self.config = config
        self.kernels = CQT1992v2(
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
        if self.kernels.kernel_width != config.kernel_width:
            raise RuntimeError(
                f"nnAudio built {self.kernels.kernel_width}-sample kernels, the configuration expects {config.kernel_width}"
            )
        self.register_buffer("frequencies", torch.tensor(config.frequencies, dtype=torch.float32), persistent=False)

    @property
    def pad(self) -> int:
        """Zeros added on each side so that frame ``j`` is centred on sample ``j * hop_length``."""
        return self.config.kernel_width // 2

    def padded(self, audio: Tensor) -> Tensor:
        """``audio`` ``(batch, n)`` with :attr:`pad` zeros on both sides."""
        return nn.functional.pad(audio, (self.pad, self.pad))

    def magnitude_from_padded(self, padded: Tensor) -> Tensor:
        """CQT magnitude ``(batch, n_bins, 1 + (L - kernel_width) // hop)`` of an already padded ``(batch, L)``."""
        return self.kernels(padded.unsqueeze(1))

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
