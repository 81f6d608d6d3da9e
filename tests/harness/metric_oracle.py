"""Agreement of :mod:`hear_gear_embed.evaluation.downstream.metrics` with heareval's own score classes, and of
:func:`~hear_gear_embed.evaluation.downstream.protocols.events_from_frames` with heareval's event postprocessing.

Needs the harness environment (``heareval``, ``sed_eval`` and ``dcase_util`` importable); call
:func:`check_metrics_against_heareval` from there. Every case is drawn from a seeded generator and scored twice: by
``heareval.score.available_scores[name]`` (sed_eval for the event scores) and by this package's
:data:`~hear_gear_embed.evaluation.downstream.metrics.METRICS`. The cases are the ones where a re-implementation could
go wrong: ties in the predictions, labels without positives (NaN from scikit-learn), onsets and offsets at the collar
(a difference equal to the collar in milliseconds, which is or is not within it once divided by 1000), overlapping
events of one label (a matching with several candidates), files without events on either side, files only in the
reference, and a file set without any reference event (the error rate's ``eps``). Frame scores become events in both
implementations for every postprocessing of heareval's grid and others (no filter, even and odd filter widths), on
frames with isolated spikes and dips, scores exactly at the threshold, and irregular frame steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hear_gear_embed.evaluation.downstream.data import Event
from hear_gear_embed.evaluation.downstream.metrics import METRICS
from hear_gear_embed.evaluation.downstream.protocols import events_from_frames

#: Largest tolerated difference between heareval's value and ours (both are float64 computations of the same formula).
TOLERANCE = 1e-9

EventLists = dict[str, list[Event]]


def _agree(ours: float, theirs: float) -> bool:
    if math.isnan(ours) or math.isnan(theirs):
        return math.isnan(ours) and math.isnan(theirs)
    if math.isinf(ours) or math.isinf(theirs):
        return ours == theirs
    return abs(ours - theirs) <= TOLERANCE * max(1.0, abs(theirs))


def _heareval_value(value: Any) -> float:
    """heareval's primary value: a float, or the first ``(name, value)`` of a tuple (sed_eval scores)."""
    return float(value[0][1]) if isinstance(value, tuple) else float(value)


