"""Frame scores to events: median filter, threshold, runs joined, short events dropped; the postprocessing grid, heareval's
default or a task's own."""

from __future__ import annotations

import numpy as np
import pytest

from hear_gear_embed.evaluation.downstream.data import Event
from hear_gear_embed.evaluation.downstream.events import (
    EVENT_POSTPROCESSING_GRID,
    events_from_frames,
    postprocessing_grid,
    postprocessing_settings,
)


def test_events_from_frames_filters_thresholds_joins_and_drops_short_events() -> None:
    times = np.arange(20) * 50.0
    scores = np.zeros((20, 2))
    scores[3:12, 0] = 0.9  # frames 3 .. 11: 150 .. 550 ms
    scores[7, 0] = 0.1  # a one-frame dip, removed by the median filter
    scores[15, 0] = 0.9  # a one-frame spike, removed by the median filter
    scores[14:18, 1] = 0.5  # not above the threshold
    scores[17:20, 1] = 0.8  # 850 .. 950 ms: 100 ms long
    events = events_from_frames(scores, times, ("a", "b"), median_filter_ms=150, min_duration=0)
    assert events == [Event("a", 150.0, 550.0), Event("b", 850.0, 950.0)]
    assert events_from_frames(scores, times, ("a", "b"), median_filter_ms=150, min_duration=125) == [Event("a", 150.0, 550.0)]
    unfiltered = events_from_frames(scores, times, ("a", "b"), median_filter_ms=0, min_duration=0)
    assert Event("a", 150.0, 300.0) in unfiltered and Event("a", 750.0, 750.0) in unfiltered
    with pytest.raises(ValueError, match="increase"):
        events_from_frames(scores, times[::-1], ("a", "b"), median_filter_ms=0, min_duration=0)


def test_events_from_frames_refuses_scores_that_do_not_match_timestamps_and_labels() -> None:
    with pytest.raises(ValueError, match=r"must be \(n_frames >= 1 = 3 timestamps, 2 labels\)"):
        events_from_frames(np.zeros((3, 1)), np.arange(3) * 50.0, ("a", "b"), median_filter_ms=0, min_duration=0)


def test_the_postprocessing_grid_is_heareval_s_keyed_as_heareval_keys_it() -> None:
    assert postprocessing_grid() == (
        (("median_filter_ms", 250), ("min_duration", 125)),
        (("median_filter_ms", 250), ("min_duration", 250)),
    )
    assert len(postprocessing_grid()) == np.prod([len(v) for v in EVENT_POSTPROCESSING_GRID.values()])


def test_a_task_s_own_grid_is_expanded_as_heareval_s_parameter_grid_and_keyed_by_its_names() -> None:
    # Names sorted, the last varying fastest (scikit-learn's ParameterGrid), values in the order given.
    assert postprocessing_grid({"threshold": [0.3, 0.5], "min_duration": [50], "median_filter_ms": [0, 150]}) == (
        (("median_filter_ms", 0), ("min_duration", 50), ("threshold", 0.3)),
        (("median_filter_ms", 0), ("min_duration", 50), ("threshold", 0.5)),
        (("median_filter_ms", 150), ("min_duration", 50), ("threshold", 0.3)),
        (("median_filter_ms", 150), ("min_duration", 50), ("threshold", 0.5)),
    )
    assert postprocessing_grid({}) == ((),)  # one point: create_events_from_prediction's defaults
    with pytest.raises(ValueError, match="unknown postprocessing setting 'median_filter'; did you mean median_filter_ms"):
        postprocessing_grid({"median_filter": [250]})


def test_a_setting_the_grid_leaves_out_takes_create_events_from_prediction_s_default() -> None:
    assert postprocessing_settings(()) == {"median_filter_ms": 150, "min_duration": 60, "threshold": 0.5}
    assert postprocessing_settings((("min_duration", 50),)) == {"median_filter_ms": 150, "min_duration": 50,
                                                                 "threshold": 0.5}
