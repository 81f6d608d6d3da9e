"""Variants (:mod:`.config`, pure data) and the embedding of audio with them: feature levels, receptive-field
windowing and pooling on top of the frontends, frame features and network. The torch modules are imported
on first use."""

from typing import TYPE_CHECKING

from ..util.lazy import lazy_exports
from .config import KINDS, LEVELS, FeatureBlock, Kind, Level, VariantConfig, WindowBlock

if TYPE_CHECKING:
    from .embedder import Embedder, load_embedder, random_embedder
    from .inputs import AudioInput, as_audio_batch

__getattr__, __dir__ = lazy_exports(__name__, {
    "Embedder": ".embedder", "load_embedder": ".embedder", "random_embedder": ".embedder", "AudioInput": ".inputs",
    "as_audio_batch": ".inputs",
})

__all__ = [
    "KINDS", "LEVELS", "AudioInput", "Embedder", "FeatureBlock", "Kind", "Level", "VariantConfig", "WindowBlock",
    "as_audio_batch", "load_embedder", "random_embedder",
]
