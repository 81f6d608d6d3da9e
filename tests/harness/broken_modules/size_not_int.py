"""Breaks the type of an embedding size attribute: ``scene_embedding_size`` is the float 8.0 (computed with ``/``).
Expected verdict: FAIL (scene_embedding_size must be an int)."""

from __future__ import annotations

from ._base import SIZE, TinyModel, get_scene_embeddings, get_timestamp_embeddings

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


class FloatSizeModel(TinyModel):
    scene_embedding_size = 2 * SIZE / 2


def load_model(model_file_path: str = "") -> FloatSizeModel:
    return FloatSizeModel()
