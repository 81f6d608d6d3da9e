"""HEAR 2021 task folders made from a user's own labelled audio (``hear-gear task make``): a CSV table of audio files
and labels in, a scene task folder out, which :func:`~hear_gear_embed.evaluation.downstream.tasks.load_task`
(``hear-gear evaluate``, ``hear-gear train``) and heareval 2021.1.3 read.

The table, a CSV of ``path``, ``label`` and an optional ``split``, is read and checked by :mod:`.table`; without a
split column the files are dealt into ``folds`` stratified folds ``fold00`` .. (``new_split_kfold``).

The folder (:mod:`~hear_gear_embed.evaluation.downstream.tasks` documents the part heareval reads)::

    <out>/task_metadata.json, labelvocabulary.csv, <split>.json
    <out>/<sample_rate>/<split>/<file>.wav    mono float32 WAV at each rate (Hz)
    <out>/sources.csv                         line, source (the table's path), split, file: where each file came from
    <out>/skipped.csv                         line, source, reason: the files left out as unreadable

The task is built in a hidden sibling folder and renamed into place when complete, so ``<out>`` holds a whole task or
what it held before, never part of one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import os
import random
import secrets
import shutil
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..evaluation.downstream.data import PredictionType
from ..evaluation.downstream.tasks import (
    METADATA_NAME,
    PREDICTION_TYPES,
    VOCABULARY_NAME,
    folds_rule,
    load_task,
)
from ..io.audio import AudioReadError, read_audio, require_backends
from ..util.files import check_writable, write_atomic
from .table import LABEL_SEPARATOR, SPLIT_COLUMN, Table, TableError, TableRow, read_table

logger = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATES = (32000,)
"""Sample rates (Hz) written by default: this package's variants embed at 32 kHz."""
DEFAULT_FOLDS = 5
"""Folds dealt when the table has no split column."""
SOURCES_NAME = "sources.csv"
SKIPPED_NAME = "skipped.csv"
AUDIO_SUBTYPE = "FLOAT"
"""soundfile subtype of the task's WAV files: 32-bit float. The clips are float32 after decoding and resampling, so
float keeps them bit for bit; 16-bit PCM would requantise them and clip the overshoot of band-limited resampling above
full scale. heareval and :mod:`~hear_gear_embed.evaluation.downstream` read float WAV as they read PCM."""
EVALUATION: Mapping[str, tuple[str, ...]] = {
    "multiclass": ("top1_acc", "mAP", "d_prime", "aucroc"),
    "multilabel": ("mAP", "d_prime", "aucroc"),
}
"""``evaluation`` of ``task_metadata.json`` by prediction type, as HEAR 2021 has them for ESC-50 (multiclass) and
FSD50K (multilabel); the first selects models."""
HASH_CHARS = 8
"""Hex characters of SHA-256 (of the path as the table writes it) appended to file names that several inputs share."""
PROGRESS_LOG_SECONDS = 30.0
"""Progress of the decoding is logged at most this often."""



@dataclass(frozen=True)
class SkippedFile:
    """A file of the table left out of the task.

    Attributes:
        line: its line in the table. source: its path as the table writes it. reason: why (the decoder's error).
    """

    line: int
    source: str
    reason: str


@dataclass(frozen=True)
class TaskReport:
    """What :func:`make_task` made.

    Attributes:
        path: the task folder.
        task_name: ``task_name`` of its metadata.
        prediction_type: ``multiclass`` or ``multilabel``.
        split_mode: ``trainvaltest``, ``presplit_kfold`` or ``new_split_kfold``.
        split_files: split -> number of files, in metadata order.
        labels: the vocabulary, in ``idx`` order.
        sample_rates: the rates (Hz) the audio was written at, ascending.
        sample_duration_s: the length (s) every file was padded or cropped to, ``None`` when they keep their own.
        skipped: the unreadable files, left out (listed in ``skipped.csv`` too).
        unused_labels: labels of the table that only skipped files carried, left out of the vocabulary.
        renamed: files whose name other inputs shared, given a hash suffix (``sources.csv`` maps every file).
    """

    path: Path
    task_name: str
    prediction_type: str
    split_mode: str
    split_files: Mapping[str, int]
    labels: tuple[str, ...]
    sample_rates: tuple[int, ...]
    sample_duration_s: float | None
    skipped: tuple[SkippedFile, ...]
    unused_labels: tuple[str, ...]
    renamed: int

    @property
    def files(self) -> int:
        """Files in the task (each at every rate)."""
        return sum(self.split_files.values())


