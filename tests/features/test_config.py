"""Parameters of the frame features (:mod:`hear_gear_embed.features.config`): checks, and sizes delegated to the table."""

from __future__ import annotations

import pytest

from hear_gear_embed.features import FeatureConfig
from hear_gear_embed.frontends import MelConfig


def test_feature_config_errors() -> None:
    with pytest.raises(ValueError, match="sample rates differ"):
        FeatureConfig(mel=MelConfig(sample_rate=16000, fmax=8000.0))
    with pytest.raises(ValueError, match="below Nyquist"):
        FeatureConfig(contrast_fmin=1000.0)
    with pytest.raises(ValueError, match="n_mfcc <= mfcc_mels"):
        FeatureConfig(n_mfcc=200)
    with pytest.raises(ValueError, match="unknown feature 'pitch'"):
        FeatureConfig().dim("pitch")


def test_sizes_follow_the_parameters() -> None:
    config = FeatureConfig(n_mfcc=13, contrast_bands=4, hop_length=160)
    assert (config.dim("mfcc"), config.dim("contrast"), config.dim("chroma"), config.dim("rms")) == (13, 5, 12, 1)
    assert config.hop("mfcc") == config.hop("rms") == 160 and config.hop("mel") == config.mel.hop_length == 320
    assert config.n_frames("rms", 32000) == 1 + 32000 // 160
    assert config.n_frames("cqt", 32000) == config.cqt.n_frames(32000)
