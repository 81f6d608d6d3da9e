"""Handcrafted frame-level audio descriptors (batched torch) and the clip-level frame features built on them."""

from .cepstral import dct_ortho, mfcc, power_to_db, slaney_mel_banks
from .frames import FrameFeatures
from .pitch import chroma, chroma_matrix, pitch_classes, spectral_peaks
from .spectral import spectral_bandwidth, spectral_centroid, spectral_contrast, spectral_flatness, spectral_rolloff
from .temporal import rms, zero_crossing_rate, zero_crossing_rate_padded

__all__ = [
    "FrameFeatures",
    "chroma",
    "chroma_matrix",
    "dct_ortho",
    "mfcc",
    "pitch_classes",
    "power_to_db",
    "rms",
    "slaney_mel_banks",
    "spectral_bandwidth",
    "spectral_centroid",
    "spectral_contrast",
    "spectral_flatness",
    "spectral_peaks",
    "spectral_rolloff",
    "zero_crossing_rate",
    "zero_crossing_rate_padded",
]