def stratified_folds(labels: Sequence[Sequence[str]], *, folds: int, seed: int) -> list[int]:
    """Deal files into ``folds`` folds of sizes within one of each other, each label spread over the folds.

    Files are grouped by their rarest label (the one fewest files carry; ties: the first name), which for a multiclass
    task is their label. Each group, shuffled by ``random.Random(seed)``, is dealt round-robin, the deal going on where
    the previous group's stopped, groups in label order. So a label of at least ``folds`` files reaches every fold. For
    a multilabel task the rare labels, which chance spreads worst, are spread exactly and the common ones by chance
    (a simple stand-in for iterative stratification).

    Args:
        labels: each file's labels (at least one each).
        folds: number of folds (>= 1).
        seed: seed of the shuffle; the same labels and seed give the same folds.

    Returns:
        The fold index (0 .. folds - 1) of each file.
    """
    if folds < 1:
        raise ValueError(f"folds must be at least 1, got {folds}")
    counts = Counter(label for file_labels in labels for label in file_labels)
    groups: dict[str, list[int]] = {}
    for i, file_labels in enumerate(labels):
        groups.setdefault(min(file_labels, key=lambda label: (counts[label], label)), []).append(i)
    rng = random.Random(seed)
    assignment = [0] * len(labels)
    dealt = 0
    for key in sorted(groups):
        members = groups[key]
        rng.shuffle(members)
        for i in members:
            assignment[i] = dealt % folds
            dealt += 1
    return assignment


