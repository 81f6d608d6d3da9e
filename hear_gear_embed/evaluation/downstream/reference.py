"""Test scores normalised to the best HEAR 2021 score of each task, and their means per task category.

Koutini et al. (PaSST for HEAR, PMLR HEAR 2021 special issue) divide a model's test score on each task by the best
score any submission reached on that task in the HEAR 2021 challenge (1 = the challenge's best), and average these
per category: speech, music, general (their Table 1 assigns each of the 19 tasks to one).

The best scores ship in ``hear2021_best.json`` beside this module; its ``source`` list names where each fact comes
from: the HEAR leaderboard CSV (hearbenchmark/hearbenchmark.com, rows of the 29 HEAR 2021 submissions), the HEAR 2021
results tables of the same repository (cross-check, task folder names), hearpreprocess's task configs (task names,
modes, primary metrics) and the paper's Table 1 (categories). Every primary metric of these tasks is a fraction in
[0, 1] where higher is better; the file admits no other metric, so an error rate can never be divided by a best score.

A record matches a task folder by its ``task_metadata.json``: ``task_name`` and, where the task ran in several modes
(speech_commands 5h / full, nsynth_pitch 5h / 50h) or the metadata carries one, ``mode``. The Beehive States record
covers two task folders (its two folds); the leaderboard scores it with the mean of both, and so does
:func:`normalised_scores`. The module needs only the standard library.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

logger = logging.getLogger(__name__)

Category = Literal["speech", "music", "general"]
CATEGORIES: tuple[Category, ...] = ("speech", "music", "general")
"""The task categories of Koutini et al., Table 1."""
NORMALISABLE_METRICS = ("top1_acc", "pitch_acc", "mAP", "aucroc", "event_onset_200ms_fms", "event_onset_50ms_fms")
"""heareval's names of the primary metrics of the HEAR 2021 tasks: all fractions in [0, 1], higher is better."""
DATA_NAME = "hear2021_best.json"
MAX_TASKS = 19
"""HEAR 2021 has 19 tasks."""

_TOP_KEYS = ("source", "retrieved", "note", "tasks")
_RECORD_KEYS = ("title", "leaderboard_column", "task_names", "version", "mode", "metric", "best", "submissions",
                "category")


class ReferenceDataError(ValueError):
    """The file of best HEAR 2021 scores is malformed: the message names the file, the entry and what is wrong."""


@dataclass(frozen=True)
class Hear2021Best:
    """The best HEAR 2021 test score of one task.

    Attributes:
        title: the task's name on hearbenchmark.com (``Speech Commands 5hr``).
        leaderboard_column: the task's column in the leaderboard CSV.
        task_names: ``task_name`` of the task folder(s) the score is the mean over (two for Beehive States' folds).
        version: hearpreprocess's ``version`` of the task (not used for matching).
        mode: hearpreprocess's ``mode`` the challenge ran (``5h``, ``50h``, ``full``).
        metric: heareval's name of the primary metric (``top1_acc``, ``mAP``, ...), one of
            :data:`NORMALISABLE_METRICS`.
        best: the best test score, a fraction in (0, 1].
        submissions: the leaderboard names of the submissions that reached it (ties included).
        category: ``speech``, ``music`` or ``general`` (Koutini et al., Table 1).
    """

    title: str
    leaderboard_column: str
    task_names: tuple[str, ...]
    version: str
    mode: str
    metric: str
    best: float
    submissions: tuple[str, ...]
    category: Category


@dataclass(frozen=True)
class Reference:
    """The content of the best-scores file.

    Attributes:
        source: where the facts come from (URLs at fixed commits, the paper).
        retrieved: the day the sources were read.
        note: how the numbers were taken from the sources.
        tasks: one record per task, in the file's order.
    """

    source: tuple[str, ...]
    retrieved: datetime.date
    note: str
    tasks: tuple[Hear2021Best, ...]


@dataclass(frozen=True)
class CategoryMean:
    """The mean normalised score of the tasks of one category that were scored.

    Attributes:
        category: ``speech``, ``music`` or ``general``.
        mean: the mean of the normalised scores (1 = the best HEAR 2021 score on every task).
        tasks: the titles of the tasks averaged, in the order given.
        n_category: how many tasks the category holds in the shipped reference.
    """

    category: Category
    mean: float
    tasks: tuple[str, ...]
    n_category: int

    @property
    def n_tasks(self) -> int:
        """How many tasks went into :attr:`mean`."""
        return len(self.tasks)


