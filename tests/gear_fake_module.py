"""A HEAR module that is not part of this package, for the GEAR toolkit's tests: log band energies.

``BEHAVIOUR`` switches it into misbehaving modes (NaN output, NaN for loud clips only, wrong shape) to test error
reports.
"""

from __future__ import annotations

import torch
from torch import Tensor

BEHAVIOUR = {"mode": "ok"}
N_BANDS = 24


class BandEnergies(torch.nn.Module):
    sample_rate = 16000
    scene_embedding_size = N_BANDS
    timestamp_embedding_size = N_BANDS

    def __init__(self) -> None:
        super().__init__()
        edges = torch.logspace(torch.log10(torch.tensor(50.0)), torch.log10(torch.tensor(7900.0)), N_BANDS + 1)
        freqs = torch.fft.rfftfreq(512, 1 / self.sample_rate)
        self.register_buffer("bands", ((freqs[None] >= edges[:-1, None]) & (freqs[None] < edges[1:, None])).float())

    def forward(self, audio: Tensor) -> Tensor:
        if audio.shape[-1] < 512:
            audio = torch.nn.functional.pad(audio, (0, 512 - audio.shape[-1]))
        frames = audio.unfold(-1, 512, 256)
        power = torch.fft.rfft(frames * torch.hann_window(512), dim=-1).abs().square()
        return torch.log(power @ self.bands.T + 1e-6)


def load_model(model_file_path: str = "") -> BandEnergies:
    return BandEnergies()


def get_timestamp_embeddings(audio: Tensor, model: BandEnergies) -> tuple[Tensor, Tensor]:
    emb = model(audio)
    stamps = torch.arange(emb.shape[1], dtype=torch.float32) * 16.0 + 16.0
    return emb, stamps.expand(audio.shape[0], -1)


def get_scene_embeddings(audio: Tensor, model: BandEnergies) -> Tensor:
    emb = model(audio).mean(dim=1)
    if BEHAVIOUR["mode"] == "nan":
        emb[0, 0] = float("nan")
    if BEHAVIOUR["mode"] == "nan_on_loud":
        emb[audio.abs().amax(dim=-1) > 0.5] = float("nan")
    if BEHAVIOUR["mode"] == "shape":
        emb = emb[:, :-1]
    return emb
