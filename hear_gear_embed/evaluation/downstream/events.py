"""Frame scores to events, as heareval's event postprocessing makes them.

* :func:`events_from_frames`: one file's ``(n_frames, n_labels)`` scores -> :class:`~.data.Event` list (median filter,
  threshold :data:`EVENT_THRESHOLD`, adjacent active frames joined, events shorter than a minimum dropped);
* :data:`EVENT_POSTPROCESSING_GRID` and :func:`postprocessing_grid`: the postprocessings a protocol chooses from on its
  validation split, keyed as heareval keys them (:data:`Postprocessing`);
* :func:`active_runs` and :func:`runs_to_events`: the two steps, separate so that a scorer filters a file once per
  median-filter width and tries every minimum duration on the result.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from .data import Event

Postprocessing = tuple[tuple[str, int], ...]
"""One event postprocessing, as heareval keys it: ``(("median_filter_ms", 250), ("min_duration", 125))``."""

EVENT_POSTPROCESSING_GRID: dict[str, tuple[int, ...]] = {"median_filter_ms": (250,), "min_duration": (125, 250)}
"""heareval's ``EVENT_POSTPROCESSING_GRID`` (ms): median filter width and minimum event duration."""

EVENT_THRESHOLD = 0.5
"""A frame is active for a label when its (filtered) score is strictly above this."""

Runs = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Runs of active frames: ``(n_runs,)`` label index, start and end timestamps (ms)."""


def events_from_frames(
    scores: np.ndarray,
    timestamps_ms: np.ndarray,
    labels: Sequence[str],
    *,
    median_filter_ms: float,
    min_duration: float,
    threshold: float = EVENT_THRESHOLD,
) -> list[Event]:
    """One file's events from its frame scores, as heareval's ``create_events_from_prediction`` makes them.

    The scores are median-filtered along time over ``round(median_filter_ms / mean frame step)`` frames (scipy's
    ``median_filter``, reflected edges; no filter for 0 or a single frame), thresholded (strictly above), and each run of
    active frames of a label becomes an event from the first to the last frame's timestamp, kept when it lasts at least
    ``min_duration`` ms (so a single active frame is an event only when ``min_duration`` is 0).

    Args:
        scores: ``(n_frames, n_labels)`` frame scores, rows in time order.
        timestamps_ms: ``(n_frames,)`` increasing frame centres in ms.
        labels: the label names of the columns.

    Returns:
        The events, sorted by onset (then label).
    """
    scores = np.asarray(scores)
    timestamps_ms = np.asarray(timestamps_ms, dtype=np.float64)
    if scores.ndim != 2 or scores.shape != (len(timestamps_ms), len(labels)) or len(timestamps_ms) == 0:
        raise ValueError(f"scores {scores.shape} must be (n_frames >= 1 = {len(timestamps_ms)} timestamps, {len(labels)} labels)")
    if (np.diff(timestamps_ms) <= 0).any():
        raise ValueError("timestamps_ms must increase strictly")
    return runs_to_events(active_runs(scores, timestamps_ms, median_filter_ms, threshold), labels, min_duration)


def active_runs(scores: np.ndarray, timestamps_ms: np.ndarray, median_filter_ms: float, threshold: float) -> Runs:
    """Runs of active frames of ``scores`` ``(n_frames, n_labels)`` at ``timestamps_ms`` ``(n_frames,)``, after the
    median filter: ``(n_runs,)`` label index, start and end timestamps (ms), per label in time order."""
    if median_filter_ms and len(timestamps_ms) > 1:
        width = int(round(median_filter_ms / float(np.mean(np.diff(timestamps_ms)))))
        if width:
            from scipy.ndimage import median_filter

            scores = median_filter(scores, size=(width, 1))
    active = np.zeros((scores.shape[1], scores.shape[0] + 2), dtype=np.int8)
    active[:, 1:-1] = (scores > threshold).T
    steps = np.diff(active, axis=1)
    label, start = np.nonzero(steps == 1)
    _, stop = np.nonzero(steps == -1)
    return label, timestamps_ms[start], timestamps_ms[stop - 1]


def runs_to_events(runs: Runs, labels: Sequence[str], min_duration: float) -> list[Event]:
    """The runs that last at least ``min_duration`` ms as events named by ``labels``, sorted by onset (stable)."""
    label, start, end = runs
    keep = end - start >= min_duration
    order = np.argsort(start[keep], kind="stable")
    return [Event(labels[i], float(s), float(e))
            for i, s, e in zip(label[keep][order], start[keep][order], end[keep][order], strict=True)]


@functools.cache
def postprocessing_grid() -> tuple[Postprocessing, ...]:
    """The points of :data:`EVENT_POSTPROCESSING_GRID` in scikit-learn's ``ParameterGrid`` order, keyed as heareval
    keys them."""
    from sklearn.model_selection import ParameterGrid

    grid = ParameterGrid({key: list(values) for key, values in EVENT_POSTPROCESSING_GRID.items()})
    return tuple(tuple(point.items()) for point in grid)
