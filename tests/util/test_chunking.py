"""Memory-bounded ranges (:mod:`hear_gear_embed.util.chunking`)."""

from __future__ import annotations

from hear_gear_embed.util.chunking import chunks


def test_chunks_cover_the_range() -> None:
    assert list(chunks(7, 3)) == [(0, 3), (3, 6), (6, 7)]
    assert list(chunks(2, 0)) == [(0, 1), (1, 2)]
    assert list(chunks(0, 5)) == []
