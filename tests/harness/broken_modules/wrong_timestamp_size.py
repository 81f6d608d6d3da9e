"""Breaks the declared size: ``timestamp_embedding_size`` is 16 but the timestamp embeddings have 8 values.
Expected verdict: FAIL (embedding size 8 != timestamp_embedding_size 16)."""

from __future__ import annotations

from ._base import SIZE, TinyModel, get_scene_embeddings, get_timestamp_embeddings

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


class WrongSizeModel(TinyModel):
    timestamp_embedding_size = 2 * SIZE


def load_model(model_file_path: str = "") -> WrongSizeModel:
    return WrongSizeModel()
