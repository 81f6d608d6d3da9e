"""Seed spread of the MLP protocol, ours (``hear-gear evaluate``'s ``mlp``) and heareval's, on the same embeddings: the
numbers behind the tolerance with which the harness compares the two (``tests/harness/evaluate_check.py``).

Both sides read the embeddings heareval's embeddings runner wrote for the harness (``.harness/embeddings`` after
``nox -s harness``: ``<module>/<task>/<split>.embeddings.npy`` and its labels), so they train on identical rows in
identical order. Per module, task and seed:

* ``ours``: :func:`hear_gear_embed.evaluation.downstream.run_protocol` (``mlp``) with ``seed``;
* ``heareval``: ``heareval.predictions.task_predictions.task_predictions`` (default grid, 8 points) with torch and
  numpy seeded with ``seed``; Python's ``random`` stays at heareval's 42, which fixes the grid's 8 configurations.

One thread per process (as the harness's jobs run). ``summarise`` turns the results into, per task and metric, each
side's mean and standard deviation over seeds, the standard deviation pooled over modules and sides, and the
tolerance ``4 x sqrt(2) x pooled``.

Run in the harness's environment (heareval installed, this package editable)::

    python benchmarks/evaluate_seeds.py run --side ours --embeddings .harness/embeddings --out /tmp/seeds
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 python benchmarks/evaluate_seeds.py run --side heareval \\
        --embeddings .harness/embeddings --out /tmp/seeds
    python benchmarks/evaluate_seeds.py summarise /tmp/seeds --out benchmarks/results/evaluate-seeds-vm.json
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import pickle
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from machine import environment

from hear_gear_embed.evaluation.downstream import Event, Fold, SplitEmbeddings, TaskInfo, folds_rule, run_protocol

MODULES = ("handcrafted", "lowlevel_cqt", "passt_base")
TASKS = ("tones-multiclass", "timbre-multilabel", "tones-kfold", "events")
SEEDS = (42, 1, 2, 3, 4)
HEADLINE = ("score", "loss")
"""heareval's test keys that are not metrics: the primary metric again, and the loss."""
SUB_SCORES = ("_f_measure", "_precision", "_recall", "_error_rate")
"""Endings of the parts heareval logs beside an event metric's value."""


def _split(folder: Path, name: str, labels: list[str], event: bool) -> SplitEmbeddings:
    """One split of heareval's embedding folder as our rows (heareval's file order)."""
    n_rows, dim = json.loads((folder / f"{name}.embedding-dimensions.json").read_text())
    rows = np.array(np.memmap(folder / f"{name}.embeddings.npy", dtype=np.float32, mode="r", shape=(n_rows, dim)))
    with open(folder / f"{name}.target-labels.pkl", "rb") as handle:
        row_labels = pickle.load(handle)  # written by heareval's runner in this harness
    targets = np.zeros((n_rows, len(labels)), np.float32)
    for i, names in enumerate(row_labels):
        targets[i, [labels.index(str(label)) for label in names]] = 1
    if not event:
        return SplitEmbeddings(rows, targets, tuple(f"{name}-{i}" for i in range(n_rows)), np.arange(n_rows))
    stamps = json.loads((folder / f"{name}.filename-timestamps.json").read_text())
    files = tuple(dict.fromkeys(Path(f).name for f, _ in stamps))
    index = {f: i for i, f in enumerate(files)}
    events = {f: tuple(Event(str(e["label"]), float(e["start"]), float(e["end"])) for e in v)
              for f, v in json.loads((folder / f"{name}.json").read_text()).items()}
    return SplitEmbeddings(rows, targets, files, np.array([index[Path(f).name] for f, _ in stamps]),
                           np.array([t for _, t in stamps], np.float64), events)


def ours(folder: Path, seed: int) -> dict[str, float]:
    """Our MLP's test scores (mean over folds) on heareval's embeddings of one task."""
    meta = json.loads((folder / "task_metadata.json").read_text())
    with open(folder / "labelvocabulary.csv") as handle:
        labels = [row["label"] for row in sorted(csv.DictReader(handle), key=lambda row: int(row["idx"]))]
    task = TaskInfo(meta["task_name"], meta["embedding_type"], meta["prediction_type"], tuple(meta["evaluation"]),
                    tuple(labels))
    event = task.embedding_type == "event"
    rules = ([(("train",), ("valid",), ("test",))] if meta["split_mode"] == "trainvaltest"
             else [(s.train, s.valid, s.test) for s in folds_rule(meta["splits"])])

    def rows(names: tuple[str, ...]) -> SplitEmbeddings:
        parts = [_split(folder, n, labels, event) for n in names]
        return parts[0] if len(parts) == 1 else SplitEmbeddings.concatenate(parts)

    folds = [Fold("|".join(test), rows(train), rows(valid), rows(test)) for train, valid, test in rules]
    return dict(run_protocol("mlp", task, folds, seed=seed).scores)


