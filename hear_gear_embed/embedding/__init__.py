"""Feature levels and receptive-field windowing on top of the frontend and network."""

from .embedder import Embedder, load_embedder, random_embedder
from .inputs import as_audio_batch

__all__ = ["Embedder", "as_audio_batch", "load_embedder", "random_embedder"]
