"""Frame features of whole clips: log-mel, log-CQT and the handcrafted descriptors, computed in chunks.

Each feature is a ``(batch, d, n_frames)`` tensor at its own hop (:meth:`FeatureConfig.hop`), in the
embedding units of :class:`~hear_gear_embed.config.FeatureConfig`. Long clips are processed in
chunks of frames, each chunk taking just the padded samples its frames need, so the result equals
the one-pass computation and the working memory is bounded by a budget.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..config import FeatureConfig
from ..embedding.windowing import chunks
from ..frontends.cqt import CqtFrontend
from ..frontends.mel import MelFrontend
from .cepstral import dct_ortho, mfcc, slaney_mel_banks
from .pitch import chroma, chroma_matrix, spectral_peaks
from .spectral import spectral_bandwidth, spectral_centroid, spectral_contrast, spectral_flatness, spectral_rolloff
from .temporal import rms, zero_crossing_rate_padded

_CQT = frozenset({"cqt", "chroma", "peaks"})
_STFT = frozenset({"mfcc", "centroid", "bandwidth", "flatness", "rolloff", "contrast"})
_FRAMED = _STFT | {"rms", "zcr"}
"""Features computed on ``n_fft``-sample frames of the waveform (the STFT ones, RMS and zero-crossing rate)."""

RMS_FLOOR = 1e-5
"""RMS below this (-100 dBFS) is reported as this, so silence has a finite ``log10``."""


class FrameFeatures(nn.Module):
    """Computes the named frame features of a batch of clips.

    Args:
        config: feature parameters.
        names: features to compute (from :data:`~hear_gear_embed.config.FEATURES`).
    """

    def __init__(self, config: FeatureConfig, names: tuple[str, ...]) -> None:
        super().__init__()
        for name in names:
            config.dim(name)
        self.config = config
        self.names = tuple(names)
        wanted = set(names)
        self.mel = MelFrontend(config.mel) if "mel" in wanted else None
        self.cqt = CqtFrontend(config.cqt) if wanted & _CQT else None
        n_fft = config.n_fft
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
        freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float32) * (config.sample_rate / n_fft)
        self.register_buffer("freqs", freqs, persistent=False)
        if "mfcc" in wanted:
            banks = slaney_mel_banks(config.mfcc_mels, n_fft, config.sample_rate)
            self.register_buffer("mfcc_banks", banks, persistent=False)
            self.register_buffer("dct", dct_ortho(config.n_mfcc, config.mfcc_mels), persistent=False)
        if "chroma" in wanted:
            self.register_buffer("chroma_matrix", chroma_matrix(torch.tensor(config.cqt.frequencies)), persistent=False)

    def bytes_per_frame(self, n_sounds: int) -> int:
        """Estimated float32 working memory (bytes) per frame position of a batch of ``n_sounds``."""
        cfg = self.config
        per = 0
        if self.mel is not None:
            per += 4 * (cfg.mel.hop_length + 4 * (cfg.mel.n_fft // 2 + 1) + cfg.mel.n_mels)
        if set(self.names) & _FRAMED:
            per += 4 * (cfg.hop_length + 10 * (cfg.n_fft // 2 + 1) + 2 * cfg.n_fft + cfg.mfcc_mels)
        if self.cqt is not None:
            per += 4 * (cfg.cqt.hop_length + 8 * cfg.cqt.n_bins)
        return n_sounds * per

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
        n_samples = audio.shape[-1]
        per_chunk = max(1, budget_bytes // max(1, self.bytes_per_frame(audio.shape[0])))
        wanted = set(names)
        out: dict[str, Tensor] = {}
        if "mel" in wanted and self.mel is not None:
            out.update(self._mel(self.mel, audio, per_chunk))
        if wanted & (_STFT | {"rms"}):
            out.update(self._framewise(nn.functional.pad(audio, (self.config.n_fft // 2,) * 2), self.config.hop_length,
                                       self.config.n_fft, 1 + n_samples // self.config.hop_length, per_chunk,
                                       lambda chunk: self._stft(chunk, wanted)))
        if "zcr" in wanted:
            edge = nn.functional.pad(audio.unsqueeze(1), (self.config.n_fft // 2,) * 2, mode="replicate").squeeze(1)
            out.update(self._framewise(edge, self.config.hop_length, self.config.n_fft,
                                       1 + n_samples // self.config.hop_length, per_chunk, self._zcr))
        if wanted & _CQT and self.cqt is not None:
            cqt, cfg = self.cqt, self.config.cqt
            out.update(self._framewise(cqt.padded(audio), cfg.hop_length, cfg.kernel_width,
                                       cfg.n_frames(n_samples), per_chunk, lambda chunk: self._cqt(cqt, chunk, wanted)))
        return {name: out[name] for name in names}

    @staticmethod
    def _framewise(
        padded: Tensor, hop: int, span: int, n_frames: int, per_chunk: int, fn: Callable[[Tensor], dict[str, Tensor]]
    ) -> dict[str, Tensor]:
        """Run ``fn`` on the padded samples of each chunk of frames (frame ``j`` spans
        ``padded[:, j * hop: j * hop + span]``) and stitch the outputs along frames."""
        results: dict[str, Tensor] = {}
        for start, stop in chunks(n_frames, per_chunk):
            for name, value in fn(padded[:, start * hop: (stop - 1) * hop + span]).items():
                if name not in results:
                    results[name] = value.new_empty(value.shape[:-1] + (n_frames,))
                results[name][..., start:stop] = value
        return results

    def _mel(self, mel: MelFrontend, audio: Tensor, per_chunk: int) -> dict[str, Tensor]:
        cfg = self.config.mel
        n_frames = self.config.n_frames("mel", audio.shape[-1])
        if audio.shape[-1] < cfg.min_samples:
            audio = nn.functional.pad(audio, (0, cfg.min_samples - audio.shape[-1]))
        return self._framewise(mel.padded(audio), cfg.hop_length, cfg.n_fft, n_frames, per_chunk,
                               lambda chunk: {"mel": mel.from_padded(chunk)})

    def _stft(self, chunk: Tensor, wanted: set[str]) -> dict[str, Tensor]:
        """STFT descriptors and RMS of one chunk of zero-padded audio (the STFT only when a descriptor needs it)."""
        cfg = self.config
        out: dict[str, Tensor] = {}
        if "rms" in wanted:
            out["rms"] = torch.log10(rms(chunk.unfold(-1, cfg.n_fft, cfg.hop_length)).clamp(min=RMS_FLOOR))
        if not wanted & _STFT:
            return out
        spec = torch.stft(chunk, cfg.n_fft, hop_length=cfg.hop_length, window=self.window, center=False,
                          return_complex=True)
        mag = spec.abs()
        if "mfcc" in wanted:
            out["mfcc"] = mfcc(mag.square(), self.mfcc_banks, cfg.n_mfcc, self.dct) / 10.0
        if "centroid" in wanted:
            out["centroid"] = spectral_centroid(mag, self.freqs) / 1000.0
        if "bandwidth" in wanted:
            out["bandwidth"] = spectral_bandwidth(mag, self.freqs) / 1000.0
        if "flatness" in wanted:
            out["flatness"] = spectral_flatness(mag)
        if "rolloff" in wanted:
            out["rolloff"] = spectral_rolloff(mag, self.freqs, cfg.rolloff_percent) / 1000.0
        if "contrast" in wanted:
            out["contrast"] = spectral_contrast(mag, self.freqs, cfg.sample_rate, cfg.contrast_bands, cfg.contrast_fmin,
                                                cfg.contrast_quantile) / 10.0
        return out

    def _zcr(self, chunk: Tensor) -> dict[str, Tensor]:
        return {"zcr": zero_crossing_rate_padded(chunk, self.config.n_fft, self.config.hop_length)}

    def _cqt(self, cqt: CqtFrontend, chunk: Tensor, wanted: set[str]) -> dict[str, Tensor]:
        mag = cqt.magnitude_from_padded(chunk)
        out: dict[str, Tensor] = {}
        if "cqt" in wanted:
            out["cqt"] = cqt.compress(mag)
        if "chroma" in wanted:
            out["chroma"] = chroma(mag, self.chroma_matrix)
        if "peaks" in wanted:
            out["peaks"] = spectral_peaks(mag, self.config.peak_range_db)
        return out
