"""heareval's scores (``heareval.score.available_scores``, hear-eval-kit 2021.1.3): the same names, the same values.

* **label scores** (``top1_acc``, ``pitch_acc``, ``chroma_acc``, ``mAP``, ``aucroc``, ``d_prime``) compare
  ``(n_rows, n_labels)`` predicted scores with ``(n_rows, n_labels)`` multi-hot targets, with scikit-learn and scipy
  called as heareval calls them;
* **event scores** (``event_onset_200ms_fms``, ``event_onset_50ms_fms``, ``event_onset_offset_50ms_20perc_fms``,
  ``segment_1s_er``) compare predicted with reference :class:`~.data.Event` lists per file, as sed_eval 0.2.1 computes
  them with heareval's parameters, reimplemented here: sed_eval needs dcase_util, which imports ``pkg_resources``.

Each score's definition, and sed_eval's rules as reproduced here: docs/evaluate.md ("The metrics").
``tests/harness/metric_oracle.py`` checks that this module and heareval agree on seeded random cases.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np

from ...util.names import unknown_name
from .data import EmbeddingType, Event

MetricKind = Literal["labels", "events"]

#: sed_eval's guard against a zero reference count in the error rate (``numpy.spacing(1)``).
_EPS = float(np.spacing(1))


@dataclass(frozen=True)
class Metric:
    """One of heareval's scores.

    Attributes:
        name: heareval's name (``available_scores`` key).
        kind: ``labels`` (called with ``(predictions, targets)`` arrays) or ``events`` (called with
            ``(predicted, reference, labels)`` event lists per file).
        higher_is_better: ``False`` only for error rates; the direction in which models are selected.
        compute: the function computing it.
    """

    name: str
    kind: MetricKind
    higher_is_better: bool
    compute: Callable[..., float]


def _label_arrays(predictions: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predictions = np.asarray(predictions)
    targets = np.asarray(targets)
    if predictions.ndim != 2 or predictions.shape != targets.shape or len(predictions) == 0:
        raise ValueError(f"predictions {predictions.shape} and targets {targets.shape} must be the same (n_rows >= 1, n_labels)")
    if not np.isfinite(predictions).all():
        raise ValueError("predictions contain NaN or Inf")
    return predictions, targets


def top1_accuracy(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Fraction of rows whose highest predicted label is the target's first label (argmax; ties: the lowest index).

    Args:
        predictions: ``(n_rows, n_labels)`` scores. targets: ``(n_rows, n_labels)`` one-hot (multi-hot: its first label).
    """
    predictions, targets = _label_arrays(predictions, targets)
    return int(np.count_nonzero(predictions.argmax(axis=1) == targets.argmax(axis=1))) / len(targets)


def chroma_accuracy(predictions: np.ndarray, targets: np.ndarray) -> float:
    """:func:`top1_accuracy` with labels compared modulo 12 (pitch classes: octave errors count as correct)."""
    predictions, targets = _label_arrays(predictions, targets)
    return int(np.count_nonzero(predictions.argmax(axis=1) % 12 == targets.argmax(axis=1) % 12)) / len(targets)


