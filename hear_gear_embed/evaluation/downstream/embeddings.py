"""Embed the splits of a HEAR task with any model, as heareval's ``task_embeddings`` does, cached on disk.

Files of one length are embedded together in batches of at most ``batch_samples`` samples (heareval's estimate), each
at its own length; rows come in heareval's order (files shuffled by ``random.Random(0)`` through the splits in metadata
order); an event task's rows are labelled by heareval's rule (:func:`~.tasks.event_labels_at`), and a file whose
timestamps do not increase strictly is refused (:class:`EmbeddingError`: heareval keys frames by timestamp). The cache
holds one folder per model identity and task (:func:`cache_folder`): ``<split>.npz`` per split used and
``identity.json``, written last (:func:`cache_identity`); a cache of another identity, or a damaged one (every
member's CRC-32 is verified), is embedded again, and a read-only cache is read without writing into it.

Seed 001's protocol (``chunk_seconds``): a scene task's files are cut into consecutive chunks, each embedded as a scene
of its own (one row per chunk, the file's labels); the scorers average a file's chunk predictions
(:class:`~.scoring.SplitScorer`).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ...hear.handle import ClipError, EmbeddingModel, LazyClips
from ...hear.identity import ModelIdentity
from ...util.files import write_atomic
from ...util.npz import read_npz
from .data import SplitEmbeddings
from .tasks import HearTask, Split, TaskError, event_labels_at

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SAMPLES = 1_344_000
"""Most samples in one call of the model: heareval's batch size estimate, ``0.7 * (120 s / sample_duration) *
(16000 Hz / sample_rate)`` files of ``sample_duration * sample_rate`` samples, is 0.7 x 120 s at 16 kHz whatever the
duration and rate."""
CACHE_FORMAT = 1
"""Version of the cache layout, part of its identity."""
IDENTITY_NAME = "identity.json"
_SHOWN_TIMESTAMPS = 8
"""Timestamps quoted in the error about a file whose timestamps do not increase."""


class EmbeddingError(ValueError):
    """A HEAR module failed on, or returned unusable embeddings for, a task's file; the message names it."""


@dataclass(frozen=True)
class TaskEmbeddings:
    """The embeddings of every split a task uses.

    Attributes:
        splits: split name -> its rows and targets, rows in heareval's order.
        cached: whether they were read from the cache.
        seconds: wall time of embedding them, or of reading them from the cache.
    """

    splits: dict[str, SplitEmbeddings]
    cached: bool
    seconds: float


@dataclass(frozen=True)
class _Rows:
    """A split's embeddings as the model returned them, files in the order of the split's JSON file."""

    embeddings: np.ndarray
    file_index: np.ndarray
    timestamps_ms: np.ndarray | None


def cache_identity(model: ModelIdentity, task: HearTask, sample_rate: int, chunk_samples: int | None = None) -> dict[str, Any]:
    """The identity record of a task's cached embeddings: the cache format, the model's identity
    (:meth:`~hear_gear_embed.hear.identity.ModelIdentity.to_dict`), the
    sample rate (Hz), the embedding kind (``scene`` or ``timestamp``), the task's name, its ``sha256`` (metadata,
    vocabulary and split files), the splits embedded, and the SHA-256 of their audio files' names, sizes and
    modification times; with ``chunk_samples`` (scene tasks cut into chunks), also the chunk length.

    Raises:
        TaskError: audio missing at ``sample_rate``.
    """
    audio = hashlib.sha256()
    for split in task.used_splits:
        for path in task.audio_paths(split, sample_rate):
            stat = path.stat()
            audio.update(f"{split}/{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    record = {
        "format": CACHE_FORMAT, **model.to_dict(), "sample_rate": sample_rate,
        "kind": "scene" if task.info.embedding_type == "scene" else "timestamp", "task": task.info.name,
        "task_sha256": task.sha256, "splits": list(task.used_splits), "audio_sha256": audio.hexdigest(),
    }
    if chunk_samples is not None:
        record["chunk_samples"] = chunk_samples
    return record


