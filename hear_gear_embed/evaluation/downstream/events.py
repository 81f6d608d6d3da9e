"""Frame scores to events, as heareval's event postprocessing makes them.

* :func:`events_from_frames`: one file's ``(n_frames, n_labels)`` scores -> :class:`~.data.Event` list (median filter,
  threshold :data:`EVENT_THRESHOLD`, adjacent active frames joined, events shorter than a minimum dropped);
* :data:`EVENT_POSTPROCESSING_GRID` and :func:`postprocessing_grid`: the postprocessings a protocol chooses from on its
  validation split (heareval's default grid, or a task's own ``event_postprocessing_grid``, checked by
  :func:`check_postprocessing_grid`), keyed as heareval keys them (:data:`Postprocessing`; the settings of a key:
  :func:`postprocessing_settings`);
* :func:`active_runs` and :func:`runs_to_events`: the two steps, separate so that a scorer filters a file once per
  median-filter width and threshold and tries every minimum duration on the result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...util.names import unknown_name
from .data import Event, Grid

Postprocessing = tuple[tuple[str, float], ...]
"""One event postprocessing, as heareval keys it: its grid's names, sorted, with this point's values, e.g.
``(("median_filter_ms", 250), ("min_duration", 125))``."""

EVENT_THRESHOLD = 0.5
"""A frame is active for a label when its (filtered) score is strictly above this (heareval's default threshold)."""

EVENT_POSTPROCESSING_GRID: dict[str, tuple[float, ...]] = {"median_filter_ms": (250,), "min_duration": (125, 250)}
"""heareval's ``EVENT_POSTPROCESSING_GRID`` (ms): median filter width and minimum event duration; a task's own
``event_postprocessing_grid`` replaces it whole."""

EVENT_POSTPROCESSING_DEFAULTS: dict[str, float] = {"median_filter_ms": 150, "min_duration": 60,
                                                   "threshold": EVENT_THRESHOLD}
"""The settings of heareval's ``create_events_from_prediction`` (ms, ms, probability), and their defaults: what a
postprocessing grid that leaves a name out uses. A grid names only these."""

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


def check_postprocessing_grid(grid: Mapping[str, Any]) -> Grid:
    """``grid`` (name -> values tried) checked, as ``(name, values)`` pairs in its order.

    Raises:
        ValueError: ``grid`` is not a mapping, names a setting that is not one of :data:`EVENT_POSTPROCESSING_DEFAULTS`
            (heareval's postprocessing fails on it), or has values that are not a non-empty list of finite numbers
            >= 0 (``threshold``: at most 1).
    """
    if not isinstance(grid, Mapping):
        raise ValueError(f"must be an object of setting name -> list of values, got {grid!r}")
    pairs = []
    for name, values in grid.items():
        if name not in EVENT_POSTPROCESSING_DEFAULTS:
            raise ValueError(unknown_name("postprocessing setting", str(name), EVENT_POSTPROCESSING_DEFAULTS)
                             + " (heareval's create_events_from_prediction fails on any other)")
        most = 1.0 if name == "threshold" else math.inf
        if (isinstance(values, str) or not isinstance(values, Sequence) or not values
                or not all(_number(v) and 0 <= v <= most for v in values)):
            expected = "numbers in [0, 1]" if name == "threshold" else "numbers >= 0 (ms)"
            raise ValueError(f"{name} must be a non-empty list of {expected}, got {values!r}")
        pairs.append((str(name), tuple(values)))
    return tuple(pairs)


def postprocessing_grid(grid: Mapping[str, Sequence[float]] | None = None) -> tuple[Postprocessing, ...]:
    """The points of ``grid`` (name -> values tried; ``None``: :data:`EVENT_POSTPROCESSING_GRID`) in scikit-learn's
    ``ParameterGrid`` order (names sorted, the last varying fastest), keyed as heareval keys them. A grid without names
    has one point, of :data:`EVENT_POSTPROCESSING_DEFAULTS`.

    Raises:
        ValueError: a grid that :func:`check_postprocessing_grid` refuses.
    """
    from sklearn.model_selection import ParameterGrid

    checked = check_postprocessing_grid(EVENT_POSTPROCESSING_GRID if grid is None else grid)
    return tuple(tuple(point.items()) for point in ParameterGrid({name: list(values) for name, values in checked}))


def postprocessing_settings(postprocessing: Postprocessing) -> dict[str, float]:
    """Every setting of ``postprocessing``: its own values, and :data:`EVENT_POSTPROCESSING_DEFAULTS` for the rest."""
    return {**EVENT_POSTPROCESSING_DEFAULTS, **dict(postprocessing)}


def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
