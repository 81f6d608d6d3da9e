"""The worked example of docs/evaluate.md, in one command: ``hear-gear evaluate`` on the harness's four synthetic
tasks (:mod:`tests.harness.tasks`, 32 kHz, seed 0) with what the scores are explained by.

1. ``handcrafted`` with the three protocols, serially and with ``--jobs 2`` (timed; the scores must agree within
   :data:`JOBS_TOLERANCE`), with the dispersion of every split and a projection figure per task;
2. ``lowlevel_mel`` likewise, then ``evaluate-compare`` of the two;
3. seed 003's ablation in small: the grid ``passt[levels=M|M+H|L+M,rf=160|160+640]`` (kNN and the linear probe) on a
   random checkpoint in the official layout (the official weights are not reachable offline: the numbers show the
   machinery, not PaSST's quality).

The synthetic tasks are no HEAR 2021 tasks, so no score is normalised here (docs/evaluate.md, "Normalised scores").
Writes ``summary.json`` (timings, CPU) and copies the Markdown, JSON and figures that the docs show into ``--results``::

    python benchmarks/evaluate_example.py --work /tmp/evaluate-example --results docs/gallery/evaluate
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.machine import environment  # noqa: E402
from hear_gear_embed.cli import main as hear_gear  # noqa: E402
from hear_gear_embed.registry import get_variant  # noqa: E402
from tests.checkpoints import random_official_checkpoint  # noqa: E402
from tests.harness.tasks import make_tasks  # noqa: E402

GRID = "passt[levels=M|M+H|L+M,rf=160|160+640]"
RATE = 32000


JOBS_TOLERANCE = 1e-6
"""Largest score difference allowed between ``--jobs 2`` and a serial run: a worker runs torch on fewer threads, which
changes the rounding of matrix products, nothing else."""


def _largest_difference(a: Any, b: Any) -> float:
    """The largest absolute difference between the numbers of two score trees of one shape (``inf`` where the shapes,
    or a number and a ``null``, differ)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return max((_largest_difference(a[k], b[k]) for k in a), default=0.0) if a.keys() == b.keys() else math.inf
    if isinstance(a, float | int) and isinstance(b, float | int):
        return abs(a - b)
    return 0.0 if a == b else math.inf


def _run(argv: list[str]) -> float:
    """``hear-gear`` with ``argv`` in this process: its wall time (s); a failure stops the example."""
    start = time.perf_counter()
    status = hear_gear(argv)
    if status != 0:
        raise SystemExit(f"hear-gear {' '.join(argv)} exited {status}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (tasks, checkpoint, runs)")
    parser.add_argument("--results", type=Path, required=True, help="where the shown outputs are copied")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    tasks_root = args.work / "tasks"
    if not tasks_root.is_dir():
        make_tasks(tasks_root, (RATE,), seed=0)
    tasks = [str(p) for p in sorted(tasks_root.iterdir())]
    checkpoint = random_official_checkpoint(get_variant("passt_base").net, args.work)
    runs = args.work / "runs"
    shutil.rmtree(runs, ignore_errors=True)

    seconds: dict[str, Any] = {}
    for module in ("handcrafted", "lowlevel_mel"):
        seconds[f"{module} serial"] = _run(["evaluate", module, *tasks, "--out", str(runs / module), "--no-cache"])
    seconds["handcrafted --jobs 2"] = _run(["evaluate", "handcrafted", *tasks, "--out", str(runs / "handcrafted-jobs2"),
                                            "--no-cache", "--jobs", "2"])
    serial, parallel = (json.loads((runs / name / "scores.json").read_text())
                        for name in ("handcrafted", "handcrafted-jobs2"))
    difference = _largest_difference(serial["tasks"], parallel["tasks"])
    if difference > JOBS_TOLERANCE:
        raise SystemExit(f"--jobs 2 changed a score by {difference:.3g}, more than {JOBS_TOLERANCE}")
    seconds["evaluate-compare"] = _run(["evaluate-compare", str(runs / "handcrafted"), str(runs / "lowlevel_mel"),
                                        "--out", str(runs / "compare")])
    seconds["grid"] = _run(["evaluate", GRID, *tasks, "--out", str(runs / "grid"), "--model", str(checkpoint),
                            "--protocol", "knn,linear"])

    out = args.results
    shutil.rmtree(out, ignore_errors=True)
    (out / "handcrafted" / "figures").mkdir(parents=True)
    for name in ("scores.md", "scores.json"):
        shutil.copy(runs / "handcrafted" / name, out / "handcrafted" / name)
    for figure in (runs / "handcrafted" / "figures").iterdir():
        shutil.copy(figure, out / "handcrafted" / "figures" / figure.name)
    for run in ("compare", "grid"):
        (out / run).mkdir()
        for name in ("comparison.md", "comparison.json", "comparison.png"):
            shutil.copy(runs / run / name, out / run / name)
    summary = {"machine": environment(torch.device("cpu")), "grid": GRID, "seconds": seconds,
               "jobs_2_largest_score_difference": difference}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
