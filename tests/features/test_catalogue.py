"""The descriptor table (:mod:`hear_gear_embed.features.catalogue`): each record agrees with what
:class:`~hear_gear_embed.features.frames.FrameFeatures` returns."""

from __future__ import annotations

import pytest
import torch

from hear_gear_embed.features import DESCRIPTORS, FEATURES, SOURCES, FeatureConfig, get_descriptor
from hear_gear_embed.features.catalogue import CONSTANTS, RMS_FLOOR, source_of
from hear_gear_embed.features.frames import FrameFeatures, FrameInputs

from ..conftest import noise

CONFIG = FeatureConfig()
N_SAMPLES = 4321  # 0.135 s: a few frames of every source, not a whole number of hops


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    return noise(2, N_SAMPLES / CONFIG.sample_rate, seed=31)


@pytest.fixture(scope="module")
def every_feature() -> FrameFeatures:
    return FrameFeatures(CONFIG, FEATURES)


@pytest.fixture(scope="module")
def computed(every_feature: FrameFeatures, clip: torch.Tensor) -> dict[str, torch.Tensor]:
    return every_feature(clip)


def test_table_is_consistent() -> None:
    assert FEATURES == tuple(DESCRIPTORS)
    for name, d in DESCRIPTORS.items():
        assert d.name == name and d.source in SOURCES and source_of(name) is SOURCES[d.source]
        assert set(d.constants) <= set(CONSTANTS) and d.context >= 0 and d.summary
        # The unit says what the divisor does to the raw values.
        assert {1000.0: "kHz", 10.0: "10 dB"}.get(d.unit_size, d.unit) == d.unit, name
        assert d.requires(CONFIG) is None, name
    assert RMS_FLOOR == 1e-5


@pytest.mark.parametrize("name", FEATURES)
def test_record_describes_the_output(name: str, clip: torch.Tensor, every_feature: FrameFeatures,
                                     computed: dict[str, torch.Tensor]) -> None:
    d, source = get_descriptor(name), source_of(name)
    value = computed[name]
    assert value.dtype == torch.float32 and torch.isfinite(value).all()
    assert value.shape == (2, d.dim(CONFIG), source.n_frames(CONFIG, N_SAMPLES))
    hop, span = source.hop(CONFIG), source.span(CONFIG)
    assert hop > 0 and span >= hop and source.bytes_per_frame(CONFIG) > 0
    # One chunk of the whole padded clip through the kernel, divided by the unit: the output.
    padded = every_feature._padded(d.source, clip)
    assert padded.shape[-1] >= (value.shape[-1] - 1) * hop + span
    raw = d.kernel(FrameInputs(padded[:, : (value.shape[-1] - 1) * hop + span], every_feature))
    torch.testing.assert_close(raw / d.unit_size, value, atol=1e-5, rtol=1e-5)


def test_memory_estimate_counts_each_source_once(every_feature: FrameFeatures) -> None:
    per_source = {name: source.bytes_per_frame(CONFIG) for name, source in SOURCES.items()}
    assert all(size > 0 for size in per_source.values())
    assert every_feature.bytes_per_frame(3) == 3 * sum(per_source.values())
    assert FrameFeatures(CONFIG, ("rms", "mfcc")).bytes_per_frame(2) == 2 * per_source["frames"]


def test_unknown_feature() -> None:
    with pytest.raises(ValueError, match="unknown feature 'centriod'; did you mean centroid"):
        get_descriptor("centriod")
    with pytest.raises(ValueError, match="unknown feature 'loudness'"):
        FrameFeatures(CONFIG, ("rms", "loudness"))

