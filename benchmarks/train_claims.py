"""The evidence behind docs/training.md, measured in one command: what ``hear-gear train`` does to a network.

1. **BECR (seed 000)**: on each trainable scene task (the harness's synthetic ``tones-multiclass``,
   ``timbre-multilabel`` and ``tones-kfold`` fold 0, and ``speech-language``, real speech made offline with
   espeak-ng, :mod:`speech_task`), the variant is trained twice from the same seeded random weights, with BECR
   (lambda 0.05, epsilon 0.7) and with lambda 0, everything else equal. Per run: the Gini index of the held-out (test)
   embeddings of ``best.pt``, computed here from the scene embeddings of the variant's HEAR module loaded with
   ``load_model(best.pt)`` (and, as a cross-check, the trainer's own value, ``TrainResult.test_gini``); the test score of the
   task's first metric; the BECR term over training (first and last step; for lambda 0 the term the run would have
   paid, from its logged batch Gini); the wall time per epoch.
2. **Fine-tuning helps**: ``hear-gear evaluate --protocol knn,linear`` (in this process) of the network before
   fine-tuning (the ``--init`` weights saved with ``random_embedder(variant, seed).save_weights``) and of both
   ``best.pt`` on each task's test split (for ``tones-kfold``, a trainvaltest view of fold 0 made with
   ``hear-gear task make``, so that no clip a network trained on is scored).
3. **passt_cqt made usable**: ``passt_cqt`` fine-tuned from seeded random weights (``init="random"``) and through
   seed 000's initialisation path (``init="official"``: the Mel transformer of the official checkpoint behind the
   CQT frontend; offline, a random full-size checkpoint in the official layout is put in a temporary weights cache,
   ``$HEAR_GEAR_EMBED_HOME``), then the real ``hear-validator`` (2021.0.6) on each ``best.pt`` in a separate
   Python that has it (``--validator-python``; see ../shared/reference/hear-harness-py311.md).

Everything trains on the CPU unless ``--device`` says otherwise. Wall times are whatever the machine gave: record
whether it was shared. ``--quick`` runs the same code on the ``tiny_test`` geometry (and a tiny CQT variant) for one
epoch, without the validator, for the tool's test (tests/tools/test_train_claims.py)::

    python benchmarks/train_claims.py --out /tmp/claims \\
        --validator-python /tmp/harness-venv/bin/python \\
        --json benchmarks/results/train-claims-vm.json --md benchmarks/results/train-claims-vm.md
    python benchmarks/train_claims.py --out /tmp/claims-quick --quick
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.machine import environment as machine_environment  # noqa: E402
from benchmarks.speech_task import LANGUAGES, TASK_NAME, espeak, make_speech_task  # noqa: E402
from hear_gear_embed import __version__  # noqa: E402
from hear_gear_embed.cli import main as hear_gear  # noqa: E402
from hear_gear_embed.embedding.config import VariantConfig, WindowBlock  # noqa: E402
from hear_gear_embed.embedding.factory import random_embedder  # noqa: E402
from hear_gear_embed.evaluation.dispersion import dispersion_metrics  # noqa: E402
from hear_gear_embed.evaluation.downstream.tasks import load_task  # noqa: E402
from hear_gear_embed.model import random_passt  # noqa: E402
from hear_gear_embed.model.hub import HOME_ENV  # noqa: E402
from hear_gear_embed.registry import CQT_PASST_GRID, get_variant, is_variant, register_variant  # noqa: E402
from hear_gear_embed.training.config import Becr, TrainConfig  # noqa: E402
from hear_gear_embed.training.data import load_task_data  # noqa: E402
from hear_gear_embed.training.model import official_weights_for  # noqa: E402
from hear_gear_embed.training.trainer import RECORD_KEY, train  # noqa: E402
from hear_gear_embed.util.device import resolve_device  # noqa: E402
from tests.checkpoints import save_official  # noqa: E402
from tests.harness.tasks import TaskSpec, describe_tasks, write_task  # noqa: E402

SYNTHETIC = ("tones-multiclass", "timbre-multilabel", "tones-kfold")
"""The harness's trainable scene tasks (its ``events`` task is an event task: training refuses it)."""
TASKS = (*SYNTHETIC, TASK_NAME)
SAMPLE_RATE = 32000
QUICK_CQT = "train_claims_tiny_cqt"
"""``--quick``'s CQT variant: ``passt_cqt``'s frontend and levels on ``tiny_test``'s network (no official record has
that geometry, so the official-init demonstration needs the full-size ``passt_cqt`` and is left out)."""
LOOKS_GOOD = "Looks good!"
"""hear-validator's last line when a module passes."""
EPSILON_DEFAULT = Becr().epsilon
"""The epsilon against which a run without BECR has its would-be BECR term computed."""


