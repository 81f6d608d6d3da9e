"""Scoring predictions of one split with a task's metrics, and comparing and aggregating the scores.

* :class:`SplitScorer`: one split's ``(n_rows, n_labels)`` scores -> the task's metrics (event tasks: through the
  event postprocessing, chosen by :meth:`SplitScorer.select` on a validation split; scene tasks cut into chunks: the
  mean of each file's chunk scores, seed 001's protocol); callable as a probe's ``scoring``;
* :func:`better`, :func:`first_best`, :func:`worst`: comparisons that know whether higher is better, with heareval's
  tie rule (the first among equals);
* :func:`fold_summary`: heareval's aggregation of test scores over folds (mean and sample standard deviation);
* :data:`Scoring` and :func:`default_scoring`: a probe's validation metric, and the one it uses when given none.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .data import Event, SplitEmbeddings, TaskInfo
from .events import Postprocessing, Runs, active_runs, postprocessing_grid, postprocessing_settings, runs_to_events
from .metrics import Metric

Scoring = Callable[[Any, np.ndarray], float]
"""A probe's validation metric: ``scoring(y_valid, proba)``, ``proba`` ``(n_valid, n_classes)`` in ``classes_`` order."""


class SplitScorer:
    """Scores one split's frame or clip scores with the task's metrics (event tasks: per event postprocessing).

    Args:
        task: the task (labels; event tasks: its postprocessing grid, ``task.evaluation_params.postprocessing_grid``).
        split: the split scored: its targets (label metrics), or its files' timestamps and reference events (event
            metrics).
        metrics: the task's metrics, the first one (:attr:`primary`) selecting models and postprocessings.

    Attributes:
        primary: ``metrics[0]``.
        files: event tasks: per file, its name, its rows (a repeated timestamp keeps its last row, as heareval keys a
            file's frames by timestamp) and their ``(n_frames,)`` timestamps in ms; ``[]`` for a scene task.
        postprocessings: event tasks: the points of the task's postprocessing grid (:func:`~.events.postprocessing_grid`)
            that :meth:`select` chooses from; ``()`` for a scene task.
        chunked: a scene split with several rows (chunks) for a file: each file's score is the mean of its rows'.
    """

    def __init__(self, task: TaskInfo, split: SplitEmbeddings, metrics: Sequence[Metric]) -> None:
        self.task = task
        self.metrics = metrics
        self.primary = metrics[0]
        self.targets = split.targets
        self.chunked = split.timestamps_ms is None and len(np.unique(split.file_index)) != len(split.file_index)
        if self.chunked:
            # Rows of a file in one group: its score is their mean, its targets the file's (every chunk carries them).
            self._file_of_row = np.unique(split.file_index, return_inverse=True)[1]
            self._rows_per_file = np.bincount(self._file_of_row).astype(np.float64)[:, None]
            first_row = np.unique(self._file_of_row, return_index=True)[1]
            self.targets = split.targets[first_row]
        self.reference: Mapping[str, Sequence[Event]] = split.events or {}
        self.files: list[tuple[str, np.ndarray, np.ndarray]] = []
        if split.timestamps_ms is not None:
            for index in np.unique(split.file_index):
                rows = np.flatnonzero(split.file_index == index)[::-1]
                # heareval keys a file's frames by timestamp: a repeated timestamp keeps its last row.
                times, first = np.unique(split.timestamps_ms[rows], return_index=True)
                self.files.append((split.files[index], rows[first], times))
        grid = task.evaluation_params.postprocessing_grid
        self.postprocessings = postprocessing_grid(None if grid is None else dict(grid)) if self.files else ()

    def _events(self, scores: np.ndarray,
                postprocessings: Sequence[Postprocessing]) -> dict[Postprocessing, dict[str, list[Event]]]:
        out: dict[Postprocessing, dict[str, list[Event]]] = {p: {} for p in postprocessings}
        for name, rows, times in self.files:
            runs: dict[tuple[float, float], Runs] = {}
            for postprocessing in postprocessings:
                settings = postprocessing_settings(postprocessing)
                key = (settings["median_filter_ms"], settings["threshold"])
                if key not in runs:
                    runs[key] = active_runs(scores[rows], times, *key)
                out[postprocessing][name] = runs_to_events(runs[key], self.task.labels, settings["min_duration"])
        return out

    def file_scores(self, scores: np.ndarray) -> np.ndarray:
        """A scene split's ``(n_rows, n_labels)`` scores per file: the mean of each file's chunks (:attr:`chunked`), or
        the rows as they are."""
        if not self.chunked:
            return scores
        sums = np.zeros((len(self._rows_per_file), scores.shape[1]), dtype=np.float64)
        np.add.at(sums, self._file_of_row, scores)
        return (sums / self._rows_per_file).astype(scores.dtype, copy=False)

    def _value(self, metric: Metric, scores: np.ndarray, events: Mapping[str, Sequence[Event]] | None) -> float:
        if events is None:
            return metric.compute(self.file_scores(scores), self.targets)
        return metric.compute(events, self.reference, self.task.labels)

    def select(self, scores: np.ndarray) -> tuple[float, Postprocessing | None]:
        """The primary metric of ``scores`` ``(n_rows, n_labels)``, with the best event postprocessing (event tasks;
        ``None`` for a scene task).

        As heareval: a NaN primary counts as 0 when postprocessings are compared, ties go to the larger parameters,
        and the value returned is the raw one (NaN stays NaN). Unlike heareval, an error rate is minimised here
        (heareval sorts every primary metric in decreasing order; no HEAR task has an error rate as its first metric).
        """
        if not self.files:
            return self._value(self.primary, scores, None), None
        candidates = self._events(scores, self.postprocessings)
        values = {p: self._value(self.primary, scores, events) for p, events in candidates.items()}
        sign = 1.0 if self.primary.higher_is_better else -1.0
        best = max(values, key=lambda p: (sign * (0.0 if math.isnan(values[p]) else values[p]), tuple(v for _, v in p)))
        return values[best], best

    def __call__(self, y_true: object, scores: np.ndarray) -> float:
        """The primary metric of ``scores`` ``(n_rows, n_labels)`` with the best postprocessing (:meth:`select`), as a
        probe's ``scoring``; ``y_true`` is not read (the split's own targets and events are)."""
        return self.select(scores)[0]

    def scores(self, scores: np.ndarray, postprocessing: Postprocessing | None) -> dict[str, float]:
        """Every metric of the task on ``scores`` ``(n_rows, n_labels)`` (event tasks: made with ``postprocessing``),
        metric name -> value."""
        events = None
        if self.files:
            if postprocessing is None:
                raise ValueError("event scores need a postprocessing")
            events = self._events(scores, [postprocessing])[postprocessing]
        return {metric.name: float(self._value(metric, scores, events)) for metric in self.metrics}


