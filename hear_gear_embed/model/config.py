"""Configuration of the Patchout spectrogram transformer: its geometry, and the sizes derived from it (pure data)."""

from __future__ import annotations

from dataclasses import dataclass


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
class Patchout:
    """Patchout (Koutini et al., 2022): patch tokens left out of the sequence while training, a regulariser that also
    shortens every attention (seed 003, section 2.2).

    Structured Patchout removes whole rows (frequency) and columns (time) of the patch grid after the positional
    encodings are added; unstructured Patchout then removes a share of the remaining patch tokens wherever they lie.
    One draw serves a whole batch, as in the authors' code. At least one row, one column and one token always remain.

    Attributes:
        freq: frequency rows removed.
        time: time columns removed from an input that fills the time encoding (``max_frames`` frames); a shorter input
            loses the same share of its columns, rounded down.
        proportion: share of the remaining patch tokens removed at random, in ``[0, 1)``.
    """

    freq: int = 0
    time: int = 0
    proportion: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.freq, bool) or isinstance(self.time, bool) or self.freq < 0 or self.time < 0:
            raise ValueError(f"Patchout counts must be non-negative integers, got freq={self.freq!r}, time={self.time!r}")
        if not 0.0 <= self.proportion < 1.0:
            raise ValueError(f"the unstructured Patchout proportion must lie in [0, 1), got {self.proportion}")

    @property
    def active(self) -> bool:
        """Whether anything is left out."""
        return bool(self.freq or self.time or self.proportion)

    def kept(self, config: PasstConfig, n_time_patches: int) -> tuple[int, int, int]:
        """``(rows, columns, tokens)`` kept of a grid of ``config.freq_patches`` rows and ``n_time_patches`` columns."""
        rows = max(1, config.freq_patches - self.freq)
        full = config.n_time_patches(config.max_frames)  # the columns of a max_frames-frame input (199 at 5 ms, not 200)
        columns = max(1, n_time_patches - self.time * n_time_patches // full)
        tokens = max(1, rows * columns - int(self.proportion * rows * columns))
        return rows, columns, tokens
