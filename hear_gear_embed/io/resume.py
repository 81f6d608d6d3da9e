"""The resume rule of both corpus engines: an earlier output is kept only when it holds the arrays a run computes and
was made by the same model (:meth:`~hear_gear_embed.hear.identity.ModelIdentity.same_model`) from the unchanged
source (:func:`is_up_to_date`); the last report indexes outputs verified by their size, so that a second run over
many files checks them with ``stat`` calls instead of opening them (:func:`pending_jobs`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from ..embedding.config import Kind
from ..hear.identity import IDENTITY_KEYS, ModelIdentity
from ..util.npz import NPZ_ERRORS
from .jobs import Job
from .report import REPORT_NAME, FileResult, failed

logger = logging.getLogger(__name__)

RESUME_THREADS = 16
"""Threads that check earlier outputs (:func:`pending_jobs`, and the output folder after a stop): the checks wait on
storage."""


def _saved_metadata(output: Path) -> tuple[set[str], dict[str, np.ndarray]] | None:
    """The array names of an earlier output and its metadata (the identity's keys and the source's size, modification
    time and length), without reading the embeddings; ``None`` (logged) when it cannot be read."""
    try:
        with np.load(output, allow_pickle=False) as saved:
            present = set(saved.files)
            keys = (*IDENTITY_KEYS, "source_bytes", "source_mtime_ns", "source_frames", "source_sample_rate")
            return present, {k: saved[k] for k in keys if k in present}
    except NPZ_ERRORS as err:
        logger.warning("%s: unreadable earlier output (%s); embedding again", output, err)
        return None


def check_saved(job: Job, identity: ModelIdentity, wanted: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The metadata of ``job.output`` when it holds the ``wanted`` arrays, made by this model from the source as it is
    now; ``None`` when it is missing, unreadable, incomplete or of an older source.

    Raises:
        ValueError: it was made with another model (:meth:`~hear_gear_embed.hear.identity.ModelIdentity.same_model`).
        OSError: the source cannot be stat'ed.
    """
    if not job.output.is_file():
        return None
    found = _saved_metadata(job.output)
    if found is None:
        return None
    present, stored = found
    for key, mine, theirs in identity.differences(ModelIdentity.from_dict(stored)):
        raise ValueError(f"{job.output} exists with {key} {theirs!r}, not {mine!r}; pass --overwrite to replace it, or "
                         "choose another output folder")
    stat = job.source.stat()
    if int(stored.get("source_bytes", -1)) != stat.st_size or int(stored.get("source_mtime_ns", -1)) != stat.st_mtime_ns:
        logger.info("%s changed since %s was written; embedding again", job.source, job.output)
        return None
    return stored if all(k in present for k in wanted) else None


def is_up_to_date(job: Job, identity: ModelIdentity, wanted: tuple[str, ...]) -> bool:
    """Whether ``job.output`` holds the wanted arrays for this source file and this model (the resume rule of
    both engines).

    Args:
        job: the input and its output.
        identity: the model's :attr:`~hear_gear_embed.hear.handle.EmbeddingModel.identity`.
        wanted: the arrays the run computes (:func:`~.outputs.wanted_arrays`).

    Raises:
        ValueError: the output exists but was made with another model (variant, weights, precision, or the version of
            another HEAR module), so that neither skipping it nor silently replacing it would be right.
    """
    return check_saved(job, identity, wanted) is not None


def output_bytes(path: Path) -> int | None:
    """The size of ``path`` in bytes, ``None`` when it cannot be stat'ed."""
    try:
        return path.stat().st_size
    except OSError:
        return None


def read_report(out_dir: Path) -> dict[str, Any] | None:
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


def report_rows(report: dict[str, Any]) -> list[FileResult]:
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


def same_run_model(report: dict[str, Any], identity: ModelIdentity) -> bool:
    """Whether a report read back was written by a run of the model of ``identity``."""
    return identity.same_model(ModelIdentity.from_dict(report))


def previous_results(report: dict[str, Any] | None, identity: ModelIdentity, kinds: tuple[Kind, ...]) -> dict[str, FileResult]:
    """The finished files of a run's report read back (:func:`read_report`), by output path, when that run used the
    same model and computed at least ``kinds``: the resume check's index (:func:`pending_jobs`). Empty otherwise."""
    if report is None or not same_run_model(report, identity) or not set(kinds) <= set(report.get("kinds") or ()):
        return {}
    return {str(r.output): r for r in report_rows(report)}


def pending_jobs(jobs: Sequence[Job], identity: ModelIdentity, wanted: tuple[str, ...], overwrite: bool,
                 results: dict[Path, FileResult], previous: dict[str, FileResult] | None = None) -> list[Job]:
    """The jobs left to do, by the resume rule (:func:`is_up_to_date`), checked in :data:`RESUME_THREADS` threads.

    A job that ``previous`` (:func:`previous_results`) lists as done, from the same source whose size and modification
    time are unchanged, with its output still of the size recorded, is skipped without opening the output: three
    ``stat`` calls instead of reading a zip archive, so that a second run over millions of files starts at once. Any
    other output is opened and checked; an unreadable one is embedded again.

    Args:
        jobs: every planned job.
        identity: the model's :attr:`~hear_gear_embed.hear.handle.EmbeddingModel.identity`.
        wanted: the arrays the run computes (:func:`~.outputs.wanted_arrays`).
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
                    and output_bytes(job.output) == known.output_bytes):
                return FileResult(str(job.source), "skipped", str(job.output), seconds=known.seconds,
                                  source_bytes=stat.st_size, source_mtime_ns=stat.st_mtime_ns,
                                  output_bytes=known.output_bytes)
            stored = check_saved(job, identity, wanted)
            return None if stored is None else finished(job, "skipped", stored, output_bytes(job.output))
        except (ValueError, OSError) as err:
            return failed(job.source, err)

    todo = []
    for job, result in zip(jobs, threaded(check, jobs), strict=True):
        if result is None:
            todo.append(job)
        else:
            results[job.source] = result
    return todo


def finished(job: Job, status: str, stored: dict[str, np.ndarray], size: int | None) -> FileResult:
    """The row of a job whose output is up to date (:func:`check_saved` returned its metadata, ``stored``, and
    ``size`` is the output's size in bytes): the source's size and modification time as the output records them, which
    the check found equal to the source's now."""
    seconds = None
    if "source_frames" in stored and "source_sample_rate" in stored and int(stored["source_sample_rate"]) > 0:
        seconds = int(stored["source_frames"]) / int(stored["source_sample_rate"])
    return FileResult(str(job.source), status, str(job.output), seconds=seconds, source_bytes=int(stored["source_bytes"]),
                      source_mtime_ns=int(stored["source_mtime_ns"]), output_bytes=size)


def threaded(check: Callable[[Job], FileResult | None], jobs: Sequence[Job]) -> Iterator[FileResult | None]:
    """``check`` of every job, in order, in :data:`RESUME_THREADS` threads."""
    with ThreadPoolExecutor(RESUME_THREADS) as pool:
        yield from pool.map(check, jobs)
