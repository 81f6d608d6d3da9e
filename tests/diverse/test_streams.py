"""``diverse.streams`` against index oracles: waveform patches centred on their hop, windows reading the frames nearest
their centre with the clip's edge frames repeated beyond it, and seed 001's chunks centred on the clip."""

from __future__ import annotations

import pytest
import torch

from hear_gear_embed.diverse.streams import StreamFrames, feature_frames, gather_windows, scene_centres, waveform_patches


def test_waveform_patches_are_centred_on_their_hop() -> None:
    audio = torch.arange(1, 26, dtype=torch.float32)[None]  # samples 0..24 hold 1..25
    stream = waveform_patches(audio, 4)
    assert stream.frames.shape == (1, 25 // 4 + 1, 4) and stream.hop == 4.0 and stream.first == 0.0
    # patch j covers samples [4 j - 2, 4 j + 2): zeros before the clip
    assert stream.frames[0, 0].tolist() == [0, 0, 1, 2]
    assert stream.frames[0, 3].tolist() == [11, 12, 13, 14]
    assert stream.frames[0, 6].tolist() == [23, 24, 25, 0]


def test_feature_frames_are_concatenated_per_frame_and_cut_to_the_shortest() -> None:
    a, b = torch.randn(2, 3, 10), torch.randn(2, 5, 9)
    stream = feature_frames({"a": a, "b": b}, ("a", "b"), 320)
    assert stream.frames.shape == (2, 9, 8)
    assert torch.equal(stream.frames[:, :, :3], a[..., :9].transpose(1, 2))
    assert torch.equal(stream.frames[:, :, 3:], b.transpose(1, 2))


def test_windows_read_the_nearest_frames_and_repeat_the_edges() -> None:
    frames = torch.arange(10, dtype=torch.float32).view(1, 10, 1).repeat(2, 1, 1)
    frames[1] += 100
    stream = StreamFrames(frames, 0.0, 10.0)
    windows = gather_windows(stream, torch.tensor([0.0, 44.0, 96.0]), 40)  # half a window: 2 hops
    assert windows.shape == (2 * 3, 5, 1)
    assert windows[0, :, 0].tolist() == [0, 0, 0, 1, 2]
    assert windows[1, :, 0].tolist() == [2, 3, 4, 5, 6]
    assert windows[2, :, 0].tolist() == [8, 9, 9, 9, 9]
    assert windows[3, :, 0].tolist() == [100, 100, 100, 101, 102]  # sound-major
    # a source whose first frame is not at 0, at a hop that is not whole
    shifted = gather_windows(StreamFrames(frames, 5.0, 2.5), torch.tensor([10.0]), 10)
    assert shifted[0, :, 0].tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("n_samples", "expected"), [(10, [5.0]), (32, [16.0]), (48, [8.0, 40.0]),
                                                     (64, [16.0, 48.0]), (65, [0.5, 32.5, 64.5])])
def test_scene_chunks_are_a_window_apart_and_centred_on_the_clip(n_samples: int, expected: list[float]) -> None:
    assert scene_centres(n_samples, 32).tolist() == expected
