"""Memory-bounded iteration: ranges of at most ``size`` items."""

from __future__ import annotations

from collections.abc import Iterator


def chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` ranges covering ``range(total)`` in steps of ``size`` (at least 1)."""
    size = max(1, size)
    for start in range(0, total, size):
        yield start, min(start + size, total)
