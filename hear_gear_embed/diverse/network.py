"""The network of a diverse model: one transformer per stream (:class:`StreamEncoder`, PaSST's own pre-norm blocks),
their CLS outputs concatenated (:class:`DiverseNet`). It sees frames, not audio: where the frames come from is
:mod:`.streams`' business."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..model.passt import Block, init_layers
from .config import DiverseConfig, Encoder, Stream

_EPS = 1e-6


def sinusoidal_positions(n_tokens: int, width: int, device: torch.device) -> Tensor:
    """``(n_tokens, width)`` sine / cosine encodings of the offsets ``-(n - 1) / 2 .. (n - 1) / 2`` from the window's
    centre frame (wavelengths from 2 to about 10000 frames): windows of any length share the encoding of their centre."""
    offsets = torch.arange(n_tokens, device=device, dtype=torch.float32) - (n_tokens - 1) / 2
    half = width // 2
    rates = torch.exp(torch.arange(half, device=device, dtype=torch.float32) * (-math.log(10000.0) / max(1, half)))
    angles = offsets[:, None] * rates[None]
    out = torch.zeros(n_tokens, width, device=device)
    out[:, 0: 2 * half: 2] = angles.sin()
    out[:, 1: 2 * half: 2] = angles.cos()
    return out


class StreamEncoder(nn.Module):
    """One stream's transformer: ``(batch, frames, frame_dim)`` -> ``(batch, width)``.

    Each frame is projected to ``width`` (after a LayerNorm, except raw-waveform patches, whose scale is the signal's),
    sinusoidal positions are added, a CLS token is put first, ``depth`` blocks run, and the CLS token's output after a
    final LayerNorm is the stream's embedding.
    """

    def __init__(self, frame_dim: int, encoder: Encoder, *, normalise_input: bool) -> None:
        super().__init__()
        self.frame_dim, self.width = frame_dim, encoder.width
        self.input_norm = nn.LayerNorm(frame_dim, eps=_EPS) if normalise_input else nn.Identity()
        self.proj = nn.Linear(frame_dim, encoder.width)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, encoder.width))
        self.blocks = nn.Sequential(*(Block(encoder.width, encoder.heads, encoder.mlp_ratio) for _ in range(encoder.depth)))
        self.norm = nn.LayerNorm(encoder.width, eps=_EPS)

    def forward(self, frames: Tensor) -> Tensor:
        if frames.ndim != 3 or frames.shape[-1] != self.frame_dim:
            raise ValueError(f"expected frames (batch, n_frames, {self.frame_dim}), got {tuple(frames.shape)}")
        x = self.proj(self.input_norm(frames)) + sinusoidal_positions(frames.shape[1], self.width, frames.device)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        return self.norm(self.blocks(x)[:, 0])


class DiverseNet(nn.Module):
    """Every stream's encoder; :meth:`forward` concatenates their embeddings in stream order.

    Args:
        config: the model's configuration.
        frame_dims: values per frame of each stream, by name (a neuralogram's is its source's embedding size).

    Attributes:
        config: the configuration (what checkpoints record as the geometry).
        frame_dims: as given.
    """

    def __init__(self, config: DiverseConfig, frame_dims: dict[str, int]) -> None:
        super().__init__()
        missing = [s.name for s in config.streams if s.name not in frame_dims]
        if missing:
            raise ValueError(f"{config.name}: no frame size for the streams {missing}")
        self.config, self.frame_dims = config, {s.name: int(frame_dims[s.name]) for s in config.streams}
        self.encoders = nn.ModuleDict({
            s.name: StreamEncoder(self.frame_dims[s.name], config.encoder, normalise_input=s.kind != "waveform")
            for s in config.streams
        })
        self.reset_parameters()

    @property
    def streams(self) -> tuple[Stream, ...]:
        return self.config.streams

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Truncated normal (std 0.02) CLS tokens and linear weights, zero biases, unit LayerNorms (as PaSST)."""
        init_layers(self, generator)
        for encoder in self.encoders.values():
            assert isinstance(encoder, StreamEncoder)
            nn.init.trunc_normal_(encoder.cls_token, std=0.02, a=-0.04, b=0.04, generator=generator)

    def forward(self, frames: dict[str, Tensor]) -> Tensor:
        """``{stream: (batch, n_frames, frame_dim)}`` -> ``(batch, config.embedding_size)``."""
        return torch.cat([self.encoders[s.name](frames[s.name]) for s in self.config.streams], dim=1)
