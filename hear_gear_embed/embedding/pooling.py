"""Pooling of clip-level frame features over windows centred on timestamps, and over whole clips."""

from __future__ import annotations

import torch
from torch import Tensor


def centre_frames(n_stamps: int, stamp_hop: int, frame_hop: int, n_frames: int, device: torch.device) -> Tensor:
    """Index of the frame centred on each timestamp.

    Args:
        n_stamps: number of timestamps (timestamp ``i`` is at sample ``i * stamp_hop``).
        stamp_hop: timestamp hop in samples (a multiple of ``frame_hop``).
        frame_hop: frame hop in samples (frame ``j`` is centred on sample ``j * frame_hop``).
        n_frames: frames available; later timestamps take the last frame.

    Returns:
        ``(n_stamps,)`` int64.
    """
    index = torch.arange(n_stamps, device=device) * (stamp_hop // frame_hop)
    return index.clamp(max=n_frames - 1)


def window_mean_std(frames: Tensor, centres: Tensor, half: int) -> Tensor:
    """Mean and standard deviation of the frames ``centre - half .. centre + half`` that exist.

    Uses running sums, so the cost does not grow with the window. Sums are taken in float64 after
    subtracting each band's clip mean, which keeps ``E[x^2] - E[x]^2`` accurate for offsets as large
    as spectral centroids in Hz.

    Args:
        frames: ``(batch, d, n_frames)`` features.
        centres: ``(n_stamps,)`` centre frame indices in ``[0, n_frames)``.
        half: frames on each side of the centre.

    Returns:
        ``(batch, n_stamps, 2 d)`` float32: the ``d`` means, then the ``d`` standard deviations.
    """
    n_frames = frames.shape[-1]
    x = frames.double()
    offset = x.mean(dim=-1, keepdim=True)
    x = x - offset
    zero = x.new_zeros(x.shape[:-1] + (1,))
    first = torch.cat([zero, x.cumsum(-1)], dim=-1)
    second = torch.cat([zero, x.square().cumsum(-1)], dim=-1)
    lo = (centres - half).clamp(min=0)
    hi = (centres + half + 1).clamp(max=n_frames)
    count = (hi - lo).double()
    mean = (first[..., hi] - first[..., lo]) / count
    var = ((second[..., hi] - second[..., lo]) / count - mean.square()).clamp(min=0.0)
    return torch.cat([mean + offset, var.sqrt()], dim=1).transpose(1, 2).float()


def window_frames(frames: Tensor, centres: Tensor, half: int) -> Tensor:
    """All frames ``centre - half .. centre + half``, flattened band-major; outside the clip the edge frame repeats.

    Args:
        frames: ``(batch, d, n_frames)`` features.
        centres: ``(n_stamps,)`` centre frame indices.
        half: frames on each side of the centre.

    Returns:
        ``(batch, n_stamps, d * (2 half + 1))``.
    """
    offsets = torch.arange(-half, half + 1, device=frames.device)
    index = (centres.unsqueeze(1) + offsets).clamp(0, frames.shape[-1] - 1)
    batch, d = frames.shape[:2]
    gathered = frames[:, :, index]
    return gathered.permute(0, 2, 1, 3).reshape(batch, centres.shape[0], d * offsets.shape[0])


def clip_mean_std(frames: Tensor) -> Tensor:
    """Mean then standard deviation over all frames: ``(batch, d, n_frames)`` -> ``(batch, 2 d)`` float32."""
    x = frames.double()
    mean = x.mean(dim=-1)
    std = (x - mean.unsqueeze(-1)).square().mean(dim=-1).sqrt()
    return torch.cat([mean, std], dim=1).float()
