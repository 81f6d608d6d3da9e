"""The data every part of downstream evaluation shares: a task's description, the embeddings of one split, and
the train / valid / test folds a protocol is fitted and scored on.

Conventions, as heareval has them: times are in milliseconds; label vectors are multi-hot over the task's label
vocabulary (``labelvocabulary.csv``, indexed by its ``idx`` column); a multiclass target has exactly one label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

EmbeddingType = Literal["scene", "event"]
PredictionType = Literal["multiclass", "multilabel"]


@dataclass(frozen=True)
class Event:
    """One labelled interval of an event task (ground truth or prediction).

    Attributes:
        label: the label's name.
        start_ms: onset in ms from the start of the file.
        end_ms: offset in ms from the start of the file.
    """

    label: str
    start_ms: float
    end_ms: float


Grid = tuple[tuple[str, tuple[Any, ...]], ...]
"""A parameter grid as ``(name, values tried)`` pairs (hashable, so that a :class:`TaskInfo` stays hashable)."""


@dataclass(frozen=True)
class EvaluationParams:
    """A task's own evaluation settings, which heareval 2021.1.3 reads from ``task_metadata.json`` (read and checked
    by :func:`~.tasks.load_task`). The defaults are heareval's for a task that sets none of them.

    Attributes:
        param_grid: ``evaluation_params.task_specific_param_grid``: hyper-parameter name -> values tried, each
            replacing the default grid's values of that name; ``()``: none.
        postprocessing_grid: ``evaluation_params.event_postprocessing_grid``: event postprocessing name
            (``median_filter_ms``, ``min_duration``, ``threshold``; ms, ms, probability) -> values tried, replacing the
            default grid whole; ``None``: the default, :data:`~.events.EVENT_POSTPROCESSING_GRID`.
        use_scoring_for_early_stopping: ``use_scoring_for_early_stopping`` (a top-level key): ``True``: the task's first
            metric on the validation split stops training, keeps the weights and selects the grid point; ``False``:
            the validation loss does (lower is better), and an event task's postprocessing is its grid's single point.
    """

    param_grid: Grid = ()
    postprocessing_grid: Grid | None = None
    use_scoring_for_early_stopping: bool = True


@dataclass(frozen=True)
class TaskInfo:
    """What a protocol needs to know about a task (from ``task_metadata.json`` and ``labelvocabulary.csv``).

    Attributes:
        name: ``task_name``.
        embedding_type: ``scene`` (one embedding per file) or ``event`` (one per timestamp).
        prediction_type: ``multiclass`` (softmax, one label) or ``multilabel`` (sigmoid, any labels).
        evaluation: heareval score names, the first one selecting models (``top1_acc``, ``mAP``, ...).
        labels: label names in vocabulary order (``idx`` 0 .. n - 1).
        evaluation_params: the task's own grids and early-stopping criterion (heareval's defaults unless it sets them).
    """

    name: str
    embedding_type: EmbeddingType
    prediction_type: PredictionType
    evaluation: tuple[str, ...]
    labels: tuple[str, ...]
    evaluation_params: EvaluationParams = field(default_factory=EvaluationParams)


@dataclass(frozen=True)
class SplitEmbeddings:
    """The embeddings and targets of one split (or of several folds put together), one row per embedding.

    Attributes:
        embeddings: ``(n_rows, dim)`` float32: one row per file (scene tasks) or per timestamp (event tasks).
        targets: ``(n_rows, n_labels)`` float32 multi-hot targets of each row (for an event task, the labels of the
            events that cover the row's timestamp, an event's end included, as heareval assigns them).
        files: names of the split's files, as in ``<split>.json``.
        file_index: ``(n_rows,)`` int64: the file of each row, an index into ``files``.
        timestamps_ms: ``(n_rows,)`` float64 centre of each row's frame in ms (event tasks); ``None`` for scene tasks.
        events: ground-truth events per file (event tasks); ``None`` for scene tasks.
    """

    embeddings: np.ndarray
    targets: np.ndarray
    files: tuple[str, ...]
    file_index: np.ndarray
    timestamps_ms: np.ndarray | None = None
    events: dict[str, tuple[Event, ...]] | None = None

    def __post_init__(self) -> None:
        n = len(self.embeddings)
        if self.embeddings.ndim != 2 or self.targets.ndim != 2 or len(self.targets) != n or self.file_index.shape != (n,):
            raise ValueError(f"inconsistent split: embeddings {self.embeddings.shape}, targets {self.targets.shape}, "
                             f"file_index {self.file_index.shape}")
        if (self.timestamps_ms is None) != (self.events is None):
            raise ValueError("timestamps_ms and events go together (event tasks) or are both None (scene tasks)")
        if self.timestamps_ms is not None and self.timestamps_ms.shape != (n,):
            raise ValueError(f"timestamps_ms has shape {self.timestamps_ms.shape}, expected ({n},)")

    @staticmethod
    def concatenate(parts: list[SplitEmbeddings]) -> SplitEmbeddings:
        """Several splits as one (k-fold training sets); file names must be distinct across the parts."""
        if not parts:
            raise ValueError("nothing to concatenate")
        files = tuple(f for part in parts for f in part.files)
        if len(set(files)) != len(files):
            raise ValueError("the same file name occurs in two of the splits put together")
        offsets = np.cumsum([0, *(len(part.files) for part in parts[:-1])])
        events = None
        if parts[0].events is not None:
            events = {f: e for part in parts for f, e in (part.events or {}).items()}
        return SplitEmbeddings(
            embeddings=np.concatenate([part.embeddings for part in parts]),
            targets=np.concatenate([part.targets for part in parts]),
            files=files,
            file_index=np.concatenate([part.file_index + offset for part, offset in zip(parts, offsets, strict=True)]),
            timestamps_ms=None if events is None else np.concatenate([_timestamps(part) for part in parts]),
            events=events,
        )


@dataclass(frozen=True)
class Fold:
    """One train / valid / test split of a task (heareval's ``data_splits`` entry).

    Attributes:
        name: the test split's name(s) joined by ``|`` (heareval's key in ``test.predicted-scores.json``).
        train: the training rows. valid: the rows that select hyper-parameters and stop training early.
        test: the rows scored.
    """

    name: str
    train: SplitEmbeddings
    valid: SplitEmbeddings
    test: SplitEmbeddings


def _timestamps(split: SplitEmbeddings) -> np.ndarray:
    if split.timestamps_ms is None:
        raise ValueError("a scene split cannot be put together with an event split")
    return split.timestamps_ms
