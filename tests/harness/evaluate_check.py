"""``hear-gear evaluate`` beside heareval in the harness: the jobs, and the checks that they agree.

For each module heareval runs on (fp32), the harness also runs ``hear-gear evaluate`` with the three protocols on the
same synthetic tasks (from the audio: its own embeddings, its own cache). Then:

1. its embeddings must equal heareval's, file by file (:func:`compare_embeddings`): the scores below are then
   compared on the same embeddings;
2. its MLP protocol's test scores must agree with heareval's within :data:`TOLERANCE` (:func:`compare_scores`);
3. its metric functions must give heareval's own values on seeded random predictions
   (:func:`tests.harness.metric_oracle.check_metrics_against_heareval`, run by the harness in its process).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from .jobs import Job

PROTOCOLS = ("knn", "linear", "mlp")

EMBEDDING_RTOL = 1e-4
"""Largest difference allowed between an embedding of ours and heareval's, relative to the largest magnitude of
heareval's embedding of that file: both run the same module on the same audio, only batched differently (heareval
batches by its estimate, we by length), which changes float32 rounding in the network's matrix products."""

TOLERANCE: dict[str, dict[str, float]] = {
    "tones-multiclass": {"top1_acc": 0.18},
    "tones-kfold": {"top1_acc": 0.10},
    "timbre-multilabel": {"mAP": 0.14, "aucroc": 0.19},
    "events": {"event_onset_200ms_fms": 0.12, "event_onset_50ms_fms": 0.68, "segment_1s_er": 0.19},
}
"""Largest |ours - heareval| allowed for the MLP protocol's test score, per task and metric: 4 x sqrt(2) x the seed
standard deviation of one score, pooled over both implementations and the three modules
(``benchmarks/evaluate_seeds.py``, results in ``benchmarks/results/evaluate-seeds-vm.json``), rounded up to
hundredths. Neither side can
reproduce the other's random stream (Lightning's order of draws), so each score is one draw of a distribution whose
spread the seeds measure; the difference of two independent draws has sqrt(2) times their standard deviation, and 4 of
those leave a false alarm below 1e-4 per comparison. ``d_prime`` is not compared: it is unbounded, infinite for a
label separated perfectly, and its seed spread on 15 test clips is larger than its range elsewhere. The 50 ms onset
F-measure's tolerance is wide because it is that noisy (pooled seed standard deviation 0.12 on 10 test clips: a 50 ms
collar against 50 ms frames); the 200 ms one is the task's primary metric."""


NOT_COMPARED = ("d_prime",)
"""Metrics not compared (see :data:`TOLERANCE`)."""


def evaluate_jobs(modules: dict[str, Path | None], tasks: list[Path], work: Path, cost: float) -> list[Job]:
    """One ``hear-gear evaluate`` job per module (all ``tasks``, the three protocols), its output and cache in
    ``work/evaluate/<name>``."""
    jobs = []
    for module, model in modules.items():
        name = module.rsplit(".", 1)[-1]
        out = work / "evaluate" / name
        jobs.append(Job(f"evaluate {name}", [
            sys.executable, "-m", "hear_gear_embed", "evaluate", module, *map(str, tasks),
            *(["--model", str(model)] if model else []), "--protocol", ",".join(PROTOCOLS), "--out", str(out),
            "--cache", str(out / "cache"), "--device", "cpu"], work / f"evaluate-{name}.log", cost))
    return jobs


def our_scores(work: Path, name: str) -> dict:
    """``scores.json`` of ``hear-gear evaluate`` for module ``name``."""
    return json.loads((work / "evaluate" / name / "scores.json").read_text())


