"""Embed a collection of audio files into one ``.npz`` per file: batched by length, resumable, and
with a per-file report in which one bad file never costs the others their results. The pieces here
(planning, batching, embedding with retries, atomic saving) are shared by both engines: :func:`embed_files`
on this machine and :mod:`.ray_engine` on a Ray cluster; the resume rule and the report are in :mod:`.record`.

Output file layout (all arrays ``float32`` unless said otherwise; strings are 0-d unicode arrays)::

    scene                  (scene_embedding_size,)                  when "scene" is among the kinds
    timestamp_embeddings   (n_timestamps, timestamp_embedding_size) when "timestamp" is among the kinds
    timestamps_ms          (n_timestamps,) centre of each window, ms, with timestamp_embeddings
    variant                variant name, or the import name of another HEAR module
    module                 the HEAR module's import name
    module_version         which code the module runs: its version, with a hash of its source where no release
                           pins it (:func:`~hear_gear_embed.hear.loading.module_version`)
    weights                checkpoint path, "random (seed N)", "none" or, for another module, its model file
    weights_sha256         SHA-256 of the checkpoint file ("" when there is none)
    precision              format of the network's matrix products: "fp32", "bf16" or "fp16"
    sample_rate            int64, Hz: the rate the clip was embedded at
    source                 the input file
    source_sample_rate     int64, Hz
    source_channels        int64 (mixed down to mono by averaging)
    source_frames          int64, samples per channel
    source_bytes           int64, size of the input file (resume check)
    source_mtime_ns        int64, modification time of the input file (resume check)
    package_version        hear_gear_embed version
"""

from __future__ import annotations

import logging
import math
import os
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from .._version import __version__
from ..embedding.config import KINDS, Kind
from ..embedding.embedder import Embedder
from ..util.chunking import length_batches
from ..util.files import write_atomic
from .audio import AUDIO_EXTENSIONS, AudioInfo, AudioReadError, Clip, find_audio_files, probe, read_audio, require_backends
from .models import CorpusModel, VariantModel
from .record import CorpusReport, FileResult, Job, OutputFolder, describe_error, failed

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(frozen=True)
class Decoded:
    """A clip read for a job, with the source file's size and modification time when it was read (the
    resume check compares them).

    Attributes:
        job: the input and its output.
        clip: mono audio at the model's rate.
        source_bytes: size of the input file, bytes.
        source_mtime_ns: its modification time, ns (``-1`` when unknown).
    """

    job: Job
    clip: Clip
    source_bytes: int
    source_mtime_ns: int

    @property
    def seconds(self) -> float:
        return self.clip.samples.shape[0] / self.clip.sample_rate


def read_path_list(path: str | os.PathLike[str]) -> list[str]:
    """The inputs listed in a text file: one path or ``file://`` URI per line; blank lines and lines
    starting with ``#`` are left out, and surrounding whitespace is stripped.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not UTF-8 text (e.g. an audio file given as the list), or a line holds a NUL byte or a
            URI of another scheme than ``file`` (mount such storage on every node, or read it with Ray:
            :func:`~.ray_engine.embed_dataset`); the message names the list file and the line.
    """
    entries = []
    with open(path, encoding="utf-8") as handle:
        number = 0
        try:
            lines = [(number := number + 1, raw) for raw in handle]
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: not a text file of paths (line {number + 1} is not UTF-8: {err.reason}); "
                             "--from-list takes a file with one path or file:// URI per line") from err
        for number, raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if "\0" in line:
                raise ValueError(f"{path}, line {number}: holds a NUL byte, which no path can; --from-list takes a text "
                                 "file with one path or file:// URI per line")
            # "://" marks a URI; a colon alone may be part of a file name
            scheme = urllib.parse.urlsplit(line).scheme if "://" in line else ""
            if scheme == "file":
                line = urllib.parse.unquote(urllib.parse.urlsplit(line).path)
            elif scheme:
                raise ValueError(f"{path}, line {number}: {line!r} is a {scheme}:// URI; list paths or file:// URIs on "
                                 "storage every worker can read (mount object stores, e.g. with s3fs or gcsfuse), or "
                                 "read them with ray.data.read_binary_files and embed_dataset (docs/cluster.md)")
            entries.append(line)
    return entries


