"""``load_model`` raises a KeyError, as one that looks up an entry its checkpoint lacks would."""

from __future__ import annotations

import torch

from ...gear_fake_module import get_scene_embeddings, get_timestamp_embeddings

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


def load_model(model_file_path: str = "") -> torch.nn.Module:
    checkpoint: dict[str, torch.nn.Module] = {}
    return checkpoint["encoder"]
