"""``load_model`` raises a RuntimeError, as a model whose set-up fails would (the HEAR API is otherwise complete)."""

from __future__ import annotations

import torch

from ...gear_fake_module import get_scene_embeddings, get_timestamp_embeddings

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


def load_model(model_file_path: str = "") -> torch.nn.Module:
    raise RuntimeError("the encoder could not be built")
