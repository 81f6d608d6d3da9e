"""Breaks the dtype: timestamp embeddings are computed and returned in float64.
Expected verdict: FAIL (embeddings must be torch.float32)."""

from __future__ import annotations

import torch

from ._base import TinyModel, embed_at, get_scene_embeddings, load_model, regular_timestamps

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


def get_timestamp_embeddings(audio: torch.Tensor, model: TinyModel) -> tuple[torch.Tensor, torch.Tensor]:
    timestamps = regular_timestamps(audio, model.sample_rate)
    return embed_at(audio.double(), timestamps, model.sample_rate), timestamps
