"""The record of an output folder, shared by both corpus engines: which inputs are done and from what.

* :class:`Job` (an input and its ``.npz``), :class:`FileResult` (its outcome) and :class:`CorpusReport` (a run's
  results, saved as ``embed-report.json`` and ``embed-manifest.jsonl``);
* the resume rule (:func:`is_up_to_date`, :func:`pending_jobs`): an earlier output is kept only when it was made by
  the same model from the unchanged source, and the last report serves as an index of outputs verified by size;
* :class:`OutputFolder`: one run at a time per folder (a lock), and a record that loses nothing: finished outputs
  of earlier runs stay listed (``kept``), and outputs written before an interruption are found and listed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ..embedding.config import Kind
from ..util.files import check_writable, folder_lock, write_atomic
from ..util.npz import NPZ_ERRORS
from .audio import AudioReadError
from .models import IDENTITY_KEYS, module_variant

logger = logging.getLogger(__name__)

REPORT_NAME = "embed-report.json"
"""Name of the run report written in the output folder."""
MANIFEST_NAME = "embed-manifest.jsonl"
"""Name of the manifest written beside the report: one JSON object per line, the fields of :class:`FileResult`, in
the report's order."""
LOCK_NAME = ".embed.lock"
"""The lock file a run holds in its output folder (:class:`OutputFolder`)."""
STATUSES = ("embedded", "skipped", "kept", "failed")
"""The status of every row of a report: an input embedded, or skipped (its output was up to date), or failed; or
``kept``: the finished output of an earlier run that was not an input of this one."""
NOT_PROCESSED = "not processed (the run stopped early)"
"""The error recorded for inputs a stopped run did not reach."""
RESUME_THREADS = 16
"""Threads that check earlier outputs (:func:`pending_jobs`, and :class:`OutputFolder` after a stop): the checks wait
on storage."""
OUTPUT_KEYS: dict[str, tuple[str, ...]] = {"scene": ("scene",), "timestamp": ("timestamp_embeddings", "timestamps_ms")}
"""The ``.npz`` arrays each embedding kind is saved as."""


