"""Embed a collection of audio files into one ``.npz`` per file: batched by length, resumable, and
with a per-file report in which one bad file never costs the others their results. The pieces here
(planning, the resume rule, batching, embedding with retries, atomic saving, the report and manifest)
are shared by both engines: :func:`embed_files` on this machine and :mod:`.ray_engine` on a Ray cluster.

Output file layout (all arrays ``float32`` unless said otherwise; strings are 0-d unicode arrays)::

    scene                  (scene_embedding_size,)                  when "scene" is among the kinds
    timestamp_embeddings   (n_timestamps, timestamp_embedding_size) when "timestamp" is among the kinds
    timestamps_ms          (n_timestamps,) centre of each window, ms, with timestamp_embeddings
    variant                variant name, or the import name of another HEAR module
    module                 the HEAR module's import name
    module_version         version of the distribution providing the module
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

import json
import logging
import math
import os
import time
import urllib.parse
import zipfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TypeVar

import numpy as np

from .._version import __version__
from ..embedding.config import KINDS, Kind
from ..embedding.embedder import Embedder
from ..util.chunking import length_batches
from ..util.files import write_atomic
from .audio import AUDIO_EXTENSIONS, AudioInfo, AudioReadError, Clip, find_audio_files, probe, read_audio, require_backends
from .models import IDENTITY_KEYS, CorpusModel, VariantModel

logger = logging.getLogger(__name__)

_OUTPUT_KEYS: dict[str, tuple[str, ...]] = {"scene": ("scene",), "timestamp": ("timestamp_embeddings", "timestamps_ms")}
"""The ``.npz`` arrays each embedding kind is saved as."""

REPORT_NAME = "embed-report.json"
"""Name of the run report written in the output folder."""
MANIFEST_NAME = "embed-manifest.jsonl"
"""Name of the manifest written beside the report: one JSON object per input and line, the fields of
:class:`FileResult`, in input order."""
STATUSES = ("embedded", "skipped", "failed")
"""The status of every input after a run."""
NOT_PROCESSED = "not processed (the run stopped early)"
"""The error recorded for inputs a stopped run did not reach."""
RESUME_THREADS = 16
"""Threads that check earlier outputs before a run (:func:`pending_jobs`)."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class Job:
    """One input file and where its embeddings go.

    Attributes:
        source: the audio file.
        output: its ``.npz`` file: ``<out>/<path relative to the folder given>/<file name>.npz``, or
            ``<out>/<file name>.npz`` for a file given directly (``<out>/<path relative to root>.npz``
            when :func:`plan_jobs` has a ``root``). The audio extension is kept, so ``a.wav`` and
            ``a.flac`` side by side do not collide.
    """

    source: Path
    output: Path


@dataclass(slots=True)
class FileResult:
    """Outcome for one input.

    Attributes:
        source: the input path as given or found.
        status: ``"embedded"``, ``"skipped"`` (up-to-date output from an earlier run) or ``"failed"``.
        output: the ``.npz`` file (``None`` when there is none).
        error: why it failed (``None`` otherwise).
        seconds: audio duration in seconds (when read).
        source_bytes: size of the source file its output was made from (``embedded`` and ``skipped``), bytes.
        source_mtime_ns: its modification time then, ns (``-1`` for bytes read from elsewhere).
    """

    source: str
    status: str
    output: str | None = None
    error: str | None = None
    seconds: float | None = None
    source_bytes: int | None = None
    source_mtime_ns: int | None = None


