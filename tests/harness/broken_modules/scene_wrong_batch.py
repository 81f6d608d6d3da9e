"""Breaks the scene batch size: scene embeddings are averaged over the batch as well as over time, (1, 8) for
4 sounds. Expected verdict: FAIL (4 sounds in, 1 embeddings out)."""

from __future__ import annotations

import torch

from ._base import TinyModel, get_timestamp_embeddings, load_model

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


def get_scene_embeddings(audio: torch.Tensor, model: TinyModel) -> torch.Tensor:
    return get_timestamp_embeddings(audio, model)[0].mean(dim=(0, 1))[None]
