"""Validation of audio given to the embedding functions: every bad input gets a clear exception."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

AudioInput = Tensor | np.ndarray
"""Audio accepted at every public edge: a torch tensor or a NumPy array, ``(n_sounds, n_samples)`` floating point."""


def as_audio_batch(audio: object, device: torch.device | None = None) -> Tensor:
    """Check and convert audio to a float32 ``(n_sounds, n_samples)`` tensor on ``device``.

    Accepted: a torch tensor or a NumPy array of floating dtype (float16/bfloat16/float64 are cast
    to float32), two-dimensional, with at least one sound and one sample, all values finite. Values
    beyond [-1, 1] are allowed but warned about (HEAR expects that range).

    Raises:
        TypeError: not a tensor/array, or a non-floating dtype (integer PCM must be scaled first).
        ValueError: wrong number of dimensions, no sounds, no samples, or NaN/Inf values.
    """
    if isinstance(audio, np.ndarray):
        if not np.issubdtype(audio.dtype, np.floating):
            raise TypeError(
                f"audio must be floating point in [-1, 1], got a NumPy array of dtype {audio.dtype}"
                + _int_hint(np.issubdtype(audio.dtype, np.integer))
            )
        audio = torch.from_numpy(np.ascontiguousarray(audio))
    elif not isinstance(audio, Tensor):
        raise TypeError(f"audio must be a torch.Tensor or numpy.ndarray, got {type(audio).__name__}")
    if not torch.is_floating_point(audio):
        raise TypeError(
            f"audio must be floating point in [-1, 1], got dtype {audio.dtype}"
            + _int_hint(not audio.dtype.is_complex and audio.dtype != torch.bool)
        )
    if audio.ndim != 2:
        hint = " (add a batch axis: audio[None])" if audio.ndim == 1 else ""
        raise ValueError(f"audio must have shape (n_sounds, n_samples), got {audio.ndim}-D shape {tuple(audio.shape)}{hint}")
    n_sounds, n_samples = audio.shape
    if n_sounds == 0:
        raise ValueError("audio holds no sounds (shape (0, n_samples))")
    if n_samples == 0:
        raise ValueError("audio is empty: 0 samples per sound")
    audio = audio.to(device=device, dtype=torch.float32)
    finite = torch.isfinite(audio)
    if not bool(finite.all()):
        bad = (~finite).nonzero()[0].tolist()
        count = int((~finite).sum())
        raise ValueError(f"audio contains {count} NaN or Inf values (first at sound {bad[0]}, sample {bad[1]})")
    peak = float(audio.abs().max())
    if peak > 1.0:
        warnings.warn(f"audio peaks at {peak:.3g}, outside the [-1, 1] range HEAR expects", stacklevel=3)
    return audio


def _int_hint(is_integer: bool) -> str:
    return "; scale integer PCM first, e.g. audio / 32768.0 for int16" if is_integer else ""