# -- tasks ---------------------------------------------------------------------------------------------------------


def make_tasks(root: Path, names: Sequence[str], *, speech_per_class: int, speech_duration: float,
               speech_languages: Sequence[str], seed: int, max_clips: int | None = None
               ) -> tuple[dict[str, Path], dict[str, str]]:
    """The task folders ``names`` under ``root`` (the harness's, each split cut to its first ``max_clips`` clips when
    given, and the espeak one), and the tasks left out, with the reason."""
    folders: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    specs = {spec.name: spec for spec in describe_tasks(seed)}
    for name in names:
        if name in SYNTHETIC:
            spec = specs[name]
            if max_clips is not None:
                spec = TaskSpec(spec.metadata, spec.vocabulary, {k: v[:max_clips] for k, v in spec.splits.items()})
            folders[name] = write_task(spec, root, (SAMPLE_RATE,))
        elif name == TASK_NAME:
            if espeak() is None:
                skipped[name] = "espeak-ng is not on PATH (Debian: apt-get install espeak-ng)"
                continue
            folders[name] = make_speech_task(root / name, per_class=speech_per_class, languages=speech_languages,
                                             duration=speech_duration, seed=seed, sources=root / f"{name}-sources")
        else:
            raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    return folders, skipped


def trainvaltest_view(task_dir: Path, fold: int, out: Path) -> Path:
    """A trainvaltest task holding fold ``fold`` of the k-fold task ``task_dir`` (its train, valid and test splits),
    made with ``hear-gear task make`` from a table of the fold's files: what ``hear-gear evaluate`` scores without
    putting a clip the network trained on into a test split."""
    task = load_task(task_dir)
    assignment = task.data_splits[fold]
    table = out.parent / f"{out.name}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "split"])
        for role, names in (("train", assignment.train), ("valid", assignment.valid), ("test", assignment.test)):
            for name in names:
                labels = task.split(name).labels
                assert labels is not None  # a scene task
                for path in task.audio_paths(name, SAMPLE_RATE):
                    writer.writerow([str(path), ";".join(labels[path.name]), role])
    command = ["task", "make", str(table), "--out", str(out), "--name", out.name, "--overwrite"]
    if task.sample_duration_s is not None:
        command += ["--duration", str(task.sample_duration_s)]
    if task.info.prediction_type == "multilabel":
        command.append("--multilabel")
    if hear_gear(command) != 0:
        raise RuntimeError(f"hear-gear {' '.join(command)} failed")
    return out


# -- measuring a trained network -------------------------------------------------------------------------------------


def test_dispersion(variant: str, checkpoint: Path, task_dir: Path, fold: int, device: str) -> dict[str, Any]:
    """Gini index and top-2 eigenvalue share of the scene embeddings of the test clips of ``fold``, from the variant's
    HEAR module loaded with ``checkpoint`` (clips cropped or padded as training reads them)."""
    module = importlib.import_module(f"hear_gear_embed.hear.{variant}")
    model = module.load_model(str(checkpoint), device=device)
    config = get_variant(variant)
    clips = load_task_data(task_dir, SAMPLE_RATE, fold=fold, default_samples=config.scene_window_samples).sets["test"]
    audio = torch.from_numpy(np.stack([clips.clip(i) for i in range(len(clips))])).to(model.device)
    with torch.inference_mode():
        embeddings = module.get_scene_embeddings(audio, model).float().cpu()
    metrics = dispersion_metrics(embeddings.double(), n_clusters=min(8, len(clips) - 1))
    return {"n_clips": len(clips), "dim": int(embeddings.shape[1]), "gini": metrics.gini_index,
            "gini_max": 1 - 1 / min(len(clips) - 1, int(embeddings.shape[1])), "top2_ratio": metrics.top2_ratio}


def read_log(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r["kind"] == "step"], [r for r in rows if r["kind"] == "epoch"]


