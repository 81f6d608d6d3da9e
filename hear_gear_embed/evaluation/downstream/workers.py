"""Where :func:`~.runner.evaluate`'s work after embedding runs: in its own process, or spread over worker processes.

* :func:`executor`: a pool of ``jobs`` worker processes (spawned, each with its share of the CPU's threads), or for
  ``jobs=1`` an executor that runs each job at once in the calling process;
* :func:`job_devices`: the devices jobs take in turn (every GPU of a CUDA run, one job per GPU at a time when
  ``jobs`` equals their count);
* :func:`protocol_job`, :func:`figure_job`: the jobs, plain functions of plain data (a task's folds are sent to the
  worker; nothing is read back from the embeddings cache there).

A protocol seeds its own random state (:func:`~.protocols.run_protocol`), so where it runs changes its scores only
by the rounding of the thread count it runs on.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import torch

from ...util.device import resolve_device
from .data import Fold, SplitEmbeddings, TaskInfo
from .explain import project
from .protocols import ProtocolResult, run_protocol

T = TypeVar("T")


class InlineExecutor(Executor):
    """Runs each job when it is submitted, in the calling process (``jobs=1``): the serial run, with the pool's
    interface; a job's exception is kept in its future, as a pool keeps it."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # kept for the caller, as a worker's exception is
            future.set_exception(err)
        return future


def available_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def executor(jobs: int) -> Executor:
    """``jobs`` worker processes (started with ``spawn``, safe beside threads and CUDA), each running torch on
    ``max(1, cores // jobs)`` threads; for ``jobs=1``, the calling process.

    Raises:
        ValueError: ``jobs`` below 1.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if jobs == 1:
        return InlineExecutor()
    threads = max(1, available_cores() // jobs)
    return ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads,))


def job_devices(device: str | torch.device) -> list[torch.device]:
    """The devices jobs take in turn: every visible GPU when ``device`` is a CUDA device without an index and more
    than one is visible, else ``device`` alone."""
    resolved = resolve_device(device)
    if resolved.type == "cuda" and resolved.index is None and torch.cuda.device_count() > 1:
        return [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    return [resolved]


def protocol_job(protocol: str, task: TaskInfo, folds: Sequence[Fold], seed: int, device: str) -> ProtocolResult:
    """:func:`~.protocols.run_protocol` on plain arguments (the device by name, which pickles everywhere)."""
    return run_protocol(protocol, task, folds, seed=seed, device=device)


def figure_job(rows: SplitEmbeddings, labels: Sequence[str], path: Path, title: str, seed: int) -> Path:
    """A task's projection figure (:func:`~.explain.project`, :func:`~.figures.plot_projection`) written to
    ``path``."""
    from .figures import plot_projection

    return plot_projection(project(rows, labels, seed=seed), path, title)