def heareval(folder: Path, seed: int) -> dict[str, float]:
    """heareval's MLP test scores (mean over folds) on one task, torch and numpy seeded with ``seed``."""
    import heareval.predictions.task_predictions as tp  # the harness's environment only

    seed_everything = tp.seed_everything

    def seeded(_seed: int, workers: bool = False) -> None:
        seed_everything(42, workers=workers)  # Python's random: heareval's grid shuffle
        torch.manual_seed(seed)
        np.random.seed(seed)

    tp.seed_everything = seeded
    with tempfile.TemporaryDirectory(prefix="heareval-seed-") as tmp:
        work = Path(tmp)
        for f in folder.iterdir():
            if f.is_file() and not f.name.startswith(("test.predicted", "prediction", ".done")) and "predictions" not in f.name:
                shutil.copy(f, work / f.name)
        dims = json.loads(next(work.glob("*.embedding-dimensions.json")).read_text())
        cwd = os.getcwd()
        os.chdir(work)  # Lightning writes its logs here
        try:
            tp.task_predictions(embedding_path=work, embedding_size=dims[1], grid_points=8, gpus=None, in_memory=True,
                                deterministic=True, grid="default", logger=logging.getLogger("heareval"))
        finally:
            os.chdir(cwd)
        data = json.loads((work / "test.predicted-scores.json").read_text())
    if "aggregated_scores" in data:
        return {k[5:-5]: v for k, v in data["aggregated_scores"].items() if k.startswith("test_") and k.endswith("_mean")}
    return {k[5:]: v for k, v in data["test"].items() if k.startswith("test_")}


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    score = ours if args.side == "ours" else heareval
    for module in args.modules:
        for task in args.tasks:
            out = args.out / args.side / module / f"{task}.json"
            results = json.loads(out.read_text()) if out.is_file() else {}
            for seed in args.seeds:
                if str(seed) in results:
                    continue
                start = time.perf_counter()
                values = score(args.embeddings / f"hear_gear_embed.hear.{module}" / task, seed)
                results[str(seed)] = {"scores": values, "seconds": round(time.perf_counter() - start, 1)}
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(results, indent=1))
                print(f"{args.side} {module} {task} seed {seed}: {values} ({results[str(seed)]['seconds']} s)", flush=True)


def summarise(args: argparse.Namespace) -> None:
    """Means and spreads per side, pooled standard deviations and tolerances per task and metric (JSON and Markdown)."""
    table: dict = {}
    for path in sorted(args.results.glob("*/*/*.json")):
        side, module, task = path.parts[-3], path.parts[-2], path.stem
        for seed, result in json.loads(path.read_text()).items():
            for metric, value in result["scores"].items():
                if metric in HEADLINE or metric.endswith(SUB_SCORES):
                    continue
                cell = table.setdefault(task, {}).setdefault(metric, {}).setdefault(module, {}).setdefault(side, {})
                cell.setdefault("values", {})[seed] = value
                cell.setdefault("seconds", {})[seed] = result["seconds"]
    lines = ["| task | metric | module | ours: mean ± sd (seeds) | heareval: mean ± sd (seeds) | difference of means |",
             "|---|---|---|---|---|---|"]
    tolerances: dict = {}
    for task, metrics in table.items():
        for metric, modules in metrics.items():
            weighted, dof = 0.0, 0
            for module, sides in modules.items():
                stats = {}
                for side, cell in sides.items():
                    values = [v for v in cell["values"].values() if math.isfinite(v)]
                    cell["mean"] = statistics.fmean(values) if values else math.nan
                    cell["sd"] = statistics.stdev(values) if len(values) > 1 else math.nan
                    if len(values) > 1:
                        weighted += cell["sd"] ** 2 * (len(values) - 1)
                        dof += len(values) - 1
                    stats[side] = f"{cell['mean']:.3f} ± {cell['sd']:.3f} ({len(cell['values'])})"
                difference = sides.get("ours", {}).get("mean", math.nan) - sides.get("heareval", {}).get("mean", math.nan)
                lines.append(f"| {task} | {metric} | {module} | {stats.get('ours', '-')} | {stats.get('heareval', '-')} | "
                             f"{difference:+.3f} |")
            pooled = math.sqrt(weighted / dof) if dof else math.nan
            tolerances.setdefault(task, {})[metric] = {"pooled_sd": pooled, "tolerance": 4 * math.sqrt(2) * pooled}
    lines += ["", "| task | metric | pooled seed sd | 4 x sqrt(2) x sd |", "|---|---|---|---|"]
    lines += [f"| {t} | {m} | {v['pooled_sd']:.4f} | {v['tolerance']:.3f} |" for t, ms in tolerances.items() for m, v in ms.items()]
    payload = {"environment": environment(torch.device("cpu")), "scores": table, "tolerances": tolerances}
    args.out.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run", help="train and score one side for every module, task and seed (resumable)")
    go.add_argument("--side", choices=("ours", "heareval"), required=True)
    go.add_argument("--embeddings", type=Path, required=True, help="heareval's embeddings folder of a harness run")
    go.add_argument("--out", type=Path, required=True)
    go.add_argument("--modules", nargs="+", default=list(MODULES))
    go.add_argument("--tasks", nargs="+", default=list(TASKS))
    go.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    go.set_defaults(func=run)
    summary = sub.add_parser("summarise", help="the table and tolerances from the results of both sides")
    summary.add_argument("results", type=Path)
    summary.add_argument("--out", type=Path, required=True)
    summary.set_defaults(func=summarise)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