def becr_course(steps: list[dict[str, Any]], epochs: list[dict[str, Any]], becr: Becr | None,
                epsilon: float) -> dict[str, Any]:
    """The BECR term, the batch Gini and BECR's share of the loss at the first and last step, and the validation Gini
    per epoch; for a run without BECR, the term it would have paid (``max(0, epsilon - G)^2`` of its batch Gini)."""
    def term(row: dict[str, Any]) -> float:
        return row["becr"] if row["becr"] is not None else max(0.0, epsilon - row["gini"]) ** 2

    first, last = steps[0], steps[-1]
    course: dict[str, Any] = {
        "becr_term": {"first": term(first), "last": term(last), "mean_last_epoch": float(np.mean(
            [term(r) for r in steps if r["epoch"] == last["epoch"]]))},
        "becr_term_source": "logged (in the loss)" if becr is not None else "from the logged batch Gini (not in the loss)",
        "batch_gini": {"first": first["gini"], "last": last["gini"]},
        "task_loss": {"first": first["task_loss"], "last": last["task_loss"]},
        "valid_gini_per_epoch": [r["valid_gini"] for r in epochs],
        "valid_per_epoch": [r["valid"] for r in epochs],
    }
    if becr is not None:
        course["becr_share_of_loss"] = {k: becr.lam * term(r) / r["loss"] if r["loss"] else None
                                        for k, r in (("first", first), ("last", last))}
    return course


# -- the runs ------------------------------------------------------------------------------------------------------


def train_run(variant: str, task_dir: Path, out: Path, config: TrainConfig, *, init: str, fold: int, device: str,
              keep_last: bool) -> dict[str, Any]:
    """One training run, timed, and what its log and checkpoint say."""
    started, cpu_started = time.perf_counter(), time.process_time()
    result = train(variant, task_dir, out, config, init=init, fold=fold, device=device, progress=False)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    steps, epochs = read_log(out / "train-log.jsonl")
    record = torch.load(result.best, map_location="cpu", weights_only=True)[RECORD_KEY]
    if not keep_last:
        result.last.unlink(missing_ok=True)  # ~1 GB for a full-size network with AdamW's state
    step_seconds = [b["seconds"] - a for a, b in zip([0.0] + [e["seconds"] for e in epochs], epochs, strict=False)]
    return {
        "out": str(out),
        "best": str(result.best),
        "best_epoch": result.best_epoch,
        "valid": result.valid,
        "test": result.test,
        "metric": record["task"]["metric"],
        "init": record["init"],
        "steps": result.steps,
        "wall_s": wall,
        "wall_s_per_epoch": wall / config.epochs,
        "cpu_s": cpu,
        "cpu_s_per_epoch": cpu / config.epochs,
        "train_step_s_per_epoch": step_seconds,
        "clips_per_s": float(np.mean([r["samples_per_s"] for r in steps])),
        "trainer_test_gini": result.test_gini,
        **becr_course(steps, epochs, config.becr, config.becr.epsilon if config.becr else EPSILON_DEFAULT),
    }



def evaluate(module: str, task_dir: Path, checkpoint: Path, out: Path, protocols: str, device: str) -> dict[str, Any]:
    """``hear-gear evaluate MODULE TASK_DIR --model CHECKPOINT --protocol PROTOCOLS`` in this process; its scores."""
    started = time.perf_counter()
    status = hear_gear(["evaluate", module, str(task_dir), "--model", str(checkpoint), "--protocol", protocols,
                        "--out", str(out), "--device", device])
    scores = json.loads((out / "scores.json").read_text())
    return {"status": status, "seconds": time.perf_counter() - started,
            "scores": next(iter(scores["tasks"].values()), {}), "failed": scores.get("failed", {})}


@contextmanager
def weights_cache(folder: Path) -> Any:
    """``$HEAR_GEAR_EMBED_HOME`` set to ``folder`` inside the block (the official checkpoints' cache)."""
    before = os.environ.get(HOME_ENV)
    os.environ[HOME_ENV] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop(HOME_ENV, None)
        else:
            os.environ[HOME_ENV] = before


def fake_official_cache(variant: str, folder: Path, seed: int) -> dict[str, Any]:
    """Put a seeded random full-size checkpoint in the official (Mel PaSST) layout into ``folder`` under the file name
    of the official checkpoint that ``init="official"`` reads for ``variant``."""
    record, note = official_weights_for(get_variant(variant))
    target = save_official(random_passt(record.net, seed), folder / record.filename)
    return {"record": record.name, "file": str(target), "bytes": target.stat().st_size, "note": note,
            "stands_for": record.url}


