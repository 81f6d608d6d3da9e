"""Frame features of whole clips, computed in memory-bounded chunks as the descriptor table says.

Each feature is a ``(batch, dim, n_frames)`` tensor at its source's hop, in the embedding unit of its
record in :data:`~.catalogue.DESCRIPTORS`. Long clips are processed in chunks of frames, each chunk
taking just the padded samples its frames (and the earlier frames a descriptor needs as context)
read, so the result equals the one-pass computation and the working memory is bounded by a budget.
"""

from __future__ import annotations

from functools import cached_property

import torch
from torch import Tensor, nn

from ..frontends.cqt import CqtFrontend
from ..frontends.mel import MelFrontend
from ..util.chunking import chunks
from .catalogue import CONSTANTS, SOURCES, get_descriptor
from .config import FeatureConfig


class FrameInputs:
    """What the kernels of one source see for one chunk of frames: the padded samples and, computed
    on first use and shared by the kernels, the transforms of those samples.

    Attributes:
        padded: ``(batch, span + (n_frames - 1) * hop)`` samples of the padded clip for these frames.
        config: the feature parameters.
    """

    def __init__(self, padded: Tensor, owner: FrameFeatures) -> None:
        self.padded = padded
        self.config = owner.config
        self._owner = owner

    def constant(self, name: str) -> Tensor:
        """The buffer ``name`` of :data:`~.catalogue.CONSTANTS`."""
        value = getattr(self._owner, f"const_{name}")
        assert isinstance(value, Tensor)
        return value

    @property
    def frequencies(self) -> Tensor:
        """``(n_fft // 2 + 1,)`` centre frequencies of the STFT bins in Hz."""
        return self._owner.freqs

    @cached_property
    def frames(self) -> Tensor:
        """``(batch, n_frames, n_fft)`` frames of the waveform."""
        return self.padded.unfold(-1, self.config.n_fft, self.config.hop_length)

    @cached_property
    def magnitude(self) -> Tensor:
        """``(batch, n_fft // 2 + 1, n_frames)`` STFT magnitude (periodic Hann window)."""
        cfg = self.config
        spec = torch.stft(self.padded, cfg.n_fft, hop_length=cfg.hop_length, window=self._owner.window, center=False,
                          return_complex=True)
        return spec.abs()

    @cached_property
    def cqt_magnitude(self) -> Tensor:
        """``(batch, n_bins, n_frames)`` constant-Q magnitude."""
        return self._owner.cqt_frontend().magnitude_from_padded(self.padded)

    @property
    def log_cqt(self) -> Tensor:
        """``(batch, n_bins, n_frames)`` normalised log-power CQT."""
        return self._owner.cqt_frontend().compress(self.cqt_magnitude)

    @property
    def log_mel(self) -> Tensor:
        """``(batch, n_mels, n_frames)`` PaSST's normalised log-mel."""
        return self._owner.mel_frontend().from_padded(self.padded)


