"""Memory-bounded iteration: ranges of at most ``size`` items, and batches of equal-length items."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

_T = TypeVar("_T")


def chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` ranges covering ``range(total)`` in steps of ``size`` (at least 1)."""
    size = max(1, size)
    for start in range(0, total, size):
        yield start, min(start + size, total)


def length_batches(items: Sequence[_T], lengths: Sequence[int], *, max_items: int | None,
                   max_samples: int) -> list[list[_T]]:
    """Groups of items of equal length (samples), each split into batches of at most ``max_items`` items (``None``: no
    bound) and ``max_samples`` samples in all (at least one item per batch), shortest length first, items in input
    order within a length."""
    groups: dict[int, list[_T]] = {}
    for item, length in zip(items, lengths, strict=True):
        groups.setdefault(length, []).append(item)
    batches = []
    for length, members in sorted(groups.items()):
        per_batch = max(1, min(max_items or len(members), max_samples // max(length, 1)))
        batches += [members[i: i + per_batch] for i in range(0, len(members), per_batch)]
    return batches
