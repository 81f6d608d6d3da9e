"""Centred windows around timestamps, and memory-bounded iteration over them.

Window ``i`` of length ``w`` around timestamp ``t_i = i * hop`` covers samples
``[t_i - w // 2, t_i - w // 2 + w)`` of the clip; there are ``n_samples // hop + 1`` timestamps, so
the last one never lies beyond the audio. Outside the clip, samples are mirrored (reflect padding,
as the reference implementation does) as far as the clip allows, and zero beyond that, so clips
shorter than half a window, down to one sample, still work.

Only the windows of one chunk exist at a time (:func:`centred_window_chunk`), so the working
memory is bounded by the chunk size, whatever the clip's length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..util.units import n_timestamps


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


def centred_window_chunk(audio: Tensor, window: int, hop: int, start: int, stop: int) -> Tensor:
    """Windows ``start..stop`` of the sound-major list of all centred windows, read from ``audio``.

    Window ``r`` of that list belongs to sound ``r // n_timestamps`` and timestamp
    ``r % n_timestamps``. The result equals slicing :func:`pad_reflect_then_zero` of the whole clip,
    but only the requested windows are materialised: no padded copy of the clip is made, so memory
    does not grow with the clip's length.

    Args:
        audio: ``(n_sounds, n_samples)``.
        window: window length (samples).
        hop: timestamp hop (samples).
        start, stop: range of rows of the sound-major list.

    Returns:
        ``(stop - start, window)`` with the dtype and device of ``audio``.
    """
    n_samples = audio.shape[1]
    per_sound = n_timestamps(n_samples, hop)
    rows = torch.arange(start, stop, device=audio.device)
    first = (rows % per_sound) * hop - window // 2
    index = first.unsqueeze(1) + torch.arange(window, device=audio.device)
    inside = (index > -n_samples) & (index < 2 * n_samples - 1)
    index = index.abs()
    index = torch.where(index >= n_samples, 2 * (n_samples - 1) - index, index).clamp(0, n_samples - 1)
    windows = audio[(rows // per_sound).unsqueeze(1), index]
    return windows.masked_fill_(~inside, 0.0)