@dataclass
class CorpusReport:
    """Outcome of a corpus run, one :class:`FileResult` per input; saved in the output folder as JSON
    (:data:`REPORT_NAME`) and as a manifest (:data:`MANIFEST_NAME`).

    Attributes:
        variant, weights, precision, module, module_version, weights_sha256: the model
            (:data:`~.models.IDENTITY_KEYS`), as every output records it.
        kinds: the embedding kinds computed.
        engine: ``"local"`` or ``"ray"``.
        results: one per input, in input order.
        wall_seconds: the run's duration.
    """

    variant: str
    weights: str
    kinds: tuple[Kind, ...]
    precision: str = "fp32"
    module: str = ""
    module_version: str = ""
    weights_sha256: str = ""
    engine: str = "local"
    results: list[FileResult] = field(default_factory=list)
    wall_seconds: float = 0.0

    @classmethod
    def start(cls, identity: dict[str, str], kinds: tuple[Kind, ...], engine: str) -> CorpusReport:
        """An empty report of a run of the model with ``identity``."""
        return cls(identity["variant"], identity["weights"], kinds, identity["precision"], identity["module"],
                   identity["module_version"], identity["weights_sha256"], engine)

    def count(self, status: str) -> int:
        """Number of inputs with ``status``."""
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> list[FileResult]:
        """Inputs that failed, in input order."""
        return [r for r in self.results if r.status == "failed"]

    def summary(self) -> str:
        """One line: counts per status and the audio time embedded."""
        audio = sum(r.seconds or 0.0 for r in self.results if r.status == "embedded")
        return (f"{self.count('embedded')} embedded ({audio:.1f} s of audio in {self.wall_seconds:.1f} s), "
                f"{self.count('skipped')} already done, {self.count('failed')} failed")

    def save(self, out_dir: Path) -> None:
        """Write the report (:data:`REPORT_NAME`) and the manifest (:data:`MANIFEST_NAME`) into ``out_dir``,
        each through a temporary file."""
        rows = [asdict(r) for r in self.results]
        header = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "results"}
        _write_text_atomic(out_dir / REPORT_NAME, json.dumps({**header, "results": rows}, indent=2) + "\n")
        _write_text_atomic(out_dir / MANIFEST_NAME, "".join(json.dumps(row) + "\n" for row in rows))


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
        ValueError: a line holds a URI of another scheme than ``file`` (mount such storage on every node,
            or read it with Ray: :func:`~.ray_engine.embed_dataset`).
    """
    entries = []
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
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
            failures.append(FileResult(str(given), "failed", error=_describe(err, given)))
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


def is_up_to_date(job: Job, identity: dict[str, str], wanted: tuple[str, ...]) -> bool:
    """Whether ``job.output`` holds the wanted arrays for this source file and this model (the resume rule of
    both engines).

    Args:
        job: the input and its output.
        identity: the model's :attr:`~.models.CorpusModel.identity`.
        wanted: the arrays the run computes (:func:`wanted_arrays`).

    Raises:
        ValueError: the output exists but was made with another variant, other weights or another precision, so that
            neither skipping it nor silently replacing it would be right.
    """
    if not job.output.is_file():
        return False
    try:
        with np.load(job.output, allow_pickle=False) as saved:
            # only the metadata is read: the embeddings themselves (megabytes) need not be
            present = set(saved.files)
            stored = {k: saved[k] for k in (*IDENTITY_KEYS, "source_bytes", "source_mtime_ns") if k in present}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        logger.warning("%s: unreadable earlier output (%s); embedding again", job.output, err)
        return False
    # The same checkpoint file may have moved: its hash identifies it; random weights go by their seed.
    # Outputs written before precisions existed are fp32.
    stored.setdefault("precision", np.array("fp32"))
    for key in _model_keys(identity):
        if key in stored and str(stored[key]) != str(identity[key]):
            raise ValueError(f"{job.output} exists with {key} {str(stored[key])!r}, not {str(identity[key])!r}; "
                             "pass --overwrite to replace it, or choose another output folder")
    stat = job.source.stat()
    if int(stored.get("source_bytes", -1)) != stat.st_size or int(stored.get("source_mtime_ns", -1)) != stat.st_mtime_ns:
        logger.info("%s changed since %s was written; embedding again", job.source, job.output)
        return False
    return all(k in present for k in wanted)


def _model_keys(identity: dict[str, str]) -> tuple[str, ...]:
    """The identity keys that decide whether a recorded model is the one of ``identity``: the variant, the
    precision, and the checkpoint's hash (the same file may have moved), or, without a checkpoint file, the
    weights (random weights go by their seed)."""
    return ("variant", "weights_sha256" if identity["weights_sha256"] else "weights", "precision")


def _same_model(saved: dict[str, object], identity: dict[str, str]) -> bool:
    """Whether the model recorded in ``saved`` (a report's fields) is the one of ``identity`` (:func:`_model_keys`)."""
    return all(str(saved.get(key)) == str(identity[key]) for key in _model_keys(identity))


def previous_results(out_dir: Path, identity: dict[str, str], kinds: tuple[Kind, ...]) -> dict[str, FileResult]:
    """The finished files of the last run into ``out_dir``, by output path, when that run used the same model and
    computed at least ``kinds``: its report is then the resume check's index, and an output it lists as done is
    not opened again. Empty when there is no such report (or it cannot be read)."""
    try:
        report = json.loads((out_dir / REPORT_NAME).read_text())
        if not _same_model(report, identity) or not set(kinds) <= set(report["kinds"]):
            return {}
        rows = [FileResult(**row) for row in report["results"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        logger.debug("no usable earlier report in %s (%s): every earlier output is opened", out_dir, err)
        return {}
    return {r.output: r for r in rows if r.status in ("embedded", "skipped") and r.output and r.source_bytes is not None}


def pending_jobs(jobs: Sequence[Job], identity: dict[str, str], wanted: tuple[str, ...], overwrite: bool,
                 results: dict[Path, FileResult], previous: dict[str, FileResult] | None = None) -> list[Job]:
    """The jobs left to do, by the resume rule (:func:`is_up_to_date`), checked in :data:`RESUME_THREADS` threads
    since the check waits on storage.

    A job that ``previous`` (:func:`previous_results`) lists as done, from the same source whose size and
    modification time are unchanged, with its output still there, is skipped without opening the output: two
    ``stat`` calls instead of reading a zip archive (measured 534 outputs/s opened, against thousands of stats,
    on one disk), so that a second run over millions of files starts at once.

    Args:
        jobs: every planned job.
        identity: the model's :attr:`~.models.CorpusModel.identity`.
        wanted: the arrays the run computes (:func:`wanted_arrays`).
        overwrite: every job is left to do.
        results: filled with a ``skipped`` result for each finished job and a ``failed`` one for each job whose
            earlier output belongs to another model (or cannot be checked).
        previous: the last run's finished files, by output path.

    Returns:
        The other jobs, in order.
    """
    if overwrite:
        return list(jobs)
    previous = previous or {}

    def check(job: Job) -> FileResult | None:
        try:
            stat = job.source.stat()
            done = FileResult(str(job.source), "skipped", str(job.output), source_bytes=stat.st_size,
                              source_mtime_ns=stat.st_mtime_ns)
            known = previous.get(str(job.output))
            if (known is not None and known.source == str(job.source) and known.source_bytes == stat.st_size
                    and known.source_mtime_ns == stat.st_mtime_ns and job.output.is_file()):
                return done
            return done if is_up_to_date(job, identity, wanted) else None
        except (ValueError, OSError) as err:
            return failed(job.source, err)

    todo = []
    with ThreadPoolExecutor(RESUME_THREADS) as pool:
        for job, result in zip(jobs, pool.map(check, jobs), strict=True):
            if result is None:
                todo.append(job)
            else:
                results[job.source] = result
    return todo


def wanted_arrays(kinds: tuple[Kind, ...]) -> tuple[str, ...]:
    """The ``.npz`` arrays a run of these kinds writes (and a resumed run requires)."""
    return tuple(key for kind in kinds for key in _OUTPUT_KEYS[kind])


def check_kinds(kinds: Sequence[str]) -> tuple[Kind, ...]:
    """``kinds`` in :data:`~hear_gear_embed.embedding.config.KINDS` order.

    Raises:
        ValueError: empty, or holding an unknown kind.
    """
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds must be a non-empty selection of {KINDS}, got {tuple(kinds)!r}")
    return tuple(k for k in KINDS if k in kinds)


def _write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


def batch_groups(items: Sequence[_T], lengths: Sequence[int], batch_size: int, batch_seconds: float,
                 rate: int) -> list[list[_T]]:
    """Groups of items of equal length (samples at ``rate``), each split into batches of at most ``batch_size``
    items and ``batch_seconds`` of audio in all (at least one item), shortest first."""
    return length_batches(items, lengths, max_items=batch_size, max_samples=int(batch_seconds * rate))


def _describe(err: BaseException, source: Path | None = None) -> str:
    """``err`` as one readable line: the message without a leading ``"<source>: "`` (the report names
    the file already), and with the exception type when it is not self-explanatory."""
    message = str(err).strip() or type(err).__name__
    if source is not None:
        message = message.removeprefix(f"{source}: ")
    return message if isinstance(err, (AudioReadError, FileNotFoundError)) else f"{type(err).__name__}: {message}"


def failed(source: Path, err: BaseException, seconds: float | None = None) -> FileResult:
    """The failed :class:`FileResult` of ``source`` for ``err``, described in one line."""
    return FileResult(str(source), "failed", error=_describe(err, source), seconds=seconds)


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
        logger.warning("a batch of %d files failed (%s); retrying them one by one", len(group), _describe(err))
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
    except OSError as err:
        return FileResult(str(job.source), "failed", error=f"cannot write {job.output}: {err}", seconds=decoded.seconds)
    return FileResult(str(job.source), "embedded", str(job.output), seconds=decoded.seconds,
                      source_bytes=decoded.source_bytes, source_mtime_ns=decoded.source_mtime_ns)


def embed_and_save(model: CorpusModel, group: list[Decoded], kinds: tuple[Kind, ...]) -> list[FileResult]:
    """:func:`embed_group`, then :func:`save_output` for each clip that embedded: one result per clip."""
    return [save_output(d, arrays, model.identity) if isinstance(arrays, dict) else failed(d.job.source, arrays, d.seconds)
            for d, arrays in embed_group(model, group, kinds)]


def report_results(jobs: Sequence[Job], failures: list[FileResult], results: dict[Path, FileResult],
                   why_stopped: str = "") -> list[FileResult]:
    """The report's rows: planning failures first, then one row per job in input order (:data:`NOT_PROCESSED`,
    followed by ``why_stopped`` when given, for a job without a result)."""
    missing = f"{NOT_PROCESSED}: {why_stopped}" if why_stopped else NOT_PROCESSED
    return failures + [results.get(j.source) or FileResult(str(j.source), "failed", error=missing) for j in jobs]


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
    source file are skipped unless ``overwrite`` (:func:`is_up_to_date`). Outputs are written atomically. A file that
    cannot be read, or whose embedding fails, is recorded as failed and the run goes on; when a batch
    fails, its files are retried one by one so that only the culprit fails. The report and manifest are saved
    in ``out_dir`` (:data:`REPORT_NAME`, :data:`MANIFEST_NAME`), also when the run is interrupted.

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
        The :class:`CorpusReport`, in input order.
    """
    kinds = check_kinds(kinds)
    if batch_size < 1 or batch_seconds <= 0:
        raise ValueError(f"batch_size must be >= 1 and batch_seconds > 0, got {batch_size} and {batch_seconds}")
    require_backends()
    corpus_model = as_corpus_model(model)
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    identity = corpus_model.identity
    report = CorpusReport.start(identity, kinds, "local")
    wanted = wanted_arrays(kinds)
    jobs, failures = plan_jobs(paths, out, root=root)
    results: dict[Path, FileResult] = {}
    if on_total is not None:
        on_total(len(jobs))
    try:
        todo: list[tuple[Job, AudioInfo]] = []
        pending = pending_jobs(jobs, identity, wanted, overwrite, results, previous_results(out, identity, kinds))
        for job in pending:
            try:
                todo.append((job, probe(job.source)))
            except (AudioReadError, OSError) as err:
                results[job.source] = failed(job.source, err)
        if progress is not None:
            progress(len(jobs) - len(todo))
        rate = corpus_model.sample_rate
        lengths = [math.ceil(info.frames * rate / info.sample_rate) for _, info in todo]
        for batch in batch_groups([job for job, _ in todo], lengths, batch_size, batch_seconds, rate):
            for result in _run_batch(corpus_model, batch, kinds):
                results[Path(result.source)] = result
            if progress is not None:
                progress(len(batch))
    finally:
        report.results = report_results(jobs, failures, results)
        report.wall_seconds = time.perf_counter() - start
        report.save(out)
    return report


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
