"""HEAR 2021 task folders, read as heareval 2021.1.3 reads them.

A task folder, as ``hearpreprocess`` writes it and heareval reads it::

    <task>/task_metadata.json          task_name, embedding_type, prediction_type, split_mode, splits, ...
    <task>/labelvocabulary.csv         header idx,label; idx 0 .. n - 1
    <task>/<split>.json                one per name in ``splits``: file -> labels (scene) or events (event)
    <task>/<sample_rate>/<split>/      the split's audio at that rate (Hz), one folder per rate

Every check that heareval makes with an ``assert`` or by failing later (an unknown label, a multiclass scene file
without exactly one label, an unknown split mode, a fold named twice, a grid it cannot expand) is a :class:`TaskError`,
naming file and key. The task's own evaluation parameters (``evaluation_params``, ``use_scoring_for_early_stopping``)
are read as heareval 2021.1.3's ``task_predictions`` reads them, into :class:`~.data.EvaluationParams`.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...util.names import unknown_name
from .data import EmbeddingType, EvaluationParams, Event, Grid, PredictionType, TaskInfo
from .events import EVENT_POSTPROCESSING_GRID, check_postprocessing_grid

logger = logging.getLogger(__name__)

METADATA_NAME = "task_metadata.json"
VOCABULARY_NAME = "labelvocabulary.csv"
REQUIRED_KEYS = ("task_name", "embedding_type", "prediction_type", "split_mode", "splits", "sample_duration",
                 "evaluation")
"""The keys of ``task_metadata.json`` that heareval needs."""
EMBEDDING_TYPES: tuple[EmbeddingType, ...] = ("scene", "event")
PREDICTION_TYPES: tuple[PredictionType, ...] = ("multiclass", "multilabel")
KFOLD_MODES = ("new_split_kfold", "presplit_kfold")
SPLIT_MODES = ("trainvaltest", *KFOLD_MODES)
TRAINVALTEST = ("train", "valid", "test")
EVENT_END_TOLERANCE_MS = 0.0001
"""heareval labels a timestamp ``t`` with the events whose half-open interval ``[start, end + 0.0001)`` holds it
(``IntervalTree`` semantics), so that an event's end is included."""
EVALUATION_PARAMS = ("task_specific_param_grid", "event_postprocessing_grid")
"""The keys of ``evaluation_params`` that heareval reads; it ignores any other."""


def _integer(least: int) -> Callable[[object], bool]:
    """A check of a JSON value: an integer (not a boolean) of at least ``least``."""
    return lambda v: not isinstance(v, bool) and isinstance(v, int) and v >= least


def _number(test: Callable[[float], bool]) -> Callable[[object], bool]:
    """A check of a JSON value: a finite number (not a boolean) that passes ``test``."""

    def check(v: object) -> bool:
        return not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v) and test(v)

    return check


PARAM_GRID_VALUES: dict[str, tuple[str, Callable[[object], bool]]] = {
    "hidden_layers": ("integers >= 0", _integer(0)),
    "hidden_dim": ("integers >= 1", _integer(1)),
    "dropout": ("numbers in [0, 1)", _number(lambda v: 0 <= v < 1)),
    "norm_after_activation": ("true or false", lambda v: isinstance(v, bool)),
    "lr": ("numbers > 0", _number(lambda v: v > 0)),
    "patience": ("integers >= 0", _integer(0)),
    "max_epochs": ("integers >= 1", _integer(1)),
    "check_val_every_n_epoch": ("integers >= 1", _integer(1)),
    "batch_size": ("integers >= 1", _integer(1)),
}
"""The hyper-parameters that ``evaluation_params.task_specific_param_grid`` may set (the names of heareval's
``PARAM_GRID`` that a JSON value can give), each with what its values must be."""
PYTHON_VALUED_PARAMS = ("embedding_norm", "hidden_norm", "initialization", "optim")
"""The names of heareval's ``PARAM_GRID`` whose values are Python classes or functions: heareval calls a JSON value
there and fails."""


class TaskError(ValueError):
    """A task folder that heareval could not read: the message names the file and what is wrong with it."""


