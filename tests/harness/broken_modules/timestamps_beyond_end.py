"""Breaks the timestamp range: timestamps mark the end of each 100 ms window instead of its centre, so the last
ones lie beyond the audio (1150 ms for 1.07 s). Expected verdict: FAIL (timestamps end beyond the audio)."""

from __future__ import annotations

import torch

from ._base import TinyModel, embed_at, get_scene_embeddings, load_model, regular_timestamps

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


def get_timestamp_embeddings(audio: torch.Tensor, model: TinyModel) -> tuple[torch.Tensor, torch.Tensor]:
    timestamps = regular_timestamps(audio, model.sample_rate)
    return embed_at(audio, timestamps, model.sample_rate), timestamps + 100.0
