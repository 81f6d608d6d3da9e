"""Frame features of whole clips (:mod:`hear_gear_embed.features.frames`): shapes, units, chunking, short clips."""

from __future__ import annotations

import pytest
import torch

from hear_gear_embed.features import FEATURES, FeatureConfig
from hear_gear_embed.features.frames import FrameFeatures
from hear_gear_embed.frontends import MelConfig, MelFrontend

from ..conftest import noise, tone

ALL = FEATURES


@pytest.fixture(scope="module")
def all_features() -> FrameFeatures:
    return FrameFeatures(FeatureConfig(), ALL)


def test_shapes_units_and_finiteness(all_features: FrameFeatures) -> None:
    audio = torch.stack([tone(1000.0, 1.0), torch.zeros(32000)])
    out = all_features(audio)
    cfg = all_features.config
    assert list(out) == list(ALL)
    for name, value in out.items():
        assert value.shape == (2, cfg.dim(name), cfg.n_frames(name, 32000)), name
        assert torch.isfinite(value).all(), name
    mid = slice(20, 80)
    # Embedding units: frequencies in kHz, RMS as log10 amplitude.
    assert out["centroid"][0, 0, mid].mean().item() == pytest.approx(1.0, abs=0.05)
    assert out["rms"][0, 0, mid].mean().item() == pytest.approx(torch.log10(torch.tensor(0.5 / 2**0.5)).item(), abs=0.01)
    assert out["rms"][1].max().item() == -5.0
    assert out["zcr"][0, 0, mid].mean().item() == pytest.approx(2 * 1000 / 32000, rel=0.05)
    assert out["chroma"][1].abs().max() == 0 and out["peaks"][1].abs().max() == 0
    # 1000 Hz is between B5 and C6: the chroma maximum is on B (11) or C (0).
    assert int(out["chroma"][0, :, mid].mean(-1).argmax()) in (0, 11)


def test_mel_feature_is_the_passt_frontend(all_features: FrameFeatures) -> None:
    audio = noise(2, 0.7, seed=4)
    torch.testing.assert_close(all_features(audio, names=("mel",))["mel"], MelFrontend(MelConfig())(audio))


def test_chunking_does_not_change_results(all_features: FrameFeatures) -> None:
    audio = noise(2, 2.3, seed=5)
    whole = all_features(audio)
    tiny_budget = all_features.bytes_per_frame(2) * 7  # 7 frames per chunk
    for name, value in all_features(audio, budget_bytes=tiny_budget).items():
        torch.testing.assert_close(value, whole[name], atol=2e-5, rtol=1e-5, msg=name)


def test_short_clips(all_features: FrameFeatures) -> None:
    for n in (1, 2, 300, 600):
        for name, value in all_features(noise(1, n / 32000, seed=n)).items():
            assert value.shape[-1] == all_features.config.n_frames(name, n)
            assert torch.isfinite(value).all(), (name, n)
    with pytest.raises(ValueError, match="non-empty audio"):
        all_features(torch.zeros(1, 0))
    with pytest.raises(ValueError, match="were not configured"):
        FrameFeatures(FeatureConfig(), ("mel",))(noise(1, 0.1), names=("cqt",))