@dataclass(frozen=True)
class Split:
    """The targets of one split, from ``<split>.json``.

    Attributes:
        name: the split's name (``train``, ``fold00``, ...).
        files: the audio file names, in the order of the JSON file.
        labels: scene tasks: the labels of each file (one for a multiclass task); ``None`` for event tasks.
        events: event tasks: the events of each file, times in ms; ``None`` for scene tasks.
    """

    name: str
    files: tuple[str, ...]
    labels: dict[str, tuple[str, ...]] | None = None
    events: dict[str, tuple[Event, ...]] | None = None


@dataclass(frozen=True)
class DataSplit:
    """One train / valid / test assignment of splits (heareval's ``data_splits`` entry).

    Attributes:
        train: the splits trained on. valid: the splits that select models. test: the splits scored.
    """

    train: tuple[str, ...]
    valid: tuple[str, ...]
    test: tuple[str, ...]

    @property
    def name(self) -> str:
        """The test splits joined by ``|``: heareval's name of this fold's results."""
        return "|".join(self.test)


@dataclass(frozen=True)
class HearTask:
    """A task folder, read and checked.

    Attributes:
        path: the task folder.
        info: what protocols need: name, embedding and prediction types, metrics, labels.
        split_mode: ``trainvaltest``, ``new_split_kfold`` or ``presplit_kfold``.
        splits: every split of ``splits`` in ``task_metadata.json``, in its order.
        data_splits: heareval's train / valid / test assignments, one per fold (one for ``trainvaltest``).
        sample_duration_s: ``sample_duration`` (s): the length every file was padded or cropped to, or ``None``.
        metadata: ``task_metadata.json`` as read.
        sha256: hex SHA-256 of the metadata, the vocabulary and every split's JSON file (their bytes).
    """

    path: Path
    info: TaskInfo
    split_mode: str
    splits: tuple[Split, ...]
    data_splits: tuple[DataSplit, ...]
    sample_duration_s: float | None
    metadata: Mapping[str, Any]
    sha256: str

    @property
    def used_splits(self) -> tuple[str, ...]:
        """The splits that some fold trains, validates or tests on, in metadata order."""
        used = {name for ds in self.data_splits for name in (*ds.train, *ds.valid, *ds.test)}
        return tuple(s.name for s in self.splits if s.name in used)

    def split(self, name: str) -> Split:
        """The split called ``name``.

        Raises:
            KeyError: no such split.
        """
        for split in self.splits:
            if split.name == name:
                return split
        raise KeyError(f"task {self.info.name} has no split {name!r}; it has {', '.join(s.name for s in self.splits)}")

    def sample_rates(self) -> tuple[int, ...]:
        """The sample rates (Hz) that the folder holds audio for (its sub-folders named by a number), ascending."""
        return tuple(sorted(int(p.name) for p in self.path.iterdir() if p.is_dir() and p.name.isdigit()))

    def audio_paths(self, split: str, sample_rate: int) -> tuple[Path, ...]:
        """The audio files of ``split`` at ``sample_rate`` (Hz), in the order of the split's JSON file.

        Raises:
            TaskError: the folder has no audio at that rate (the message lists the rates it has), or files of the
                split are missing from ``<task>/<sample_rate>/<split>/``.
        """
        folder = self.path / str(sample_rate) / split
        if not folder.is_dir():
            rates = ", ".join(f"{r} Hz" for r in self.sample_rates()) or "none"
            raise TaskError(f"{folder}: no audio for split {split} at {sample_rate} Hz (the model's rate); the "
                            f"task has audio at: {rates}")
        paths = tuple(folder / name for name in self.split(split).files)
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise TaskError(f"{folder}: {len(missing)} file(s) of {split}.json are missing: "
                            f"{', '.join(missing[:5])}{more}")
        return paths


