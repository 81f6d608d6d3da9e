"""One run's hold on its output folder, for both corpus engines (:class:`OutputFolder`): the lock against a second run,
and a record that loses nothing (finished outputs of earlier runs stay listed, outputs written before a stop are
found), written on exit whatever happened."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

from ..embedding.config import Kind
from ..hear.identity import ModelIdentity
from ..util.files import check_writable, folder_lock
from .jobs import Job
from .outputs import wanted_arrays
from .report import REPORT_NAME, CorpusReport, FileResult, ReportWriteError
from .resume import (
    check_saved,
    finished,
    output_bytes,
    pending_jobs,
    previous_results,
    read_report,
    report_rows,
    same_run_model,
    threaded,
)

logger = logging.getLogger(__name__)

LOCK_NAME = ".embed.lock"
"""The lock file a run holds in its output folder."""
NOT_PROCESSED = "not processed (the run stopped early)"
"""The error recorded for inputs a stopped run did not reach."""


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

    def __init__(self, out_dir: Path, identity: ModelIdentity, kinds: tuple[Kind, ...], engine: str) -> None:
        self.out = Path(out_dir)
        self.identity, self.kinds = identity, kinds
        self.report = CorpusReport(identity, kinds, engine)
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
        self._earlier = read_report(self.out)
        return self

    def plan(self, jobs: Sequence[Job], failures: list[FileResult]) -> None:
        """The run's jobs and planning failures."""
        self.jobs, self.failures = jobs, failures

    def pending(self, overwrite: bool) -> list[Job]:
        """:func:`pending_jobs` of the planned jobs, with the last report as index; fills :attr:`results`."""
        previous = previous_results(self._earlier, self.identity, self.kinds)
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
            for job, found in zip(unfinished, threaded(self._written_by_this_run, unfinished), strict=True):
                if found is not None:
                    self.results[job.source] = found
        rows = self.failures + [self.results.get(j.source) or FileResult(str(j.source), "failed", error=missing)
                                for j in self.jobs]
        return rows + self._kept({str(j.output) for j in self.jobs})

    def _written_by_this_run(self, job: Job) -> FileResult | None:
        """The result of a job without one (the run stopped before it was reported) whose up-to-date output is on disk:
        ``embedded`` when this run wrote it, ``skipped`` when it was there before."""
        try:
            stored = check_saved(job, self.identity, wanted_arrays(self.kinds))
            if stored is None:
                return None
            written = job.output.stat()
        except (ValueError, OSError):
            return None
        return finished(job, "embedded" if written.st_mtime_ns >= self._start_ns else "skipped", stored, written.st_size)

    def _kept(self, planned: set[str]) -> list[FileResult]:
        earlier = self._earlier
        if earlier is None:
            return []
        rows = [r for r in report_rows(earlier) if str(r.output) not in planned]
        if not rows:
            return []
        if not same_run_model(earlier, self.identity) or set(earlier.get("kinds") or ()) != set(self.kinds):
            logger.warning("%s: the last report listed %d finished outputs of another model or other kinds that this run "
                           "did not touch; they stay on disk, each recording its model, but are no longer listed in %s "
                           "(use one output folder per model and kinds)", self.out, len(rows), REPORT_NAME)
            return []
        kept = []
        for row in rows:
            size = output_bytes(Path(str(row.output)))
            if size is not None and (row.output_bytes is None or size == row.output_bytes):
                kept.append(FileResult(row.source, "kept", row.output, seconds=row.seconds, source_bytes=row.source_bytes,
                                       source_mtime_ns=row.source_mtime_ns, output_bytes=size))
        return kept

