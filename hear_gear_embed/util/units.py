"""Unit conversions and timestamp arithmetic shared by every configuration."""

from __future__ import annotations


def ms_to_samples(ms: float, sample_rate: int) -> int:
    """A duration in milliseconds as a whole number of samples at ``sample_rate`` Hz (rounded to nearest)."""
    return int(round(ms * sample_rate / 1000.0))


def n_timestamps(n_samples: int, hop: int) -> int:
    """Number of centred timestamps ``0, hop, 2 hop, ...`` (samples) that do not pass ``n_samples``."""
    return n_samples // hop + 1