def default_path() -> Path:
    """The best-scores file shipped with the package."""
    return Path(__file__).with_name(DATA_NAME)


@functools.cache
def load_reference(path: Path | None = None) -> Reference:
    """The best HEAR 2021 scores, read from ``path`` (default: the shipped file) and checked; read once per path.

    Raises:
        ReferenceDataError: the file is missing, not JSON, or any key, type, value or identity is wrong (named).
    """
    path = default_path() if path is None else Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ReferenceDataError(f"{path}: cannot read the best HEAR 2021 scores: {err}") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ReferenceDataError(f"{path}: not valid JSON: {err}") from err
    return _parse(raw, path)


def hear2021_best(metadata: Mapping[str, Any]) -> Hear2021Best | None:
    """The record of the HEAR 2021 task that a task folder is, from its ``task_metadata.json``; ``None`` if none.

    ``task_name`` must be one of the record's; a ``mode`` in the metadata must be the record's (so hearpreprocess's
    ``small`` test version never matches). Without a ``mode`` (a folder not written by hearpreprocess), a
    ``task_name`` the challenge ran in several modes matches nothing; any other matches its one record.

    Raises:
        ValueError: ``task_name`` missing or not a non-empty string, or ``mode`` present but not a string.
    """
    name = metadata.get("task_name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"task metadata needs task_name, a non-empty string; got {name!r}")
    mode = metadata.get("mode")
    if mode is not None and not isinstance(mode, str):
        raise ValueError(f"task metadata {name!r}: mode must be a string; got {mode!r}")
    candidates = [r for r in load_reference().tasks if name in r.task_names]
    if mode is not None:
        return next((r for r in candidates if r.mode == mode), None)
    return candidates[0] if len(candidates) == 1 else None


def normalise(score: float, record: Hear2021Best) -> float:
    """``score`` divided by the record's best HEAR 2021 score: 1 = the challenge's best, above 1 = better than it.

    Args:
        score: the test score of the record's primary metric (:attr:`Hear2021Best.metric`), a fraction in [0, 1]; for
            a record of several task folders, the mean of their scores.

    Raises:
        ValueError: ``score`` not a finite number in [0, 1].
    """
    return _checked_score(score, record) / record.best


def normalised_scores(scores: Iterable[tuple[Mapping[str, Any], float]]) -> dict[Hear2021Best, float]:
    """The normalised score of each HEAR 2021 task among ``scores``, in reference order.

    Args:
        scores: ``(task_metadata, score)`` per task folder: the folder's ``task_metadata.json`` and its test score of
            the primary metric. Folders that are no HEAR 2021 task are left out (report them raw). A record of
            several folders (Beehive States) is scored with the mean of its folders' scores, and left out, with a
            warning logged, unless all of them are given.

    Raises:
        ValueError: malformed metadata (:func:`hear2021_best`), a score not in [0, 1], or one task folder given twice.
    """
    given: dict[Hear2021Best, dict[str, float]] = {}
    for metadata, score in scores:
        record = hear2021_best(metadata)
        if record is None:
            continue
        name = str(metadata["task_name"])
        parts = given.setdefault(record, {})
        if name in parts:
            raise ValueError(f"task {name!r} ({record.title}) is given twice")
        parts[name] = _checked_score(score, record)
    normalised = {}
    for record in load_reference().tasks:
        parts = given.get(record, {})
        if not parts:
            continue
        missing = [n for n in record.task_names if n not in parts]
        if missing:
            logger.warning("%s is the mean over %s; %s not given: left out of the normalised scores", record.title,
                           ", ".join(record.task_names), ", ".join(missing))
            continue
        normalised[record] = normalise(math.fsum(parts.values()) / len(parts), record)
    return normalised


def category_means(normalised: Mapping[Hear2021Best, float]) -> dict[Category, CategoryMean]:
    """The mean normalised score per category over the tasks given, for the categories with at least one.

    Args:
        normalised: record -> normalised score (:func:`normalised_scores`, or :func:`normalise` per record).

    Returns:
        category -> :class:`CategoryMean` (how many tasks went into it, and which), in :data:`CATEGORIES` order.

    Raises:
        ValueError: a normalised score that is not a finite number >= 0.
    """
    held = {c: sum(r.category == c for r in load_reference().tasks) for c in CATEGORIES}
    means: dict[Category, CategoryMean] = {}
    for category in CATEGORIES:
        values = {r.title: v for r, v in normalised.items() if r.category == category}
        for title, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{title}: a normalised score must be a finite number >= 0; got {value!r}")
        if values:
            means[category] = CategoryMean(category, math.fsum(values.values()) / len(values), tuple(values),
                                           held[category])
    return means


def _checked_score(score: float, record: Hear2021Best) -> float:
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score) or not 0 <= score <= 1:
        raise ValueError(f"{record.title}: a {record.metric} score must be a finite number in [0, 1]; got {score!r}")
    return float(score)


