"""GEAR's settings (:mod:`hear_gear_embed.evaluation.gear.settings`): their check and the ridge targets."""

from __future__ import annotations

import numpy as np
import pytest

from hear_gear_embed.evaluation.gear import PAPER_SETTINGS, RIDGE_TARGETS, GearSettings, ridge_targets
from hear_gear_embed.evaluation.synth import PARAMETERS


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="knn_neighbors"):
        GearSettings(isomap_neighbors=10, knn_neighbors=50).check(50)
    with pytest.raises(ValueError, match="sensitivity_resamples"):
        GearSettings(isomap_neighbors=10, sensitivity_resamples=1).check(50)
    PAPER_SETTINGS.check(2500)  # the paper's settings on the paper's dataset


def test_ridge_targets_are_pitch_in_octaves_and_the_others_as_they_are() -> None:
    params = np.array([[110.0, 0.5, 0.25], [440.0, 2.0, 1.0]])
    assert ridge_targets(params).tolist() == [[np.log2(110.0), 0.5, 0.25], [np.log2(440.0), 2.0, 1.0]]
    assert tuple(RIDGE_TARGETS) == PARAMETERS
