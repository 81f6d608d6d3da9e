"""Centred windows, padding and chunking."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hear_gear_embed.embedding.windowing import (
    centred_windows,
    chunks,
    gather_windows,
    n_timestamps,
    pad_reflect_then_zero,
    timestamps_ms,
)


def test_timestamp_grid() -> None:
    assert n_timestamps(34240, 1600) == 22  # 1.07 s at 32 kHz, 50 ms hop
    stamps = timestamps_ms(2, 34240, 1600, 32000)
    assert stamps.shape == (2, 22) and stamps.dtype == torch.float32
    assert stamps[0, :3].tolist() == [0.0, 50.0, 100.0]
    assert float(stamps[0, -1]) == 1050.0 <= 1070.0


def test_reflect_padding_matches_torch_when_possible() -> None:
    x = torch.randn(3, 100)
    torch.testing.assert_close(pad_reflect_then_zero(x, 40, 40), F.pad(x[:, None], (40, 40), mode="reflect")[:, 0])


def test_short_clips_mirror_then_zero() -> None:
    x = torch.tensor([[1.0, 2.0, 3.0]])
    assert pad_reflect_then_zero(x, 4, 3).tolist() == [[0.0, 0.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0, 0.0]]
    assert pad_reflect_then_zero(torch.tensor([[5.0]]), 2, 2).tolist() == [[0.0, 0.0, 5.0, 0.0, 0.0]]


@pytest.mark.parametrize("window", [8, 9])
def test_windows_are_centred_on_timestamps(window: int) -> None:
    n, hop = 40, 5
    audio = torch.arange(1, n + 1, dtype=torch.float32)[None]
    windows = centred_windows(audio, window, hop)
    assert windows.shape == (1, n // hop + 1, window)
    for i in range(windows.shape[1]):
        centre = i * hop
        start = centre - window // 2
        for j in range(window):
            pos = start + j
            if 0 <= pos < n:
                assert float(windows[0, i, j]) == pos + 1
    assert float(windows[0, 1, window // 2]) == hop + 1  # sample at the timestamp sits at index window // 2


def test_gather_is_sound_major() -> None:
    audio = torch.stack([torch.arange(20.0), 100 + torch.arange(20.0)])
    windows = centred_windows(audio, 4, 10)
    got = gather_windows(windows, 1, 5)
    expected = torch.stack([windows[0, 1], windows[0, 2], windows[1, 0], windows[1, 1]])
    torch.testing.assert_close(got, expected)


def test_chunks_cover_the_range() -> None:
    assert list(chunks(7, 3)) == [(0, 3), (3, 6), (6, 7)]
    assert list(chunks(2, 0)) == [(0, 1), (1, 2)]