def compare_embeddings(cache: Path, heareval_task: Path, task: str) -> tuple[float, list[str]]:
    """The largest relative difference between our cached embeddings of ``task`` and heareval's per-file embeddings
    in ``heareval_task`` (``<split>/<file>.embedding.npy``), and failures (a file missing on either side, another
    shape or timestamps, a difference above :data:`EMBEDDING_RTOL`)."""
    folders = sorted(cache.glob(f"*/{task}"))
    if len(folders) != 1:
        return math.inf, [f"{task}: expected one cache folder under {cache}, found {len(folders)}"]
    worst, failures = 0.0, []
    for split_file in sorted(folders[0].glob("*.npz")):
        split = split_file.stem
        with np.load(split_file) as data:
            embeddings, file_index, files = data["embeddings"], data["file_index"], [str(f) for f in data["files"]]
            timestamps = data["timestamps_ms"] if "timestamps_ms" in data else None
        for i, name in enumerate(files):
            theirs_path = heareval_task / split / f"{name}.embedding.npy"
            if not theirs_path.is_file():
                failures.append(f"{task}/{split}/{name}: no heareval embedding")
                continue
            theirs = np.load(theirs_path)
            ours = embeddings[file_index == i]
            ours = ours[0] if theirs.ndim == 1 and len(ours) == 1 else ours
            if ours.shape != theirs.shape:
                failures.append(f"{task}/{split}/{name}: shape {ours.shape} against heareval's {theirs.shape}")
                continue
            if timestamps is not None:
                their_times = np.asarray(json.loads((heareval_task / split / f"{name}.timestamps.json").read_text()))
                if not np.allclose(timestamps[file_index == i], their_times, rtol=0, atol=1e-3):
                    failures.append(f"{task}/{split}/{name}: timestamps differ from heareval's")
            scale = float(np.max(np.abs(theirs))) or 1.0
            difference = float(np.max(np.abs(ours - theirs))) / scale
            worst = max(worst, difference)
            if not difference <= EMBEDDING_RTOL:
                failures.append(f"{task}/{split}/{name}: embeddings differ from heareval's by {difference:.2e} of their "
                                f"scale (allowed {EMBEDDING_RTOL:.0e})")
    return worst, failures


def compare_scores(ours: dict, theirs: dict[str, dict], name: str) -> tuple[list[dict], list[str]]:
    """Rows of the side-by-side table (task, metric, heareval's MLP, ours per protocol, |difference| of the MLPs,
    tolerance) and failures: a task or metric missing, or the MLPs further apart than :data:`TOLERANCE`.

    Args:
        ours: our ``scores.json``.
        theirs: heareval's test scores per task (``test_<metric>`` keys; the mean over folds for k-fold tasks). The
            metrics compared are those of each task's ``evaluation`` list, but :data:`NOT_COMPARED`.
        name: the module, for messages.
    """
    rows, failures = [], []
    for task, heareval in theirs.items():
        protocols = ours["tasks"].get(task)
        if protocols is None:
            failures.append(f"{name} / {task}: no score from hear-gear evaluate")
            continue
        for metric in ours["metrics"][task]:
            if metric in NOT_COMPARED:
                continue
            value = heareval.get(f"test_{metric}")
            tolerance = TOLERANCE.get(task, {}).get(metric)
            mine = {p: protocols.get(p, {}).get(metric) for p in PROTOCOLS}
            if value is None or mine["mlp"] is None:
                failures.append(f"{name} / {task} / {metric}: heareval {value}, our MLP {mine['mlp']}: a score is missing "
                                "or not finite")
                continue
            difference = abs(mine["mlp"] - value)
            rows.append({"module": name, "task": task, "metric": metric, "heareval": value, **mine,
                         "difference": difference, "tolerance": tolerance})
            if tolerance is None:
                failures.append(f"{name} / {task} / {metric}: no agreement tolerance")
            elif not difference <= tolerance:  # also a NaN
                failures.append(f"{name} / {task} / {metric}: our MLP {mine['mlp']:.4f} against heareval's {value:.4f} "
                                f"(|difference| {difference:.4f} > {tolerance})")
    return rows, failures
