"""Breaks the output type: ``get_scene_embeddings`` returns a float32 numpy array instead of a torch.Tensor.
Expected verdict: FAIL (embeddings must be a torch.Tensor)."""

from __future__ import annotations

import numpy as np
import torch

from . import _base
from ._base import TinyModel, get_timestamp_embeddings, load_model

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


def get_scene_embeddings(audio: torch.Tensor, model: TinyModel) -> np.ndarray:
    return _base.get_scene_embeddings(audio, model).cpu().numpy()