def make_task(
    table: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    name: str | None = None,
    sample_rates: Sequence[int] = DEFAULT_SAMPLE_RATES,
    duration_s: float | None = None,
    folds: int | None = None,
    seed: int = 0,
    prediction_type: str | None = None,
    overwrite: bool = False,
    workers: int | None = None,
) -> TaskReport:
    """Make the scene task folder ``out`` from the table ``table`` (formats: this module's docstring).

    Every file is decoded with :func:`~hear_gear_embed.io.audio.read_audio` at each rate (channels averaged to mono,
    resampled with soxr), padded with zeros at its end or cropped to ``duration_s`` when given, and written as float32
    WAV (:data:`AUDIO_SUBTYPE`) under ``<out>/<rate>/<split>/``, named after the source file (``<stem>.wav``) unless
    several sources share that name (compared ignoring case): then each becomes ``<stem>-<hash>.wav``. An unreadable
    file (not audio, empty, NaN or Inf samples) is logged, left out and listed in ``skipped.csv`` and the report; a
    label that only such files carried is left out of the vocabulary (a label without files can be neither learnt nor
    scored), with a warning. Without a split column the readable files are dealt into folds by
    :func:`stratified_folds`. The folder is read back with
    :func:`~hear_gear_embed.evaluation.downstream.tasks.load_task` before it is moved into place.

    Args:
        table: the CSV table.
        out: the task folder; must not exist, be empty, or (with ``overwrite``) be a task folder.
        name: ``task_name`` (default: the name of ``out``).
        sample_rates: rates (Hz) to write the audio at, one folder each.
        duration_s: length (s) to pad or crop every file to; ``sample_duration`` of the metadata. ``None``: files keep
            their lengths and ``sample_duration`` is null.
        folds: folds to deal without a split column (default :data:`DEFAULT_FOLDS`, at least 3); an error with one.
        seed: seed of the deal into folds.
        prediction_type: ``multiclass`` or ``multilabel``; default: ``multilabel`` when some row has several labels.
        overwrite: replace an existing task folder ``out`` (only once the new one is complete).
        workers: files decoded at once, in threads (default: the CPUs, at most 8).

    Returns:
        What was made.

    Raises:
        TableError: a bad table (:func:`read_table`), or a multi-label row in a task made ``multiclass``.
        ValueError: a bad option, no readable file, or a split or fold left without readable files.
        FileExistsError: ``out`` is a file, or a folder that is not empty and not replaced (without ``overwrite``, or
            one that holds no ``task_metadata.json``: only task folders are replaced).
        OSError: the folder cannot be written.
        ModuleNotFoundError: soundfile or soxr (the ``cli`` extra) is missing.
    """
    started = time.monotonic()
    out = Path(os.path.abspath(Path(out).expanduser()))
    rates = _check_rates(sample_rates)
    task_name = out.name if name is None else name.strip()
    if not task_name:
        raise ValueError("the task name is empty")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration must be a positive number of seconds, got {duration_s}")
    if duration_s is not None and round(duration_s * rates[0]) < 1:
        raise ValueError(f"duration {duration_s} s is shorter than one sample at {rates[0]} Hz")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if prediction_type is not None and prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"prediction type must be one of {', '.join(PREDICTION_TYPES)}, got {prediction_type!r}")
    parsed = read_table(table)
    if parsed.split_mode is not None and folds is not None:
        raise ValueError(f"{parsed.path} has a {SPLIT_COLUMN} column, which sets the splits: folds applies to a "
                         "table without one")
    fold_names = _fold_names(DEFAULT_FOLDS if folds is None else folds) if parsed.split_mode is None else ()
    kind = _prediction_type(parsed, prediction_type)
    _check_out(out, overwrite, parsed)
    files = _file_names(parsed.rows, parsed.path)
    require_backends()
    check_writable(out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    build = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    build.mkdir()
    try:
        kept, skipped = _convert_all(parsed.rows, files, build / ".staging", rates, duration_s, workers)
        if not kept:
            reasons = "; ".join(f"line {s.line}: {s.reason}" for s in skipped[:3])
            raise ValueError(f"{parsed.path}: none of its {len(skipped)} files is readable audio ({reasons})")
        splits, split_of = _assign_splits(parsed, kept, fold_names, seed)
        labels = tuple(sorted({label for row in kept for label in row.labels}))
        unused = tuple(sorted({label for row in parsed.rows for label in row.labels} - set(labels)))
        if unused:
            logger.warning("label(s) %s left out of the vocabulary: every file that carried them is unreadable",
                           ", ".join(unused))
        _warn_missing_labels(kept, split_of, splits, labels)
        _place_audio(build, kept, files, split_of, rates)
        split_mode = parsed.split_mode or "new_split_kfold"
        metadata = _metadata(task_name, kind, split_mode, splits, duration_s, seed)
        _write_folder(build, metadata, labels, kept, files, split_of, skipped)
        # read back as hear-gear evaluate reads it: a folder that it would refuse never replaces out
        task = load_task(build)
        for split in task.used_splits:
            for rate in rates:
                task.audio_paths(split, rate)
        _move_into_place(build, out)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    renamed = sum(1 for row in kept if files[row.line] != _plain_name(row))
    split_files = {split: sum(1 for row in kept if split_of[row.line] == split) for split in splits}
    logger.info("made task %s in %s: %d files, %d labels, %s, %s, in %.1f s", task_name, out, len(kept), len(labels),
                kind, split_mode, time.monotonic() - started)
    return TaskReport(out, task_name, kind, split_mode, split_files, labels, rates, duration_s, tuple(skipped), unused,
                      renamed)


def _fold_names(folds: int) -> tuple[str, ...]:
    """HEAR's fold names ``fold00`` .., checked by heareval's rule (at least 3)."""
    names = tuple(f"fold{i:02d}" for i in range(folds))
    try:
        folds_rule(names)
    except ValueError as err:
        raise ValueError(f"folds must be at least 3 (test, valid and one to train on), got {folds}") from err
    return names


def _check_rates(sample_rates: Sequence[int]) -> tuple[int, ...]:
    rates = tuple(sorted(set(sample_rates)))
    if not rates or any(isinstance(r, bool) or not isinstance(r, int) or r <= 0 for r in rates):
        raise ValueError(f"sample rates must be one or more positive integers (Hz), got {list(sample_rates)}")
    return rates


def _prediction_type(table: Table, asked: str | None) -> PredictionType:
    if asked == "multiclass" and table.multilabel:
        row = next(r for r in table.rows if len(r.labels) > 1)
        raise TableError(f"{table.path}, line {row.line}: {len(row.labels)} labels ({LABEL_SEPARATOR.join(row.labels)}) "
                         "in a multiclass task, which needs exactly one per file; make it multilabel")
    return "multilabel" if asked == "multilabel" or (asked is None and table.multilabel) else "multiclass"


def _check_out(out: Path, overwrite: bool, table: Table) -> None:
    """Refuse an ``out`` that would be lost or that holds the task's own inputs."""
    if not out.exists():
        return
    if not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    if not any(out.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; choose another folder, or replace it with --overwrite "
                              "(overwrite=True)")
    if not (out / METADATA_NAME).is_file():
        raise FileExistsError(f"{out} holds no {METADATA_NAME}: not a task folder, so not replaced even with "
                              "overwrite; remove it yourself or choose another folder")
    real = Path(os.path.realpath(out))
    inside = [p for p in (table.path, *(row.path for row in table.rows)) if Path(os.path.realpath(p)).is_relative_to(real)]
    if inside:
        raise ValueError(f"{inside[0]} lies in {out}, which overwrite would delete; write the task elsewhere")


def _plain_name(row: TableRow) -> str:
    return f"{row.path.stem}.wav"


def _file_names(rows: Sequence[TableRow], table: Path) -> dict[int, str]:
    """Table line -> the file's name in the task: ``<stem>.wav``, or ``<stem>-<hash>.wav`` where sources share that
    name ignoring case (case-insensitive file systems would merge them)."""
    shared = Counter(_plain_name(row).casefold() for row in rows)
    names = {}
    for row in rows:
        plain = _plain_name(row)
        if shared[plain.casefold()] > 1:
            digest = hashlib.sha256(row.source.encode()).hexdigest()[:HASH_CHARS]
            plain = f"{row.path.stem}-{digest}.wav"
        names[row.line] = plain
    taken: dict[str, int] = {}
    for line, file in names.items():
        if file.casefold() in taken:
            raise TableError(f"{table}, line {line}: its task file name {file} is taken by line {taken[file.casefold()]}; "
                             "rename one of the files")
        taken[file.casefold()] = line
    return names


def _convert_all(rows: Sequence[TableRow], files: Mapping[int, str], staging: Path, rates: Sequence[int],
                 duration_s: float | None, workers: int | None) -> tuple[list[TableRow], list[SkippedFile]]:
    """Decode every row's file into ``staging/<rate>/<file>``; the rows kept and the files skipped, in table order."""
    for rate in rates:
        (staging / str(rate)).mkdir(parents=True)
    convert = partial(_convert, staging=staging, rates=rates, duration_s=duration_s)
    n_threads = workers or min(8, os.cpu_count() or 1)
    logger.info("decoding %d files at %s Hz (%d threads)", len(rows), ", ".join(map(str, rates)), n_threads)
    kept: list[TableRow] = []
    skipped: list[SkippedFile] = []
    last_log = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=n_threads)
    try:
        for i, (row, error) in enumerate(zip(rows, pool.map(convert, rows, [files[r.line] for r in rows]), strict=True)):
            if error is None:
                kept.append(row)
            else:
                logger.warning("line %d: %s skipped: %s", row.line, row.source, error)
                skipped.append(SkippedFile(row.line, row.source, error))
            if time.monotonic() - last_log > PROGRESS_LOG_SECONDS:
                logger.info("decoded %d of %d files", i + 1, len(rows))
                last_log = time.monotonic()
    finally:  # on Ctrl-C or an error, wait for the files being decoded only, not for the queue
        pool.shutdown(wait=True, cancel_futures=True)
    if skipped:
        logger.warning("%d of %d files skipped as unreadable (listed in %s)", len(skipped), len(rows), SKIPPED_NAME)
    return kept, skipped


