"""Breaks ``load_model``: it raises without a weights file, and the validator calls it without one.
Expected verdict: FAIL (load_model() raised FileNotFoundError)."""

from __future__ import annotations

from ._base import TinyModel, get_scene_embeddings, get_timestamp_embeddings

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


def load_model(model_file_path: str = "") -> TinyModel:
    if not model_file_path:
        raise FileNotFoundError("no weights file given: pass model_file_path")
    return TinyModel()