def mean_average_precision(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Macro average of the per-label average precision (scikit-learn's ``average_precision_score``)."""
    from sklearn.metrics import average_precision_score

    predictions, targets = _label_arrays(predictions, targets)
    with warnings.catch_warnings():
        # A label without positives is scored as scikit-learn scores it (heareval does the same); its warning
        # would repeat at every validation.
        warnings.simplefilter("ignore")
        return float(average_precision_score(targets, predictions, average="macro"))


def _per_label_auc(predictions: np.ndarray, targets: np.ndarray, average: str | None) -> np.ndarray | float:
    from sklearn.metrics import roc_auc_score

    predictions, targets = _label_arrays(predictions, targets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return roc_auc_score(targets, predictions, average=average)
        except ValueError:
            # Older scikit-learn raises where newer returns NaN (a label with one class only): NaN either way.
            return math.nan


def aucroc(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Macro ROC AUC; NaN when a label has no positive or no negative row."""
    return float(np.mean(_per_label_auc(predictions, targets, "macro")))


def d_prime(predictions: np.ndarray, targets: np.ndarray) -> float:
    """Mean over labels of ``sqrt(2) * Phi^-1(AUC)``; NaN when a label has no positive or no negative row."""
    from scipy.stats import norm

    auc = _per_label_auc(predictions, targets, None)
    return float(np.mean(norm.ppf(auc) * np.sqrt(2.0)))


def _seconds(events: Sequence[Event], labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Label indices, onsets and offsets in seconds (``ms / 1000``, as heareval hands them to sed_eval)."""
    index = {label: i for i, label in enumerate(labels)}
    try:
        label_idx = np.array([index[event.label] for event in events], dtype=np.int64)
    except KeyError as err:
        raise ValueError(f"event label {err.args[0]!r} is not one of the task's labels {list(labels)}") from None
    onsets = np.array([event.start_ms / 1000.0 for event in events], dtype=np.float64)
    offsets = np.array([event.end_ms / 1000.0 for event in events], dtype=np.float64)
    if not (np.isfinite(onsets).all() and np.isfinite(offsets).all()) or (onsets < 0).any() or (offsets < onsets).any():
        raise ValueError("events need finite times with 0 <= start_ms <= end_ms")
    return label_idx, onsets, offsets


def _matched_events(
    reference: tuple[np.ndarray, np.ndarray, np.ndarray],
    estimated: tuple[np.ndarray, np.ndarray, np.ndarray],
    t_collar: float,
    percentage_of_length: float | None,
) -> int:
    """Size of a maximum matching between one file's reference and estimated events (same label, within the collars)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    ref_label, ref_on, ref_off = reference
    est_label, est_on, est_off = estimated
    hits = (ref_label[:, None] == est_label[None, :]) & (np.abs(ref_on[:, None] - est_on[None, :]) <= t_collar)
    if percentage_of_length is not None:
        tolerance = np.maximum(t_collar, percentage_of_length * (ref_off - ref_on))
        hits &= np.abs(ref_off[:, None] - est_off[None, :]) <= tolerance[:, None]
    if not hits.any():
        return 0
    if hits.sum(axis=0).max() == 1 and hits.sum(axis=1).max() == 1:
        return int(hits.sum())
    matching = maximum_bipartite_matching(csr_matrix(hits), perm_type="column")
    return int(np.count_nonzero(matching >= 0))


def _check_files(predicted: Mapping[str, Sequence[Event]]) -> None:
    if not predicted:
        raise ValueError("no predicted files to score (a file without events must be given with an empty list)")


def event_f_measure(
    predicted: Mapping[str, Sequence[Event]],
    reference: Mapping[str, Sequence[Event]],
    labels: Sequence[str],
    *,
    t_collar: float,
    percentage_of_length: float | None = None,
) -> float:
    """sed_eval's overall event-based F-measure with optimal (maximum bipartite) matching.

    Args:
        predicted: file name -> estimated events; every file here is evaluated.
        reference: file name -> reference events (a file missing here has none).
        labels: the task's labels; an event with another label is an error.
        t_collar: onset (and offset) collar in seconds, inclusive.
        percentage_of_length: when given, offsets are evaluated too, within
            ``max(t_collar, percentage_of_length x reference length)``; ``None`` evaluates onsets only.

    Returns:
        ``2 P R / (P + R)`` over all files (NaN when no event is predicted or none is in the reference).
    """
    _check_files(predicted)
    n_tp = n_sys = n_ref = 0
    for name, estimated in predicted.items():
        ref = _seconds(reference.get(name, ()), labels)
        est = _seconds(estimated, labels)
        n_ref += len(ref[0])
        n_sys += len(est[0])
        n_tp += _matched_events(ref, est, t_collar, percentage_of_length)
    precision = math.nan if n_sys == 0 else n_tp / n_sys
    recall = math.nan if n_ref == 0 else n_tp / n_ref
    if precision == 0 and recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def _event_roll(events: tuple[np.ndarray, np.ndarray, np.ndarray], n_segments: int, n_labels: int,
                time_resolution: float) -> np.ndarray:
    roll = np.zeros((n_segments, n_labels), dtype=bool)
    for label, onset, offset in zip(*events, strict=True):
        roll[math.floor(onset / time_resolution):math.ceil(offset / time_resolution), label] = True
    return roll


def segment_error_rate(
    predicted: Mapping[str, Sequence[Event]],
    reference: Mapping[str, Sequence[Event]],
    labels: Sequence[str],
    *,
    time_resolution: float,
) -> float:
    """sed_eval's overall segment-based error rate ``(S + D + I) / Nref`` on segments of ``time_resolution`` seconds.

    Args: as :func:`event_f_measure`; every file lasts until the last offset of its reference or predicted events.
    """
    _check_files(predicted)
    subs = deletions = insertions = n_ref = 0
    for name, estimated in predicted.items():
        ref = _seconds(reference.get(name, ()), labels)
        est = _seconds(estimated, labels)
        length = float(max(np.max(ref[2], initial=0.0), np.max(est[2], initial=0.0)))
        n_segments = math.ceil(length / time_resolution)
        ref_roll = _event_roll(ref, n_segments, len(labels), time_resolution)
        est_roll = _event_roll(est, n_segments, len(labels), time_resolution)
        n_ref_segment = ref_roll.sum(axis=1)
        n_sys_segment = est_roll.sum(axis=1)
        n_tp_segment = (ref_roll & est_roll).sum(axis=1)
        subs += int((np.minimum(n_ref_segment, n_sys_segment) - n_tp_segment).sum())
        deletions += int(np.maximum(0, n_ref_segment - n_sys_segment).sum())
        insertions += int(np.maximum(0, n_sys_segment - n_ref_segment).sum())
        n_ref += int(n_ref_segment.sum())
    # Three quotients summed, not one: sed_eval's arithmetic, to the last bit.
    return subs / (n_ref + _EPS) + deletions / (n_ref + _EPS) + insertions / (n_ref + _EPS)


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("top1_acc", "labels", True, top1_accuracy),
        Metric("pitch_acc", "labels", True, top1_accuracy),
        Metric("chroma_acc", "labels", True, chroma_accuracy),
        Metric("mAP", "labels", True, mean_average_precision),
        Metric("d_prime", "labels", True, d_prime),
        Metric("aucroc", "labels", True, aucroc),
        Metric("event_onset_200ms_fms", "events", True, partial(event_f_measure, t_collar=0.2)),
        Metric("event_onset_50ms_fms", "events", True, partial(event_f_measure, t_collar=0.05)),
        Metric("event_onset_offset_50ms_20perc_fms", "events", True,
               partial(event_f_measure, t_collar=0.05, percentage_of_length=0.2)),
        Metric("segment_1s_er", "events", False, partial(segment_error_rate, time_resolution=1.0)),
    )
}
"""heareval's score name -> :class:`Metric`."""

_KIND_OF_TASK: dict[EmbeddingType, MetricKind] = {"scene": "labels", "event": "events"}


def task_metrics(names: Sequence[str], embedding_type: EmbeddingType) -> tuple[Metric, ...]:
    """The metrics named by a task's ``evaluation`` list, checked against its embedding type.

    Raises:
        ValueError: no name, an unknown name, or a label score on an event task (or the reverse).
    """
    if not names:
        raise ValueError("the task names no evaluation metric")
    metrics = []
    for name in names:
        if name not in METRICS:
            raise ValueError(unknown_name("metric", name, METRICS))
        metric = METRICS[name]
        if metric.kind != _KIND_OF_TASK[embedding_type]:
            raise ValueError(f"metric {name!r} scores {metric.kind}, which a {embedding_type} task does not produce")
        metrics.append(metric)
    return tuple(metrics)