def _convert(row: TableRow, file: str, *, staging: Path, rates: Sequence[int], duration_s: float | None) -> str | None:
    """Decode one file and write it at every rate as ``staging/<rate>/<file>``; the reason when it is unreadable, else
    ``None``. Should a later rate fail, the earlier rates' files stay staged, never moved into the task."""
    import soundfile

    for rate in rates:
        try:
            samples = read_audio(row.path, rate).samples
        except AudioReadError as err:
            return str(err)
        if duration_s is not None:
            n = round(duration_s * rate)
            samples = samples[:n] if len(samples) >= n else np.pad(samples, (0, n - len(samples)))
        write_atomic(staging / str(rate) / file,
                     partial(soundfile.write, data=samples, samplerate=rate, subtype=AUDIO_SUBTYPE, format="WAV"))
    return None


def _assign_splits(table: Table, kept: Sequence[TableRow], fold_names: Sequence[str],
                   seed: int) -> tuple[tuple[str, ...], dict[int, str]]:
    """The split names in metadata order, and table line -> split of every kept row."""
    if table.split_mode is None:
        if len(kept) < len(fold_names):
            raise ValueError(f"{table.path}: {len(kept)} readable files cannot fill {len(fold_names)} folds; use fewer "
                             "folds or more files")
        dealt = stratified_folds([row.labels for row in kept], folds=len(fold_names), seed=seed)
        return tuple(fold_names), {row.line: fold_names[i] for row, i in zip(kept, dealt, strict=True)}
    split_of = {row.line: str(row.split) for row in kept}
    empty = [split for split in table.splits if split not in split_of.values()]
    if empty:
        raise ValueError(f"{table.path}: split(s) {', '.join(empty)} have no readable file left; a task needs files in "
                         "every split")
    return table.splits, split_of


