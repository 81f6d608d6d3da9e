"""Centred windows and their padding (:mod:`hear_gear_embed.embedding.windowing`)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hear_gear_embed.embedding.windowing import (
    centred_window_chunk,
    n_timestamps,
    pad_reflect_then_zero,
    timestamps_ms,
)


def padded_windows(audio: torch.Tensor, window: int, hop: int) -> torch.Tensor:
    """Specification: all windows ``(n_sounds, n_timestamps, window)`` cut from the padded clip."""
    return pad_reflect_then_zero(audio, window // 2, window - window // 2).unfold(-1, window, hop)


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
    windows = centred_window_chunk(audio, window, hop, 0, n // hop + 1)
    assert windows.shape == (n // hop + 1, window)
    for i in range(windows.shape[0]):
        start = i * hop - window // 2
        for j in range(window):
            if 0 <= start + j < n:
                assert float(windows[i, j]) == start + j + 1
    assert float(windows[1, window // 2]) == hop + 1  # sample at the timestamp sits at index window // 2


@pytest.mark.parametrize(
    ("n_samples", "window", "hop"),
    [(100, 16, 5), (100, 17, 7), (9, 16, 2), (3, 10, 1), (1, 6, 1), (50, 200, 10), (20, 20, 20)],
)
def test_chunk_equals_slicing_the_padded_clip(n_samples: int, window: int, hop: int) -> None:
    audio = torch.randn(3, n_samples)
    expected = padded_windows(audio, window, hop).flatten(0, 1)
    total = expected.shape[0]
    for start, stop in [(0, total), (1, total - 1), (total // 2, total // 2 + 1), (total - 1, total)]:
        got = centred_window_chunk(audio, window, hop, start, stop)
        torch.testing.assert_close(got, expected[start:stop], rtol=0, atol=0)


def test_chunk_is_sound_major() -> None:
    audio = torch.stack([torch.arange(20.0), 100 + torch.arange(20.0)])
    windows = padded_windows(audio, 4, 10)
    got = centred_window_chunk(audio, 4, 10, 1, 5)
    expected = torch.stack([windows[0, 1], windows[0, 2], windows[1, 0], windows[1, 1]])
    torch.testing.assert_close(got, expected)
