"""Breaks the model type: ``load_model`` returns a plain object with the HEAR attributes, not a
``torch.nn.Module``. Expected verdict: FAIL (not a torch.nn.Module)."""

from __future__ import annotations

from ._base import SAMPLE_RATE, SIZE, get_scene_embeddings, get_timestamp_embeddings

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


class NumpyModel:
    """What a model written without torch might look like."""

    sample_rate = SAMPLE_RATE
    scene_embedding_size = SIZE
    timestamp_embedding_size = SIZE


def load_model(model_file_path: str = "") -> NumpyModel:
    return NumpyModel()