def load_task(path: str | os.PathLike[str]) -> HearTask:
    """Read and check the task folder ``path`` (not its audio: see :meth:`HearTask.audio_paths`).

    Raises:
        TaskError: a missing or malformed file, a missing or invalid metadata key, a vocabulary whose ``idx`` is
            not 0 .. n - 1, an unknown label, a multiclass scene file without exactly one label, an event whose end
            precedes its start, an empty split, a split mode heareval does not know, or evaluation parameters that
            heareval could not use (:func:`evaluation_params`).
    """
    folder = Path(path)
    if not folder.is_dir():
        raise TaskError(f"{folder}: not a task folder (no such directory)")
    digest = hashlib.sha256()

    def read(name: str) -> bytes:
        try:
            raw = (folder / name).read_bytes()
        except OSError as err:
            raise TaskError(f"{folder / name}: cannot read it: {err.strerror or err}") from err
        digest.update(f"{name}\0{len(raw)}\0".encode())
        digest.update(raw)
        return raw

    metadata = _parse_json(read(METADATA_NAME), folder / METADATA_NAME)
    if not isinstance(metadata, dict):
        raise TaskError(f"{folder / METADATA_NAME}: expected a JSON object, got {type(metadata).__name__}")
    info, split_names, sample_duration = _check_metadata(metadata, folder / METADATA_NAME)
    labels = _parse_vocabulary(read(VOCABULARY_NAME), folder / VOCABULARY_NAME)
    info = dataclasses.replace(info, labels=labels)
    splits = tuple(_parse_split(read(f"{name}.json"), folder / f"{name}.json", name, info) for name in split_names)
    mode = str(metadata["split_mode"])
    data_splits = (DataSplit(("train",), ("valid",), ("test",)),) if mode == "trainvaltest" else folds_rule(split_names)
    return HearTask(folder, info, mode, splits, data_splits, sample_duration, metadata, digest.hexdigest())


def folds_rule(folds: Sequence[str]) -> tuple[DataSplit, ...]:
    """heareval's k-fold assignments: with the folds sorted, fold i is tested, fold i + 1 (mod k) validates and the
    others, in sorted order, train.

    Raises:
        ValueError: a fold named twice, or fewer than 3 folds (none would be left to train on).
    """
    ordered = sorted(folds)
    if len(set(ordered)) != len(ordered):
        raise ValueError(f"folds are not unique: {ordered}")
    if len(ordered) < 3:
        raise ValueError(f"k-fold needs at least 3 folds (test, valid and one to train on), got {ordered}")
    k = len(ordered)
    return tuple(
        DataSplit(tuple(f for f in ordered if f not in (ordered[i], ordered[(i + 1) % k])), (ordered[(i + 1) % k],),
                  (ordered[i],))
        for i in range(k)
    )


def event_labels_at(events: Sequence[Event], timestamp_ms: float) -> list[str]:
    """The labels of the events that cover ``timestamp_ms``, end included (:data:`EVENT_END_TOLERANCE_MS`), in the
    order of ``events``; a label is repeated when several of its events cover the timestamp."""
    return [e.label for e in events if e.start_ms <= timestamp_ms < e.end_ms + EVENT_END_TOLERANCE_MS]


def _parse_json(raw: bytes, path: Path) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TaskError(f"{path}: not valid JSON: {err}") from err


def _check_metadata(metadata: dict[str, Any], path: Path) -> tuple[TaskInfo, tuple[str, ...], float | None]:
    """The task's description (without labels), split names and sample duration, from checked metadata."""
    missing = [k for k in REQUIRED_KEYS if k not in metadata]
    if missing:
        raise TaskError(f"{path}: missing key(s) {', '.join(missing)}")

    def bad(key: str, expected: str) -> TaskError:
        return TaskError(f"{path}: {key} must be {expected}, got {metadata[key]!r}")

    name = metadata["task_name"]
    if not isinstance(name, str) or not name:
        raise bad("task_name", "a non-empty string")
    if metadata["embedding_type"] not in EMBEDDING_TYPES:
        raise bad("embedding_type", f"one of {', '.join(EMBEDDING_TYPES)}")
    if metadata["prediction_type"] not in PREDICTION_TYPES:
        raise bad("prediction_type", f"one of {', '.join(PREDICTION_TYPES)}")
    if metadata["split_mode"] not in SPLIT_MODES:
        raise bad("split_mode", f"one of {', '.join(SPLIT_MODES)} (heareval knows no other)")
    splits = metadata["splits"]
    if not isinstance(splits, list) or not splits or not all(isinstance(s, str) and s for s in splits):
        raise bad("splits", "a non-empty list of split names")
    if len(set(splits)) != len(splits):
        raise bad("splits", "a list of distinct names")
    if metadata["split_mode"] == "trainvaltest":
        absent = [s for s in TRAINVALTEST if s not in splits]
        if absent:
            raise TaskError(f"{path}: split_mode trainvaltest needs the splits train, valid and test; "
                            f"splits lacks {', '.join(absent)}")
    else:
        try:
            folds_rule(splits)
        except ValueError as err:
            raise TaskError(f"{path}: splits: {err}") from err
    duration = metadata["sample_duration"]
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                 or not math.isfinite(duration) or duration <= 0):
        raise bad("sample_duration", "a positive number of seconds or null")
    evaluation = metadata["evaluation"]
    if not isinstance(evaluation, list) or not evaluation or not all(isinstance(e, str) and e for e in evaluation):
        raise bad("evaluation", "a non-empty list of score names")
    params = evaluation_params(metadata, path)
    info = TaskInfo(name, metadata["embedding_type"], metadata["prediction_type"], tuple(evaluation), (), params)
    return info, tuple(splits), None if duration is None else float(duration)


