"""Breaks the regularity of timestamps: an extra timestamp at the very end of the audio (1070 ms after 1050 ms
for 1.07 s), a step 30 ms shorter than the others. Expected verdict: FAIL (timestamps must be regular)."""

from __future__ import annotations

import torch

from ._base import TinyModel, embed_at, get_scene_embeddings, load_model, regular_timestamps

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


def get_timestamp_embeddings(audio: torch.Tensor, model: TinyModel) -> tuple[torch.Tensor, torch.Tensor]:
    regular = regular_timestamps(audio, model.sample_rate)
    end = torch.full((audio.shape[0], 1), 1000 * audio.shape[1] / model.sample_rate, device=audio.device)
    timestamps = torch.cat([regular, end], dim=1)
    return embed_at(audio, timestamps, model.sample_rate), timestamps