def plan_jobs(paths: Iterable[str | os.PathLike[str]], out_dir: str | os.PathLike[str], *,
              root: str | os.PathLike[str] | None = None) -> tuple[list[Job], list[FileResult]]:
    """Map inputs to output files.

    Args:
        paths: audio files and folders (searched recursively, see :func:`find_audio_files`); relative
            paths are taken relative to ``root`` when one is given.
        out_dir: output folder.
        root: when given, every output mirrors its file's path below ``root``
            (``<out>/<path relative to root>.npz``), and an input outside ``root`` fails. For lists of
            files from many folders (``--from-list``), where file names alone may collide.

    Returns:
        ``(jobs, failures)``: a job per audio file found, in order, without repeats; a failed
        :class:`FileResult` for each path that does not exist, is outside ``root``, or whose output
        would collide with an earlier one's (same file name given from two folders).
    """
    out = Path(out_dir)
    base = Path(root).resolve() if root is not None else None
    jobs: list[Job] = []
    failures: list[FileResult] = []
    seen_sources: set[Path] = set()
    owner: dict[Path, Path] = {}
    for given in map(Path, paths):
        if base is not None:
            given = base / given
        try:
            files = find_audio_files(given)
        except FileNotFoundError as err:
            failures.append(FileResult(str(given), "failed", error=describe_error(err, given)))
            continue
        if given.is_dir() and not files:
            logger.warning("%s: no audio files (%s) in this folder", given, ", ".join(AUDIO_EXTENSIONS))
        for source in files:
            key = source.resolve()
            if key in seen_sources:
                continue
            seen_sources.add(key)
            if base is not None:
                if not key.is_relative_to(base):
                    failures.append(FileResult(str(source), "failed", error=f"not inside the root folder {base}"))
                    continue
                output = out / (str(key.relative_to(base)) + ".npz")
            else:
                relative = source.relative_to(given).parent if given.is_dir() else Path()
                output = out / relative / (source.name + ".npz")
            if output in owner:
                failures.append(FileResult(str(source), "failed", error=(
                    f"its output {output} would overwrite that of {owner[output]}; embed the two in separate runs, "
                    "pass their common folder, or give a root folder (--list-root) so that outputs keep the folders")))
                continue
            owner[output] = source
            jobs.append(Job(source, output))
    return jobs, failures


def check_kinds(kinds: Sequence[str]) -> tuple[Kind, ...]:
    """``kinds`` in :data:`~hear_gear_embed.embedding.config.KINDS` order.

    Raises:
        ValueError: empty, or holding an unknown kind.
    """
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty selection of {KINDS}, got {tuple(kinds)!r}")
    return tuple(k for k in KINDS if k in kinds)


def check_batching(batch_size: int, batch_seconds: float) -> None:
    """The one check of both engines' batching options.

    Raises:
        ValueError: ``batch_size`` below 1, or ``batch_seconds`` not a positive finite number of seconds.
    """
    if batch_size < 1 or not math.isfinite(batch_seconds) or batch_seconds <= 0:
        raise ValueError(f"batch_size must be >= 1 and batch_seconds a positive number of seconds, got {batch_size} and "
                         f"{batch_seconds}")


def batch_groups(items: Sequence[_T], lengths: Sequence[int], batch_size: int, batch_seconds: float,
                 rate: int) -> list[list[_T]]:
    """Groups of items of equal length (samples at ``rate``), each split into batches of at most ``batch_size``
    items and ``batch_seconds`` of audio in all (at least one item), shortest first."""
    return length_batches(items, lengths, max_items=batch_size, max_samples=int(batch_seconds * rate))


