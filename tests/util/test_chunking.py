"""Memory-bounded ranges and equal-length batches (:mod:`hear_gear_embed.util.chunking`)."""

from __future__ import annotations

from hear_gear_embed.util.chunking import chunks, length_batches


def test_chunks_cover_the_range() -> None:
    assert list(chunks(7, 3)) == [(0, 3), (3, 6), (6, 7)]
    assert list(chunks(2, 0)) == [(0, 1), (1, 2)]
    assert list(chunks(0, 5)) == []


def test_length_batches_group_equal_lengths_shortest_first_within_both_bounds() -> None:
    items, lengths = ["a", "b", "c", "d", "e", "f"], [100, 50, 100, 100, 50, 100]
    assert length_batches(items, lengths, max_items=None, max_samples=1000) == [["b", "e"], ["a", "c", "d", "f"]]
    assert length_batches(items, lengths, max_items=3, max_samples=1000) == [["b", "e"], ["a", "c", "d"], ["f"]]
    assert length_batches(items, lengths, max_items=None, max_samples=250) == [["b", "e"], ["a", "c"], ["d", "f"]]
    # a file longer than the bound still gets a batch of its own
    assert length_batches(["x", "y"], [500, 500], max_items=8, max_samples=100) == [["x"], ["y"]]
