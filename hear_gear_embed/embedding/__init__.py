"""Variants (:mod:`.config`, pure data: the configuration and the plan of a call) and the embedding of audio with
them: feature levels, receptive-field windowing and pooling on top of the frontends, frame features and network
(:mod:`.embedder`), built with their weights by :mod:`.factory`. The torch modules are imported on first use."""

from typing import TYPE_CHECKING

from ..util.lazy import lazy_exports
from .config import (
    KINDS,
    LEVELS,
    ClipFeatures,
    FeatureBlock,
    Kind,
    Level,
    PooledFeatures,
    Step,
    VariantConfig,
    WindowBlock,
    WindowPass,
)

if TYPE_CHECKING:
    from .embedder import Embedder
    from .factory import load_embedder, random_embedder
    from .inputs import AudioInput, as_audio_batch

__getattr__, __dir__ = lazy_exports(__name__, {
    "Embedder": ".embedder", "load_embedder": ".factory", "random_embedder": ".factory", "AudioInput": ".inputs",
    "as_audio_batch": ".inputs",
})

__all__ = [
    "KINDS", "LEVELS", "AudioInput", "ClipFeatures", "Embedder", "FeatureBlock", "Kind", "Level", "PooledFeatures", "Step",
    "VariantConfig", "WindowBlock", "WindowPass", "as_audio_batch", "load_embedder", "random_embedder",
]
