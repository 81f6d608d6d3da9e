"""What a variant is (:mod:`hear_gear_embed.embedding.config`): embedding sizes derived from the blocks and the
descriptor table, and the checks that name what is wrong with a configuration."""

from __future__ import annotations

import dataclasses

import pytest

from hear_gear_embed import get_variant, list_variants
from hear_gear_embed.embedding.config import KINDS, LEVELS, FeatureBlock, VariantConfig, WindowBlock
from hear_gear_embed.features import FeatureConfig
from hear_gear_embed.frontends import CqtConfig, MelConfig
from hear_gear_embed.model import PasstConfig, get_weights
from hear_gear_embed.registry import HANDCRAFTED

# The handcrafted set per frame, from the descriptor table: 20 MFCC, 12 chroma, centroid, bandwidth, flatness,
# roll-off, 7 contrast, RMS, zero-crossing rate, 84 CQT peaks.
HANDCRAFTED_DIM = sum(FeatureConfig().dim(name) for name in HANDCRAFTED)
EXPECTED_SIZES = {
    # (scene, timestamp): hear21passt's 1295 = 527 logits + 768 features; 6 mel frames in 60 ms windows (30 ms at
    # hop 5, 18.75 ms at hop 3.125); frame features pooled as mean+std (x2) or as the 7 frames within +-30 ms.
    "passt_base": (1295, 1295),
    "passt_2lvl": (1295, 2 * 1295),
    "passt_2lvlmel": (1295, 2 * 1295 + 128 * 6),
    "passt_lm2rf_hop5": (768 + 128, 768 + 768 + 128 * 6),
    "passt_lm2rf_hop3": (768 + 128, 768 + 768 + 128 * 6),
    "lowlevel_mel": (2 * 128, 128 * 7 + 2 * 128),
    "lowlevel_cqt": (2 * 84, 84 * 7 + 2 * 84),
    "handcrafted": (2 * HANDCRAFTED_DIM, 2 * 2 * HANDCRAFTED_DIM),
    "passt_2lvl_cqt": (1295 + 2 * 84, 2 * 1295 + 84 * 7),
    "passt_2lvl_handcrafted": (1295 + 2 * HANDCRAFTED_DIM, 2 * 1295 + 2 * HANDCRAFTED_DIM),
    "passt_cqt": (1295, 1295),
}


def test_vocabulary() -> None:
    assert KINDS == ("scene", "timestamp")
    assert LEVELS == ("L", "M", "H")


def test_published_sizes() -> None:
    assert HANDCRAFTED_DIM == 20 + 12 + 4 + 7 + 2 + 84
    assert set(EXPECTED_SIZES) == set(list_variants())
    for name, sizes in EXPECTED_SIZES.items():
        variant = get_variant(name)
        assert (variant.scene_embedding_size, variant.timestamp_embedding_size) == sizes, name


def _variant(**changes: object) -> VariantConfig:
    base = dict(name="v", description="test", timestamp_blocks=(FeatureBlock(100, ("rms",)),), scene_features=("rms",))
    base.update(changes)
    return VariantConfig(**base)  # type: ignore[arg-type]


def test_sizes_are_derived() -> None:
    v = _variant(timestamp_blocks=(FeatureBlock(60, ("cqt", "mfcc"), "frames"), FeatureBlock(640, ("chroma",))),
                 scene_features=("mfcc", "contrast", "rms"))
    assert v.timestamp_embedding_size == 84 * 7 + 20 * 7 + 2 * 12
    assert v.scene_embedding_size == 2 * 20 + 2 * 7 + 2 * 1
    assert dataclasses.replace(v, timestamp_hop_ms=100.0).timestamp_embedding_size == v.timestamp_embedding_size
    assert v.feature_names == ("cqt", "mfcc", "chroma", "contrast", "rms") and not v.needs_network


