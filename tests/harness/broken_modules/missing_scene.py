"""Breaks the API: no ``get_scene_embeddings``. Expected verdict: FAIL (the module must define it)."""

from ._base import get_timestamp_embeddings, load_model

__all__ = ["get_timestamp_embeddings", "load_model"]
