"""A correct tiny HEAR module, the base of the broken ones: 16 kHz, 8 values per embedding, a timestamp every 50 ms
from 0 to the end of the audio. No weights: an embedding is the mean absolute amplitude of 8 chunks of the 50 ms
of audio from its timestamp on."""

from __future__ import annotations

import torch
import torch.nn.functional as F

SAMPLE_RATE = 16000
HOP_MS = 50.0
SIZE = 8


class TinyModel(torch.nn.Module):
    """The HEAR attributes only: sample rate (Hz) and embedding sizes."""

    sample_rate = SAMPLE_RATE
    scene_embedding_size = SIZE
    timestamp_embedding_size = SIZE


def load_model(model_file_path: str = "") -> TinyModel:
    return TinyModel()


def regular_timestamps(audio: torch.Tensor, sample_rate: int, hop_ms: float = HOP_MS) -> torch.Tensor:
    """Timestamps (n_sounds, n_timestamps) in ms, every ``hop_ms`` from 0 to the duration of ``audio``
    (n_sounds, n_samples)."""
    n = int(1000 * audio.shape[1] / sample_rate // hop_ms) + 1
    return (torch.arange(n, dtype=torch.float32, device=audio.device) * hop_ms).expand(audio.shape[0], -1)


def embed_at(audio: torch.Tensor, timestamps: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Embeddings (n_sounds, n_timestamps, 8) float32 of ``audio`` (n_sounds, n_samples) at ``timestamps``
    (n_sounds, n_timestamps) in ms, the same for every sound."""
    window = round(sample_rate * HOP_MS / 1000)
    starts = (timestamps[0] * sample_rate / 1000).round().long().clamp(0, audio.shape[1])
    frames = F.pad(audio, (0, window))[:, starts[:, None] + torch.arange(window, device=audio.device)]
    return frames.abs().reshape(audio.shape[0], len(starts), SIZE, window // SIZE).mean(dim=-1)


def get_timestamp_embeddings(audio: torch.Tensor, model: TinyModel) -> tuple[torch.Tensor, torch.Tensor]:
    timestamps = regular_timestamps(audio, model.sample_rate)
    return embed_at(audio, timestamps, model.sample_rate), timestamps


def get_scene_embeddings(audio: torch.Tensor, model: TinyModel) -> torch.Tensor:
    return get_timestamp_embeddings(audio, model)[0].mean(dim=1)