def _parse(raw: Any, path: Path) -> Reference:
    """The checked content of the file at ``path``."""
    if not isinstance(raw, dict):
        raise ReferenceDataError(f"{path}: the top level must be an object with keys {', '.join(_TOP_KEYS)}")
    _check_keys(raw, _TOP_KEYS, f"{path}")
    source = raw["source"]
    if not isinstance(source, list) or not source or not all(isinstance(s, str) and s for s in source):
        raise ReferenceDataError(f"{path}: source must be a non-empty list of non-empty strings; got {source!r}")
    try:
        retrieved = datetime.date.fromisoformat(raw["retrieved"])
    except (TypeError, ValueError) as err:
        raise ReferenceDataError(f"{path}: retrieved must be a date YYYY-MM-DD; got {raw['retrieved']!r}") from err
    if not isinstance(raw["note"], str):
        raise ReferenceDataError(f"{path}: note must be a string; got {raw['note']!r}")
    entries = raw["tasks"]
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_TASKS:
        raise ReferenceDataError(f"{path}: tasks must be a list of 1 to {MAX_TASKS} records (HEAR 2021 has "
                                 f"{MAX_TASKS} tasks); got {entries!r:.80}")
    tasks = tuple(_parse_record(entry, f"{path}: tasks[{i}]") for i, entry in enumerate(entries))
    _check_unique(tasks, path)
    return Reference(tuple(source), retrieved, raw["note"], tasks)


def _parse_record(entry: Any, where: str) -> Hear2021Best:
    if not isinstance(entry, dict):
        raise ReferenceDataError(f"{where} must be an object; got {entry!r:.80}")
    _check_keys(entry, _RECORD_KEYS, where)

    def text(key: str) -> str:
        value = entry[key]
        if not isinstance(value, str) or not value:
            raise ReferenceDataError(f"{where}.{key} must be a non-empty string; got {value!r}")
        return value

    def texts(key: str) -> tuple[str, ...]:
        value = entry[key]
        if (not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value)
                or len(set(value)) != len(value)):
            raise ReferenceDataError(f"{where}.{key} must be a non-empty list of distinct non-empty strings; "
                                     f"got {value!r}")
        return tuple(value)

    metric = text("metric")
    if metric not in NORMALISABLE_METRICS:
        raise ReferenceDataError(f"{where}.metric {metric!r} is not a HEAR 2021 primary metric (a fraction where "
                                 f"higher is better): one of {', '.join(NORMALISABLE_METRICS)}")
    best = entry["best"]
    if isinstance(best, bool) or not isinstance(best, (int, float)) or not math.isfinite(best) or not 0 < best <= 1:
        raise ReferenceDataError(f"{where}.best must be a {metric} score in (0, 1]; got {best!r}")
    category = text("category")
    if category not in CATEGORIES:
        raise ReferenceDataError(f"{where}.category must be one of {', '.join(CATEGORIES)}; got {category!r}")
    return Hear2021Best(text("title"), text("leaderboard_column"), texts("task_names"), text("version"), text("mode"),
                        metric, float(best), texts("submissions"), category)


def _check_keys(entry: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in entry]
    unknown = [k for k in entry if k not in keys]
    if missing or unknown:
        raise ReferenceDataError(f"{where}: missing key(s) {missing}, unknown key(s) {unknown}; "
                                 f"the keys are {', '.join(keys)}")


def _check_unique(tasks: tuple[Hear2021Best, ...], path: Path) -> None:
    """Titles, leaderboard columns and (task_name, mode) identities each name one record."""
    for what, keys in (("title", [(r.title,) for r in tasks]),
                       ("leaderboard_column", [(r.leaderboard_column,) for r in tasks]),
                       ("task_name and mode", [(n, r.mode) for r in tasks for n in r.task_names])):
        seen = set()
        for key in keys:
            if key in seen:
                raise ReferenceDataError(f"{path}: {what} {' '.join(key)!r} names more than one record")
            seen.add(key)