def evaluation_params(metadata: Mapping[str, Any], path: Path) -> EvaluationParams:
    """The task's own evaluation parameters from its checked metadata (``embedding_type`` read), as heareval 2021.1.3
    reads them: ``use_scoring_for_early_stopping`` at the top level (default true), and in ``evaluation_params`` (an
    object; default none) ``task_specific_param_grid`` and, for an event task, ``event_postprocessing_grid``. Other
    keys of ``evaluation_params``, and ``event_postprocessing_grid`` on a scene task, are ignored with a warning, as
    heareval ignores them.

    Raises:
        TaskError: naming ``path`` and the key: ``use_scoring_for_early_stopping`` not a boolean; ``evaluation_params``
            or a grid not an object; a grid value that is not a non-empty list of valid values; a hyper-parameter that
            is unknown or that heareval takes as a Python object (:data:`PYTHON_VALUED_PARAMS`); a postprocessing
            setting heareval's ``create_events_from_prediction`` lacks; an event task that stops on the loss with a
            postprocessing grid of more than one point (heareval asserts one).
    """
    use_scoring = metadata.get("use_scoring_for_early_stopping", True)
    if not isinstance(use_scoring, bool):
        raise TaskError(f"{path}: use_scoring_for_early_stopping must be true or false, got {use_scoring!r}")
    params = metadata.get("evaluation_params", {})
    if not isinstance(params, dict):
        raise TaskError(f"{path}: evaluation_params must be an object, got {params!r}")
    ignored = [key for key in params if key not in EVALUATION_PARAMS]
    if ignored:
        misplaced = " (it reads use_scoring_for_early_stopping at the top level of the file, not here)" \
            if "use_scoring_for_early_stopping" in ignored else ""
        logger.warning("%s: evaluation_params: %s ignored, as heareval ignores them: it reads only %s%s", path,
                       ", ".join(map(str, ignored)), " and ".join(EVALUATION_PARAMS), misplaced)
    param_grid = _param_grid(params.get("task_specific_param_grid", {}), path)
    event = metadata["embedding_type"] == "event"
    postprocessing_grid = None
    if "event_postprocessing_grid" in params and not event:
        logger.warning("%s: evaluation_params.event_postprocessing_grid ignored: a scene task has no events", path)
    elif "event_postprocessing_grid" in params:
        try:
            postprocessing_grid = check_postprocessing_grid(params["event_postprocessing_grid"])
        except ValueError as err:
            raise TaskError(f"{path}: evaluation_params.event_postprocessing_grid: {err}") from err
    if event and not use_scoring:
        grid = tuple(EVENT_POSTPROCESSING_GRID.items()) if postprocessing_grid is None else postprocessing_grid
        points = math.prod(len(values) for _, values in grid)
        if points != 1:
            which = "its evaluation_params.event_postprocessing_grid" if postprocessing_grid is not None else \
                "heareval's default grid (no evaluation_params.event_postprocessing_grid)"
            raise TaskError(f"{path}: use_scoring_for_early_stopping is false, so no score chooses the event "
                            f"postprocessing: heareval then needs a postprocessing grid of exactly one point, and {which} "
                            f"has {points}")
    return EvaluationParams(param_grid, postprocessing_grid, use_scoring)


