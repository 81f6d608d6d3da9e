"""Small synthetic folds with separable embeddings, for the protocol tests: scene multiclass, scene multilabel, events."""

from __future__ import annotations

import numpy as np

from hear_gear_embed.evaluation.downstream.data import Event, Fold, SplitEmbeddings, TaskInfo

HOP_MS = 50.0
CLIP_MS = 2000.0


def _embed(rng: np.random.Generator, targets: np.ndarray, directions: np.ndarray, noise: float) -> np.ndarray:
    """Each row: the sum of its labels' directions plus Gaussian noise, at a random scale (loudness)."""
    scale = rng.uniform(0.7, 1.4, size=(len(targets), 1))
    return ((targets @ directions + noise * rng.normal(size=(len(targets), directions.shape[1]))) * scale).astype(np.float32)


def scene_split(rng: np.random.Generator, task: TaskInfo, directions: np.ndarray, n: int, prefix: str,
                noise: float = 0.3) -> SplitEmbeddings:
    n_labels = len(task.labels)
    if task.prediction_type == "multiclass":
        targets = np.eye(n_labels, dtype=np.float32)[np.arange(n) % n_labels]
    else:
        targets = (rng.random((n, n_labels)) < 0.35).astype(np.float32)
        targets[np.arange(n), np.arange(n) % n_labels] = 1.0
    files = tuple(f"{prefix}{i:03d}.wav" for i in range(n))
    return SplitEmbeddings(_embed(rng, targets, directions, noise), targets, files, np.arange(n, dtype=np.int64))


def event_split(rng: np.random.Generator, task: TaskInfo, directions: np.ndarray, n_files: int, prefix: str,
                noise: float = 0.3) -> SplitEmbeddings:
    """Files of 2 s with frames every 50 ms and one or two events of 250 - 750 ms each; a frame's target holds the
    labels of the events covering its timestamp (end included)."""
    times = np.arange(0.0, CLIP_MS, HOP_MS) + HOP_MS / 2
    rows_t, rows_y, rows_f = [], [], []
    events: dict[str, tuple[Event, ...]] = {}
    files = tuple(f"{prefix}{i:03d}.wav" for i in range(n_files))
    for i, name in enumerate(files):
        file_events = []
        start = float(rng.integers(0, 6) * 50)
        for _ in range(1 + i % 2):
            length = float(rng.integers(5, 16) * 50)
            file_events.append(Event(task.labels[int(rng.integers(len(task.labels)))], start, start + length))
            start += length + 200.0
        events[name] = tuple(file_events)
        y = np.zeros((len(times), len(task.labels)), dtype=np.float32)
        for event in file_events:
            y[(times >= event.start_ms) & (times <= event.end_ms), task.labels.index(event.label)] = 1.0
        rows_t.append(times)
        rows_y.append(y)
        rows_f.append(np.full(len(times), i))
    targets = np.concatenate(rows_y)
    return SplitEmbeddings(_embed(rng, targets, directions, noise), targets, files, np.concatenate(rows_f).astype(np.int64),
                           timestamps_ms=np.concatenate(rows_t), events=events)


def make_folds(task: TaskInfo, *, seed: int = 0, dim: int = 16, sizes: tuple[int, int, int] = (60, 24, 24),
               n_folds: int = 1, noise: float = 0.3) -> list[Fold]:
    """``n_folds`` folds of ``sizes`` (train, valid, test) clips (scene) or files (event), all from one generator."""
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(len(task.labels), dim)) * 2.0
    make = event_split if task.embedding_type == "event" else scene_split
    folds = []
    for f in range(n_folds):
        train, valid, test = (make(rng, task, directions, n, f"f{f}{split}", noise) for n, split in zip(sizes, "tvs", strict=True))
        folds.append(Fold(f"fold{f:02d}" if n_folds > 1 else "test", train, valid, test))
    return folds


MULTICLASS = TaskInfo("tones", "scene", "multiclass", ("top1_acc", "mAP", "d_prime"), ("a", "b", "c", "d"))
MULTILABEL = TaskInfo("timbre", "scene", "multilabel", ("mAP", "d_prime", "aucroc"), ("low", "high", "noise"))
EVENTS = TaskInfo("events", "event", "multilabel", ("event_onset_200ms_fms", "segment_1s_er"), ("tone_a", "tone_b", "noise"))
