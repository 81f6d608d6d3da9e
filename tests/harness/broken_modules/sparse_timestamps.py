"""Control: a timestamp every 100 ms, so the last one can be more than 50 ms before the end of the audio.
Breaks only recommendations: expected verdict PASS, with warnings (steps above 50 ms, timestamps ending early)."""

from __future__ import annotations

import torch

from ._base import TinyModel, embed_at, load_model, regular_timestamps

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


def get_timestamp_embeddings(audio: torch.Tensor, model: TinyModel) -> tuple[torch.Tensor, torch.Tensor]:
    timestamps = regular_timestamps(audio, model.sample_rate, hop_ms=100.0)
    return embed_at(audio, timestamps, model.sample_rate), timestamps


def get_scene_embeddings(audio: torch.Tensor, model: TinyModel) -> torch.Tensor:
    return get_timestamp_embeddings(audio, model)[0].mean(dim=1)
