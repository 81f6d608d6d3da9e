"""Breaks on long audio: ``get_timestamp_embeddings`` raises for clips longer than 3 s (the 4.0 s check), while the
1.07 s and 1.98 s checks and the scene check (2.74 s) pass. Expected verdict: FAIL (raised ValueError at 4.0 s)."""

from __future__ import annotations

import torch

from . import _base
from ._base import TinyModel, get_scene_embeddings, load_model

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


def get_timestamp_embeddings(audio: torch.Tensor, model: TinyModel) -> tuple[torch.Tensor, torch.Tensor]:
    if audio.shape[1] > 3 * model.sample_rate:
        raise ValueError(f"clips of at most 3 s, got {audio.shape[1] / model.sample_rate} s")
    return _base.get_timestamp_embeddings(audio, model)
