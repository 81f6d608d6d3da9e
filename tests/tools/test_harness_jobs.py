"""The harness's job pool (``tests/harness/jobs.py``): order, dependencies, failures, threads per job."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.harness.jobs import Job, run_jobs


def _job(tmp_path: Path, name: str, code: str, cost: float = 1.0, after: tuple[str, ...] = ()) -> Job:
    return Job(name, [sys.executable, "-c", code], tmp_path / f"{name}.log", cost, after)


def test_dependencies_failures_and_threads(tmp_path: Path) -> None:
    started: list[str] = []
    jobs = [
        _job(tmp_path, "long", "import time; time.sleep(0.5)", cost=10),
        _job(tmp_path, "fails", "raise SystemExit(3)"),
        _job(tmp_path, "after_failure", "print('never')", after=("fails",)),
        _job(tmp_path, "after_skipped", "print('never')", after=("after_failure",)),
        _job(tmp_path, "after_long", "import os; print(os.environ['OMP_NUM_THREADS'])", after=("long",)),
        Job("missing_program", [str(tmp_path / "no-such-program")], tmp_path / "missing.log"),
    ]
    run_jobs(jobs, tmp_path, dict(os.environ), workers=2, on_done=lambda job: started.append(job.name))
    codes = {job.name: job.code for job in jobs}
    assert codes == {"long": 0, "fails": 3, "after_failure": None, "after_skipped": None, "after_long": 0,
                     "missing_program": 127}
    assert started.index("long") < started.index("after_long")
    threads = max(1, (os.cpu_count() or 1) // 2)
    assert (tmp_path / "after_long.log").read_text().strip() == str(threads)
    assert "cannot run" in (tmp_path / "missing.log").read_text()
    assert jobs[0].seconds >= 0.5


def test_longest_chain_starts_first(tmp_path: Path) -> None:
    order: list[str] = []
    jobs = [_job(tmp_path, "short", "pass", cost=1), _job(tmp_path, "head", "pass", cost=1),
            _job(tmp_path, "tail", "pass", cost=5, after=("head",))]
    run_jobs(jobs, tmp_path, dict(os.environ), workers=1, on_done=lambda job: order.append(job.name))
    assert order == ["head", "tail", "short"]


@pytest.mark.parametrize(("jobs", "match"), [
    ([("a", ("b",)), ("b", ("a",))], "cycle: a -> b -> a"),
    ([("a", ("nope",))], r"unknown jobs \['nope'\]"),
    ([("a", ()), ("a", ())], "unique"),
])
def test_bad_job_lists_are_refused(tmp_path: Path, jobs: list[tuple[str, tuple[str, ...]]], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        run_jobs([_job(tmp_path, name, "pass", after=after) for name, after in jobs], tmp_path, {}, workers=1)
    with pytest.raises(ValueError, match="workers"):
        run_jobs([], tmp_path, {}, workers=0)