class ReportWriteError(OSError):
    """The report or manifest of a finished run could not be written; its ``report`` attribute holds the run's results
    (the outputs themselves are written)."""

    def __init__(self, message: str, report: CorpusReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class Job:
    """One input file and where its embeddings go.

    Attributes:
        source: the audio file.
        output: its ``.npz`` file: ``<out>/<path relative to the folder given>/<file name>.npz``, or
            ``<out>/<file name>.npz`` for a file given directly (``<out>/<path relative to root>.npz``
            when :func:`~.corpus.plan_jobs` has a ``root``). The audio extension is kept, so ``a.wav`` and
            ``a.flac`` side by side do not collide.
    """

    source: Path
    output: Path


@dataclass(slots=True)
class FileResult:
    """Outcome for one input.

    Attributes:
        source: the input path as given or found.
        status: one of :data:`STATUSES`.
        output: the ``.npz`` file (``None`` when there is none).
        error: why it failed (``None`` otherwise).
        seconds: audio duration in seconds (when read).
        source_bytes: size of the source file its output was made from (``embedded``, ``skipped``, ``kept``), bytes.
        source_mtime_ns: its modification time then, ns (``-1`` for bytes read from elsewhere).
        output_bytes: size of the output file, bytes: a later run trusts the row only while the file has this size.
    """

    source: str
    status: str
    output: str | None = None
    error: str | None = None
    seconds: float | None = None
    source_bytes: int | None = None
    source_mtime_ns: int | None = None
    output_bytes: int | None = None

    @property
    def done(self) -> bool:
        """Whether the row stands for a finished output."""
        return self.status in ("embedded", "skipped", "kept") and self.output is not None and self.source_bytes is not None


@dataclass
class CorpusReport:
    """Outcome of a corpus run: one :class:`FileResult` per input, in input order, then the finished outputs of earlier
    runs into the same folder that were not inputs of this one (``kept``); saved in the output folder as JSON
    (:data:`REPORT_NAME`) and as a manifest (:data:`MANIFEST_NAME`).

    Attributes:
        variant, weights, precision, module, module_version, weights_sha256: the model
            (:data:`~.models.IDENTITY_KEYS`), as every output records it.
        kinds: the embedding kinds computed.
        engine: ``"local"`` or ``"ray"``.
        results: the rows.
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
        """Number of rows with ``status``."""
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> list[FileResult]:
        """Inputs that failed, in input order."""
        return [r for r in self.results if r.status == "failed"]

    def summary(self) -> str:
        """One line: counts per status and the audio time embedded."""
        audio = sum(r.seconds or 0.0 for r in self.results if r.status == "embedded")
        kept = f", {self.count('kept')} kept from earlier runs" if self.count("kept") else ""
        return (f"{self.count('embedded')} embedded ({audio:.1f} s of audio in {self.wall_seconds:.1f} s), "
                f"{self.count('skipped')} already done, {self.count('failed')} failed{kept}")

    def save(self, out_dir: Path) -> None:
        """Write the report (:data:`REPORT_NAME`) and the manifest (:data:`MANIFEST_NAME`) into ``out_dir``, each
        through a temporary file; the manifest is attempted even when the report cannot be written.

        Raises:
            OSError: either could not be written (the first error; the message names the file).
        """
        rows = [asdict(r) for r in self.results]
        header = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "results"}
        errors = []
        for name, text in ((REPORT_NAME, json.dumps({**header, "results": rows}, indent=2) + "\n"),
                           (MANIFEST_NAME, "".join(json.dumps(row) + "\n" for row in rows))):
            try:
                write_atomic(out_dir / name, text.encode("utf-8"))
            except OSError as err:
                errors.append(f"cannot write {out_dir / name}: {err.strerror or err}")
        if errors:
            raise OSError("; ".join(errors))


def wanted_arrays(kinds: tuple[Kind, ...]) -> tuple[str, ...]:
    """The ``.npz`` arrays a run of these kinds writes (and a resumed run requires)."""
    return tuple(key for kind in kinds for key in OUTPUT_KEYS[kind])


def _saved_metadata(output: Path) -> tuple[set[str], dict[str, np.ndarray]] | None:
    """The array names of an earlier output and its metadata (:data:`~.models.IDENTITY_KEYS` and the source's size,
    modification time and length), without reading the embeddings; ``None`` (logged) when it cannot be read."""
    try:
        with np.load(output, allow_pickle=False) as saved:
            present = set(saved.files)
            keys = (*IDENTITY_KEYS, "source_bytes", "source_mtime_ns", "source_frames", "source_sample_rate")
            return present, {k: saved[k] for k in keys if k in present}
    except NPZ_ERRORS as err:
        logger.warning("%s: unreadable earlier output (%s); embedding again", output, err)
        return None


def _model_keys(identity: dict[str, str]) -> tuple[str, ...]:
    """The identity keys that decide whether a recorded model is the one of ``identity``: the variant, the precision,
    and the checkpoint's hash (the same file may have moved) or, without a checkpoint file, the weights (random weights
    go by their seed); for a HEAR module from outside this package also its version, which holds a hash of its code
    when no release identifies it (:func:`~hear_gear_embed.hear.loading.module_version`). This package's variants
    compute the same embeddings across its versions unless the changelog says otherwise."""
    keys = ("variant", "weights_sha256" if identity["weights_sha256"] else "weights", "precision")
    return keys if module_variant(identity["module"]) is not None else (*keys, "module_version")


def _same_model(saved: dict[str, object], identity: dict[str, str]) -> bool:
    """Whether the model recorded in ``saved`` (a report's fields) is the one of ``identity`` (:func:`_model_keys`)."""
    return all(str(saved.get(key, "")) == str(identity[key]) for key in _model_keys(identity))


def _check_saved(job: Job, identity: dict[str, str], wanted: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The metadata of ``job.output`` when it holds the wanted arrays, made by this model from the source as it is now;
    ``None`` when it is missing, unreadable, incomplete or of an older source.

    Raises:
        ValueError: it was made with another model (:func:`_model_keys`).
        OSError: the source cannot be stat'ed.
    """
    if not job.output.is_file():
        return None
    found = _saved_metadata(job.output)
    if found is None:
        return None
    present, stored = found
    stored.setdefault("precision", np.array("fp32"))  # outputs written before precisions existed are fp32
    for key in _model_keys(identity):
        if key in stored and str(stored[key]) != str(identity[key]):
            raise ValueError(f"{job.output} exists with {key} {str(stored[key])!r}, not {str(identity[key])!r}; "
                             "pass --overwrite to replace it, or choose another output folder")
    stat = job.source.stat()
    if int(stored.get("source_bytes", -1)) != stat.st_size or int(stored.get("source_mtime_ns", -1)) != stat.st_mtime_ns:
        logger.info("%s changed since %s was written; embedding again", job.source, job.output)
        return None
    return stored if all(k in present for k in wanted) else None


def is_up_to_date(job: Job, identity: dict[str, str], wanted: tuple[str, ...]) -> bool:
    """Whether ``job.output`` holds the wanted arrays for this source file and this model (the resume rule of
    both engines).

    Args:
        job: the input and its output.
        identity: the model's :attr:`~.models.CorpusModel.identity`.
        wanted: the arrays the run computes (:func:`wanted_arrays`).

    Raises:
        ValueError: the output exists but was made with another model (variant, weights, precision, or the version of
            another HEAR module), so that neither skipping it nor silently replacing it would be right.
    """
    return _check_saved(job, identity, wanted) is not None


def _output_bytes(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _read_report(out_dir: Path) -> dict[str, Any] | None:
    """The last report in ``out_dir`` as JSON, or ``None`` when there is none or it cannot be read (logged)."""
    try:
        report = json.loads((out_dir / REPORT_NAME).read_text(encoding="utf-8"))
        if not isinstance(report, dict) or not isinstance(report.get("results"), list):
            raise ValueError("no list of results")
        return report
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        logger.warning("%s: unreadable earlier report (%s): every earlier output is opened instead", out_dir / REPORT_NAME,
                       err)
        return None


def _report_rows(report: dict[str, Any]) -> list[FileResult]:
    """The finished rows of a report read back (rows of an unknown layout are left out)."""
    rows = []
    names = {f.name for f in fields(FileResult)}
    for row in report["results"]:
        try:
            result = FileResult(**{k: v for k, v in row.items() if k in names})
        except (TypeError, AttributeError):
            continue
        if result.done:
            rows.append(result)
    return rows


def previous_results(out_dir: Path, identity: dict[str, str], kinds: tuple[Kind, ...]) -> dict[str, FileResult]:
    """The finished files of the last run into ``out_dir``, by output path, when that run used the same model and
    computed at least ``kinds``: its report is then the resume check's index (:func:`pending_jobs`). Empty when there
    is no such report (or it cannot be read)."""
    return _index(_read_report(out_dir), identity, kinds)


def _index(report: dict[str, Any] | None, identity: dict[str, str], kinds: tuple[Kind, ...]) -> dict[str, FileResult]:
    """:func:`previous_results` of a report read back."""
    if report is None or not _same_model(report, identity) or not set(kinds) <= set(report.get("kinds") or ()):
        return {}
    return {str(r.output): r for r in _report_rows(report)}


def pending_jobs(jobs: Sequence[Job], identity: dict[str, str], wanted: tuple[str, ...], overwrite: bool,
                 results: dict[Path, FileResult], previous: dict[str, FileResult] | None = None) -> list[Job]:
    """The jobs left to do, by the resume rule (:func:`is_up_to_date`), checked in :data:`RESUME_THREADS` threads.

    A job that ``previous`` (:func:`previous_results`) lists as done, from the same source whose size and modification
    time are unchanged, with its output still of the size recorded, is skipped without opening the output: three
    ``stat`` calls instead of reading a zip archive, so that a second run over millions of files starts at once
    (docs/cluster.md has the rates). Any other output is opened and checked; an unreadable one is embedded again.

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
            known = previous.get(str(job.output))
            if (known is not None and known.source == str(job.source) and known.source_bytes == stat.st_size
                    and known.source_mtime_ns == stat.st_mtime_ns and known.output_bytes is not None
                    and _output_bytes(job.output) == known.output_bytes):
                return FileResult(str(job.source), "skipped", str(job.output), seconds=known.seconds,
                                  source_bytes=stat.st_size, source_mtime_ns=stat.st_mtime_ns,
                                  output_bytes=known.output_bytes)
            stored = _check_saved(job, identity, wanted)
            return None if stored is None else _finished(job, "skipped", stored, _output_bytes(job.output))
        except (ValueError, OSError) as err:
            return failed(job.source, err)

    todo = []
    for job, result in zip(jobs, _threaded(check, jobs), strict=True):
        if result is None:
            todo.append(job)
        else:
            results[job.source] = result
    return todo


def _finished(job: Job, status: str, stored: dict[str, np.ndarray], output_bytes: int | None) -> FileResult:
    """The row of a job whose output is up to date (:func:`_check_saved` returned its metadata, ``stored``, and
    ``output_bytes`` is the output's size): the source's size and modification time as the output records them, which
    the check found equal to the source's now."""
    seconds = None
    if "source_frames" in stored and "source_sample_rate" in stored and int(stored["source_sample_rate"]) > 0:
        seconds = int(stored["source_frames"]) / int(stored["source_sample_rate"])
    return FileResult(str(job.source), status, str(job.output), seconds=seconds, source_bytes=int(stored["source_bytes"]),
                      source_mtime_ns=int(stored["source_mtime_ns"]), output_bytes=output_bytes)


def _threaded(check: Callable[[Job], FileResult | None], jobs: Sequence[Job]) -> Iterator[FileResult | None]:
    """``check`` of every job, in order, in :data:`RESUME_THREADS` threads."""
    with ThreadPoolExecutor(RESUME_THREADS) as pool:
        yield from pool.map(check, jobs)


def describe_error(err: BaseException, source: Path | None = None) -> str:
    """``err`` as one readable line: the message without a leading ``"<source>: "`` (the report names the file
    already), and with the exception type unless the message explains itself (an unreadable or missing file)."""
    message = str(err).strip() or type(err).__name__
    if source is not None:
        message = message.removeprefix(f"{source}: ")
    return message if isinstance(err, (AudioReadError, FileNotFoundError)) else f"{type(err).__name__}: {message}"


def failed(source: Path, err: BaseException, seconds: float | None = None) -> FileResult:
    """The failed :class:`FileResult` of ``source`` for ``err``, described in one line."""
    return FileResult(str(source), "failed", error=describe_error(err, source), seconds=seconds)


class OutputFolder:
    """One run's hold on its output folder, for both engines: a context manager that creates the folder, checks it
    can be written, locks it against a second run (:data:`LOCK_NAME`, an advisory lock that a dead process releases),
    and on exit writes the report and manifest, also when the run is interrupted or fails.

    The report lists, in order: the planning failures, one row per job (a job without a result is
    :data:`NOT_PROCESSED`, unless its output was written by this run before it stopped: then it is ``embedded``,
    found by the resume rule on disk), then the finished rows of the folder's last report of the same model and kinds
    whose outputs are still there (of the size recorded) and that were not inputs of this run (``kept``). Outputs of
    another model's or other kinds' report are on disk but no longer listed: a warning says how many.

    Attributes:
        results: the jobs' results by source, filled by the engine.
        report: the report, complete after exit.
        why_stopped: set by the engine when its run stopped early (written after :data:`NOT_PROCESSED`).
    """

    def __init__(self, out_dir: Path, identity: dict[str, str], kinds: tuple[Kind, ...], engine: str) -> None:
        self.out = Path(out_dir)
        self.identity, self.kinds = identity, kinds
        self.report = CorpusReport.start(identity, kinds, engine)
        self.results: dict[Path, FileResult] = {}
        self.jobs: Sequence[Job] = ()
        self.failures: list[FileResult] = []
        self.why_stopped = ""
        self._stack = ExitStack()
        self._start = time.perf_counter()
        self._start_ns = time.time_ns()
        self._earlier: dict[str, Any] | None = None

    def __enter__(self) -> OutputFolder:
        check_writable(self.out)
        self._stack.enter_context(folder_lock(self.out, LOCK_NAME, "hear-gear embed run"))
        self._earlier = _read_report(self.out)
        return self

    def plan(self, jobs: Sequence[Job], failures: list[FileResult]) -> None:
        """The run's jobs and planning failures."""
        self.jobs, self.failures = jobs, failures

    def pending(self, overwrite: bool) -> list[Job]:
        """:func:`pending_jobs` of the planned jobs, with the last report as index; fills :attr:`results`."""
        previous = _index(self._earlier, self.identity, self.kinds)
        return pending_jobs(self.jobs, self.identity, wanted_arrays(self.kinds), overwrite, self.results, previous)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            self.report.results = self._rows()
            self.report.wall_seconds = time.perf_counter() - self._start
            try:
                self.report.save(self.out)
            except OSError as err:
                if exc is not None:  # the run's own exception is the one to see; the outputs are on disk
                    logger.error("%s", err)
                    return
                raise ReportWriteError(f"{err}; the outputs are written: run the same command again to write the "
                                       "report", self.report) from err
        finally:
            self._stack.close()

    def _rows(self) -> list[FileResult]:
        missing = f"{NOT_PROCESSED}: {self.why_stopped}" if self.why_stopped else NOT_PROCESSED
        unfinished = [job for job in self.jobs if job.source not in self.results]
        if unfinished:
            for job, found in zip(unfinished, _threaded(self._written_by_this_run, unfinished), strict=True):
                if found is not None:
                    self.results[job.source] = found
        rows = self.failures + [self.results.get(j.source) or FileResult(str(j.source), "failed", error=missing)
                                for j in self.jobs]
        return rows + self._kept({str(j.output) for j in self.jobs})

    def _written_by_this_run(self, job: Job) -> FileResult | None:
        """The result of a job without one (the run stopped before it was reported) whose up-to-date output is on disk:
        ``embedded`` when this run wrote it, ``skipped`` when it was there before."""
        try:
            stored = _check_saved(job, self.identity, wanted_arrays(self.kinds))
            if stored is None:
                return None
            written = job.output.stat()
        except (ValueError, OSError):
            return None
        return _finished(job, "embedded" if written.st_mtime_ns >= self._start_ns else "skipped", stored, written.st_size)

    def _kept(self, planned: set[str]) -> list[FileResult]:
        earlier = self._earlier
        if earlier is None:
            return []
        rows = [r for r in _report_rows(earlier) if str(r.output) not in planned]
        if not rows:
            return []
        if not _same_model(earlier, self.identity) or set(earlier.get("kinds") or ()) != set(self.kinds):
            logger.warning("%s: the last report listed %d finished outputs of another model or other kinds that this run "
                           "did not touch; they stay on disk, each recording its model, but are no longer listed in %s "
                           "(use one output folder per model and kinds)", self.out, len(rows), REPORT_NAME)
            return []
        kept = []
        for row in rows:
            size = _output_bytes(Path(str(row.output)))
            if size is not None and (row.output_bytes is None or size == row.output_bytes):
                kept.append(FileResult(row.source, "kept", row.output, seconds=row.seconds, source_bytes=row.source_bytes,
                                       source_mtime_ns=row.source_mtime_ns, output_bytes=size))
        return kept