def run_validator(python: str, variant: str, checkpoint: Path, device: str, timeout: float) -> dict[str, Any]:
    """The real ``hear-validator`` on ``hear_gear_embed.hear.<variant>`` with ``checkpoint``, in ``python`` (which has
    hearvalidator 2021.0.6; this checkout first on its path)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    command = [python, "-m", "hearvalidator.validate", f"hear_gear_embed.hear.{variant}", "--model", str(checkpoint),
               "-d", device]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="validator-") as cwd:
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"command": command, "returncode": None, "verdict": f"timed out after {timeout:.0f} s", "passed": False}
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    verdict = lines[-1] if lines else (done.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"command": " ".join(command[1:]), "returncode": done.returncode, "verdict": verdict,
            "passed": done.returncode == 0 and verdict == LOOKS_GOOD, "seconds": time.perf_counter() - started,
            "stdout_tail": lines[-6:], "stderr_tail": done.stderr.strip().splitlines()[-4:] if done.returncode else []}


def max_abs_difference(a: Path, b: Path) -> float:
    """The largest absolute difference between the network weights of two checkpoints written by the trainer."""
    left, right = (torch.load(p, map_location="cpu", weights_only=True)["state_dict"] for p in (a, b))
    if left.keys() != right.keys():
        return math.inf
    return max((float((left[k].double() - right[k].double()).abs().max()) if left[k].numel() else 0.0) for k in left)


def register_quick_cqt() -> str:
    """``--quick``'s CQT variant (:data:`QUICK_CQT`), registered once."""
    if not is_variant(QUICK_CQT):
        cqt, tiny = get_variant("passt_cqt"), get_variant("tiny_test")
        register_variant(VariantConfig(
            name=QUICK_CQT, description="passt_cqt's CQT frontend and M+H levels on tiny_test's network (benchmark)",
            frontend=CQT_PASST_GRID, net=tiny.net, timestamp_blocks=(WindowBlock(160, cqt.scene_levels),),
            scene_levels=cqt.scene_levels, published=False,
        ))
    return QUICK_CQT


# -- the report ------------------------------------------------------------------------------------------------------


def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def becr_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| task | loss | best epoch | test score | test Gini (ceiling) | top-2 share | BECR term first -> last | "
        "batch Gini first -> last | wall s / epoch | CPU s / epoch |",
        "|---|---|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for task, entry in results["becr"]["tasks"].items():
        for key, label in (("becr", f"BECR {entry['becr_label']}"), ("plain", "lambda 0")):
            run = entry[key]
            metric = run["metric"]
            term = run["becr_term"]
            starred = "" if key == "becr" else "*"
            lines.append(
                f"| {task} | {label} | {run['best_epoch']} | {metric} {_f(run['test'][metric])} | "
                f"{_f(run['dispersion']['gini'])} ({_f(run['dispersion']['gini_max'])}) | {_f(run['dispersion']['top2_ratio'])} | "
                f"{_f(term['first'], 4)}{starred} -> {_f(term['last'], 4)}{starred} | "
                f"{_f(run['batch_gini']['first'])} -> {_f(run['batch_gini']['last'])} | {run['wall_s_per_epoch']:.1f} | "
                f"{run['cpu_s_per_epoch']:.1f} |")
        init = entry["init_dispersion"]
        lines.append(f"| {task} | before training (init) | | | {_f(init['gini'])} ({_f(init['gini_max'])}) | "
                     f"{_f(init['top2_ratio'])} | | | | |")
    return lines


def evaluate_table(results: dict[str, Any]) -> list[str]:
    protocols = results["evaluate"]["protocols"].split(",")
    lines = ["| task | metric | network | " + " | ".join(protocols) + " |", "|---|---|---|" + "---:|" * len(protocols)]
    for task, entry in results["evaluate"]["tasks"].items():
        metric = entry["metric"]
        for key, label in (("init", "before fine-tuning (init)"), ("becr", "fine-tuned, BECR"),
                           ("plain", "fine-tuned, lambda 0")):
            scores = entry[key]["scores"]
            lines.append(f"| {task} | {metric} | {label} | "
                         + " | ".join(_f(scores.get(p, {}).get(metric)) for p in protocols) + " |")
    return lines


