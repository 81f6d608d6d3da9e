"""Band-limited resampling of audio arrays with soxr (the ``cli`` extra), for every layer that reads or feeds audio at
another rate: the audio reader, and networks that run at a rate of their own (a neuralogram source)."""

from __future__ import annotations

from types import ModuleType

import numpy as np

RESAMPLER_QUALITY = "VHQ"
"""soxr quality: very high (linear phase, passband flat to 0.01 dB up to about 0.91 of the lower
Nyquist frequency, stopband rejection of about 175 dB)."""


def soxr_module() -> ModuleType:
    """soxr, imported on first use (optional dependency)."""
    try:
        import soxr
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError('resampling needs soxr: pip install "hear_gear_embed[cli]"', name=err.name) from err
    return soxr


def resample(audio: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling with soxr at :data:`RESAMPLER_QUALITY`.

    Args:
        audio: ``(n_samples,)`` or ``(n_samples, n_channels)`` float32 at ``orig_rate`` Hz.
        orig_rate: sample rate of ``audio`` (Hz).
        target_rate: wanted sample rate (Hz).

    Returns:
        float32 audio at ``target_rate`` with ``ceil(n_samples * target_rate / orig_rate)`` samples
        (up to rounding of soxr), the input itself when the rates are equal.
    """
    if orig_rate <= 0 or target_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_rate} Hz -> {target_rate} Hz")
    if orig_rate == target_rate:
        return audio
    return soxr_module().resample(np.ascontiguousarray(audio, dtype=np.float32), orig_rate, target_rate, quality=RESAMPLER_QUALITY)
