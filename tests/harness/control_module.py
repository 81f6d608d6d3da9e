"""A HEAR module whose embeddings ignore the audio: the harness's negative control.

Its scores show what chance looks like on the synthetic tasks, so that the thresholds of
``run_harness.THRESHOLDS`` are shown to separate an informative embedding from a broken one.
"""

from __future__ import annotations

import torch


class ControlModel(torch.nn.Module):
    """Seeded Gaussian embeddings, independent of the input."""

    sample_rate = 32000
    scene_embedding_size = 64
    timestamp_embedding_size = 64

    def __init__(self) -> None:
        super().__init__()
        self.generator = torch.Generator().manual_seed(0)


def load_model(model_file_path: str = "") -> ControlModel:
    return ControlModel()


def get_scene_embeddings(audio: torch.Tensor, model: ControlModel) -> torch.Tensor:
    return torch.randn(audio.shape[0], model.scene_embedding_size, generator=model.generator)


def get_timestamp_embeddings(audio: torch.Tensor, model: ControlModel) -> tuple[torch.Tensor, torch.Tensor]:
    n = audio.shape[1] // 1600 + 1
    stamps = (torch.arange(n, dtype=torch.float32) * 50.0).expand(audio.shape[0], -1)
    return torch.randn(audio.shape[0], n, model.timestamp_embedding_size, generator=model.generator), stamps
