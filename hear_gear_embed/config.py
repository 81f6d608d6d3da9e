"""Frozen configuration dataclasses: every variant of the package is data built from these.

Nothing here computes audio; the dataclasses only describe geometry and derive sizes from it, so
that embedding sizes are never typed by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Union

Level = Literal["L", "M", "H"]
"""Feature levels of the PaSST paper (seed 003, section 4.1).

``"L"`` (low): log-mel frames; ``"M"`` (mid): averaged CLS/DIST token after the final norm;
``"H"`` (high): AudioSet logits.
"""

LEVELS: tuple[Level, ...] = ("L", "M", "H")


def ms_to_samples(ms: float, sample_rate: int) -> int:
    """Convert a duration in milliseconds to a whole number of samples (rounded to nearest)."""
    return int(round(ms * sample_rate / 1000.0))


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


Frontend = Union[MelConfig, CqtConfig]
"""A spectrogram frontend: the network input and the ``"L"`` level."""


@dataclass(frozen=True)
class PasstConfig:
    """Geometry of the Patchout spectrogram transformer (PaSST-S and smaller test models).

    The parameter shapes follow the authors' checkpoints: the frequency and time positional
    encodings have ``n_mels // freq_stride`` and ``max_frames // time_stride`` entries.

    Attributes:
        n_mels: mel bands of the input spectrogram.
        max_frames: spectrogram frames the time encoding was trained for (998 = 10 s at 10 ms).
        patch_size: square patch size in (mel bins, frames).
        freq_stride: patch stride along mel bins.
        time_stride: patch stride along frames.
        embed_dim: transformer width.
        depth: number of transformer blocks.
        num_heads: attention heads.
        mlp_ratio: hidden width of the MLP relative to ``embed_dim``.
        num_classes: output classes of the heads (527 for AudioSet).
    """

    n_mels: int = 128
    max_frames: int = 998
    patch_size: int = 16
    freq_stride: int = 10
    time_stride: int = 10
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    num_classes: int = 527

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.n_mels < self.patch_size or self.max_frames < self.patch_size:
            raise ValueError("n_mels and max_frames must be at least patch_size")
        conv_rows = (self.n_mels - self.patch_size) // self.freq_stride + 1
        if conv_rows != self.freq_patches:
            raise ValueError(
                f"patch grid mismatch: the patch convolution gives {conv_rows} frequency rows but the "
                f"frequency encoding has n_mels // freq_stride = {self.freq_patches}"
            )
        if self.depth < 1:
            raise ValueError("depth must be at least 1")

    @property
    def freq_patches(self) -> int:
        """Rows of the patch grid (entries of the frequency encoding)."""
        return self.n_mels // self.freq_stride

    @property
    def time_patches(self) -> int:
        """Entries of the time encoding: the most patch columns one forward pass accepts."""
        return self.max_frames // self.time_stride

    @property
    def max_input_frames(self) -> int:
        """Longest spectrogram (frames) whose patch columns fit the time encoding."""
        return (self.time_patches - 1) * self.time_stride + self.patch_size + self.time_stride - 1

    def n_time_patches(self, n_frames: int) -> int:
        """Patch columns produced from ``n_frames`` spectrogram frames."""
        if n_frames < self.patch_size:
            raise ValueError(f"need at least {self.patch_size} frames for one patch, got {n_frames}")
        return (n_frames - self.patch_size) // self.time_stride + 1

    def n_tokens(self, n_frames: int) -> int:
        """Sequence length (CLS + DIST + patches) for ``n_frames`` input frames."""
        return 2 + self.freq_patches * self.n_time_patches(n_frames)


@dataclass(frozen=True)
class Checkpoint:
    """An official pretrained checkpoint.

    Attributes:
        name: short identifier (the authors' architecture name).
        url: download address of the raw state dict.
        description: what it was trained on / its AudioSet mAP.
    """

    name: str
    url: str
    description: str = ""

    @property
    def filename(self) -> str:
        """File name in the cache directory (the last path component of the URL)."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class WindowBlock:
    """One block of a timestamp embedding: features of windows of one length around each timestamp.

    Attributes:
        window_ms: window (receptive field) length in milliseconds, centred on the timestamp.
        levels: feature levels computed on each window, concatenated in this order.
    """

    window_ms: float
    levels: tuple[Level, ...]

    def __post_init__(self) -> None:
        _check_levels(self.levels)
        if self.window_ms <= 0:
            raise ValueError(f"window_ms must be positive, got {self.window_ms}")


def _check_levels(levels: tuple[str, ...]) -> None:
    if not levels:
        raise ValueError("at least one feature level is needed")
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        raise ValueError(f"unknown feature levels {unknown}; valid levels are {list(LEVELS)}")
    if len(set(levels)) != len(levels):
        raise ValueError(f"feature levels repeat: {levels}")


FEATURES: tuple[str, ...] = (
    "mel", "cqt", "mfcc", "chroma", "centroid", "bandwidth", "flatness", "rolloff", "contrast", "rms", "zcr", "peaks",
)
"""Frame features a :class:`FeatureBlock` can pool.

``"mel"``: the log-mel of :attr:`FeatureConfig.mel` (the PaSST frontend); ``"cqt"``: the log-CQT of
:attr:`FeatureConfig.cqt`; the rest are the handcrafted descriptors of :data:`HANDCRAFTED`.
"""

HANDCRAFTED: tuple[str, ...] = (
    "mfcc", "chroma", "centroid", "bandwidth", "flatness", "rolloff", "contrast", "rms", "zcr", "peaks",
)
"""The diverse handcrafted set (timbre: MFCC and spectral shape; pitch: chroma and CQT peaks; energy)."""

_CQT_FEATURES = frozenset({"cqt", "chroma", "peaks"})
_STFT_FEATURES = frozenset({"mfcc", "centroid", "bandwidth", "flatness", "rolloff", "contrast", "rms", "zcr"})


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the frame features (computed once per clip, then pooled per window).

    The STFT descriptors use a periodic Hann window of ``n_fft`` samples, centred zero-padded frames
    every ``hop_length`` samples (librosa's ``center=True, pad_mode="constant"`` convention), except
    the zero-crossing rate whose frames are edge-padded as librosa does. Embedding units (fixed, so
    that no descriptor dwarfs the others in a downstream linear layer): centroid, bandwidth and
    roll-off in kHz; RMS as ``log10`` amplitude (dBFS / 20, floored at -5); MFCC and spectral contrast
    in units of 10 dB; flatness, zero-crossing rate, chroma and peaks are ratios in [0, 1].

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
        sizes = {"mel": self.mel.n_mels, "cqt": self.cqt.n_bins, "peaks": self.cqt.n_bins, "mfcc": self.n_mfcc,
                 "chroma": 12, "contrast": self.contrast_bands + 1}
        if feature not in FEATURES:
            raise ValueError(f"unknown feature {feature!r}; valid features are {list(FEATURES)}")
        return sizes.get(feature, 1)

    def hop(self, feature: str) -> int:
        """Frame hop of ``feature`` in samples."""
        if feature == "mel":
            return self.mel.hop_length
        if feature in _CQT_FEATURES:
            return self.cqt.hop_length
        self.dim(feature)
        return self.hop_length

    def n_frames(self, feature: str, n_samples: int) -> int:
        """Frames of ``feature`` for ``n_samples`` input samples (at least one)."""
        if feature == "mel":
            return self.mel.n_frames(max(n_samples, 2))
        return 1 + n_samples // self.hop(feature)


Pooling = Literal["meanstd", "frames"]


@dataclass(frozen=True)
class FeatureBlock:
    """One block of a timestamp embedding from frame features pooled over a window around each timestamp.

    The window holds the frames whose centres lie within ``window_ms / 2`` of the timestamp (an odd
    number, ``2 * floor(window / 2 / hop) + 1``). ``"meanstd"`` gives, per feature, the mean then the
    standard deviation over those frames (frames outside the clip are left out); ``"frames"`` gives
    all of them flattened band-major like level ``"L"`` (outside the clip, the edge frame repeats).

    Attributes:
        window_ms: window length in milliseconds, centred on the timestamp.
        features: names from :data:`FEATURES`, concatenated in this order.
        pooling: ``"meanstd"`` or ``"frames"``.
    """

    window_ms: float
    features: tuple[str, ...]
    pooling: Pooling = "meanstd"

    def __post_init__(self) -> None:
        _check_features(self.features)
        if self.window_ms <= 0:
            raise ValueError(f"window_ms must be positive, got {self.window_ms}")
        if self.pooling not in ("meanstd", "frames"):
            raise ValueError(f"pooling must be 'meanstd' or 'frames', got {self.pooling!r}")


def _check_features(features: tuple[str, ...]) -> None:
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise ValueError(f"unknown features {unknown}; valid features are {list(FEATURES)}")
    if len(set(features)) != len(features):
        raise ValueError(f"features repeat: {features}")


def half_window_frames(window_samples: int, hop: int) -> int:
    """Frames on each side of the centre frame inside a window of ``window_samples`` (hop ``hop``)."""
    return (window_samples // 2) // hop


@dataclass(frozen=True)
class VariantConfig:
    """A complete embedding model: frontend, network, checkpoint, frame features and how they are read out.

    Attributes:
        name: registry name (also the HEAR module name under ``hear_gear_embed.hear``).
        description: one line for listings.
        timestamp_blocks: blocks concatenated, in order, into each timestamp embedding: network
            levels on windows of audio (:class:`WindowBlock`) or pooled frame features of the clip
            (:class:`FeatureBlock`).
        frontend: the spectrogram of the network input and of level ``"L"`` (mel or CQT).
        scene_levels: levels concatenated into a scene embedding. ``"L"`` at scene level is the
            per-band mean of the frontend over the clip (for clips longer than ``scene_window_ms``,
            averaged over the windows like the other levels).
        scene_features: frame features appended to the scene embedding, each as its mean then its
            standard deviation over all frames of the clip.
        net: the PaSST geometry (``None`` for weight-free variants).
        checkpoint: the official weights this variant loads by default (``None``: must be given).
        features: parameters of the frame features.
        timestamp_hop_ms: distance between timestamps in milliseconds.
        scene_window_ms: clips up to this length get one forward pass; longer clips are averaged
            over windows of this length.
        scene_hop_ms: hop between those windows in milliseconds.
        mid_layer: index of the transformer block whose CLS/DIST tokens (after the final norm) form
            ``"M"``; ``-1`` is the last block, as in the paper.
        reference: the authors' module this variant reproduces exactly, if any.
        published: listed by :func:`hear_gear_embed.list_variants` (test geometries are not).
    """

    name: str
    description: str
    timestamp_blocks: tuple[WindowBlock | FeatureBlock, ...]
    frontend: Frontend = field(default_factory=MelConfig)
    scene_levels: tuple[Level, ...] = ()
    scene_features: tuple[str, ...] = ()
    net: PasstConfig | None = None
    checkpoint: Checkpoint | None = None
    features: FeatureConfig = field(default_factory=FeatureConfig)
    timestamp_hop_ms: float = 50.0
    scene_window_ms: float = 10000.0
    scene_hop_ms: float = 2500.0
    mid_layer: int = -1
    reference: str | None = None
    published: bool = True

    def __post_init__(self) -> None:
        if self.features.sample_rate != self.frontend.sample_rate:
            raise ValueError(
                f"{self.name}: the frame features run at {self.features.sample_rate} Hz, the frontend at "
                f"{self.frontend.sample_rate} Hz"
            )
        if not self.timestamp_blocks:
            raise ValueError(f"{self.name}: at least one timestamp block is needed")
        if not (self.scene_levels or self.scene_features):
            raise ValueError(f"{self.name}: the scene embedding needs scene_levels or scene_features")
        if self.scene_levels:
            _check_levels(self.scene_levels)
        _check_features(self.scene_features)
        if self.timestamp_hop_samples < 1 or self.scene_hop_samples < 1:
            raise ValueError(f"{self.name}: hops must be at least one sample")
        self._check_network()
        for block in self.timestamp_blocks:
            if isinstance(block, WindowBlock):
                self._check_window_block(block)
        for feature in self.feature_names:
            if self.timestamp_hop_samples % self.features.hop(feature):
                raise ValueError(
                    f"{self.name}: the timestamp hop ({self.timestamp_hop_samples} samples) is not a multiple of "
                    f"the {feature!r} frame hop ({self.features.hop(feature)} samples)"
                )
        if "chroma" in self.feature_names and not self.features.cqt.semitone_aligned():
            raise ValueError(
                f"{self.name}: chroma needs CQT bins on semitones (bins_per_octave a multiple of 12 and fmin on "
                f"a MIDI note), got bins_per_octave={self.features.cqt.bins_per_octave}, fmin={self.features.cqt.fmin}"
            )

    def _check_network(self) -> None:
        if self.net is None:
            if self.needs_network:
                raise ValueError(f"{self.name}: levels 'M' and 'H' need a network; set net")
            if self.checkpoint is not None:
                raise ValueError(f"{self.name}: a checkpoint without a network geometry (net is None)")
            return
        if self.frontend.n_bands != self.net.n_mels:
            raise ValueError(
                f"{self.name}: the frontend has {self.frontend.n_bands} bands, the network expects {self.net.n_mels}"
            )
        if not -self.net.depth <= self.mid_layer < self.net.depth:
            raise ValueError(f"{self.name}: mid_layer {self.mid_layer} is outside a {self.net.depth}-block network")
        if self.needs_network:
            self._check_fits(self.frontend.n_frames(self.scene_window_samples), "the scene window")

    def _check_window_block(self, block: WindowBlock) -> None:
        n = self.window_samples(block.window_ms)
        if n < self.frontend.min_samples:
            raise ValueError(
                f"{self.name}: a {block.window_ms} ms window is {n} samples, shorter than the "
                f"{self.frontend.min_samples} samples the frontend needs"
            )
        if set(block.levels) & {"M", "H"} and self.net is not None:
            frames = self.frontend.n_frames(n)
            if frames < self.net.patch_size:
                raise ValueError(
                    f"{self.name}: a {block.window_ms} ms window gives {frames} frames, fewer than one "
                    f"{self.net.patch_size}-frame patch"
                )
            self._check_fits(frames, f"the {block.window_ms} ms window")

    def _check_fits(self, frames: int, what: str) -> None:
        if self.net is not None and frames > self.net.max_input_frames:
            raise ValueError(
                f"{self.name}: {what} gives {frames} frames, more than the {self.net.max_input_frames} "
                "frames the time positional encoding covers"
            )

    @property
    def sample_rate(self) -> int:
        """Sample rate in Hz the variant expects."""
        return self.frontend.sample_rate

    def window_samples(self, window_ms: float) -> int:
        """Length in samples of a window of ``window_ms`` milliseconds."""
        return ms_to_samples(window_ms, self.sample_rate)

    @property
    def timestamp_hop_samples(self) -> int:
        """Timestamp hop in samples."""
        return ms_to_samples(self.timestamp_hop_ms, self.sample_rate)

    @property
    def scene_window_samples(self) -> int:
        """Longest clip (samples) embedded in one forward pass."""
        return ms_to_samples(self.scene_window_ms, self.sample_rate)

    @property
    def scene_hop_samples(self) -> int:
        """Hop (samples) of the averaged windows of long clips."""
        return ms_to_samples(self.scene_hop_ms, self.sample_rate)

    @property
    def min_net_samples(self) -> int:
        """Shortest input (samples) the levels accept: one patch of frames (with a network) and a valid frontend."""
        if self.net is None:
            return self.frontend.min_samples
        n = (self.net.patch_size - 1) * self.frontend.hop_length + 1
        return max(n, self.frontend.min_samples)

    def level_size(self, level: Level, window_ms: float | None = None) -> int:
        """Size of one level's features.

        Args:
            level: ``"L"``, ``"M"`` or ``"H"``.
            window_ms: window length for ``"L"`` in a timestamp block (``None``: scene level, where
                ``"L"`` is the per-band mean over the clip).
        """
        if level in ("M", "H"):
            if self.net is None:
                raise ValueError(f"{self.name} has no network, so no level {level!r}")
            return self.net.embed_dim if level == "M" else self.net.num_classes
        if window_ms is None:
            return self.frontend.n_bands
        return self.frontend.n_bands * self.frontend.n_frames(self.window_samples(window_ms))

    def feature_size(self, feature: str, block: FeatureBlock | None = None) -> int:
        """Size of one feature in a :class:`FeatureBlock` (``None``: scene level, mean and std)."""
        dim = self.features.dim(feature)
        if block is None or block.pooling == "meanstd":
            return 2 * dim
        return dim * (2 * half_window_frames(self.window_samples(block.window_ms), self.features.hop(feature)) + 1)

    def block_size(self, block: WindowBlock | FeatureBlock) -> int:
        """Size of one timestamp block."""
        if isinstance(block, WindowBlock):
            return sum(self.level_size(lv, block.window_ms) for lv in block.levels)
        return sum(self.feature_size(f, block) for f in block.features)

    @property
    def timestamp_embedding_size(self) -> int:
        """Size of one timestamp embedding, derived from the blocks."""
        return sum(self.block_size(b) for b in self.timestamp_blocks)

    @property
    def scene_embedding_size(self) -> int:
        """Size of one scene embedding, derived from the scene levels and features."""
        return sum(self.level_size(lv) for lv in self.scene_levels) + sum(self.feature_size(f) for f in self.scene_features)

    @property
    def window_levels(self) -> frozenset[str]:
        """Network-path levels used anywhere (scene or timestamp)."""
        blocks = [b.levels for b in self.timestamp_blocks if isinstance(b, WindowBlock)]
        return frozenset(self.scene_levels).union(*blocks)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Frame features used anywhere, in first-use order."""
        names = [f for b in self.timestamp_blocks if isinstance(b, FeatureBlock) for f in b.features]
        return tuple(dict.fromkeys(names + list(self.scene_features)))

    @property
    def needs_network(self) -> bool:
        """Whether any output uses the transformer (``"M"`` or ``"H"``)."""
        return bool(self.window_levels & {"M", "H"})

    def describe(self) -> dict[str, object]:
        """A JSON-ready summary for listings."""
        blocks: list[dict[str, object]] = []
        for b in self.timestamp_blocks:
            if isinstance(b, WindowBlock):
                blocks.append({"window_ms": b.window_ms, "levels": list(b.levels)})
            else:
                blocks.append({"window_ms": b.window_ms, "features": list(b.features), "pooling": b.pooling})
        return {
            "name": self.name,
            "description": self.description,
            "sample_rate": self.sample_rate,
            "scene_embedding_size": self.scene_embedding_size,
            "timestamp_embedding_size": self.timestamp_embedding_size,
            "frontend": "cqt" if isinstance(self.frontend, CqtConfig) else "mel",
            "scene_levels": list(self.scene_levels),
            "scene_features": list(self.scene_features),
            "timestamp_blocks": blocks,
            "timestamp_hop_ms": self.timestamp_hop_ms,
            "frontend_hop_ms": self.frontend.hop_ms,
            "checkpoint": None if self.checkpoint is None else self.checkpoint.name,
            "needs_weights": self.needs_network,
            "reference": self.reference,
        }
