"""Drive the real HEAR 2021 tools against this package (run by ``nox -s harness``).

1. ``hear-validator`` on every published variant, with a full-size random checkpoint in the
   official key layout, and on the tiny broken and control modules of :mod:`tests.harness.broken_modules`;
   the in-process validator (:func:`hear_gear_embed.hear.validate.validate_module`) must give the same
   verdict (pass/fail, and for a pass whether the validator warned) on each, and the broken modules must fail.
2. Synthetic HEAR tasks (:mod:`tests.harness.tasks`) at 16, 32 and 48 kHz.
3. ``python -m heareval.embeddings.runner`` and ``python -m heareval.predictions.runner`` end to end
   for the chosen modules; every task must yield ``test.predicted-scores.json`` with finite scores,
   and the scores must clear the thresholds of :data:`THRESHOLDS`, while a negative control (an
   embedding that ignores the audio) must stay below :data:`CONTROL_MAXIMUM`.

Usage: ``python -m tests.harness.run_harness --work DIR [--report scores.json] [--skip-validator | --skip-heareval]
[--variants NAME ...]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from hear_gear_embed import get_variant, list_variants
from hear_gear_embed.hear.validate import validate_module
from hear_gear_embed.model import random_passt

from .broken_modules import CASES, IMPORT_FAILS
from .tasks import make_tasks

REPO_ROOT = Path(__file__).resolve().parents[2]

HEAREVAL_MODULES = (
    "hear_gear_embed.hear.passt_2lvlmel",
    "hear_gear_embed.hear.handcrafted",
    "hear_gear_embed.hear.lowlevel_cqt",
)
"""HEAR modules run through heareval end to end on every task: PaSST with random weights, and two
weight-free variants as they ship."""

BROKEN_PACKAGE = "tests.harness.broken_modules"
"""Tiny HEAR modules that break one validator rule each (and two controls that pass)."""

VALIDATOR_WARNING = re.compile(r"hearvalidator[/\\]validate\.py:\d+: UserWarning: (?!\s*IMPORTANT)(.*)")
"""A warning of hear-validator's own checks in its log; the drift notice (``IMPORTANT: ...``), which it always
gives, is left out."""

CONTROL_MODULE = "tests.harness.control_module"
CONTROL_TASKS = ("tones-multiclass", "tones-kfold", "timbre-multilabel")
"""The negative control (embeddings that ignore the audio) runs on the scene tasks only (cheap)."""

# Measured with the weight-free modules (handcrafted / lowlevel_cqt): tones 1.000 / 1.000, k-fold
# 0.988 / 0.963, timbre mAP 0.900 / 0.879, events onset-F 0.944 / 1.000; the same thresholds hold.
THRESHOLDS: dict[str, float] = {
    # 6 harmonic pitches >= 2 semitones apart (+-20 cents jitter); chance 1/6. Random-weight PaSST is a
    # random but deterministic function of the log-mel, which resolves these pitches, so a working
    # pipeline separates them (measured 1.000); a broken one (audio ignored, shuffled, NaN) is near
    # chance (control: about 0.2). 0.9 allows 2 errors among the 24 test clips.
    "tones-multiclass": 0.9,
    # 4 pitches, 5 folds, chance 1/4; same reasoning (measured 1.000, control about 0.25).
    "tones-kfold": 0.9,
    # 4 labels, 1-4 per clip: chance mAP is the label prevalence, about 0.6 (control about 0.58);
    # measured 0.795 with random weights.
    "timbre-multilabel": 0.7,
    # Events of a C4 tone, a C5 tone and noise; passt_2lvlmel's timestamp embedding carries the
    # log-mel frames of 60 ms around each timestamp (level L), which separate the two pitches and the
    # noise frame by frame: onset F-measure with a 200 ms collar, measured 0.914; the control scores
    # under 0.1. 0.75 leaves room for one or two missed onsets among the 10 test clips.
    "events": 0.75,
}
"""Minimum primary test score per task for the modules of :data:`HEAREVAL_MODULES`, with the reasons."""

CONTROL_MAXIMUM = {"tones-multiclass": 0.5, "tones-kfold": 0.5, "timbre-multilabel": 0.7}
"""The control must stay below these: evidence that the thresholds above can fail."""


def _log(message: str) -> None:
    print(f"[harness] {message}", flush=True)


def random_checkpoints(variants: list[str], root: Path, seed: int = 0) -> dict[str, Path | None]:
    """One full-size random checkpoint (raw official state dict) per network geometry; ``None`` for
    weight-free variants."""
    root.mkdir(parents=True, exist_ok=True)
    by_geometry: dict[object, Path] = {}
    out: dict[str, Path | None] = {}
    for name in variants:
        net_cfg = get_variant(name).net
        if net_cfg is None or not get_variant(name).needs_network:
            out[name] = None
            continue
        if net_cfg not in by_geometry:
            path = root / f"random-{name}.pt"
            torch.save(random_passt(net_cfg, seed).state_dict(), path)
            by_geometry[net_cfg] = path
        out[name] = by_geometry[net_cfg]
    return out


def run(cmd: list[str], cwd: Path, log: Path) -> tuple[int, float]:
    """Run ``cmd`` with output to ``log``; return (exit code, seconds)."""
    start = time.time()
    # The runners work in ``cwd``; the repository root goes on the path for the control module.
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", PYTHONPATH=path)
    with log.open("w") as handle:
        code = subprocess.run(cmd, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, env=env).returncode
    return code, time.time() - start


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _validator_script() -> str:
    """The ``hear-validator`` console script of this environment (beside the interpreter, else on PATH)."""
    beside = Path(sys.executable).with_name("hear-validator")
    found = str(beside) if beside.is_file() else shutil.which("hear-validator")
    if not found:
        raise RuntimeError("hear-validator is not installed in this environment")
    return found


def real_validator(module: str, model: Path | None, work: Path, log: Path) -> dict[str, object]:
    """``hear-validator`` on CPU: verdict, whether its checks warned (the warnings), its last line (the error of
    a failure), seconds."""
    weights = ["-m", str(model)] if model else []
    code, seconds = run([_validator_script(), module, *weights, "-d", "cpu"], work, log)
    text = log.read_text(errors="replace")
    warnings = VALIDATOR_WARNING.findall(text)
    return {"passed": code == 0 and "Looks good!" in text, "warned": bool(warnings), "warnings": warnings,
            "last_line": text.strip().rsplit("\n", 1)[-1], "seconds": round(seconds, 1)}


def in_process_validator(module: str, model: Path | None) -> dict[str, object]:
    """:func:`validate_module` on CPU, in this process: verdict, whether it warned, errors, warnings, seconds.
    A module that cannot be imported fails (the real validator crashes on it)."""
    start = time.time()
    try:
        report = validate_module(module, str(model) if model else "", device="cpu")
    except ImportError as err:
        errors, warnings = [f"import failed: {err}"], []
    else:
        errors, warnings = report.errors, report.warnings
    return {"passed": not errors, "warned": bool(warnings), "errors": errors, "warnings": warnings,
            "seconds": round(time.time() - start, 1)}


def compare_validators(module: str, model: Path | None, work: Path, log: Path) -> dict[str, object]:
    """The real and the in-process validator on one module; ``agree``: same verdict and, when it passes, same
    warned-or-not (after a failed step, the in-process validator goes on to the next one and may warn there)."""
    real = real_validator(module, model, work, log)
    ours = in_process_validator(module, model)
    agree = real["passed"] == ours["passed"] and (not real["passed"] or real["warned"] == ours["warned"])
    return {**real, "in_process": ours, "agree": agree}


def _verdict(result: dict[str, object]) -> str:
    return ("PASS" if result["passed"] else "FAIL") + (" (warned)" if result["warned"] else "")


def validate_all(variants: list[str], ckpts: dict[str, Path | None], work: Path) -> dict[str, dict[str, object]]:
    """``hear-validator`` and the in-process validator per variant (``passed``: the real verdict)."""
    results: dict[str, dict[str, object]] = {}
    for name in variants:
        log = work / f"validator-{name}.log"
        result = compare_validators(f"hear_gear_embed.hear.{name}", ckpts[name], work, log)
        results[name] = result
        ours = result["in_process"]
        _log(f"hear-validator {name}: {_verdict(result)} ({result['seconds']:.0f} s); "
             f"in process: {_verdict(ours)} ({ours['seconds']:.0f} s)")
        if not result["passed"]:
            _log(_tail(log))
        if not ours["passed"]:
            _log("\n".join(ours["errors"]))
    return results


def validate_broken_modules(work: Path) -> dict[str, dict[str, object]]:
    """Both validators on each module of :mod:`tests.harness.broken_modules`, with the expected verdict."""
    results: dict[str, dict[str, object]] = {}
    expected = {**{name: case.passes for name, case in CASES.items()}, IMPORT_FAILS: False}
    for name, passes in expected.items():
        result = compare_validators(f"{BROKEN_PACKAGE}.{name}", None, work, work / f"validator-broken-{name}.log")
        results[name] = {"expected": "PASS" if passes else "FAIL", **result}
        _log(f"broken module {name}: expected {'PASS' if passes else 'FAIL'}, hear-validator {_verdict(result)}, "
             f"in process {_verdict(result['in_process'])}")
    return results


def validator_failures(validator: dict[str, dict], broken: dict[str, dict]) -> list[str]:
    """A published variant that fails, a broken module with an unexpected verdict, any disagreement."""
    failures = [f"hear-validator failed on {n}" for n, r in validator.items() if not r["passed"]]
    for name, result in {**validator, **{f"{BROKEN_PACKAGE}.{n}": r for n, r in broken.items()}}.items():
        if not result["agree"]:
            failures.append(f"{name}: hear-validator {_verdict(result)} but in process {_verdict(result['in_process'])}")
    for name, result in broken.items():
        if ("PASS" if result["passed"] else "FAIL") != result["expected"]:
            failures.append(f"{BROKEN_PACKAGE}.{name}: expected {result['expected']}, hear-validator {_verdict(result)}")
    return failures


def print_agreement(validator: dict[str, dict], broken: dict[str, dict]) -> None:
    """Verdicts of both validators per module."""
    _log("validator agreement (hear-validator vs in process):")
    _log(f"  {'module':<38} {'expected':<9} {'hear-validator':<16} {'in process':<16} agree")
    rows = {**validator, **{f"broken_modules.{n}": r for n, r in broken.items()}}
    for name, result in rows.items():
        expected, ours = result.get("expected", "PASS"), result["in_process"]
        _log(f"  {name:<38} {expected:<9} {_verdict(result):<16} {_verdict(ours):<16} {'yes' if result['agree'] else 'NO'}")


def primary_scores(score_file: Path) -> dict[str, float]:
    """Test metrics of a ``test.predicted-scores.json``: single split, or mean over folds."""
    data = json.loads(score_file.read_text())
    if "aggregated_scores" in data:
        agg = data["aggregated_scores"]
        return {k[: -len("_mean")]: float(v) for k, v in agg.items() if k.startswith("test_") and k.endswith("_mean")}
    splits = [v for v in data.values() if isinstance(v, dict) and "test_score" in v]
    if len(splits) != 1:
        raise ValueError(f"{score_file}: expected one test split, found {len(splits)}")
    return {k: float(v) for k, v in splits[0].items() if k.startswith("test_")}


def heareval_module(module: str, model: Path | None, tasks_dir: Path, work: Path, tasks: tuple[str, ...] = ()) -> dict:
    """Embeddings and predictions runners for one HEAR module (all tasks, or ``tasks``); scores per task."""
    name = module.rsplit(".", 1)[-1]
    emb_dir = work / "embeddings"
    weights = ["--model", str(model)] if model else []
    for task in tasks or ("all",):
        log = work / f"embeddings-{name}-{task}.log"
        code, seconds = run([sys.executable, "-m", "heareval.embeddings.runner", module, *weights, "--task", task,
                             "--tasks-dir", str(tasks_dir), "--embeddings-dir", str(emb_dir)], work, log)
        _log(f"embeddings runner {name} / {task}: exit {code} ({seconds:.0f} s)")
        if code:
            raise RuntimeError(f"heareval.embeddings.runner failed for {name}:\n{_tail(log)}")
    scores: dict[str, dict] = {}
    for task_dir in sorted((emb_dir / module).iterdir()):
        if tasks and task_dir.name not in tasks:
            continue
        log = work / f"predictions-{name}-{task_dir.name}.log"
        code, seconds = run([sys.executable, "-m", "heareval.predictions.runner", str(task_dir)], work, log)
        score_file = task_dir / "test.predicted-scores.json"
        if code or not score_file.is_file():
            raise RuntimeError(f"heareval.predictions.runner failed on {task_dir.name} (exit {code}):\n{_tail(log)}")
        result = primary_scores(score_file)
        scores[task_dir.name] = {"seconds": round(seconds, 1), **result}
        _log(f"predictions {name} / {task_dir.name}: test_score {result['test_score']:.3f} ({seconds:.0f} s)")
    return scores


def non_finite(scores: dict[str, dict]) -> list[str]:
    """Scores that are NaN, or infinite other than d-prime (infinite by definition for a perfect separation)."""
    failures = []
    for task, result in scores.items():
        for metric, value in result.items():
            if math.isnan(value) or (math.isinf(value) and "d_prime" not in metric):
                failures.append(f"{task}: {metric} = {value}")
    return failures


def print_table(scores: dict[str, dict]) -> None:
    """Scores per module and task."""
    _log("scores (test split, or mean over folds):")
    for name, tasks in scores.items():
        for task, result in tasks.items():
            metrics = ", ".join(f"{k[5:]}={v:.3f}" for k, v in result.items() if k.startswith("test_") and k != "test_loss")
            _log(f"  {name:<16} {task:<20} {metrics}")


def check_thresholds(scores: dict[str, dict], control: dict[str, dict]) -> list[str]:
    """Failures against :data:`THRESHOLDS` and :data:`CONTROL_MAXIMUM`."""
    failures = []
    for name, tasks in scores.items():
        for task, minimum in THRESHOLDS.items():
            got = tasks.get(task, {}).get("test_score")
            if got is None or got < minimum:
                failures.append(f"{name} / {task}: test_score {got} below the threshold {minimum}")
    for task, maximum in CONTROL_MAXIMUM.items():
        got = control.get(task, {}).get("test_score")
        if got is None or got >= maximum:
            failures.append(f"control / {task}: test_score {got} not below {maximum}: the thresholds would miss a broken embedding")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, required=True, help="scratch folder (logs, tasks, embeddings)")
    parser.add_argument("--report", type=Path, help="write validator results and scores as JSON here")
    skip = parser.add_mutually_exclusive_group()
    skip.add_argument("--skip-validator", action="store_true", help="skip both validators")
    skip.add_argument("--skip-heareval", action="store_true", help="run the validators only")
    parser.add_argument("--variants", nargs="+", choices=list_variants(), help="validate these variants only (default: all)")
    args = parser.parse_args(argv)
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    validated = args.variants or list_variants()
    heareval_variants = [] if args.skip_heareval else [m.rsplit(".", 1)[-1] for m in HEAREVAL_MODULES]
    ckpts = random_checkpoints([*validated, *(v for v in heareval_variants if v not in validated)], work / "checkpoints")
    validator: dict[str, dict] = {}
    broken: dict[str, dict] = {}
    if not args.skip_validator:
        start = time.time()
        validator = validate_all(validated, ckpts, work)
        broken = validate_broken_modules(work)
        print_agreement(validator, broken)
        _log(f"validators: {time.time() - start:.0f} s")
    failures = validator_failures(validator, broken)
    if args.skip_heareval:
        return _finish(args.report, {"validator": validator, "broken_modules": broken}, failures)
    start = time.time()
    tasks_dir = work / "tasks"
    names = make_tasks(tasks_dir, (16000, 32000, 48000))
    _log(f"generated tasks {names} in {time.time() - start:.1f} s")
    scores = {}
    for module in HEAREVAL_MODULES:
        variant = module.rsplit(".", 1)[-1]
        scores[variant] = heareval_module(module, ckpts[variant], tasks_dir, work)
    control = heareval_module(CONTROL_MODULE, None, tasks_dir, work, CONTROL_TASKS)
    print_table({**scores, "control": control})
    for name, tasks in {**scores, "control": control}.items():
        failures += [f"{name} / {bad}" for bad in non_finite(tasks)]
    failures += check_thresholds(scores, control)
    report = {"validator": validator, "broken_modules": broken, "scores": scores, "control": control}
    return _finish(args.report, report, failures)


def _finish(path: Path | None, report: dict, failures: list[str]) -> int:
    """Write the JSON report (when asked), log the failures; the exit status."""
    if path:
        path.write_text(json.dumps(report, indent=2))
    for failure in failures:
        _log(f"FAILURE: {failure}")
    _log("all checks passed" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
