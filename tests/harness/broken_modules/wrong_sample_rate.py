"""Breaks the sample rate: 8 kHz, not one of 16, 22.05, 32, 44.1, 48 kHz. Expected verdict: FAIL (sample_rate)."""

from __future__ import annotations

from ._base import TinyModel, get_scene_embeddings, get_timestamp_embeddings

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


class NarrowbandModel(TinyModel):
    sample_rate = 8000


def load_model(model_file_path: str = "") -> NarrowbandModel:
    return NarrowbandModel()
