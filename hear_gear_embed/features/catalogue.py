"""The descriptor table: every frame feature the package computes, as one record each.

A record says where a feature's frames come from (its source), how many values a frame has, its
unit in embeddings, the constants it needs and how to compute it. Everything else is derived from
the table: the feature names a variant may use, embedding sizes, frame hops, memory estimates and
the computation itself (:class:`~.frames.FrameFeatures`). Adding a descriptor means adding one
record here.

The table is read by configuration code that must not import torch (``hear-gear list``), so the
kernels import their DSP functions when first called rather than at module import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..util.names import unknown_name

if TYPE_CHECKING:
    from torch import Tensor

    from .config import FeatureConfig
    from .frames import FrameInputs

SourceName = Literal["mel", "frames", "edge_frames", "cqt"]


@dataclass(frozen=True)
class Source:
    """How the frames of one source are cut from a clip; frame ``j`` is centred on sample ``j * hop``.

    Attributes:
        name: ``"mel"`` (PaSST's log-mel frontend), ``"frames"`` (``n_fft``-sample frames of the
            zero-padded waveform, and their STFT magnitude), ``"edge_frames"`` (the same frames of the
            edge-padded waveform) or ``"cqt"`` (the constant-Q magnitude).
        hop: frame hop in samples.
        span: samples of the padded signal one frame reads.
        n_frames: frames for a clip of ``n_samples`` samples.
        bytes_per_frame: estimated float32 working memory per frame position of one clip (signal,
            transforms and the descriptors computed from them).
    """

    name: SourceName
    hop: Callable[[FeatureConfig], int]
    span: Callable[[FeatureConfig], int]
    n_frames: Callable[[FeatureConfig, int], int]
    bytes_per_frame: Callable[[FeatureConfig], int]


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source("mel", hop=lambda c: c.mel.hop_length, span=lambda c: c.mel.n_fft,
               n_frames=lambda c, n: c.mel.n_frames(max(n, 2)),
               bytes_per_frame=lambda c: 4 * (c.mel.hop_length + 4 * (c.mel.n_fft // 2 + 1) + c.mel.n_mels)),
        Source("frames", hop=lambda c: c.hop_length, span=lambda c: c.n_fft, n_frames=lambda c, n: 1 + n // c.hop_length,
               bytes_per_frame=lambda c: 4 * (c.hop_length + 10 * (c.n_fft // 2 + 1) + 2 * c.n_fft + c.mfcc_mels)),
        Source("edge_frames", hop=lambda c: c.hop_length, span=lambda c: c.n_fft,
               n_frames=lambda c, n: 1 + n // c.hop_length, bytes_per_frame=lambda c: 4 * 3 * c.hop_length),
        Source("cqt", hop=lambda c: c.cqt.hop_length, span=lambda c: c.cqt.kernel_width,
               n_frames=lambda c, n: c.cqt.n_frames(n), bytes_per_frame=lambda c: 4 * (c.cqt.hop_length + 8 * c.cqt.n_bins)),
    )
}
"""The sources by name."""


def _one(config: FeatureConfig) -> int:
    return 1


def _no_requirement(config: FeatureConfig) -> str | None:
    return None


@dataclass(frozen=True)
class Descriptor:
    """One frame feature.

    Attributes:
        name: the name variants use.
        source: the :data:`SOURCES` entry its frames come from.
        kernel: ``FrameInputs -> (batch, dim, n_frames)`` raw values of one chunk of frames.
        summary: what it measures, for people.
        unit: its unit in embeddings.
        unit_size: raw values are divided by this to give ``unit`` (1000 for Hz -> kHz).
        dim: values per frame.
        constants: names of :data:`CONSTANTS` the kernel reads.
        context: earlier frames the kernel needs to compute a frame (its first ``context`` outputs
            of a clip see none and are defined by the kernel).
        requires: a message when the configuration cannot compute this feature, else ``None``.
    """

    name: str
    source: SourceName
    kernel: Callable[[FrameInputs], Tensor]
    summary: str
    unit: str
    unit_size: float = 1.0
    dim: Callable[[FeatureConfig], int] = _one
    constants: tuple[str, ...] = ()
    context: int = 0
    requires: Callable[[FeatureConfig], str | None] = _no_requirement


def _mel_banks(config: FeatureConfig) -> Tensor:
    from .cepstral import slaney_mel_banks

    return slaney_mel_banks(config.mfcc_mels, config.n_fft, config.sample_rate)


def _dct(config: FeatureConfig) -> Tensor:
    from .cepstral import dct_ortho

    return dct_ortho(config.n_mfcc, config.mfcc_mels)


def _chroma_matrix(config: FeatureConfig) -> Tensor:
    import torch

    from .pitch import chroma_matrix

    return chroma_matrix(torch.tensor(config.cqt.frequencies))


CONSTANTS: dict[str, Callable[[FeatureConfig], Tensor]] = {
    "mel_banks": _mel_banks, "dct": _dct, "chroma_matrix": _chroma_matrix,
}
"""Tensors built once per configuration and kept as buffers of :class:`~.frames.FrameFeatures`."""


def _log_mel(x: FrameInputs) -> Tensor:
    return x.log_mel


def _log_cqt(x: FrameInputs) -> Tensor:
    return x.log_cqt


def _mfcc(x: FrameInputs) -> Tensor:
    from .cepstral import mfcc

    return mfcc(x.magnitude.square(), x.constant("mel_banks"), x.config.n_mfcc, x.constant("dct"))


def _chroma(x: FrameInputs) -> Tensor:
    from .pitch import chroma

    return chroma(x.cqt_magnitude, x.constant("chroma_matrix"))


def _chroma_requires(config: FeatureConfig) -> str | None:
    if config.cqt.semitone_aligned():
        return None
    return (
        "chroma needs CQT bins on semitones (bins_per_octave a multiple of 12 and fmin on a MIDI note), got "
        f"bins_per_octave={config.cqt.bins_per_octave}, fmin={config.cqt.fmin}"
    )


def _centroid(x: FrameInputs) -> Tensor:
    from .spectral import spectral_centroid

    return spectral_centroid(x.magnitude, x.frequencies)


def _bandwidth(x: FrameInputs) -> Tensor:
    from .spectral import spectral_bandwidth

    return spectral_bandwidth(x.magnitude, x.frequencies)


def _flatness(x: FrameInputs) -> Tensor:
    from .spectral import spectral_flatness

    return spectral_flatness(x.magnitude)


def _rolloff(x: FrameInputs) -> Tensor:
    from .spectral import spectral_rolloff

    return spectral_rolloff(x.magnitude, x.frequencies, x.config.rolloff_percent)


def _contrast(x: FrameInputs) -> Tensor:
    from .spectral import spectral_contrast

    c = x.config
    return spectral_contrast(x.magnitude, x.frequencies, c.sample_rate, c.contrast_bands, c.contrast_fmin, c.contrast_quantile)


RMS_FLOOR = 1e-5
"""RMS below this (-100 dBFS) is reported as this, so silence has a finite ``log10``."""


def _rms(x: FrameInputs) -> Tensor:
    from .temporal import rms

    return rms(x.frames).clamp(min=RMS_FLOOR).log10()


def _zcr(x: FrameInputs) -> Tensor:
    from .temporal import zero_crossing_rate_padded

    return zero_crossing_rate_padded(x.padded, x.config.n_fft, x.config.hop_length)


def _peaks(x: FrameInputs) -> Tensor:
    from .pitch import spectral_peaks

    return spectral_peaks(x.cqt_magnitude, x.config.peak_range_db)


def _flux(x: FrameInputs) -> Tensor:
    import torch

    from .cepstral import power_to_db

    mel_db = power_to_db(torch.matmul(x.constant("mel_banks"), x.magnitude.square()))
    rise = (mel_db[..., 1:] - mel_db[..., :-1]).clamp(min=0.0).mean(dim=-2, keepdim=True)
    return torch.nn.functional.pad(rise, (1, 0))


DESCRIPTORS: dict[str, Descriptor] = {
    d.name: d
    for d in (
        Descriptor("mel", "mel", _log_mel, "PaSST's normalised log-mel (the network input)", "normalised log power",
                   dim=lambda c: c.mel.n_mels),
        Descriptor("cqt", "cqt", _log_cqt, "normalised log-power constant-Q transform", "normalised log power",
                   dim=lambda c: c.cqt.n_bins),
        Descriptor("mfcc", "frames", _mfcc, "mel-frequency cepstral coefficients (DCT-II of the Slaney log-mel)", "10 dB",
                   unit_size=10.0, dim=lambda c: c.n_mfcc, constants=("mel_banks", "dct")),
        Descriptor("chroma", "cqt", _chroma, "CQT energy per pitch class, each frame's largest class 1", "ratio in [0, 1]",
                   dim=lambda c: 12, constants=("chroma_matrix",), requires=_chroma_requires),
        Descriptor("centroid", "frames", _centroid, "spectral centroid (magnitude-weighted mean frequency)", "kHz",
                   unit_size=1000.0),
        Descriptor("bandwidth", "frames", _bandwidth, "spectral bandwidth (magnitude-weighted deviation around the centroid)",
                   "kHz", unit_size=1000.0),
        Descriptor("flatness", "frames", _flatness, "spectral flatness (geometric over arithmetic mean of the power)",
                   "ratio in [0, 1]"),
        Descriptor("rolloff", "frames", _rolloff, "frequency below which rolloff_percent of the magnitude lies", "kHz",
                   unit_size=1000.0),
        Descriptor("contrast", "frames", _contrast, "spectral contrast (peak minus valley per octave band)", "10 dB",
                   unit_size=10.0, dim=lambda c: c.contrast_bands + 1),
        Descriptor("rms", "frames", _rms, "root-mean-square amplitude, floored at -100 dBFS",
                   "log10 amplitude (dBFS / 20)"),
        Descriptor("zcr", "edge_frames", _zcr, "zero-crossing rate", "crossings per sample"),
        Descriptor("peaks", "cqt", _peaks, "binary CQT peaks within peak_range_db of the frame maximum", "0 or 1",
                   dim=lambda c: c.cqt.n_bins),
        Descriptor("flux", "frames", _flux, "spectral flux (onset strength): mean rise of the Slaney log-mel "
                   "since the previous frame, 0 for the first frame of a clip", "10 dB", unit_size=10.0,
                   constants=("mel_banks",), context=1),
    )
}
"""Every frame feature by name, in the order listings show them."""

FEATURES: tuple[str, ...] = tuple(DESCRIPTORS)
"""Names of the frame features a :class:`~hear_gear_embed.embedding.config.FeatureBlock` can pool."""


def get_descriptor(name: str) -> Descriptor:
    """The record of feature ``name``.

    Raises:
        ValueError: unknown name, with the closest known names.
    """
    try:
        return DESCRIPTORS[name]
    except KeyError:
        raise ValueError(unknown_name("feature", name, DESCRIPTORS)) from None


def source_of(name: str) -> Source:
    """The :class:`Source` of feature ``name``."""
    return SOURCES[get_descriptor(name).source]
