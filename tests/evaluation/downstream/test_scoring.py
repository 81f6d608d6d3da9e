"""The split scorer (label and event metrics, the choice of postprocessing), the comparisons and the fold summary."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from hear_gear_embed.evaluation.downstream.data import EvaluationParams, SplitEmbeddings, TaskInfo
from hear_gear_embed.evaluation.downstream.events import events_from_frames
from hear_gear_embed.evaluation.downstream.metrics import task_metrics
from hear_gear_embed.evaluation.downstream.scoring import (
    SplitScorer,
    better,
    default_scoring,
    first_best,
    fold_summary,
    worst,
)

from .synthetic import EVENTS, MULTICLASS, make_folds

MULTICLASS_2 = TaskInfo("two", "scene", "multiclass", ("top1_acc",), ("a", "b"))


def test_a_scene_split_is_scored_on_its_targets_without_postprocessing() -> None:
    split = make_folds(MULTICLASS, sizes=(8, 8, 8))[0].test
    scorer = SplitScorer(MULTICLASS, split, task_metrics(MULTICLASS.evaluation, "scene"))
    assert scorer.files == [] and scorer.primary.name == "top1_acc"
    wrong = np.roll(split.targets, 1, axis=1)
    assert scorer.select(split.targets) == (1.0, None)
    assert scorer.select(wrong) == (0.0, None)
    assert scorer(None, split.targets) == 1.0  # a probe's scoring: the primary metric, y_true unread
    assert scorer.scores(split.targets, None)["top1_acc"] == 1.0
    assert set(scorer.scores(wrong, None)) == set(MULTICLASS.evaluation)


def test_a_chunked_scene_split_scores_each_file_by_the_mean_of_its_chunks() -> None:
    """Seed 001's protocol: file 0 has three chunks, file 1 one; the mean decides, not any single chunk."""
    targets = np.eye(2, dtype=np.float32)[[0, 0, 0, 1]]
    split = SplitEmbeddings(np.zeros((4, 1), np.float32), targets, ("a.wav", "b.wav"), np.array([0, 0, 0, 1]))
    scorer = SplitScorer(MULTICLASS_2, split, task_metrics(("top1_acc",), "scene"))
    assert scorer.chunked and scorer.targets.tolist() == [[1, 0], [0, 1]]
    chunk_scores = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55], [0.2, 0.8]])  # file 0: mean 0.583 / 0.417
    assert scorer.file_scores(chunk_scores) == pytest.approx(np.array([[0.5833333, 0.4166667], [0.2, 0.8]]))
    assert scorer.select(chunk_scores) == (1.0, None)  # two of file 0's chunks alone would be wrong
    assert scorer.select(chunk_scores[[1, 0, 2, 3]]) == (1.0, None)
    assert scorer.select(np.array([[0.2, 0.8], [0.4, 0.6], [0.9, 0.3], [0.3, 0.7]])) == (0.5, None)  # file 0: b, by 0.1


def test_an_event_split_chooses_its_postprocessing_and_needs_one_to_score() -> None:
    split = make_folds(EVENTS, sizes=(2, 3, 3))[0].test
    scorer = SplitScorer(EVENTS, split, task_metrics(EVENTS.evaluation, "event"))
    assert [name for name, _, _ in scorer.files] == list(split.files)
    value, postprocessing = scorer.select(split.targets)
    assert value == 1.0
    # Every postprocessing finds the (long) reference events: the tie goes to the larger minimum duration.
    assert postprocessing == (("median_filter_ms", 250), ("min_duration", 250))
    scores = scorer.scores(split.targets, postprocessing)
    assert scores["event_onset_200ms_fms"] == 1.0 and scores["segment_1s_er"] == 0.0
    with pytest.raises(ValueError, match="need a postprocessing"):
        scorer.scores(split.targets, None)


def test_an_event_task_s_own_postprocessing_grid_is_the_one_chosen_from() -> None:
    split = make_folds(EVENTS, sizes=(2, 3, 3))[0].test
    metrics = task_metrics(EVENTS.evaluation, "event")
    one_point = dataclasses.replace(EVENTS, evaluation_params=EvaluationParams(
        postprocessing_grid=(("median_filter_ms", (0,)), ("min_duration", (0,)))))
    scorer = SplitScorer(one_point, split, metrics)
    # The default grid would choose (250, 250) here (above); a grid of one point leaves no choice.
    assert scorer.postprocessings == ((("median_filter_ms", 0), ("min_duration", 0)),)
    noisy = np.clip(split.targets + np.random.default_rng(0).normal(scale=0.3, size=split.targets.shape), 0, 1)
    value, chosen = scorer.select(noisy)
    assert chosen == (("median_filter_ms", 0), ("min_duration", 0))
    predicted = {name: events_from_frames(noisy[rows], times, EVENTS.labels, median_filter_ms=0, min_duration=0)
                 for name, rows, times in scorer.files}
    assert value == metrics[0].compute(predicted, split.events, EVENTS.labels)
    assert scorer.scores(noisy, chosen)["event_onset_200ms_fms"] == value

    # A threshold in the grid: at 0.7 no frame of 0.6 is active (no events: a NaN F-measure, compared as 0).
    thresholds = dataclasses.replace(EVENTS, evaluation_params=EvaluationParams(postprocessing_grid=(("threshold", (0.7, 0.5)),)))
    scorer = SplitScorer(thresholds, split, metrics)
    assert scorer.select(split.targets * 0.6) == (1.0, (("threshold", 0.5),))
    assert math.isnan(scorer.scores(split.targets * 0.6, (("threshold", 0.7),))["event_onset_200ms_fms"])


def test_comparisons_know_which_way_is_better_and_keep_the_first_among_equals() -> None:
    assert better(2.0, 1.0, True) and better(1.0, 2.0, False) and not better(1.0, 1.0, True)
    assert not better(math.nan, 1.0, True) and not better(1.0, math.nan, False)
    assert first_best([0.5, 0.9, 0.9, 0.1], True) == 1 and first_best([0.5, 0.9, 0.1, 0.1], False) == 2
    assert worst(True) == -math.inf and worst(False) == math.inf
    assert first_best([worst(True), 0.0], True) == 1


def test_fold_summary_is_heareval_s_mean_and_sample_deviation_without_nan() -> None:
    means, stds = fold_summary(["a", "b", "c"], [{"m": 1.0, "n": math.nan}, {"m": 2.0, "n": 4.0}, {"m": 4.0, "n": math.nan}])
    assert means == {"m": pytest.approx(7 / 3), "n": 4.0}
    assert stds["m"] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1)) and math.isnan(stds["n"])
    assert fold_summary(["only"], [{"m": 0.5}]) == ({"m": 0.5}, {"m": 0.0})
    _, spread = fold_summary(["a", "b"], [{"d": math.inf}, {"d": 1.0}])
    assert math.isnan(spread["d"])


def test_default_scoring_is_accuracy_or_mean_average_precision() -> None:
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert default_scoring(np.array(["x", "y"]), False)(np.array(["x", "y", "y"]), proba) == pytest.approx(2 / 3)
    indicator = np.array([[1, 0], [0, 1], [0, 1]])
    assert default_scoring(np.arange(2), True)(indicator, proba) == pytest.approx((1.0 + 1.0) / 2)