def _param_grid(grid: object, path: Path) -> Grid:
    """``evaluation_params.task_specific_param_grid`` checked, as ``(name, values)`` pairs in its order."""
    key = "evaluation_params.task_specific_param_grid"
    if not isinstance(grid, dict):
        raise TaskError(f"{path}: {key} must be an object of hyper-parameter name -> list of values, got {grid!r}")
    pairs = []
    for name, values in grid.items():
        if name in PYTHON_VALUED_PARAMS:
            raise TaskError(f"{path}: {key}.{name}: heareval's values of {name} are Python objects (classes or "
                            "functions), which JSON cannot give: heareval fails on any value here")
        if name not in PARAM_GRID_VALUES:
            raise TaskError(f"{path}: {key}: " + unknown_name("hyper-parameter", name, PARAM_GRID_VALUES)
                            + " (heareval would multiply its grid by it and use it nowhere)")
        expected, valid = PARAM_GRID_VALUES[name]
        if not isinstance(values, list) or not values or not all(valid(v) for v in values):
            raise TaskError(f"{path}: {key}.{name} must be a non-empty list of {expected}, got {values!r}")
        pairs.append((name, tuple(values)))
    return tuple(pairs)


def _parse_vocabulary(raw: bytes, path: Path) -> tuple[str, ...]:
    """The labels in ``idx`` order."""
    try:
        rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    except (UnicodeDecodeError, csv.Error) as err:
        raise TaskError(f"{path}: not a readable CSV file: {err}") from err
    if not rows or not {"idx", "label"} <= set(rows[0]):
        raise TaskError(f"{path}: expected a header with the columns idx and label and at least one row")
    by_idx: dict[int, str] = {}
    for line, row in enumerate(rows, start=2):
        try:
            idx = int(row["idx"])
        except (TypeError, ValueError):
            raise TaskError(f"{path}, line {line}: idx {row['idx']!r} is not an integer") from None
        if idx in by_idx:
            raise TaskError(f"{path}, line {line}: idx {idx} occurs twice")
        by_idx[idx] = str(row["label"])
    if sorted(by_idx) != list(range(len(by_idx))):
        raise TaskError(f"{path}: idx must run over 0 .. {len(by_idx) - 1}, got {sorted(by_idx)}")
    labels = tuple(by_idx[i] for i in range(len(by_idx)))
    if len(set(labels)) != len(labels):
        twice = sorted({label for label in labels if labels.count(label) > 1})
        raise TaskError(f"{path}: label(s) listed twice: {', '.join(twice)}")
    return labels


def _parse_split(raw: bytes, path: Path, name: str, info: TaskInfo) -> Split:
    content = _parse_json(raw, path)
    if not isinstance(content, dict):
        raise TaskError(f"{path}: expected a JSON object of file name -> targets, got {type(content).__name__}")
    if not content:
        raise TaskError(f"{path}: the split has no files")
    known = set(info.labels)

    def label_of(value: object, file: str) -> str:
        # heareval looks labels up as str(label): a number in the JSON file matches its text in the vocabulary
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise TaskError(f"{path}: {file}: a label must be a string, got {value!r}")
        if str(value) not in known:
            raise TaskError(f"{path}: {file}: label {str(value)!r} is not in {VOCABULARY_NAME}")
        return str(value)

    files = tuple(content)
    if info.embedding_type == "scene":
        labels = {}
        for file, targets in content.items():
            if not isinstance(targets, list):
                raise TaskError(f"{path}: {file}: expected a list of labels, got {targets!r}")
            if info.prediction_type == "multiclass" and len(targets) != 1:
                raise TaskError(f"{path}: {file}: a multiclass task needs exactly one label per file, got {targets!r}")
            labels[file] = tuple(label_of(v, file) for v in targets)
        return Split(name, files, labels=labels)
    events = {}
    for file, targets in content.items():
        if not isinstance(targets, list):
            raise TaskError(f"{path}: {file}: expected a list of events, got {targets!r}")
        events[file] = tuple(_event(e, path, file, label_of) for e in targets)
    return Split(name, files, events=events)


def _event(entry: object, path: Path, file: str, label_of: Callable[[object, str], str]) -> Event:
    if not isinstance(entry, dict) or not {"label", "start", "end"} <= set(entry):
        raise TaskError(f"{path}: {file}: an event must be an object with label, start and end (ms), got {entry!r}")
    times = (entry["start"], entry["end"])
    if any(isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) for t in times):
        raise TaskError(f"{path}: {file}: event start and end must be finite numbers of ms, got {entry!r}")
    start, end = float(times[0]), float(times[1])
    if end + EVENT_END_TOLERANCE_MS <= start:
        raise TaskError(f"{path}: {file}: event ends before it starts: {entry!r}")
    return Event(label_of(entry["label"], file), start, end)