def better(a: float, b: float, higher_is_better: bool) -> bool:
    """Whether ``a`` is strictly better than ``b`` (a NaN is never better, nor worse)."""
    return a > b if higher_is_better else a < b


def first_best(values: Sequence[float], higher_is_better: bool) -> int:
    """Index of the best of ``values`` (at least one), the first among equals (heareval's stable sort of grid points)."""
    best = 0
    for i, value in enumerate(values):
        if better(value, values[best], higher_is_better):
            best = i
    return best


def worst(higher_is_better: bool) -> float:
    """The value every other one is better than or equal to: ``-inf`` or ``inf``."""
    return -math.inf if higher_is_better else math.inf


def fold_summary(fold_names: Sequence[str],
                 fold_scores: Sequence[Mapping[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """heareval's aggregation of ``fold_scores`` (one metric name -> value mapping per fold): metric -> mean and
    metric -> sample standard deviation (ddof 1; 0.0 with one fold) over folds, NaN values left out (as pandas)."""
    means, stds = {}, {}
    for metric in fold_scores[0]:
        values = np.array([scores[metric] for scores in fold_scores])
        finite = values[~np.isnan(values)]
        means[metric] = float(finite.mean()) if len(finite) else math.nan
        if len(fold_names) == 1:
            stds[metric] = 0.0
        else:
            with np.errstate(invalid="ignore"):  # an infinite value (a perfect d') has a NaN spread, as in pandas
                stds[metric] = float(finite.std(ddof=1)) if len(finite) > 1 else math.nan
    return means, stds


def _accuracy(classes: np.ndarray, y_true: np.ndarray, proba: np.ndarray) -> float:
    return float(np.mean(classes[proba.argmax(axis=1)] == y_true))


def default_scoring(classes: np.ndarray, multilabel: bool) -> Scoring:
    """A probe's validation metric when it is given none: accuracy of the most probable of ``classes``
    ``(n_classes,)`` (multiclass), or macro average precision (multilabel; scikit-learn's ``average_precision_score``)."""
    if multilabel:
        from sklearn.metrics import average_precision_score

        return functools.partial(average_precision_score, average="macro")
    return functools.partial(_accuracy, classes)
