"""heareval's scores on hand-computed cases; agreement with heareval itself is checked by tests/harness/metric_oracle.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hear_gear_embed.evaluation.downstream.data import Event
from hear_gear_embed.evaluation.downstream.metrics import METRICS, task_metrics

LABELS = ("dog", "car", "siren", "speech")


def score(name: str, *args: object) -> float:
    return METRICS[name].compute(*args)


def onsets(name: str, predicted: dict[str, list[Event]], reference: dict[str, list[Event]]) -> float:
    return score(name, predicted, reference, LABELS)


# --- label scores ---------------------------------------------------------------------------------------------------


def test_top1_ties_take_the_first_label_and_chroma_ignores_octaves() -> None:
    targets = np.eye(24)[[0, 13, 5]]
    predictions = np.zeros((3, 24))
    predictions[0, [0, 3]] = 0.5  # a tie: the first label wins, which is the target
    predictions[1, 1] = 1.0  # one octave off: wrong label, right pitch class
    predictions[2, 6] = 1.0  # wrong
    assert score("top1_acc", predictions, targets) == pytest.approx(1 / 3)
    assert score("pitch_acc", predictions, targets) == pytest.approx(1 / 3)
    assert score("chroma_acc", predictions, targets) == pytest.approx(2 / 3)


def test_ranking_scores_by_hand() -> None:
    targets = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=np.float32)
    perfect = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    assert score("mAP", perfect, targets) == 1.0
    assert score("aucroc", perfect, targets) == 1.0
    assert score("d_prime", perfect, targets) == math.inf
    # Label 0 ranked 0.9 (+), 0.4 (-), 0.3 (+), 0.2 (-): AUC 3/4 and AP (1 + 2/3) / 2; label 1 mirrors it.
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6]])
    assert score("aucroc", scores, targets) == pytest.approx(0.75)
    assert score("mAP", scores, targets) == pytest.approx((1 + 2 / 3) / 2)
    assert score("d_prime", scores, targets) == pytest.approx(math.sqrt(2) * 0.6744897501960817)


def test_a_label_without_positives_makes_auc_nan_not_an_error() -> None:
    targets = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]], dtype=np.float32)
    scores = np.array([[0.9, 0.1, 0.2], [0.2, 0.8, 0.1], [0.7, 0.3, 0.4]])
    assert math.isnan(score("aucroc", scores, targets))
    assert math.isnan(score("d_prime", scores, targets))
    assert math.isfinite(score("mAP", scores, targets))


def test_label_scores_check_their_inputs() -> None:
    with pytest.raises(ValueError, match="must be the same"):
        score("mAP", np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="n_rows >= 1"):
        score("top1_acc", np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="NaN"):
        score("top1_acc", np.full((2, 2), np.nan), np.eye(2))


# --- event-based F-measure --------------------------------------------------------------------------------------------


def test_event_f_measure_perfect_miss_and_empty() -> None:
    reference = {"a.wav": [Event("dog", 100.0, 600.0), Event("car", 1000.0, 1500.0)], "b.wav": []}
    assert onsets("event_onset_200ms_fms", reference, reference) == 1.0
    one_miss = {"a.wav": [Event("dog", 150.0, 900.0)], "b.wav": []}  # P = 1, R = 1/2
    assert onsets("event_onset_200ms_fms", one_miss, reference) == pytest.approx(2 / 3)
    wrong_label = {"a.wav": [Event("siren", 100.0, 600.0)], "b.wav": []}
    assert onsets("event_onset_200ms_fms", wrong_label, reference) == 0.0
    nothing = {"a.wav": [], "b.wav": []}  # precision 0 / 0: NaN, as sed_eval
    assert math.isnan(onsets("event_onset_200ms_fms", nothing, reference))
    # Only predicted files are evaluated; a predicted file missing from the reference has no reference events.
    assert onsets("event_onset_200ms_fms", {"b.wav": [], "c.wav": [Event("dog", 0.0, 10.0)]}, reference) != 1.0
    assert onsets("event_onset_200ms_fms", {"a.wav": reference["a.wav"]}, {**reference, "x.wav": [Event("dog", 0, 1)]}) == 1.0


def test_collar_is_inclusive_in_seconds() -> None:
    reference = {"a.wav": [Event("dog", 1000.0, 2000.0)]}
    # 1.0 s and 1.2 s are 0.19999999999999996 s apart in floating point: within the 0.2 s collar.
    assert onsets("event_onset_200ms_fms", {"a.wav": [Event("dog", 1200.0, 2000.0)]}, reference) == 1.0
    assert onsets("event_onset_200ms_fms", {"a.wav": [Event("dog", 1201.0, 2000.0)]}, reference) == 0.0
    # 1.0 s and 0.95 s (or 1.05 s) are 0.050000000000000044 s apart: outside the 0.05 s collar, as sed_eval decides.
    assert onsets("event_onset_50ms_fms", {"a.wav": [Event("dog", 950.0, 2000.0)]}, reference) == 0.0
    assert onsets("event_onset_50ms_fms", {"a.wav": [Event("dog", 1050.0, 2000.0)]}, reference) == 0.0
    assert onsets("event_onset_50ms_fms", {"a.wav": [Event("dog", 1049.0, 2000.0)]}, reference) == 1.0


def test_offset_tolerance_is_the_larger_of_collar_and_a_fifth_of_the_length() -> None:
    reference = {"a.wav": [Event("dog", 0.0, 1000.0)]}  # 20 % of 1 s: 0.2 s
    name = "event_onset_offset_50ms_20perc_fms"
    assert onsets(name, {"a.wav": [Event("dog", 0.0, 1190.0)]}, reference) == 1.0
    assert onsets(name, {"a.wav": [Event("dog", 0.0, 1250.0)]}, reference) == 0.0
    assert onsets(name, {"a.wav": [Event("dog", 60.0, 1000.0)]}, reference) == 0.0  # onset outside 50 ms
    short = {"a.wav": [Event("dog", 0.0, 100.0)]}  # 20 % is 20 ms: the 50 ms collar applies
    assert onsets(name, {"a.wav": [Event("dog", 0.0, 140.0)]}, short) == 1.0


def test_matching_is_optimal_not_greedy() -> None:
    # The first reference event could take either prediction; taken greedily (the first), the second is left without.
    reference = {"a.wav": [Event("dog", 300.0, 900.0), Event("dog", 50.0, 900.0)]}
    predicted = {"a.wav": [Event("dog", 200.0, 900.0), Event("dog", 450.0, 900.0)]}
    assert onsets("event_onset_200ms_fms", predicted, reference) == 1.0


# --- segment-based error rate -----------------------------------------------------------------------------------------


def test_segment_error_rate_counts_substitutions_deletions_insertions() -> None:
    reference = {"a.wav": [Event("dog", 0.0, 1500.0), Event("car", 2200.0, 2800.0)]}  # dog in 0, 1; car in 2
    predicted = {"a.wav": [
        Event("dog", 0.0, 500.0),  # segment 0: correct
        Event("car", 100.0, 200.0),  # segment 0: an insertion
        Event("siren", 1200.0, 1400.0),  # segment 1: dog substituted by siren
        Event("speech", 3100.0, 3200.0),  # segment 3 (the file now lasts 3.2 s): an insertion; car in 2 is deleted
    ]}
    # S 1, D 1, I 2 over 3 active reference segments.
    assert score("segment_1s_er", predicted, reference, LABELS) == pytest.approx(4 / 3)
    assert score("segment_1s_er", reference, reference, LABELS) == 0.0


def test_segment_error_rate_without_reference_activity_is_huge_as_in_sed_eval() -> None:
    predicted = {"a.wav": [Event("dog", 0.0, 500.0)]}
    assert score("segment_1s_er", predicted, {"a.wav": []}, LABELS) == pytest.approx(1 / np.spacing(1))
    assert score("segment_1s_er", {"a.wav": []}, {"a.wav": []}, LABELS) == 0.0


def test_event_scores_check_their_inputs() -> None:
    with pytest.raises(ValueError, match="not one of the task's labels"):
        onsets("segment_1s_er", {"a.wav": [Event("cat", 0.0, 1.0)]}, {})
    with pytest.raises(ValueError, match="start_ms <= end_ms"):
        onsets("event_onset_200ms_fms", {"a.wav": [Event("dog", 10.0, 5.0)]}, {})
    with pytest.raises(ValueError, match="no predicted files"):
        onsets("event_onset_200ms_fms", {}, {"a.wav": []})


def test_task_metrics_names_kinds_and_direction() -> None:
    assert [m.name for m in task_metrics(("mAP", "d_prime"), "scene")] == ["mAP", "d_prime"]
    assert not METRICS["segment_1s_er"].higher_is_better
    with pytest.raises(ValueError, match="unknown metric .top1acc.; did you mean top1_acc"):
        task_metrics(("top1acc",), "scene")
    with pytest.raises(ValueError, match="event task"):
        task_metrics(("top1_acc",), "event")
    with pytest.raises(ValueError, match="no evaluation metric"):
        task_metrics((), "scene")