def cache_folder(cache_dir: Path, model: ModelIdentity, task: HearTask, chunk_samples: int | None = None) -> Path:
    """``<cache_dir>/<module>-<hash of its identity>/<task name>`` (``<task name>-chunks<N>`` for chunks of ``N``
    samples): one folder per module identity and task, so that runs of other weights or precisions keep their own
    caches."""
    key = hashlib.sha256(json.dumps(model.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
    chunks = "" if chunk_samples is None else f"-chunks{chunk_samples}"
    return cache_dir / f"{_slug(model.module)}-{key}" / (_slug(task.info.name) + chunks)


def embed_task(
    model: EmbeddingModel,
    task: HearTask,
    *,
    cache_dir: Path | None = None,
    cache_writable: bool = True,
    batch_samples: int = DEFAULT_BATCH_SAMPLES,
    batch_size: int | None = None,
    chunk_samples: int | None = None,
) -> TaskEmbeddings:
    """Embed every split that ``task`` uses with ``model`` (at its sample rate), or read them from the cache.

    Args:
        model: the model (:func:`~hear_gear_embed.hear.spec.load`), on the device it embeds on.
        task: the task (:func:`~.tasks.load_task`).
        cache_dir: where embeddings are cached (:func:`cache_folder`); ``None``: no cache.
        cache_writable: ``False``: ``cache_dir`` is read only (a shared cache): embeddings found there are used, and
            the others are embedded without being written or anything there being removed.
        batch_samples: most samples of audio in one call of the model (at least one file per call).
        batch_size: most files in one call; ``None``: bound by ``batch_samples`` only.
        chunk_samples: a scene task's files cut into chunks of this many samples (the last one shorter), one row
            each (seed 001's protocol); ``None``: one row per file. Ignored for an event task.

    Returns:
        The splits' embeddings and targets, rows in heareval's order (a file's chunks in time order).

    Raises:
        ValueError: ``batch_samples``, ``batch_size`` or ``chunk_samples`` below 1.
        TaskError: missing audio, an unreadable file, a file not mono or not at the model's sample rate.
        EmbeddingError: the module failed on a file or returned NaN, Inf or wrong shapes for it, or timestamps that do
            not increase strictly within it (event tasks).
        OSError: a writable ``cache_dir`` could not be written.
        ModuleNotFoundError: soundfile is not installed.
    """
    if batch_samples < 1 or (batch_size is not None and batch_size < 1):
        raise ValueError(f"batch_samples and batch_size must be at least 1, got {batch_samples} and {batch_size}")
    if chunk_samples is not None and chunk_samples < 1:
        raise ValueError(f"chunk_samples must be at least 1, got {chunk_samples}")
    if task.info.embedding_type == "event":
        chunk_samples = None
    start = time.perf_counter()
    folder, expected, rows = None, {}, None
    if cache_dir is not None:
        identity = model.identity
        folder = cache_folder(Path(cache_dir), identity, task, chunk_samples)
        expected = cache_identity(identity, task, model.sample_rate, chunk_samples)
        rows = _read_cache(folder, expected, task, chunked=chunk_samples is not None)
    cached = rows is not None
    if rows is None:
        kept = folder if cache_writable else None  # where the new embeddings are written
        if kept is not None:
            (kept / IDENTITY_NAME).unlink(missing_ok=True)
        rows = {}
        for name in task.used_splits:
            rows[name] = _embed_split(model, task, task.split(name), batch_samples, batch_size, chunk_samples)
            if kept is not None:
                _write_rows(kept / f"{name}.npz", rows[name], task.split(name).files)
        if kept is not None:
            write_atomic(kept / IDENTITY_NAME, (json.dumps(expected, indent=2) + "\n").encode())
    orders = heareval_file_orders(task)
    splits = {name: _assemble(task, task.split(name), split_rows, orders[name]) for name, split_rows in rows.items()}
    seconds = time.perf_counter() - start
    logger.info("%s: %s %s in %.1f s", task.info.name, "read cached embeddings of" if cached else "embedded",
                ", ".join(f"{n} ({len(s.embeddings)} rows)" for n, s in splits.items()), seconds)
    return TaskEmbeddings(splits, cached, seconds)


def heareval_file_orders(task: HearTask) -> dict[str, list[int]]:
    """Split name -> the order of its files (indices into its JSON file's order) in heareval's embedding files:
    ``random.Random(0).shuffle`` of each split in turn, in metadata order (every split draws, used or not)."""
    prng = random.Random(0)
    orders = {}
    for split in task.splits:
        order = list(range(len(split.files)))
        prng.shuffle(order)
        orders[split.name] = order
    return orders


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _soundfile() -> ModuleType:
    """soundfile, imported on first use (optional dependency)."""
    try:
        import soundfile
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError('reading HEAR task audio needs soundfile: pip install "hear_gear_embed[eval]"',
                                  name=err.name) from err
    return soundfile


def _embed_split(model: EmbeddingModel, task: HearTask, split: Split, batch_samples: int,
                 batch_size: int | None, chunk_samples: int | None = None) -> _Rows:
    """The embeddings of ``split``'s files (or of their chunks of ``chunk_samples``), in batches of one length."""
    sf = _soundfile()
    rate = model.sample_rate
    paths = task.audio_paths(split.name, rate)
    lengths = []
    for path in paths:
        try:
            info = sf.info(str(path))
        except (RuntimeError, OSError) as err:  # soundfile's LibsndfileError is a RuntimeError
            raise TaskError(f"{path}: not a readable audio file: {err}") from err
        if info.samplerate != rate:
            raise TaskError(f"{path}: sampled at {info.samplerate} Hz in the folder for {rate} Hz (heareval requires "
                            "them to agree)")
        if info.channels != 1:
            raise TaskError(f"{path}: {info.channels} channels; HEAR task audio is mono")
        if info.frames == 0:
            raise TaskError(f"{path}: no samples")
        lengths.append(int(info.frames))
    _warn_other_lengths(task, split, lengths, rate)
    event = task.info.embedding_type == "event"
    where = f"{task.info.name}/{split.name}"
    if chunk_samples is not None and not event:
        return _embed_chunks(model, paths, split, lengths, chunk_samples, where, batch_samples, batch_size)
    try:
        clips = LazyClips(len(paths), lambda i: sf.read(str(paths[i]), dtype="float32")[0])
        outputs = model.embed(clips, ("timestamp",) if event else ("scene",), lengths=lengths, max_items=batch_size,
                              max_samples=batch_samples)
    except ClipError as err:
        raise EmbeddingError(f"{where}/{split.files[err.index]}: {err.cause}") from err.cause
    if not event:
        return _Rows(np.stack([o.of("scene") for o in outputs]), np.arange(len(paths), dtype=np.int64), None)
    stamps = []
    for name, output in zip(split.files, outputs, strict=True):
        if output.timestamps_ms is None:
            raise AssertionError("timestamp embeddings come with their timestamps")
        _check_increasing(output.timestamps_ms, model.module_name, f"{where}/{name}")
        stamps.append(output.timestamps_ms)
    frames = [o.of("timestamp") for o in outputs]
    return _Rows(np.concatenate(frames), np.repeat(np.arange(len(paths), dtype=np.int64), [len(f) for f in frames]),
                 np.concatenate(stamps))


def chunk_bounds(n_samples: int, chunk_samples: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of the consecutive chunks of a file of ``n_samples``: every ``chunk_samples`` from its start,
    the last one shorter when the length is not a multiple (a file no longer than a chunk is one chunk)."""
    return [(start, min(start + chunk_samples, n_samples)) for start in range(0, n_samples, chunk_samples)]


def _embed_chunks(model: EmbeddingModel, paths: Sequence[Path], split: Split, lengths: list[int], chunk_samples: int,
                  where: str, batch_samples: int, batch_size: int | None) -> _Rows:
    """Scene embeddings of every chunk of every file (:func:`chunk_bounds`): rows file by file, chunks in time order."""
    sf = _soundfile()
    pieces = [(i, start, stop) for i, n in enumerate(lengths) for start, stop in chunk_bounds(n, chunk_samples)]
    try:
        clips = LazyClips(len(pieces), lambda k: sf.read(str(paths[pieces[k][0]]), start=pieces[k][1], stop=pieces[k][2],
                                                         dtype="float32")[0])
        outputs = model.embed(clips, ("scene",), lengths=[stop - start for _, start, stop in pieces],
                              max_items=batch_size, max_samples=batch_samples)
    except ClipError as err:
        file, start, stop = pieces[err.index]
        raise EmbeddingError(f"{where}/{split.files[file]} (samples {start}-{stop}): {err.cause}") from err.cause
    return _Rows(np.stack([o.of("scene") for o in outputs]), np.array([p[0] for p in pieces], dtype=np.int64), None)


def _check_increasing(stamps: np.ndarray, module: str, name: str) -> None:
    """Raise :class:`EmbeddingError` unless the timestamps ``(n_timestamps,)`` of file ``name`` (ms, finite: the module's
    outputs are checked) increase strictly."""
    steps = np.flatnonzero(np.diff(stamps) <= 0)
    if not len(steps):
        return
    if np.ptp(stamps) == 0:
        seen = f"all {len(stamps)} timestamps are {stamps[0]:g} ms"
    else:
        j = int(steps[0])
        shown = ", ".join(f"{t:g}" for t in stamps[:_SHOWN_TIMESTAMPS]) + (", ..." if len(stamps) > _SHOWN_TIMESTAMPS else "")
        seen = (f"timestamp {j + 2} ({stamps[j + 1]:g} ms) does not come after timestamp {j + 1} ({stamps[j]:g} ms); "
                f"they are {shown} ms")
    raise EmbeddingError(f"{name}: {module}.get_timestamp_embeddings returned timestamps that do not increase within the "
                         f"file: {seen}. An event task scores each file's frames in time order, one frame per timestamp, "
                         "so a file's timestamps must increase strictly")


def _warn_other_lengths(task: HearTask, split: Split, lengths: list[int], rate: int) -> None:
    if task.sample_duration_s is None:
        return
    expected = round(task.sample_duration_s * rate)
    other = sum(length != expected for length in lengths)
    if other:
        logger.warning("%s/%s: %d of %d files are not %d samples long (sample_duration %g s): each is embedded at "
                       "its own length", task.info.name, split.name, other, len(lengths), expected,
                       task.sample_duration_s)


def _write_rows(path: Path, rows: _Rows, files: tuple[str, ...]) -> None:
    arrays: dict[str, Any] = {"embeddings": rows.embeddings, "file_index": rows.file_index,
                              "files": np.array(files, dtype=str)}
    if rows.timestamps_ms is not None:
        arrays["timestamps_ms"] = rows.timestamps_ms
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())


def _read_cache(folder: Path, expected: dict[str, Any], task: HearTask, *, chunked: bool = False) -> dict[str, _Rows] | None:
    """The cached rows of every split, or ``None`` (logged) when the cache is absent, of another identity, incomplete
    or damaged (a warning naming the file)."""
    record_path = folder / IDENTITY_NAME
    if not record_path.is_file():
        logger.info("%s: no cached embeddings in %s", task.info.name, folder)
        return None
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        logger.warning("%s: unreadable %s (%s): embedding again", task.info.name, record_path, err)
        return None
    if not isinstance(record, dict):
        logger.warning("%s: unreadable %s (a JSON %s, not an object): embedding again", task.info.name, record_path,
                       type(record).__name__)
        return None
    if record != expected:
        changed = sorted(k for k in {*record, *expected} if record.get(k) != expected.get(k))
        logger.info("%s: the cache in %s was made with other %s: embedding again", task.info.name, folder,
                    ", ".join(changed))
        return None
    rows = {}
    for name in task.used_splits:
        path = folder / f"{name}.npz"
        try:
            saved = read_npz(path, required=("embeddings", "file_index", "files"))
            files = tuple(str(f) for f in saved["files"])
            rows[name] = _Rows(saved["embeddings"], saved["file_index"], saved.get("timestamps_ms"))
            _check_rows(rows[name], len(task.split(name).files), task.info.embedding_type == "event", chunked)
        except ValueError as err:
            logger.warning("%s: corrupt or unreadable cache file %s (%s): embedding again", task.info.name, path, err)
            return None
        if files != task.split(name).files:
            logger.warning("%s: %s lists other files than %s.json: embedding again", task.info.name,
                           folder / f"{name}.npz", name)
            return None
    return rows


def _check_rows(rows: _Rows, n_files: int, event: bool, chunked: bool = False) -> None:
    """Raise ``ValueError`` unless ``rows`` give every one of ``n_files`` files rows (one per file in a scene
    task not cut into chunks), and timestamps exactly for an event task."""
    n = len(rows.embeddings)
    counts = np.bincount(rows.file_index, minlength=n_files) if rows.file_index.ndim == 1 and n else np.zeros(0)
    if (rows.embeddings.ndim != 2 or rows.file_index.shape != (n,) or len(counts) != n_files or not counts.all()
            or (not event and not chunked and n != n_files) or event != (rows.timestamps_ms is not None)
            or (rows.timestamps_ms is not None and rows.timestamps_ms.shape != (n,))):
        raise ValueError("arrays of inconsistent shapes")


def _assemble(task: HearTask, split: Split, rows: _Rows, order: list[int]) -> SplitEmbeddings:
    """The split's rows in heareval's file order, with their targets."""
    index = {label: i for i, label in enumerate(task.info.labels)}
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    take = np.argsort(rank[rows.file_index], kind="stable")
    file_index = rows.file_index[take]
    targets = np.zeros((len(take), len(index)), dtype=np.float32)
    if split.events is None:
        labels = split.labels or {}
        for row, f in enumerate(file_index):
            targets[row, [index[label] for label in labels[split.files[f]]]] = 1.0
        return SplitEmbeddings(rows.embeddings[take], targets, split.files, file_index)
    if rows.timestamps_ms is None:
        raise ValueError(f"{task.info.name}/{split.name}: an event split without timestamps")
    stamps = rows.timestamps_ms[take]
    for row, (f, t) in enumerate(zip(file_index, stamps, strict=True)):
        targets[row, [index[label] for label in event_labels_at(split.events[split.files[f]], float(t))]] = 1.0
    return SplitEmbeddings(rows.embeddings[take], targets, split.files, file_index, stamps, split.events)
