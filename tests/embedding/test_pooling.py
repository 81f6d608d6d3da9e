"""Pooling of frame features per timestamp window and per clip (:mod:`hear_gear_embed.embedding.pooling`), against brute force."""

from __future__ import annotations

import torch

from hear_gear_embed.embedding.pooling import centre_frames, clip_mean_std, window_frames, window_mean_std


def brute_mean_std(frames: torch.Tensor, centre: int, half: int) -> torch.Tensor:
    window = frames[..., max(0, centre - half): centre + half + 1].double()
    return torch.cat([window.mean(-1), window.std(-1, unbiased=False)], dim=-1).float()


def test_window_mean_std_equals_brute_force() -> None:
    g = torch.Generator().manual_seed(0)
    # A large offset (like a centroid in Hz) must not cost accuracy in the running sums.
    frames = torch.randn(2, 3, 40, generator=g) + 5000.0
    centres = centre_frames(9, 1600, 320, 40, torch.device("cpu"))
    assert centres.tolist() == [0, 5, 10, 15, 20, 25, 30, 35, 39]
    pooled = window_mean_std(frames, centres, half=3)
    assert pooled.shape == (2, 9, 6)
    for i, c in enumerate(centres.tolist()):
        torch.testing.assert_close(pooled[:, i], brute_mean_std(frames, c, 3), atol=1e-4, rtol=0)
    constant = torch.full((1, 1, 30), 4321.0)
    assert window_mean_std(constant, centres[:5], 8)[..., 1].abs().max() == 0.0


def test_window_frames_repeat_edges_band_major() -> None:
    frames = torch.arange(2 * 10, dtype=torch.float32).view(1, 2, 10)
    out = window_frames(frames, torch.tensor([0, 5, 9]), half=1)
    assert out.shape == (1, 3, 2 * 3)
    assert out[0, 0].tolist() == [0, 0, 1, 10, 10, 11]
    assert out[0, 1].tolist() == [4, 5, 6, 14, 15, 16]
    assert out[0, 2].tolist() == [8, 9, 9, 18, 19, 19]


def test_clip_mean_std() -> None:
    frames = torch.randn(3, 4, 17)
    torch.testing.assert_close(clip_mean_std(frames), brute_mean_std(frames, 8, 100))