_TINY_NET = PasstConfig(embed_dim=64, depth=2, num_heads=4, num_classes=10)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timestamp_blocks": (WindowBlock(160, ("M",)),)}, "need a network"),
        ({"scene_features": ()}, "needs scene_levels or scene_features"),
        ({"timestamp_blocks": ()}, "at least one timestamp block"),
        ({"timestamp_hop_ms": 15.0}, "not a multiple of the 'rms' frame hop"),
        ({"scene_features": ("chroma",), "features": FeatureConfig(cqt=CqtConfig(bins_per_octave=16, n_bins=64))},
         "chroma needs CQT bins on semitones"),
        ({"scene_features": ("rsm",)}, "unknown feature 'rsm'; did you mean rms"),
        ({"scene_levels": ("X",)}, r"unknown feature levels \['X'\]"),
        ({"frontend": MelConfig(sample_rate=16000, fmax=8000.0)}, "the frame features run at 32000 Hz"),
        ({"net": PasstConfig(), "frontend": CqtConfig(n_bins=84)}, "frontend has 84 bands"),
        ({"weights": get_weights("passt_s_swa_p16_128_ap476")}, "official weights without a network geometry"),
        ({"timestamp_blocks": (WindowBlock(10, ("L",)),)}, "a 10 ms window is 320 samples, shorter than the 514"),
        ({"timestamp_blocks": (WindowBlock(100, ("M",)),), "net": _TINY_NET}, "gives 10 frames, fewer than one 16-frame"),
        ({"timestamp_blocks": (WindowBlock(11000, ("M",)),), "net": _TINY_NET}, "gives 1100 frames, more than the 1005 frames"),
        ({"scene_levels": ("M",), "net": _TINY_NET, "mid_layer": 2}, "mid_layer 2 is outside a 2-block network"),
    ],
)
def test_variant_config_errors_name_the_problem(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _variant(**changes)


def test_block_errors() -> None:
    with pytest.raises(ValueError, match="unknown feature 'loudness'"):
        FeatureBlock(100, ("loudness",))
    with pytest.raises(ValueError, match="features repeat"):
        FeatureBlock(100, ("rms", "rms"))
    with pytest.raises(ValueError, match="pooling must be"):
        FeatureBlock(100, ("rms",), "max")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window_ms must be positive"):
        FeatureBlock(0, ("rms",))
    with pytest.raises(ValueError, match=r"unknown feature levels \['X'\]; valid levels are \['L', 'M', 'H'\]"):
        WindowBlock(160, ("M", "X"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="feature levels repeat"):
        WindowBlock(160, ("M", "M"))
    with pytest.raises(ValueError, match="at least one feature level"):
        WindowBlock(160, ())
    with pytest.raises(ValueError, match="window_ms must be positive"):
        WindowBlock(-1, ("M",))


@pytest.mark.parametrize("name", list_variants(include_unpublished=True))
@pytest.mark.parametrize("kind", KINDS)
def test_plan_fills_every_column_once(name: str, kind: str) -> None:
    """The plan of a call (what the embedder executes and the FLOP and memory estimates read) tiles the embedding."""
    variant = get_variant(name)
    for n_samples in (1, 4000, variant.scene_window_samples, variant.scene_window_samples + 1):
        steps = variant.plan(n_samples, kind)  # type: ignore[arg-type]
        columns = [step.columns for step in steps]
        size = variant.timestamp_embedding_size if kind == "timestamp" else variant.scene_embedding_size
        assert columns[0][0] == 0 and columns[-1][1] == size
        assert all(a[1] == b[0] for a, b in zip(columns, columns[1:], strict=False))


def test_plan_of_a_scene_is_one_pass_up_to_the_window_then_averaged_windows() -> None:
    from hear_gear_embed.embedding import ClipFeatures, WindowPass

    variant = get_variant("passt_2lvl_cqt")
    window = variant.scene_window_samples
    short, = [s for s in variant.plan(100, "scene") if isinstance(s, WindowPass)]
    assert (short.window_samples, short.hop_samples, short.windows) == (variant.min_net_samples, 0, 1) and short.pool_low
    assert variant.plan(window, "scene")[0] == dataclasses.replace(short, window_samples=window)
    long = variant.plan(window + 1, "scene")
    assert long[0] == WindowPass(("H", "M"), window, variant.scene_hop_samples, (window + 1) // variant.scene_hop_samples + 1,
                                 True, (0, 1295))
    assert long[1] == ClipFeatures(("cqt",), (1295, 1295 + 2 * 84))
    stamps = variant.plan(32000, "timestamp")
    assert [s.windows for s in stamps if isinstance(s, WindowPass)] == [21, 21]
    assert not stamps[0].pool_low  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="kind must be one of"):
        variant.plan(100, "frames")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one sample"):
        variant.plan(0, "scene")