def decode(job: Job, sample_rate: int, data: bytes | None = None) -> Decoded:
    """Read ``job.source`` (or ``data``, the bytes of a file of that name) as a mono clip at ``sample_rate``.

    Raises:
        AudioReadError: unreadable, not audio, empty, or NaN/Inf samples.
        OSError: the file cannot be opened or stat'ed.
    """
    if data is None:
        stat = job.source.stat()
        size, mtime = stat.st_size, stat.st_mtime_ns
    else:
        size = len(data)
        mtime = job.source.stat().st_mtime_ns if job.source.is_file() else -1
    return Decoded(job, read_audio(job.source, sample_rate, data=data), size, mtime)


def embed_group(model: CorpusModel, group: list[Decoded],
                kinds: tuple[Kind, ...]) -> list[tuple[Decoded, dict[str, np.ndarray] | BaseException]]:
    """Embed clips of equal length in one batch; when the batch fails, each clip is tried alone, so that only
    the culprit fails.

    Returns:
        For each clip, in order, its arrays (as :meth:`~.models.CorpusModel.embed`) or the exception it raised.
    """
    try:
        embedded = model.embed(np.stack([d.clip.samples for d in group]), kinds)
    except Exception as err:  # noqa: BLE001 - whatever the cause, the files are retried alone, then reported one by one
        if len(group) == 1:
            return [(group[0], err)]
        logger.warning("a batch of %d files failed (%s); retrying them one by one", len(group), describe_error(err))
        return [outcome for member in group for outcome in embed_group(model, [member], kinds)]
    return list(zip(group, embedded, strict=True))


def save_output(decoded: Decoded, arrays: dict[str, np.ndarray], identity: dict[str, str]) -> FileResult:
    """Write one output file (arrays and metadata, layout in the module docstring) atomically.

    Returns:
        ``embedded``, or ``failed`` when the file cannot be written.
    """
    job, clip = decoded.job, decoded.clip
    meta: dict[str, object] = {
        **identity,
        "sample_rate": np.int64(clip.sample_rate),
        "source": str(job.source.resolve() if job.source.exists() else job.source),  # bytes read from elsewhere
        "source_sample_rate": np.int64(clip.source.sample_rate),
        "source_channels": np.int64(clip.source.channels),
        "source_frames": np.int64(clip.source.frames),
        "source_bytes": np.int64(decoded.source_bytes),
        "source_mtime_ns": np.int64(decoded.source_mtime_ns),
        "package_version": __version__,
    }
    # numpy's stub lets **kwds fill its keyword `allow_pickle: bool`; no output array has that name
    contents = {**arrays, **meta}
    try:
        write_atomic(job.output, lambda stream: np.savez(stream, **contents))  # type: ignore[arg-type]
        size = job.output.stat().st_size
    except OSError as err:
        return FileResult(str(job.source), "failed", error=f"cannot write {job.output}: {err}", seconds=decoded.seconds)
    return FileResult(str(job.source), "embedded", str(job.output), seconds=decoded.seconds,
                      source_bytes=decoded.source_bytes, source_mtime_ns=decoded.source_mtime_ns, output_bytes=size)


def embed_and_save(model: CorpusModel, group: list[Decoded], kinds: tuple[Kind, ...]) -> list[FileResult]:
    """:func:`embed_group`, then :func:`save_output` for each clip that embedded: one result per clip."""
    return [save_output(d, arrays, model.identity) if isinstance(arrays, dict) else failed(d.job.source, arrays, d.seconds)
            for d, arrays in embed_group(model, group, kinds)]


def as_corpus_model(model: CorpusModel | Embedder) -> CorpusModel:
    """``model``, with an :class:`~hear_gear_embed.embedding.embedder.Embedder` wrapped as a :class:`~.models.VariantModel`."""
    return VariantModel(model) if isinstance(model, Embedder) else model