def cqt_table(results: dict[str, Any]) -> list[str]:
    lines = ["| init | weights started from | best epoch | test score | test Gini | wall s / epoch | CPU s / epoch | "
             "hear-validator |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for name, run in results["cqt"]["runs"].items():
        if "skipped" in run:
            lines.append(f"| {name} | skipped: {run['skipped']} | | | | | | |")
            continue
        metric = run["metric"]
        detail = run["init"]["note"] or run["init"]["source"] or ""
        source = f"{run['init']['kind']}: {detail}" if detail else run["init"]["kind"]
        validator = run.get("validator") or {}
        verdict = validator.get("verdict") or validator.get("skipped", "not run")
        lines.append(f"| {name} | {source} | {run['best_epoch']} | {metric} {_f(run['test'][metric])} | "
                     f"{_f(run['dispersion']['gini'])} | {run['wall_s_per_epoch']:.1f} | {run['cpu_s_per_epoch']:.1f} | "
                     f"{verdict} |")
    official = results["cqt"]["runs"].get("official", {})
    if "stand_in_official_checkpoint" in official:
        stand_in = official["stand_in_official_checkpoint"]
        lines += ["", f"The stand-in for `{stand_in['record']}` ({stand_in['bytes'] / 2**20:.0f} MiB, official key layout) "
                  f"was drawn with seed {results['cqt']['stand_in_seed']}."]
        if "max_abs_difference_from_random_init_run" in official:
            lines[-1] += (" Largest absolute difference between the weights of its `best.pt` and the random-init run's: "
                          f"{official['max_abs_difference_from_random_init_run']:.3g}"
                          + (" (the same seed: the official path loaded the file's transformer unchanged)."
                             if results["cqt"]["stand_in_seed"] == results["settings"]["seed"] else "."))
    return lines


def summary_lines(results: dict[str, Any]) -> list[str]:
    tasks = results["becr"]["tasks"]
    higher = [t for t, e in tasks.items() if e["becr"]["dispersion"]["gini"] > e["plain"]["dispersion"]["gini"]]
    kept = []
    for task, entry in tasks.items():
        metric = entry["becr"]["metric"]
        if entry["becr"]["test"][metric] >= entry["plain"]["test"][metric]:
            kept.append(task)
    return [
        f"- BECR gave a higher test Gini index than lambda 0 on {len(higher)} of {len(tasks)} tasks"
        + (f" ({', '.join(higher)})" if higher else "") + ".",
        f"- BECR's test score (first metric) was at least lambda 0's on {len(kept)} of {len(tasks)} tasks"
        + (f" ({', '.join(kept)})" if kept else "") + ".",
    ]


def evaluate_summary(results: dict[str, Any]) -> list[str]:
    """How often a fine-tuned network scored above the network before it, per protocol (first metric)."""
    lines = []
    tasks = results["evaluate"]["tasks"]
    for protocol in results["evaluate"]["protocols"].split(","):
        for key, label in (("becr", "with BECR"), ("plain", "with lambda 0")):
            above, pairs = [], 0
            for task, entry in tasks.items():
                new, old = (entry[k]["scores"].get(protocol, {}).get(entry["metric"]) for k in (key, "init"))
                if new is None or old is None:
                    continue
                pairs += 1
                if new > old:
                    above.append(task)
            lines.append(f"- {protocol}: fine-tuned {label} scored above the network before fine-tuning on {len(above)} of "
                         f"{pairs} tasks" + (f" ({', '.join(above)})" if above else "") + ".")
    return lines


def write_markdown(results: dict[str, Any], path: Path) -> None:
    env, s = results["environment"], results["settings"]
    lines = [
        "# Training claims, measured",
        "",
        f"`{results['command']}`",
        "",
        f"- {env['date']}, {env['cpu']} ({env['cores']} cores, {env['threads']} torch threads), Python {env['python']}, "
        f"torch {env['torch']}, hear_gear_embed {results['version']}, device {env['device']}; the machine was "
        f"{results['machine_note']}: wall times are indicative only",
        f"- network `{s['variant']}` from seeded random weights (seed {s['seed']}; official weights are not reachable "
        f"offline), all of it trained (freeze_blocks {s['freeze_blocks']}); {s['epochs']} epochs, batch {s['batch_size']}, "
        f"AdamW lr {s['lr']} (network) / {s['head_lr']} (head), weight decay {s['weight_decay']}, warm-up "
        f"{s['warmup']}, {s['schedule']} schedule, no Patchout, no mixup; BECR lambda {s['becr'][0]}, epsilon "
        f"{s['becr'][1]} against lambda 0 with the same seed",
        f"- total wall time {results['wall_s'] / 60:.1f} min",
        "",
        "## BECR against lambda 0 (seed 000's claim)",
        "",
        "Test Gini: the Gini index of the covariance spectrum of the test clips' scene embeddings of `best.pt` "
        "(through the HEAR module), with its ceiling for N test clips, 1 - 1/(N - 1); top-2 share: the variance in "
        "the two largest eigenvalues (seed 000's Table 4). BECR term: `max(0, epsilon - G)^2` "
        "of the training batch (* for lambda 0: what the run would have paid, from its logged batch Gini; not in its "
        "loss). Wall and CPU time (all threads of this process) per epoch include validation and checkpoint writes, and "
        "the first run also the process's one-time warm-up; on a shared machine both vary with the other jobs (CPU time "
        "too: waiting threads spin), so compare runs by them only roughly.",
        "",
        *becr_table(results),
        "",
        *summary_lines(results),
        "",
        "## Fine-tuning against the network before it (hear-gear evaluate, test split)",
        "",
        f"Protocols {results['evaluate']['protocols']} of `hear-gear evaluate` on each task's test split "
        "(tones-kfold: a trainvaltest view of fold 0, the fold trained on).",
        "",
        *evaluate_table(results),
        "",
        *evaluate_summary(results),
        "",
        "## passt_cqt fine-tuned, and the real hear-validator",
        "",
        f"`{results['cqt']['variant']}` on {results['cqt']['task']}, {results['cqt']['epochs']} epochs, otherwise the "
        "settings above with BECR. `official`: seed 000's initialisation (the Mel PaSST transformer behind the CQT "
        "frontend) read from a temporary weights cache holding a random full-size checkpoint in the official layout "
        "(the real file is not reachable offline).",
        "",
        *cqt_table(results),
        "",
    ]
    if results.get("skipped_tasks"):
        lines += ["## Left out", "", *[f"- {t}: {why}" for t, why in results["skipped_tasks"].items()], ""]
    path.write_text("\n".join(lines), encoding="utf-8")


# -- main ----------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="working folder (tasks, runs, evaluations); required unless --render")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="only rewrite the markdown table (--md, default: beside it) from a results JSON")
    parser.add_argument("--json", type=Path, help="results JSON (default OUT/train-claims.json)")
    parser.add_argument("--md", type=Path, help="results table (default: the JSON's path with .md)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny_test and a tiny CQT variant, 1 epoch, few speech clips, no validator (the tool test)")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, help=f"default: {' '.join(TASKS)}")
    parser.add_argument("--variant", help="network to train (default passt_base; --quick: tiny_test)")
    parser.add_argument("--epochs", type=int, help="default 4 (--quick: 1)")
    parser.add_argument("--batch-size", type=int, help="default 10, seed 000's (--quick: 4)")
    parser.add_argument("--max-clips", type=int, help="cut each split of the synthetic tasks to this many clips "
                        "(default: all; --quick: 8)")
    parser.add_argument("--lr", type=float, default=1e-4,
                        help="network's peak learning rate (default 1e-4: random weights, not a pretrained network)")
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--freeze-blocks", type=int, default=0)
    parser.add_argument("--becr", type=float, nargs=2, default=(0.05, 0.7), metavar=("LAMBDA", "EPSILON"))
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the data order, the head and the tasks")
    parser.add_argument("--speech-per-class", type=int, help="espeak clips per language (default 30; --quick: 5)")
    parser.add_argument("--speech-languages", type=int, help="languages (default 6; --quick: 3)")
    parser.add_argument("--speech-duration", type=float, default=1.5, help="seconds (default 1.5)")
    parser.add_argument("--protocols", default="knn,linear", help="hear-gear evaluate protocols (default knn,linear)")
    parser.add_argument("--no-evaluate", action="store_true", help="leave out item 2")
    parser.add_argument("--cqt-variant", help="default passt_cqt (--quick: a tiny CQT variant)")
    parser.add_argument("--cqt-task", default="tones-multiclass", choices=TASKS)
    parser.add_argument("--cqt-epochs", type=int, help="default 3 (--quick: 1)")
    parser.add_argument("--no-cqt", action="store_true", help="leave out item 3")
    parser.add_argument("--stand-in-seed", type=int,
                        help="seed of the random checkpoint standing in for the official one (default --seed: the "
                        "weights init=random draws, so both runs should end identical)")
    parser.add_argument("--validator-python", help="a Python with hearvalidator 2021.0.6 (default: the validator is not run)")
    parser.add_argument("--validator-timeout", type=float, default=600.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int,
                        help="torch threads (default: torch's, one per core; --quick: 1, as tiny ops on a loaded machine "
                        "lose more to waiting threads than they gain)")
    parser.add_argument("--machine-note", default="shared with other jobs",
                        help="how loaded the machine was, for the record (default: shared with other jobs)")
    parser.add_argument("--keep-checkpoints", action="store_true", help="keep best.pt, last.pt and init.pt")
    args = parser.parse_args(argv)
    if args.out is None and args.render is None:
        parser.error("--out is required (unless --render)")
    quick = args.quick
    args.tasks = args.tasks or (["tones-multiclass", TASK_NAME] if quick else list(TASKS))
    args.variant = args.variant or ("tiny_test" if quick else "passt_base")
    args.epochs = args.epochs or (1 if quick else 4)
    args.batch_size = args.batch_size or (4 if quick else 10)
    args.max_clips = args.max_clips or (8 if quick else None)
    args.speech_per_class = args.speech_per_class or (5 if quick else 30)
    args.speech_languages = args.speech_languages or (3 if quick else len(LANGUAGES))
    args.cqt_epochs = args.cqt_epochs or (1 if quick else 3)
    args.stand_in_seed = args.seed if args.stand_in_seed is None else args.stand_in_seed
    args.cqt_variant = args.cqt_variant or (register_quick_cqt() if quick else "passt_cqt")
    if quick and args.validator_python:
        parser.error("--quick does not run the validator")
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.render is not None:
        results = json.loads(args.render.read_text(encoding="utf-8"))
        write_markdown(results, args.md or args.render.with_suffix(".md"))
        return results
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads or (1 if args.quick else threads_before))
    try:
        return run_claims(args, list(sys.argv[1:] if argv is None else argv))
    finally:
        torch.set_num_threads(threads_before)  # main() also runs inside other processes (the tool's test)


