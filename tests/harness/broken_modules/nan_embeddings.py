"""Breaks finiteness: each timestamp embedding is scaled to a mean of 1, which is 0 / 0 = NaN where its 50 ms of audio
lie wholly past the end of the clip (the last timestamp of a clip whose length is a multiple of 50 ms, as the 4.0 s one
of the validators). Expected verdicts: ``hear-validator`` 2021.0.6 PASS (it does not look at the values), the
in-process validator FAIL (embeddings contain NaN), as documented in :mod:`hear_gear_embed.evaluation.validate`."""

from __future__ import annotations

import torch

from ._base import TinyModel, embed_at, get_scene_embeddings, load_model, regular_timestamps

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


def get_timestamp_embeddings(audio: torch.Tensor, model: TinyModel) -> tuple[torch.Tensor, torch.Tensor]:
    timestamps = regular_timestamps(audio, model.sample_rate)
    embeddings = embed_at(audio, timestamps, model.sample_rate)
    return embeddings / embeddings.mean(dim=-1, keepdim=True), timestamps
