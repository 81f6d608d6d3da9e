"""Frame features of whole clips, their pooling per timestamp window, and the weight-free variants."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hear_gear_embed import get_variant
from hear_gear_embed.config import (
    HANDCRAFTED,
    CqtConfig,
    FeatureBlock,
    FeatureConfig,
    MelConfig,
    PasstConfig,
    VariantConfig,
    WindowBlock,
)
from hear_gear_embed.embedding import load_embedder
from hear_gear_embed.embedding.pooling import centre_frames, clip_mean_std, window_frames, window_mean_std
from hear_gear_embed.features.frames import FrameFeatures
from hear_gear_embed.frontends import MelFrontend

from .conftest import noise, tone

ALL = ("mel", "cqt", *HANDCRAFTED)


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


def test_feature_block_equals_direct_pooling() -> None:
    model = load_embedder(get_variant("lowlevel_cqt"), device="cpu")
    audio = noise(2, 1.3, seed=6)
    emb, _ = model.timestamp_embeddings(audio)
    cqt = FrameFeatures(FeatureConfig(), ("cqt",))(audio)["cqt"]
    centres = centre_frames(emb.shape[1], 1600, 320, cqt.shape[-1], torch.device("cpu"))
    expected = torch.cat([window_frames(cqt, centres, 3), window_mean_std(cqt, centres, 32)], dim=-1)
    torch.testing.assert_close(emb, expected)
    torch.testing.assert_close(model.scene_embeddings(audio), clip_mean_std(cqt))
    alone, _ = model.timestamp_embeddings(audio[1:])
    torch.testing.assert_close(alone[0], emb[1], atol=1e-5, rtol=0)


def test_weight_free_variants_refuse_a_checkpoint() -> None:
    with pytest.raises(ValueError, match="uses no network weights"):
        load_embedder(get_variant("handcrafted"), "some.pt")
    model = load_embedder(get_variant("handcrafted"), device="cpu")
    assert model.net is None
    with pytest.raises(ValueError, match="no network weights to save"):
        model.save_weights("x.pt")


def _variant(**changes: object) -> VariantConfig:
    base = dict(name="v", description="test", timestamp_blocks=(FeatureBlock(100, ("rms",)),), scene_features=("rms",))
    base.update(changes)
    return VariantConfig(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timestamp_blocks": (WindowBlock(160, ("M",)),)}, "need a network"),
        ({"scene_features": ()}, "needs scene_levels or scene_features"),
        ({"timestamp_hop_ms": 15.0}, "not a multiple of the 'rms' frame hop"),
        ({"scene_features": ("chroma",), "features": FeatureConfig(cqt=CqtConfig(bins_per_octave=16, n_bins=64))},
         "chroma needs CQT bins on semitones"),
        ({"frontend": MelConfig(sample_rate=16000, fmax=8000.0)}, "the frame features run at 32000 Hz"),
        ({"net": PasstConfig(), "frontend": CqtConfig(n_bins=84)}, "frontend has 84 bands"),
    ],
)
def test_variant_config_errors_name_the_problem(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _variant(**changes)


def test_feature_block_errors() -> None:
    with pytest.raises(ValueError, match="unknown features"):
        FeatureBlock(100, ("loudness",))
    with pytest.raises(ValueError, match="features repeat"):
        FeatureBlock(100, ("rms", "rms"))
    with pytest.raises(ValueError, match="pooling must be"):
        FeatureBlock(100, ("rms",), "max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window_ms must be positive"):
        FeatureBlock(0, ("rms",))


def test_feature_config_errors() -> None:
    with pytest.raises(ValueError, match="sample rates differ"):
        FeatureConfig(mel=MelConfig(sample_rate=16000, fmax=8000.0))
    with pytest.raises(ValueError, match="below Nyquist"):
        FeatureConfig(contrast_fmin=1000.0)
    with pytest.raises(ValueError, match="n_mfcc <= mfcc_mels"):
        FeatureConfig(n_mfcc=200)
    with pytest.raises(ValueError, match="unknown feature"):
        FeatureConfig().dim("pitch")


def test_sizes_are_derived() -> None:
    v = _variant(timestamp_blocks=(FeatureBlock(60, ("cqt", "mfcc"), "frames"), FeatureBlock(640, ("chroma",))),
                 scene_features=("mfcc", "contrast"))
    assert v.timestamp_embedding_size == 84 * 7 + 20 * 7 + 2 * 12
    assert v.scene_embedding_size == 2 * 20 + 2 * 7
    assert dataclasses.replace(v, timestamp_hop_ms=100.0).timestamp_embedding_size == v.timestamp_embedding_size