def _warn_missing_labels(kept: Sequence[TableRow], split_of: Mapping[int, str], splits: Sequence[str],
                         labels: Sequence[str]) -> None:
    for split in splits:
        present = {label for row in kept if split_of[row.line] == split for label in row.labels}
        absent = [label for label in labels if label not in present]
        if absent:
            logger.warning("split %s has no file of label(s) %s", split, ", ".join(absent))


def _place_audio(build: Path, kept: Sequence[TableRow], files: Mapping[int, str], split_of: Mapping[int, str],
                 rates: Sequence[int]) -> None:
    """Move the decoded files from the staging folder into ``<rate>/<split>/``."""
    for rate in rates:
        for split in sorted(set(split_of.values())):
            (build / str(rate) / split).mkdir(parents=True)
        for row in kept:
            file = files[row.line]
            os.replace(build / ".staging" / str(rate) / file, build / str(rate) / split_of[row.line] / file)
    shutil.rmtree(build / ".staging")


def _metadata(name: str, prediction_type: str, split_mode: str, splits: Sequence[str], duration_s: float | None,
              seed: int) -> dict[str, Any]:
    """``task_metadata.json``, with the keys ``tests/harness/tasks.py`` and hearpreprocess write."""
    metadata: dict[str, Any] = {
        "task_name": name,
        "version": f"hear-gear task make {__version__}",
        "mode": "full",
        "embedding_type": "scene",
        "prediction_type": prediction_type,
        "split_mode": split_mode,
        "splits": list(splits),
        "sample_duration": duration_s,
        "evaluation": list(EVALUATION[prediction_type]),
    }
    if split_mode != "trainvaltest":
        metadata["nfolds"] = len(splits)
    if split_mode == "new_split_kfold":
        metadata["fold_seed"] = seed
    return metadata


def _csv_bytes(header: Sequence[str], rows: Sequence[Sequence[object]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue().encode()


def _json_bytes(content: object) -> bytes:
    # ASCII escapes: heareval opens the JSON files in the platform's encoding, which need not be UTF-8
    return (json.dumps(content, indent=4) + "\n").encode()


def _write_folder(build: Path, metadata: Mapping[str, Any], labels: Sequence[str], kept: Sequence[TableRow],
                  files: Mapping[int, str], split_of: Mapping[int, str], skipped: Sequence[SkippedFile]) -> None:
    write_atomic(build / METADATA_NAME, _json_bytes(metadata))
    write_atomic(build / VOCABULARY_NAME, _csv_bytes(("idx", "label"), list(enumerate(labels))))
    for split in metadata["splits"]:
        targets = {files[row.line]: list(row.labels) for row in kept if split_of[row.line] == split}
        write_atomic(build / f"{split}.json", _json_bytes(targets))
    write_atomic(build / SOURCES_NAME, _csv_bytes(("line", "source", "split", "file"),
                                                  [(r.line, r.source, split_of[r.line], files[r.line]) for r in kept]))
    write_atomic(build / SKIPPED_NAME, _csv_bytes(("line", "source", "reason"),
                                                  [(s.line, s.source, s.reason) for s in skipped]))


def _move_into_place(build: Path, out: Path) -> None:
    """Rename the finished ``build`` to ``out``; an existing ``out`` (empty, or a task folder :func:`_check_out` let
    through) is moved aside first and deleted once ``build`` is in place, or moved back if that fails."""
    if not out.exists():
        os.rename(build, out)
        return
    if not any(out.iterdir()):
        out.rmdir()
        os.rename(build, out)
        return
    old = out.parent / f".{out.name}.old-{secrets.token_hex(4)}"
    os.rename(out, old)
    try:
        os.rename(build, out)
    except BaseException:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if old.exists():
        logger.warning("could not delete the replaced task folder, now %s: delete it yourself", old)