def embed_files(
    paths: Iterable[str | os.PathLike[str]],
    model: CorpusModel | Embedder,
    out_dir: str | os.PathLike[str],
    *,
    kinds: tuple[Kind, ...] = KINDS,
    overwrite: bool = False,
    batch_size: int = 16,
    batch_seconds: float = 600.0,
    root: str | os.PathLike[str] | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> CorpusReport:
    """Embed audio files and folders into one ``.npz`` per file (layout in the module docstring), on this machine.

    Files are read with :func:`~hear_gear_embed.io.audio.read_audio` (mono mix-down, soxr
    resampling to the model's rate). Files that resample to the same length are embedded
    together in batches. Existing outputs made by the same model and weights from the unchanged
    source file are skipped unless ``overwrite`` (:func:`~.record.is_up_to_date`). Outputs are written atomically. A
    file that cannot be read, or whose embedding fails, is recorded as failed and the run goes on; when a batch
    fails, its files are retried one by one so that only the culprit fails. The folder is locked for the run, and the
    report and manifest are saved in ``out_dir`` (:data:`~.record.REPORT_NAME`, :data:`~.record.MANIFEST_NAME`), also
    when the run is interrupted (:class:`~.record.OutputFolder` says what they list).

    Args:
        paths: audio files and folders.
        model: a :class:`~.models.CorpusModel` (:meth:`~.models.ModelSpec.load`: any variant or HEAR module), or
            an :class:`~hear_gear_embed.embedding.embedder.Embedder`.
        out_dir: output folder (created).
        kinds: the embedding kinds to compute (default both, :data:`~hear_gear_embed.embedding.config.KINDS`).
        overwrite: re-embed files whose outputs exist.
        batch_size: most files per batch.
        batch_seconds: most audio per batch, in seconds at the model's rate (bounds the memory
            of long files; a longer file still forms a batch of one).
        root: outputs mirror the inputs' paths below this folder (see :func:`plan_jobs`).
        progress: called with the number of inputs finished after each step (e.g. a progress bar's
            ``update``).
        on_total: called once with the number of inputs to process, before the first.

    Returns:
        The :class:`~.record.CorpusReport`: the inputs in order, then outputs kept from earlier runs.

    Raises:
        ValueError: bad kinds or batching options.
        OSError: the output folder cannot be created or written.
        FolderBusyError: another run holds the output folder (:func:`~hear_gear_embed.util.files.folder_lock`).
        ReportWriteError: the run finished but its report could not be written (it carries the report).
    """
    kinds = check_kinds(kinds)
    check_batching(batch_size, batch_seconds)
    require_backends()
    corpus_model = as_corpus_model(model)
    with OutputFolder(Path(out_dir), corpus_model.identity, kinds, "local") as folder:
        folder.plan(*plan_jobs(paths, folder.out, root=root))
        if on_total is not None:
            on_total(len(folder.jobs))
        todo: list[tuple[Job, AudioInfo]] = []
        for job in folder.pending(overwrite):
            try:
                todo.append((job, probe(job.source)))
            except (AudioReadError, OSError) as err:
                folder.results[job.source] = failed(job.source, err)
        if progress is not None:
            progress(len(folder.jobs) - len(todo))
        rate = corpus_model.sample_rate
        lengths = [math.ceil(info.frames * rate / info.sample_rate) for _, info in todo]
        for batch in batch_groups([job for job, _ in todo], lengths, batch_size, batch_seconds, rate):
            for result in _run_batch(corpus_model, batch, kinds):
                folder.results[Path(result.source)] = result
            if progress is not None:
                progress(len(batch))
    return folder.report


def _run_batch(model: CorpusModel, batch: list[Job], kinds: tuple[Kind, ...]) -> list[FileResult]:
    """Read, embed and save one batch; a failed batch is retried file by file."""
    results: list[FileResult] = []
    decoded: list[Decoded] = []
    for job in batch:
        try:
            decoded.append(decode(job, model.sample_rate))
        except (AudioReadError, OSError) as err:
            results.append(failed(job.source, err))
    # the header's frame count predicts the resampled length; group again by the real one
    by_length: dict[int, list[Decoded]] = {}
    for item in decoded:
        by_length.setdefault(item.clip.samples.shape[0], []).append(item)
    for group in by_length.values():
        results += embed_and_save(model, group, kinds)
    return results
