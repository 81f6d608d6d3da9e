"""Frozen configuration dataclasses: every variant of the package is data built from these.

Nothing here computes audio; the dataclasses only describe geometry and derive sizes from it, so
that embedding sizes are never typed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
    def min_samples(self) -> int:
        """Shortest input the STFT accepts: its reflect padding needs more than ``n_fft // 2`` samples
        after pre-emphasis (which removes one)."""
        return self.n_fft // 2 + 2

    def n_frames(self, n_samples: int) -> int:
        """Number of STFT frames for ``n_samples`` input samples (pre-emphasis drops one, centred STFT)."""
        if n_samples < 2:
            raise ValueError(f"the mel frontend needs at least 2 samples, got {n_samples}")
        return 1 + (n_samples - 1) // self.hop_length


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


@dataclass(frozen=True)
class VariantConfig:
    """A complete embedding model: frontend, network, checkpoint and how features are read out.

    Attributes:
        name: registry name (also the HEAR module name under ``hear_gear_embed.hear``).
        description: one line for listings.
        mel: the log-mel frontend.
        net: the PaSST geometry.
        checkpoint: the official weights this variant loads by default (``None``: must be given).
        timestamp_blocks: window blocks concatenated, in order, into each timestamp embedding.
        scene_levels: levels concatenated into a scene embedding. ``"L"`` at scene level is the
            per-band mean of the log-mel over the clip (``n_mels`` values; for clips longer than
            ``scene_window_ms``, averaged over the windows like the other levels).
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
    mel: MelConfig
    net: PasstConfig
    checkpoint: Checkpoint | None
    timestamp_blocks: tuple[WindowBlock, ...]
    scene_levels: tuple[Level, ...]
    timestamp_hop_ms: float = 50.0
    scene_window_ms: float = 10000.0
    scene_hop_ms: float = 2500.0
    mid_layer: int = -1
    reference: str | None = None
    published: bool = True

    def __post_init__(self) -> None:
        if self.mel.n_mels != self.net.n_mels:
            raise ValueError(f"{self.name}: frontend has {self.mel.n_mels} mel bands, network expects {self.net.n_mels}")
        if not self.timestamp_blocks:
            raise ValueError(f"{self.name}: at least one timestamp block is needed")
        _check_levels(self.scene_levels)
        if not -self.net.depth <= self.mid_layer < self.net.depth:
            raise ValueError(f"{self.name}: mid_layer {self.mid_layer} is outside a {self.net.depth}-block network")
        if self.timestamp_hop_samples < 1 or self.scene_hop_samples < 1:
            raise ValueError(f"{self.name}: hops must be at least one sample")
        for block in self.timestamp_blocks:
            n = self.window_samples(block.window_ms)
            if n < self.mel.min_samples:
                raise ValueError(
                    f"{self.name}: a {block.window_ms} ms window is {n} samples, shorter than the "
                    f"{self.mel.min_samples} samples the STFT needs"
                )
            if set(block.levels) & {"M", "H"}:
                frames = self.mel.n_frames(n)
                if frames < self.net.patch_size:
                    raise ValueError(
                        f"{self.name}: a {block.window_ms} ms window gives {frames} frames, fewer than one "
                        f"{self.net.patch_size}-frame patch"
                    )
                self._check_fits(frames, f"the {block.window_ms} ms window")
        self._check_fits(self.mel.n_frames(self.scene_window_samples), "the scene window")

    def _check_fits(self, frames: int, what: str) -> None:
        if frames > self.net.max_input_frames:
            raise ValueError(
                f"{self.name}: {what} gives {frames} frames, more than the {self.net.max_input_frames} "
                "frames the time positional encoding covers"
            )

    @property
    def sample_rate(self) -> int:
        """Sample rate in Hz the variant expects."""
        return self.mel.sample_rate

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
        """Shortest input (samples) the network accepts: one patch of frames and a valid STFT."""
        frames_needed = self.net.patch_size
        n = (frames_needed - 1) * self.mel.hop_length + 1
        return max(n, self.mel.min_samples)

    def level_size(self, level: Level, window_ms: float | None = None) -> int:
        """Size of one level's features.

        Args:
            level: ``"L"``, ``"M"`` or ``"H"``.
            window_ms: window length for ``"L"`` in a timestamp block (``None``: scene level, where
                ``"L"`` is the per-band mean over the clip).
        """
        if level == "M":
            return self.net.embed_dim
        if level == "H":
            return self.net.num_classes
        if window_ms is None:
            return self.mel.n_mels
        return self.mel.n_mels * self.mel.n_frames(self.window_samples(window_ms))

    @property
    def timestamp_embedding_size(self) -> int:
        """Size of one timestamp embedding, derived from the blocks."""
        return sum(self.level_size(lv, b.window_ms) for b in self.timestamp_blocks for lv in b.levels)

    @property
    def scene_embedding_size(self) -> int:
        """Size of one scene embedding, derived from the scene levels."""
        return sum(self.level_size(lv) for lv in self.scene_levels)

    @property
    def needs_network(self) -> bool:
        """Whether any output uses the transformer (``"M"`` or ``"H"``)."""
        levels = set(self.scene_levels).union(*(b.levels for b in self.timestamp_blocks))
        return bool(levels & {"M", "H"})

    def describe(self) -> dict[str, object]:
        """A JSON-ready summary for listings."""
        return {
            "name": self.name,
            "description": self.description,
            "sample_rate": self.sample_rate,
            "scene_embedding_size": self.scene_embedding_size,
            "timestamp_embedding_size": self.timestamp_embedding_size,
            "scene_levels": list(self.scene_levels),
            "timestamp_blocks": [{"window_ms": b.window_ms, "levels": list(b.levels)} for b in self.timestamp_blocks],
            "timestamp_hop_ms": self.timestamp_hop_ms,
            "stft_hop_ms": self.mel.hop_ms,
            "checkpoint": None if self.checkpoint is None else self.checkpoint.name,
            "needs_weights": self.needs_network,
            "reference": self.reference,
        }
