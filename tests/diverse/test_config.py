"""``diverse.config``: sizes derived from the descriptor table and the encoder, every bad configuration refused with its
reason, ablations and other sources as data, the registry, and the checkpoint record's round trip."""

from __future__ import annotations

import dataclasses

import pytest

from hear_gear_embed.diverse.config import (
    DiverseConfig,
    Encoder,
    Stream,
    get_diverse,
    is_diverse,
    list_diverse,
    register_diverse,
)
from hear_gear_embed.features.config import FeatureConfig


def test_the_seed_geometry_and_its_derived_sizes() -> None:
    config = get_diverse("diverse")
    assert [s.name for s in config.streams] == ["pitch", "timbre", "waveform", "neuralogram"]
    assert config.encoder == Encoder(depth=6, width=64, heads=8)
    assert config.embedding_size == 4 * 64
    # 84 CQT bins of peaks, 12 MFCCs, 10 ms of 32 kHz samples; the neuralogram's size is its source's
    assert [config.frame_dim(s) for s in config.streams] == [84, 12, 320, None]
    assert [config.frame_hop(s) for s in config.streams] == [320, 320, 320, None]
    assert config.window_samples == 32000 and config.timestamp_hop_samples == 1600
    assert config.frames_per_window(320) == 101 and config.frames_per_window(64000) == 1
    assert "diverse" in list_diverse() and "diverse_tiny" not in list_diverse()
    assert "diverse_tiny" in list_diverse(include_unpublished=True) and is_diverse("diverse_tiny")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "pitch", "kind": "features"}, "takes features"),
    ({"name": "w", "kind": "waveform", "patch_ms": 10.0, "features": ("mfcc",)}, "takes patch_ms only"),
    ({"name": "n", "kind": "neuralogram"}, "takes source"),
    ({"name": "f", "kind": "features", "features": ("mfcc",), "source_weights": "x.pt"}, "features"),
    ({"name": "f", "kind": "features", "features": ("mfcc", "mfcc")}, "features repeat"),
    ({"name": "f", "kind": "features", "features": ("mfccs",)}, "mfcc"),
    ({"name": "w", "kind": "waveform", "patch_ms": -1.0}, "patch_ms must be a positive"),
    ({"name": "not an id", "kind": "waveform", "patch_ms": 1.0}, "identifier"),
    ({"name": "x", "kind": "spectrum", "features": ("mfcc",)}, "kind must be one of"),
])
def test_bad_streams_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Stream(**kwargs)  # type: ignore[arg-type]


def test_bad_configurations_are_refused() -> None:
    base = get_diverse("diverse_tiny")
    with pytest.raises(ValueError, match="12 heads do not divide a width of 64"):
        Encoder(width=64, heads=12)
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        Encoder(depth=0)
    with pytest.raises(ValueError, match="different frame hops"):
        dataclasses.replace(base, features=FeatureConfig(hop_length=160),
                            streams=(Stream("mixed", "features", features=("mfcc", "peaks")),))
    with pytest.raises(ValueError, match="stream names repeat"):
        dataclasses.replace(base, streams=(base.streams[0], base.streams[0]))
    with pytest.raises(ValueError, match="at least one stream"):
        dataclasses.replace(base, streams=())
    with pytest.raises(ValueError, match="window_ms must be a positive"):
        dataclasses.replace(base, window_ms=0.0)
    with pytest.raises(ValueError, match="shorter than one sample"):
        dataclasses.replace(base, streams=(Stream("w", "waveform", patch_ms=0.01),))
    with pytest.raises(ValueError, match="already registered"):
        register_diverse(base)
    with pytest.raises(KeyError, match="diverse_tiny"):
        get_diverse("diverse_tiy")


def test_ablations_and_other_sources_are_data() -> None:
    config = get_diverse("diverse")
    pair = config.with_streams(["timbre", "pitch"])
    assert pair.name == "diverse_pitch_timbre" and [s.name for s in pair.streams] == ["pitch", "timbre"]
    assert pair.embedding_size == 128 and pair.neuralogram is None
    assert config.with_streams(["pitch", "timbre", "waveform", "neuralogram"]) is config
    with pytest.raises(ValueError, match="pitchh"):
        config.with_streams(["pitchh"])
    with pytest.raises(ValueError, match="distinct"):
        config.with_streams(["pitch", "pitch"])
    crepe = config.with_source("mypackage.crepe", "crepe.pt")
    assert crepe.neuralogram == Stream("neuralogram", "neuralogram", source="mypackage.crepe", source_weights="crepe.pt")
    with pytest.raises(ValueError, match="no neuralogram stream"):
        pair.with_source("passt_base")


def test_the_checkpoint_record_round_trips() -> None:
    for name in ("diverse", "diverse_tiny"):
        config = get_diverse(name)
        assert DiverseConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="not a diverse model configuration"):
        DiverseConfig.from_dict({"name": "x"})