class FrameFeatures(nn.Module):
    """Computes the named frame features of a batch of clips.

    Args:
        config: feature parameters.
        names: features to compute (from :data:`~.catalogue.FEATURES`).
    """

    # buffers (registered in __init__), declared for the type checker
    window: Tensor
    freqs: Tensor

    def __init__(self, config: FeatureConfig, names: tuple[str, ...]) -> None:
        super().__init__()
        descriptors = [get_descriptor(name) for name in names]
        self.config = config
        self.names = tuple(names)
        sources = {d.source for d in descriptors}
        self.mel = MelFrontend(config.mel) if "mel" in sources else None
        self.cqt = CqtFrontend(config.cqt) if "cqt" in sources else None
        self.register_buffer("window", torch.hann_window(config.n_fft, periodic=True), persistent=False)
        freqs = torch.arange(config.n_fft // 2 + 1, dtype=torch.float32) * (config.sample_rate / config.n_fft)
        self.register_buffer("freqs", freqs, persistent=False)
        for constant in dict.fromkeys(c for d in descriptors for c in d.constants):
            self.register_buffer(f"const_{constant}", CONSTANTS[constant](config), persistent=False)

    def mel_frontend(self) -> MelFrontend:
        """The log-mel frontend (present when a ``"mel"``-source feature was asked for)."""
        if self.mel is None:
            raise RuntimeError("no mel-source feature was configured")
        return self.mel

    def cqt_frontend(self) -> CqtFrontend:
        """The CQT frontend (present when a ``"cqt"``-source feature was asked for)."""
        if self.cqt is None:
            raise RuntimeError("no cqt-source feature was configured")
        return self.cqt

    def bytes_per_frame(self, n_sounds: int) -> int:
        """Estimated float32 working memory (bytes) per frame position of a batch of ``n_sounds``."""
        sources = {get_descriptor(name).source for name in self.names}
        return n_sounds * sum(SOURCES[s].bytes_per_frame(self.config) for s in sources)

    def forward(self, audio: Tensor, budget_bytes: int = 512 * 2**20, names: tuple[str, ...] | None = None) -> dict[str, Tensor]:
        """Frame features of ``audio`` ``(batch, n_samples)`` float32.

        Args:
            audio: the clips, on this module's device.
            budget_bytes: bound on the working memory of one chunk of frames.
            names: a subset of the ``names`` given to the constructor (default all).

        Returns:
            ``{name: (batch, dim(name), n_frames(name, n_samples))}`` float32.
        """
        if audio.ndim != 2 or audio.shape[-1] < 1:
            raise ValueError(f"expected non-empty audio of shape (batch, n_samples), got {tuple(audio.shape)}")
        names = self.names if names is None else tuple(names)
        missing = sorted(set(names) - set(self.names))
        if missing:
            raise ValueError(f"features {missing} were not configured; this module computes {list(self.names)}")
        per_chunk = max(1, budget_bytes // max(1, self.bytes_per_frame(audio.shape[0])))
        by_source: dict[str, list[str]] = {}
        for name in names:
            by_source.setdefault(get_descriptor(name).source, []).append(name)
        out: dict[str, Tensor] = {}
        for source, wanted in by_source.items():
            out.update(self._source_features(source, audio, tuple(wanted), per_chunk))
        return {name: out[name] for name in names}

    def _padded(self, source: str, audio: Tensor) -> Tensor:
        """The whole clip padded as ``source`` frames it (frame ``j`` reads ``[j * hop, j * hop + span)``)."""
        half = self.config.n_fft // 2
        if source == "mel":
            mel = self.mel_frontend()
            if audio.shape[-1] < mel.config.min_samples:
                audio = nn.functional.pad(audio, (0, mel.config.min_samples - audio.shape[-1]))
            return mel.padded(audio)
        if source == "cqt":
            return self.cqt_frontend().padded(audio)
        if source == "edge_frames":
            return nn.functional.pad(audio.unsqueeze(1), (half, half), mode="replicate").squeeze(1)
        return nn.functional.pad(audio, (half, half))

    def _source_features(self, source: str, audio: Tensor, names: tuple[str, ...], per_chunk: int) -> dict[str, Tensor]:
        """The features ``names`` of one source, chunk by chunk of frames, stitched along frames."""
        spec = SOURCES[source]
        hop, span = spec.hop(self.config), spec.span(self.config)
        n_frames = spec.n_frames(self.config, audio.shape[-1])
        descriptors = [get_descriptor(name) for name in names]
        context = max(d.context for d in descriptors)
        padded = self._padded(source, audio)
        results: dict[str, Tensor] = {}
        for start, stop in chunks(n_frames, per_chunk):
            first = max(0, start - context)
            inputs = FrameInputs(padded[:, first * hop: (stop - 1) * hop + span], self)
            for d in descriptors:
                value = d.kernel(inputs)[..., start - first:]
                if d.unit_size != 1.0:
                    value = value / d.unit_size
                if d.name not in results:
                    results[d.name] = value.new_empty(value.shape[:-1] + (n_frames,))
                results[d.name][..., start:stop] = value
        return results
