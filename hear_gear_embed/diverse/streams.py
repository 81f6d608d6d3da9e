"""Where a diverse model's frames come from, and how a window reads them.

A stream's frames are computed once per clip (:class:`StreamFrames`): frame features of the descriptor table,
raw-waveform patches (:func:`waveform_patches`), or a frozen network's timestamp embeddings (a :class:`Neuralogram`).
A window centred on sample ``c`` reads the frame nearest to ``c`` and the whole hops on each side that fit in half a
window (:func:`gather_windows`); indices beyond the clip repeat its edge frame. Window centres:
:func:`scene_centres` (seed 001's chunks) and the timestamps of the HEAR API.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class StreamFrames:
    """One stream's frames for a batch of clips.

    Attributes:
        frames: ``(batch, n_frames, frame_dim)`` float32.
        first: sample position of frame 0's centre (at the model's rate).
        hop: samples between frame centres (need not be whole for a neuralogram at another rate).
    """

    frames: Tensor
    first: float
    hop: float

    def half_window(self, window_samples: int) -> int:
        """Whole hops on each side of a window's centre frame that fit in half a window."""
        return int(math.floor((window_samples // 2) / self.hop + 1e-9))


class Neuralogram(Protocol):
    """A frozen network's embeddings of audio, as a stream's frames (built by the HEAR layer from any HEAR module).

    Attributes:
        dim: values per frame.
        name: what it is, for records.
    """

    dim: int
    name: str

    def __call__(self, audio: Tensor) -> StreamFrames:
        """Frames of ``(batch, n_samples)`` audio at the diverse model's sample rate, on the audio's device."""
        ...

    def apply_to(self, fn: Callable[[Tensor], Tensor]) -> None:
        """Apply a module move or cast (``nn.Module._apply``'s function) to the source's network."""
        ...


def waveform_patches(audio: Tensor, patch: int) -> StreamFrames:
    """Non-overlapping ``patch``-sample patches of ``(batch, n_samples)`` audio, patch ``j`` centred on sample
    ``j * patch`` (zero-padded at both ends): ``n_samples // patch + 1`` frames of ``patch`` values."""
    n_frames = audio.shape[-1] // patch + 1
    padded = F.pad(audio, (patch // 2, n_frames * patch - audio.shape[-1] - patch // 2))
    return StreamFrames(padded.unfold(-1, patch, patch), 0.0, float(patch))


def feature_frames(features: dict[str, Tensor], names: tuple[str, ...], hop: int) -> StreamFrames:
    """The frame features ``names`` (each ``(batch, dim, n_frames)`` at ``hop``) concatenated per frame:
    ``(batch, n_frames, sum of dims)``, cut to the fewest frames among them."""
    n_frames = min(features[n].shape[-1] for n in names)
    stacked = torch.cat([features[n][..., :n_frames] for n in names], dim=1)
    return StreamFrames(stacked.transpose(1, 2), 0.0, float(hop))


def gather_windows(stream: StreamFrames, centres: Tensor, window_samples: int) -> Tensor:
    """The frames each window reads: ``(batch * n_windows, 2 * half + 1, frame_dim)``, sound-major.

    Args:
        stream: the clips' frames.
        centres: ``(n_windows,)`` window centres in samples (float or int).
        window_samples: window length in samples.
    """
    frames = stream.frames
    half = stream.half_window(window_samples)
    nearest = torch.round((centres.to(torch.float64) - stream.first) / stream.hop).to(torch.long)
    index = (nearest[:, None] + torch.arange(-half, half + 1, device=nearest.device)).clamp(0, frames.shape[1] - 1)
    gathered = frames[:, index.to(frames.device)]  # (batch, n_windows, 2 half + 1, dim)
    return gathered.flatten(0, 1)


def scene_centres(n_samples: int, window_samples: int) -> Tensor:
    """Centres (samples, float64) of the ``ceil(n_samples / window)`` windows a scene embedding averages: ``window``
    apart, centred as a group on the clip's middle (one window on the middle of a clip no longer than a window)."""
    count = max(1, math.ceil(n_samples / window_samples))
    offsets = torch.arange(count, dtype=torch.float64) - (count - 1) / 2
    return n_samples / 2 + offsets * window_samples