def _label_cases(rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(description, predictions, targets) for the label scores."""
    cases = []
    for n, n_labels in ((40, 6), (7, 3), (200, 24)):
        targets = np.eye(n_labels, dtype=np.float32)[rng.integers(0, n_labels, n)]
        logits = rng.normal(size=(n, n_labels)) + 2.0 * targets
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        cases.append((f"multiclass n={n} labels={n_labels}", probabilities.astype(np.float32), targets))
        # Coarse values: ties between labels (argmax takes the first) and between rows (ranking ties).
        cases.append((f"multiclass ties n={n} labels={n_labels}", np.round(probabilities * 4) / 4, targets))
    for n, n_labels in ((60, 5), (25, 8)):
        rates = np.linspace(0.5, 0.04, n_labels)
        targets = (rng.random((n, n_labels)) < rates).astype(np.float32)
        targets[:, -1] = 0.0  # a label without positives: NaN AUC, as scikit-learn scores it
        targets[: n // 3, 0] = 1.0
        scores = (rng.random((n, n_labels)) + 0.6 * targets).astype(np.float32)
        cases.append((f"multilabel n={n} labels={n_labels}, one label never present", scores, targets))
        full = targets.copy()
        full[0, -1] = 1.0  # every label present, one of them once
        cases.append((f"multilabel n={n} labels={n_labels}, one rare label", scores, full))
        cases.append((f"multilabel ties n={n} labels={n_labels}", np.round(scores * 3) / 3, full))
    return cases


def _near(rng: np.random.Generator, ms: float, collar_ms: float) -> float:
    """A time near ``ms``: at exactly the collar, just inside or outside it, or well within it."""
    choice = int(rng.integers(0, 6))
    sign = 1.0 if rng.random() < 0.5 else -1.0
    offset = (collar_ms, collar_ms - 1.0, collar_ms + 1.0, collar_ms - 1e-6, collar_ms + 1e-6, 0.3 * collar_ms)[choice]
    return max(0.0, ms + sign * offset)


def _event_case(rng: np.random.Generator, labels: Sequence[str], n_files: int, collar_ms: float) -> tuple[EventLists, EventLists]:
    """Reference and predicted events per file: near-collar copies, overlaps of one label, misses, empty files."""
    reference: EventLists = {}
    predicted: EventLists = {}
    for i in range(n_files):
        name = f"clip{i:02d}.wav"
        kind = i % 5
        ref: list[Event] = []
        if kind != 3:  # kind 3: no reference events in this file
            for _ in range(int(rng.integers(1, 6))):
                start = float(rng.integers(0, 80) * 25)
                ref.append(Event(str(rng.choice(labels)), start, start + float(rng.integers(1, 60) * 25)))
            if kind == 1:  # overlapping events of one label, so that one prediction could match several references
                start = ref[0].start_ms
                ref += [Event(ref[0].label, start + 30.0, start + 400.0), Event(ref[0].label, start + 60.0, start + 90.0)]
        pred: list[Event] = []
        if kind != 4:  # kind 4: nothing predicted in this file
            for event in ref:
                if rng.random() < 0.8:
                    start = _near(rng, event.start_ms, collar_ms)
                    length = event.end_ms - event.start_ms
                    end = max(start, _near(rng, event.end_ms, max(collar_ms, 0.2 * length)))
                    label = event.label if rng.random() < 0.85 else str(rng.choice(labels))
                    pred.append(Event(label, start, end))
            for _ in range(int(rng.integers(0, 3))):  # insertions
                start = float(rng.integers(0, 2000))
                pred.append(Event(str(rng.choice(labels)), start, start + float(rng.integers(0, 1500))))
        predicted[name] = pred
        if ref or rng.random() < 0.5:
            reference[name] = ref
    reference["only_in_reference.wav"] = [Event(labels[0], 100.0, 900.0)]  # not predicted: not evaluated
    return reference, predicted


def _as_heareval(events: EventLists) -> dict[str, list[dict[str, Any]]]:
    return {name: [{"label": e.label, "start": e.start_ms, "end": e.end_ms} for e in evs] for name, evs in events.items()}


def _check_events_from_frames(rng: np.random.Generator) -> list[str]:
    import torch
    from heareval.predictions.task_predictions import create_events_from_prediction

    failures = []
    labels = ("a", "b", "c")
    for case in range(12):
        n_frames = int(rng.integers(2, 80))  # heareval fails on a single frame (its mean step is NaN)
        step = (25.0, 50.0, 40.0)[case % 3]
        times = np.cumsum(np.full(n_frames, step) + (rng.random(n_frames) * 10 if case % 4 == 3 else 0.0))
        # Mostly long runs with spikes and dips; some values exactly at the threshold.
        scores = np.repeat(rng.random((n_frames // 6 + 1, len(labels))), 6, axis=0)[:n_frames]
        scores = np.where(rng.random(scores.shape) < 0.1, 1.0 - scores, scores)
        scores[rng.random(scores.shape) < 0.05] = 0.5
        scores = scores.astype(np.float32)
        for median_filter_ms, min_duration in ((250, 125), (250, 250), (0, 0), (100, 60), (125, 0)):
            ours = events_from_frames(scores, times, labels, median_filter_ms=median_filter_ms, min_duration=min_duration)
            theirs = create_events_from_prediction({float(t): torch.from_numpy(row) for t, row in zip(times, scores, strict=True)},
                                                   dict(enumerate(labels)), median_filter_ms=median_filter_ms,
                                                   min_duration=min_duration)
            as_ours = sorted((e["label"], float(e["start"]), float(e["end"])) for e in theirs)
            if sorted((e.label, e.start_ms, e.end_ms) for e in ours) != as_ours:
                failures.append(f"events of case {case} ({n_frames} frames, filter {median_filter_ms} ms, "
                                f"min {min_duration} ms): ours {ours}, heareval {as_ours}")
    return failures


def check_metrics_against_heareval(seed: int = 0) -> list[str]:
    """Score seeded random cases with heareval and with this package; the disagreements (empty: they agree)."""
    from heareval.score import available_scores

    rng = np.random.default_rng(seed)
    failures: list[str] = []

    def compare(name: str, description: str, ours: float, theirs: Any) -> None:
        mine, reference = float(ours), _heareval_value(theirs)
        if not _agree(mine, reference):
            failures.append(f"{name} on {description}: ours {mine!r}, heareval {reference!r}")

    label_metrics = [m for m in METRICS.values() if m.kind == "labels"]
    for description, predictions, targets in _label_cases(rng):
        label_to_idx = {str(i): i for i in range(targets.shape[1])}
        for metric in label_metrics:
            if metric.name == "chroma_acc" and targets.shape[1] < 12:
                continue
            score = available_scores[metric.name](label_to_idx=label_to_idx)
            compare(metric.name, description, metric.compute(predictions, targets), score(predictions, targets))

    labels = ("dog", "car", "siren", "speech")
    label_to_idx = {label: i for i, label in enumerate(labels)}
    event_metrics = [m for m in METRICS.values() if m.kind == "events"]
    cases = [(f"{n_files} files, collar {collar} ms", *_event_case(rng, labels, n_files, collar))
             for n_files, collar in ((12, 200.0), (12, 50.0), (30, 50.0), (5, 200.0))]
    cases.append(("nothing predicted", {"a.wav": [Event("dog", 0.0, 500.0)]}, {"a.wav": []}))
    cases.append(("no reference event", {"a.wav": []}, {"a.wav": [Event("dog", 0.0, 500.0)], "b.wav": []}))
    cases.append(("no event at all", {}, {"a.wav": [], "b.wav": []}))
    for description, reference, predicted in cases:
        for metric in event_metrics:
            score = available_scores[metric.name](label_to_idx=label_to_idx)
            compare(metric.name, description, metric.compute(predicted, reference, labels),
                    score(_as_heareval(predicted), _as_heareval(reference)))
    return failures + _check_events_from_frames(rng)
