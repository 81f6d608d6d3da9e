"""Centred windows around timestamps, and memory-bounded iteration over them.

Window ``i`` of length ``w`` around timestamp ``t_i = i * hop`` covers samples
``[t_i - w // 2, t_i - w // 2 + w)`` of the clip; there are ``n_samples // hop + 1`` timestamps, so
the last one never lies beyond the audio. Outside the clip, samples are mirrored (reflect padding,
as the reference implementation does) as far as the clip allows, and zero beyond that, so clips
shorter than half a window, down to one sample, still work.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor


def n_timestamps(n_samples: int, hop: int) -> int:
    """Number of centred timestamps ``0, hop, 2 hop, ...`` that do not pass ``n_samples``."""
    return n_samples // hop + 1


def timestamps_ms(n_sounds: int, n_samples: int, hop: int, sample_rate: int, device: torch.device | None = None) -> Tensor:
    """Centred timestamps in milliseconds, ``(n_sounds, n_timestamps)`` float32."""
    steps = torch.arange(n_timestamps(n_samples, hop), dtype=torch.float64, device=device)
    return (steps * (hop * 1000.0 / sample_rate)).to(torch.float32).expand(n_sounds, -1)


def pad_reflect_then_zero(audio: Tensor, left: int, right: int) -> Tensor:
    """Pad ``(n, n_samples)`` audio by mirroring up to ``n_samples - 1`` samples per side, zeros beyond."""
    n_samples = audio.shape[-1]
    mirror_left, mirror_right = min(left, n_samples - 1), min(right, n_samples - 1)
    if mirror_left or mirror_right:
        audio = F.pad(audio.unsqueeze(1), (mirror_left, mirror_right), mode="reflect").squeeze(1)
    if left > mirror_left or right > mirror_right:
        audio = F.pad(audio, (left - mirror_left, right - mirror_right))
    return audio


def centred_windows(audio: Tensor, window: int, hop: int) -> Tensor:
    """All windows around the timestamps, as a strided view ``(n_sounds, n_timestamps, window)``.

    The view shares memory with one padded copy of the audio; windows are copied only when indexed.
    """
    left = window // 2
    padded = pad_reflect_then_zero(audio, left, window - left)
    return padded.unfold(-1, window, hop)


def chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` ranges covering ``range(total)`` in steps of ``size``."""
    size = max(1, size)
    for start in range(0, total, size):
        yield start, min(start + size, total)


def gather_windows(windows: Tensor, start: int, stop: int) -> Tensor:
    """Windows ``start..stop`` of the sound-major flattening of ``(n_sounds, n_windows, w)``, as ``(k, w)``."""
    per_sound = windows.shape[1]
    flat = torch.arange(start, stop, device=windows.device)
    return windows[flat // per_sound, flat % per_sound]
