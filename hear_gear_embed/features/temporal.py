"""Time-domain frame descriptors, matching ``librosa.feature.rms`` and ``zero_crossing_rate`` (0.11).

Both take framed audio ``(..., n_frames, frame_length)`` and leave framing and padding to the caller.
To reproduce librosa's ``center=True`` output, pad ``frame_length // 2`` samples at both ends of the
signal before framing with hop ``hop_length`` (``n_frames = 1 + n_samples // hop_length``), but note that
librosa pads the two features differently:

* ``rms``: zero padding (``pad_mode="constant"``, the default of librosa 0.11);
* ``zero_crossing_rate``: edge padding (the first and last samples repeated), hard-coded in librosa.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check_frames(frames: Tensor) -> None:
    if frames.ndim < 2:
        raise ValueError(f"frames must have shape (..., n_frames, frame_length), got shape {tuple(frames.shape)}")
    if not frames.is_floating_point():
        raise ValueError(f"frames must be a real floating-point tensor, got dtype {frames.dtype}")


def rms(frames: Tensor) -> Tensor:
    """Root-mean-square amplitude of each frame, ``sqrt(mean(x**2))``.

    Matches ``librosa.feature.rms(y=..., frame_length, hop_length, center=True)`` when ``frames`` were cut
    from the signal zero-padded by ``frame_length // 2`` samples at both ends (see the module docstring).

    Args:
        frames: audio frames ``(..., n_frames, frame_length)`` in samples (amplitude, e.g. in [-1, 1]).

    Returns:
        RMS amplitude (same unit as the samples), shape ``(..., 1, n_frames)``.
    """
    _check_frames(frames)
    return frames.square().mean(dim=-1).sqrt().unsqueeze(-2)


def zero_crossing_rate(frames: Tensor, threshold: float = 1e-10) -> Tensor:
    """Fraction of adjacent sample pairs in each frame whose signs differ, as librosa counts it.

    Samples with ``|x| <= threshold`` count as 0, and 0 counts as positive (librosa's ``zero_pos=True``).
    A crossing is a pair ``(x[n-1], x[n])``, ``n = 1 .. frame_length - 1``, with different sign bits; the
    count is divided by ``frame_length`` (not ``frame_length - 1``), because librosa averages a per-sample
    crossing indicator whose first entry is always False. Matches
    ``librosa.feature.zero_crossing_rate(y, frame_length, hop_length, center=True)`` when ``frames`` were
    cut from the signal edge-padded by ``frame_length // 2`` samples at both ends (see the module docstring).

    Args:
        frames: audio frames ``(..., n_frames, frame_length)`` in samples.
        threshold: amplitude at or below which a sample is treated as zero, ``>= 0``.

    Returns:
        Crossings per sample (dimensionless, in ``[0, 1)``), shape ``(..., 1, n_frames)``.
    """
    _check_frames(frames)
    if not threshold >= 0:
        raise ValueError(f"threshold must be non-negative, got {threshold}")
    negative = frames < -threshold
    crossings = negative[..., 1:] != negative[..., :-1]
    return (crossings.sum(dim=-1).to(frames.dtype) / frames.shape[-1]).unsqueeze(-2)


def zero_crossing_rate_padded(padded: Tensor, frame_length: int, hop_length: int, threshold: float = 1e-10) -> Tensor:
    """:func:`zero_crossing_rate` of every frame of a padded signal, without materialising the frames.

    Each sign change between neighbouring samples is found once and summed per frame with a strided
    average pool, so the cost is per sample rather than per frame sample.

    Args:
        padded: signal ``(batch, n_padded)`` already padded (edge padding for librosa's ``center=True``).
        frame_length: frame length in samples, ``>= 2``.
        hop_length: hop between frames in samples, ``>= 1``.
        threshold: amplitude at or below which a sample is treated as zero, ``>= 0``.

    Returns:
        ``(batch, 1, 1 + (n_padded - frame_length) // hop_length)`` crossings per sample.
    """
    if padded.ndim != 2 or not padded.is_floating_point():
        raise ValueError(f"padded must be a real floating-point tensor (batch, n_padded), got {padded.dtype} {tuple(padded.shape)}")
    if frame_length < 2 or hop_length < 1 or padded.shape[-1] < frame_length:
        raise ValueError(
            f"need frame_length >= 2, hop_length >= 1 and at least frame_length samples, got {frame_length}, "
            f"{hop_length}, {padded.shape[-1]}"
        )
    if not threshold >= 0:
        raise ValueError(f"threshold must be non-negative, got {threshold}")
    negative = padded < -threshold
    crossings = (negative[:, 1:] != negative[:, :-1]).to(padded.dtype).unsqueeze(1)
    pairs = frame_length - 1
    mean = torch.nn.functional.avg_pool1d(crossings, pairs, hop_length)
    return mean * (pairs / frame_length)
