"""Frame features: the descriptor table (:mod:`.catalogue`), its parameters (:mod:`.config`), the DSP of
each descriptor (:mod:`.cepstral`, :mod:`.spectral`, :mod:`.pitch`, :mod:`.temporal`) and the chunked
computation of whole clips (:mod:`.frames`). The table and the parameters are pure data; the torch
modules are imported on first use.
"""

from typing import TYPE_CHECKING

from ..util.lazy import lazy_exports
from .catalogue import DESCRIPTORS, FEATURES, SOURCES, Descriptor, Source, get_descriptor
from .config import FeatureConfig

if TYPE_CHECKING:
    from .cepstral import dct_ortho, mfcc, power_to_db, slaney_mel_banks
    from .frames import FrameFeatures
    from .pitch import chroma, chroma_matrix, pitch_classes, spectral_peaks
    from .spectral import spectral_bandwidth, spectral_centroid, spectral_contrast, spectral_flatness, spectral_rolloff
    from .temporal import rms, zero_crossing_rate, zero_crossing_rate_padded

_LAZY = {
    **dict.fromkeys(["dct_ortho", "mfcc", "power_to_db", "slaney_mel_banks"], ".cepstral"),
    "FrameFeatures": ".frames",
    **dict.fromkeys(["chroma", "chroma_matrix", "pitch_classes", "spectral_peaks"], ".pitch"),
    **dict.fromkeys(["spectral_bandwidth", "spectral_centroid", "spectral_contrast", "spectral_flatness",
                     "spectral_rolloff"], ".spectral"),
    **dict.fromkeys(["rms", "zero_crossing_rate", "zero_crossing_rate_padded"], ".temporal"),
}
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "DESCRIPTORS",
    "FEATURES",
    "SOURCES",
    "Descriptor",
    "FeatureConfig",
    "Source",
    "get_descriptor",
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
