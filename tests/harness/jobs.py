"""Run the harness's processes side by side: a pool of workers over jobs that may wait for other jobs.

The harness runs about 60 processes (every ``hear-validator`` run and heareval runner), and each spends its
first seconds importing TensorFlow and torch on one core (9 s for ``hear-validator`` on a weight-free
variant). Run one after another, they leave the other cores idle that long. :func:`run_jobs` runs up to
``workers`` of them at once and gives each ``cores // workers`` threads (``OMP_NUM_THREADS``), so that the
jobs that do use every core (PaSST inference, heareval's training) share the machine instead of
oversubscribing it. A job starts once the jobs it waits for have succeeded; among the jobs ready to start,
the one heading the longest chain of expected work goes first. Measured on 2 cores (AMD EPYC): validator and
heareval jobs that took about 1260 s one after another (the times logged by a sequential run) took 1054 s
side by side."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Job:
    """One process of the harness.

    Attributes:
        name: unique name, used in logs and by other jobs' ``after``.
        cmd: the command line.
        log: file receiving the command's stdout and stderr.
        cost: expected seconds on the whole machine; only the order of jobs depends on it.
        after: names of the jobs that must have succeeded before this one starts.
        code: exit status once run; ``None`` if it has not run (not yet, or a job it waits for failed).
        seconds: wall-clock seconds it ran.
    """

    name: str
    cmd: list[str]
    log: Path
    cost: float = 1.0
    after: tuple[str, ...] = ()
    code: int | None = None
    seconds: float = 0.0


def _chain_costs(jobs: dict[str, Job]) -> dict[str, float]:
    """Per job, its cost plus the largest chain cost of the jobs waiting for it."""
    waiting: dict[str, list[str]] = {name: [] for name in jobs}
    for job in jobs.values():
        for dependency in job.after:
            waiting[dependency].append(job.name)
    chain: dict[str, float] = {}

    def cost(name: str) -> float:
        if name not in chain:
            chain[name] = jobs[name].cost + max((cost(n) for n in waiting[name]), default=0.0)
        return chain[name]

    for name in jobs:
        cost(name)
    return chain


def run_jobs(
    jobs: list[Job], cwd: Path, env: dict[str, str], workers: int,
    on_done: Callable[[Job], None] = lambda job: None,
) -> None:
    """Run ``jobs`` (filling in ``code`` and ``seconds``), at most ``workers`` at a time.

    A job whose dependency failed (or was itself not run) is not run. ``on_done`` is called from a worker thread
    after each job that ran.

    Raises:
        ValueError: duplicate names, unknown dependencies, a dependency cycle, or ``workers < 1``.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    by_name = {job.name: job for job in jobs}
    if len(by_name) != len(jobs):
        raise ValueError("job names must be unique")
    unknown = sorted({d for job in jobs for d in job.after} - set(by_name))
    if unknown:
        raise ValueError(f"jobs wait for unknown jobs {unknown}")
    _check_acyclic(by_name)
    chain = _chain_costs(by_name)
    threads = max(1, (os.cpu_count() or 1) // workers)
    job_env = dict(env, OMP_NUM_THREADS=str(threads))
    pending = sorted(jobs, key=lambda job: -chain[job.name])
    finished: set[str] = set()
    errors: list[BaseException] = []
    lock = threading.Condition()

    def next_job() -> Job | None:
        """The next job to run, waiting while every pending job waits for a running one; ``None`` when none is left."""
        with lock:
            while pending:
                while blocked := [j for j in pending if any(d in finished and by_name[d].code != 0 for d in j.after)]:
                    for job in blocked:  # a job it waits for failed or did not run: neither does it
                        pending.remove(job)
                        finished.add(job.name)
                job = next((j for j in pending if all(d in finished for d in j.after)), None)
                if job is not None:
                    pending.remove(job)
                    return job
                if pending:
                    lock.wait()
            lock.notify_all()
            return None

    def work() -> None:
        while (job := next_job()) is not None:
            start = time.time()
            try:
                with job.log.open("w") as handle:
                    try:
                        job.code = subprocess.run(job.cmd, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                                                  env=job_env).returncode
                    except OSError as err:  # e.g. the program does not exist
                        handle.write(f"harness: cannot run {job.cmd[0]}: {err}\n")
                        job.code = 127
                job.seconds = time.time() - start
                on_done(job)
            except BaseException as err:  # noqa: BLE001 (re-raised in the caller's thread below)
                errors.append(err)
            finally:
                with lock:
                    finished.add(job.name)
                    lock.notify_all()

    pool = [threading.Thread(target=work, name=f"harness-worker-{i}") for i in range(workers)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]


def _check_acyclic(jobs: dict[str, Job]) -> None:
    state: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise ValueError(f"jobs wait for each other in a cycle: {' -> '.join((*path, name))}")
        state[name] = 1
        for dependency in jobs[name].after:
            visit(dependency, (*path, name))
        state[name] = 2

    for name in jobs:
        visit(name, ())
