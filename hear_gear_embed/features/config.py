"""Parameters of the frame features (pure data). Which features exist, their sizes, hops and units is
the descriptor table's business (:mod:`.catalogue`); this module only holds and checks the numbers."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..frontends.config import CqtConfig, MelConfig
from .catalogue import get_descriptor, source_of


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the frame features (computed once per clip, then pooled per window).

    The STFT descriptors use a periodic Hann window of ``n_fft`` samples, centred zero-padded frames
    every ``hop_length`` samples (librosa's ``center=True, pad_mode="constant"`` convention), except
    the zero-crossing rate whose frames are edge-padded as librosa does. Each descriptor's embedding unit is
    in its record of :data:`~.catalogue.DESCRIPTORS` (fixed, so that no descriptor dwarfs the others in a
    downstream linear layer).

    Attributes:
        sample_rate: input sample rate in Hz.
        n_fft: STFT size (and frame length of RMS and zero-crossing rate) in samples.
        hop_length: hop of the STFT descriptors in samples.
        n_mfcc: cepstral coefficients kept.
        mfcc_mels: Slaney mel bands the MFCCs are computed from.
        rolloff_percent: energy fraction below the roll-off frequency.
        contrast_bands: octave bands of spectral contrast (it returns ``contrast_bands + 1`` values).
        contrast_fmin: upper edge of the lowest contrast band in Hz.
        contrast_quantile: fraction of each band averaged for its peak and valley.
        peak_range_db: CQT peaks count when within this many dB of the frame's maximum.
        mel: the log-mel frontend of ``"mel"``.
        cqt: the CQT of ``"cqt"``, ``"chroma"`` and ``"peaks"``.
    """

    sample_rate: int = 32000
    n_fft: int = 1024
    hop_length: int = 320
    n_mfcc: int = 20
    mfcc_mels: int = 128
    rolloff_percent: float = 0.85
    contrast_bands: int = 6
    contrast_fmin: float = 200.0
    contrast_quantile: float = 0.02
    peak_range_db: float = 30.0
    mel: MelConfig = field(default_factory=MelConfig)
    cqt: CqtConfig = field(default_factory=CqtConfig)

    def __post_init__(self) -> None:
        if {self.mel.sample_rate, self.cqt.sample_rate} != {self.sample_rate}:
            raise ValueError(
                f"sample rates differ: features {self.sample_rate}, mel {self.mel.sample_rate}, cqt {self.cqt.sample_rate}"
            )
        if self.n_fft < 2 or self.n_fft % 2 or self.hop_length <= 0:
            raise ValueError(f"need an even n_fft >= 2 and a positive hop_length, got {self.n_fft}, {self.hop_length}")
        if not 0 < self.n_mfcc <= self.mfcc_mels:
            raise ValueError(f"need 0 < n_mfcc <= mfcc_mels, got {self.n_mfcc} and {self.mfcc_mels}")
        if not 0.0 < self.rolloff_percent < 1.0 or not 0.0 < self.contrast_quantile < 1.0:
            raise ValueError("rolloff_percent and contrast_quantile must lie in (0, 1)")
        if self.contrast_bands < 1 or self.contrast_fmin * 2.0**self.contrast_bands >= self.sample_rate / 2:
            raise ValueError(
                f"spectral contrast: contrast_fmin * 2 ** contrast_bands = {self.contrast_fmin * 2.0**self.contrast_bands:g} "
                f"Hz must stay below Nyquist ({self.sample_rate / 2:g} Hz)"
            )
        if self.peak_range_db <= 0:
            raise ValueError(f"peak_range_db must be positive, got {self.peak_range_db}")

    def dim(self, feature: str) -> int:
        """Values per frame of ``feature``."""
        return get_descriptor(feature).dim(self)

    def hop(self, feature: str) -> int:
        """Frame hop of ``feature`` in samples."""
        return source_of(feature).hop(self)

    def n_frames(self, feature: str, n_samples: int) -> int:
        """Frames of ``feature`` for ``n_samples`` input samples (at least one)."""
        return source_of(feature).n_frames(self, n_samples)