def run_claims(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Items 1 to 3 of the module docstring, as ``args`` say; the results (also written to JSON and markdown)."""
    started = time.perf_counter()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    json_path = args.json or out / "train-claims.json"
    md_path = args.md or json_path.with_suffix(".md")
    device = str(resolve_device(args.device))
    becr = Becr(*args.becr)
    base = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, head_lr=args.head_lr,
                       freeze_blocks=args.freeze_blocks, seed=args.seed)
    plain_config, becr_config = base, replace(base, becr=becr)
    folders, skipped = make_tasks(out / "tasks", args.tasks, speech_per_class=args.speech_per_class,
                                  speech_duration=args.speech_duration,
                                  speech_languages=LANGUAGES[: args.speech_languages], seed=args.seed,
                                  max_clips=args.max_clips)
    results: dict[str, Any] = {
        "command": "python benchmarks/train_claims.py " + " ".join(argv),
        "version": __version__,
        "environment": machine_environment(torch.device(device)),
        "machine_note": args.machine_note,
        "quick": args.quick,
        "settings": {"variant": args.variant, "init": f"random, seed {args.seed}", "seed": args.seed,
                     "becr": list(args.becr), "tasks": list(folders), "fold": 0, "max_clips": args.max_clips,
                     "speech": {"per_class": args.speech_per_class, "languages": list(LANGUAGES[: args.speech_languages]),
                                "duration_s": args.speech_duration},
                     **{k: v for k, v in plain_config.to_dict().items() if k not in ("becr", "seed")}},
        "skipped_tasks": skipped,
        "becr": {"tasks": {}},
        "evaluate": {"protocols": args.protocols, "tasks": {}},
        "cqt": {"variant": args.cqt_variant, "task": args.cqt_task, "epochs": args.cqt_epochs,
                "stand_in_seed": args.stand_in_seed, "runs": {}},
    }
    init = out / "weights" / f"{args.variant}-random-seed{args.seed}.pt"
    init.parent.mkdir(parents=True, exist_ok=True)
    random_embedder(get_variant(args.variant), args.seed, device="cpu").save_weights(init)
    results["settings"]["init_checkpoint"] = str(init)
    runs = out / "runs"

    # 1. BECR against lambda 0, and the dispersion of the held-out embeddings.
    for task, folder in folders.items():
        entry: dict[str, Any] = {"becr_label": f"({becr.lam}, {becr.epsilon})",
                                 "init_dispersion": test_dispersion(args.variant, init, folder, 0, device)}
        for key, config in (("becr", becr_config), ("plain", plain_config)):
            run_dir = runs / args.variant / key / task
            shutil.rmtree(run_dir, ignore_errors=True)
            run = train_run(args.variant, folder, run_dir, config, init="random", fold=0, device=device,
                            keep_last=args.keep_checkpoints)
            run["dispersion"] = test_dispersion(args.variant, Path(run["best"]), folder, 0, device)
            entry[key] = run
            print(f"[1] {task} {key}: test {run['test']}, test Gini {run['dispersion']['gini']:.4f} "
                  f"(trainer {run['trainer_test_gini']}), {run['wall_s_per_epoch']:.1f} s/epoch", flush=True)
        results["becr"]["tasks"][task] = entry
        _save(results, json_path, md_path, started)

    # 2. hear-gear evaluate: the network before fine-tuning against both fine-tuned ones.
    if not args.no_evaluate:
        module = args.variant
        for task, folder in folders.items():
            scored = folder
            if load_task(folder).split_mode != "trainvaltest":
                scored = trainvaltest_view(folder, 0, out / "views" / f"{task}-fold0")
            entry = {"task_dir": str(scored), "metric": results["becr"]["tasks"][task]["becr"]["metric"]}
            for key, checkpoint in (("init", init), ("becr", Path(results["becr"]["tasks"][task]["becr"]["best"])),
                                    ("plain", Path(results["becr"]["tasks"][task]["plain"]["best"]))):
                entry[key] = evaluate(module, scored, checkpoint, out / "evaluate" / task / key, args.protocols, device)
                print(f"[2] {task} {key}: {entry[key]['scores']}", flush=True)
            results["evaluate"]["tasks"][task] = entry
            _save(results, json_path, md_path, started)

    # 3. passt_cqt: random init, and seed 000's official init from a stand-in cache; then hear-validator.
    if not args.no_cqt:
        cqt_task = folders.get(args.cqt_task)
        cqt_config = replace(becr_config, epochs=args.cqt_epochs)
        inits = ["random", "official"]
        for init_kind in inits:
            if cqt_task is None:
                results["cqt"]["runs"][init_kind] = {"skipped": f"task {args.cqt_task} was not made"}
                continue
            if init_kind == "official" and args.quick:
                results["cqt"]["runs"][init_kind] = {"skipped": "--quick (no official record has the tiny geometry)"}
                continue
            run_dir = runs / args.cqt_variant / init_kind / args.cqt_task
            shutil.rmtree(run_dir, ignore_errors=True)
            if init_kind == "official":
                with tempfile.TemporaryDirectory(prefix="weights-cache-", dir=out) as cache, weights_cache(Path(cache)):
                    stand_in = fake_official_cache(args.cqt_variant, Path(cache), args.stand_in_seed)
                    run = train_run(args.cqt_variant, cqt_task, run_dir, cqt_config, init="official", fold=0,
                                    device=device, keep_last=args.keep_checkpoints)
                run["stand_in_official_checkpoint"] = stand_in
            else:
                run = train_run(args.cqt_variant, cqt_task, run_dir, cqt_config, init="random", fold=0, device=device,
                                keep_last=args.keep_checkpoints)
            run["dispersion"] = test_dispersion(args.cqt_variant, Path(run["best"]), cqt_task, 0, device)
            if args.validator_python:
                run["validator"] = run_validator(args.validator_python, args.cqt_variant, Path(run["best"]), device,
                                                 args.validator_timeout)
            else:
                run["validator"] = {"skipped": "--quick" if args.quick else "no --validator-python"}
            if init_kind == "official" and "best" in results["cqt"]["runs"].get("random", {}):
                run["max_abs_difference_from_random_init_run"] = max_abs_difference(
                    Path(run["best"]), Path(results["cqt"]["runs"]["random"]["best"]))
            results["cqt"]["runs"][init_kind] = run
            print(f"[3] {args.cqt_variant} init {init_kind}: test {run['test']}, validator "
                  f"{run['validator'].get('verdict', run['validator'].get('skipped'))}", flush=True)
            _save(results, json_path, md_path, started)

    _save(results, json_path, md_path, started)
    if not args.keep_checkpoints:
        for path in [init, *runs.glob("**/best.pt"), *runs.glob("**/last.pt")]:
            path.unlink(missing_ok=True)
    print(f"results: {json_path} and {md_path}")
    return results


def _save(results: dict[str, Any], json_path: Path, md_path: Path, started: float) -> None:
    results["wall_s"] = time.perf_counter() - started
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    write_markdown(results, md_path)


if __name__ == "__main__":
    main()
