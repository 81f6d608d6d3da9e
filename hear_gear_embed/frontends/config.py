"""Configurations of the spectrogram frontends: the log-mel of PaSST and a constant-Q transform.

Pure data (no torch): each config validates its parameters and derives the frame arithmetic that the
frontend modules in :mod:`.mel` and :mod:`.cqt` implement (and check against at construction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class MelConfig:
    """Log-mel frontend of PaSST (the reference ``AugmentMelSTFT`` at eval time).

    Attributes:
        sample_rate: input sample rate in Hz.
        n_fft: FFT size in samples.
        win_length: Hann window length in samples (zero-padded to ``n_fft`` by the STFT).
        hop_length: STFT hop in samples (320 = 10 ms, 160 = 5 ms, 100 = 3.125 ms at 32 kHz).
        n_mels: number of Kaldi-style mel bands.
        fmin: lower edge of the mel filterbank in Hz.
        fmax: upper edge of the mel filterbank in Hz.
        preemphasis: coefficient ``c`` of ``y[n] = x[n] - c x[n-1]``.
        log_offset: added to the mel power before the natural log.
        norm_shift: the log-mel is mapped to ``(x + norm_shift) / norm_scale``.
        norm_scale: see ``norm_shift``.
    """

    sample_rate: int = 32000
    n_fft: int = 1024
    win_length: int = 800
    hop_length: int = 320
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = 15000.0
    preemphasis: float = 0.97
    log_offset: float = 1e-5
    norm_shift: float = 4.5
    norm_scale: float = 5.0

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if not 0 < self.win_length <= self.n_fft:
            raise ValueError(f"need 0 < win_length <= n_fft, got {self.win_length} and {self.n_fft}")
        if self.hop_length <= 0 or self.n_mels <= 0:
            raise ValueError("hop_length and n_mels must be positive")
        if not 0.0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= fmin < fmax <= sample_rate / 2, got fmin={self.fmin}, fmax={self.fmax}, "
                f"sample_rate={self.sample_rate}"
            )

    @property
    def hop_ms(self) -> float:
        """STFT hop in milliseconds."""
        return 1000.0 * self.hop_length / self.sample_rate

    @property
    def n_bands(self) -> int:
        """Frequency bands of the output (``n_mels``)."""
        return self.n_mels

    @property
    def min_samples(self) -> int:
        """Shortest input the STFT accepts: its reflect padding needs more than ``n_fft // 2`` samples
        after pre-emphasis (which removes one)."""
        return self.n_fft // 2 + 2

    def n_frames(self, n_samples: int) -> int:
        """Number of STFT frames for ``n_samples`` input samples (pre-emphasis drops one, centred STFT)."""
        if n_samples < 2:
            raise ValueError(f"the mel frontend needs at least 2 samples, got {n_samples}")
        return 1 + (n_samples - 1) // self.hop_length


C1_HZ = 440.0 * 2.0 ** ((24 - 69) / 12)
"""Frequency of C1 (MIDI note 24) in Hz, the default lowest CQT bin."""


@dataclass(frozen=True)
class CqtConfig:
    """Constant-Q frontend (nnAudio's ``CQT1992v2`` kernels, zero-padded centred frames).

    Bin ``k`` is centred at ``fmin * 2 ** (k / bins_per_octave)`` Hz; its kernel is a Hann-windowed
    complex sinusoid of ``ceil(Q * sample_rate / f_k)`` samples with ``Q = filter_scale /
    (2 ** (1 / bins_per_octave) - 1)``, L1-normalised and scaled by the square root of its length
    (librosa's convention, so a sinusoid's magnitude does not depend on its bin). The log output is
    ``(ln(|C| ** 2 + log_offset) + norm_shift) / norm_scale``, the same compression as the mel frontend.

    Attributes:
        sample_rate: input sample rate in Hz.
        hop_length: hop between frames in samples; frame ``j`` is centred on sample ``j * hop_length``.
        fmin: centre frequency of the lowest bin in Hz.
        bins_per_octave: frequency resolution (12 = semitones; a multiple of 12 for chroma).
        n_bins: number of bins.
        filter_scale: kernel length factor (below 1: shorter kernels, better time resolution).
        log_offset: added to the CQT power before the natural log.
        norm_shift: the log power is mapped to ``(x + norm_shift) / norm_scale``.
        norm_scale: see ``norm_shift``.
    """

    sample_rate: int = 32000
    hop_length: int = 320
    fmin: float = C1_HZ
    bins_per_octave: int = 12
    n_bins: int = 84
    filter_scale: float = 1.0
    log_offset: float = 1e-5
    norm_shift: float = 4.5
    norm_scale: float = 5.0

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.hop_length <= 0:
            raise ValueError(f"sample_rate and hop_length must be positive, got {self.sample_rate}, {self.hop_length}")
        if self.bins_per_octave <= 0 or self.n_bins <= 0 or self.fmin <= 0 or self.filter_scale <= 0:
            raise ValueError("bins_per_octave, n_bins, fmin and filter_scale must be positive")
        top = self.frequency(self.n_bins - 1)
        # The top kernel's main lobe reaches about f / Q above its centre; past Nyquist it aliases.
        if top * (1.0 + 1.0 / self.q_factor) > self.sample_rate / 2:
            raise ValueError(
                f"the top CQT bin ({top:.1f} Hz, bandwidth {top / self.q_factor:.1f} Hz) reaches past Nyquist "
                f"({self.sample_rate / 2:g} Hz); lower n_bins ({self.n_bins}) or fmin ({self.fmin:g} Hz)"
            )

    @property
    def q_factor(self) -> float:
        """Quality factor ``Q`` (centre frequency over bandwidth)."""
        return self.filter_scale / (2.0 ** (1.0 / self.bins_per_octave) - 1.0)

    def frequency(self, k: int) -> float:
        """Centre frequency of bin ``k`` in Hz."""
        return self.fmin * 2.0 ** (k / self.bins_per_octave)

    @property
    def frequencies(self) -> tuple[float, ...]:
        """Centre frequencies of all bins in Hz."""
        return tuple(self.frequency(k) for k in range(self.n_bins))

    @property
    def kernel_width(self) -> int:
        """Samples spanned by the kernels: the longest kernel rounded up to a power of two (as nnAudio does)."""
        longest = math.ceil(self.q_factor * self.sample_rate / self.fmin)
        return 2 ** math.ceil(math.log2(longest))

    @property
    def hop_ms(self) -> float:
        """Hop in milliseconds."""
        return 1000.0 * self.hop_length / self.sample_rate

    @property
    def n_bands(self) -> int:
        """Frequency bands of the output (``n_bins``)."""
        return self.n_bins

    @property
    def min_samples(self) -> int:
        """Shortest input: the frames are zero-padded, so any non-empty input works."""
        return 1

    def n_frames(self, n_samples: int) -> int:
        """Number of frames for ``n_samples`` input samples (centred, zero-padded)."""
        if n_samples < 1:
            raise ValueError(f"the CQT frontend needs at least 1 sample, got {n_samples}")
        return 1 + n_samples // self.hop_length

    def semitone_aligned(self) -> bool:
        """Whether the bins fall on equal-tempered semitones (needed for chroma)."""
        midi = 12.0 * math.log2(self.fmin / 440.0) + 69.0
        return self.bins_per_octave % 12 == 0 and abs(midi - round(midi)) < 1e-3


Frontend = MelConfig | CqtConfig
"""A spectrogram frontend: the network input and the ``"L"`` level."""

