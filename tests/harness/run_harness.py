"""Drive the real HEAR 2021 tools against this package (run by ``nox -s harness``).

1. ``hear-validator`` on every published variant, with a full-size random checkpoint in the official key
   layout (:mod:`tests.checkpoints`), on ``hear_gear_embed.hear.diverse`` with a full-size ``diverse`` model of seeded
   random weights whose neuralogram is ``passt_base`` on that checkpoint, and on the tiny broken and control modules of
   :mod:`tests.harness.broken_modules`. ``hear-gear validate`` (the in-process validator,
   :func:`hear_gear_embed.evaluation.validate.validate_module`) runs on the same broken modules and on one full-size
   variant per code path (:func:`tests.code_paths.representatives`); on each it must give the real
   validator's verdict (pass/fail, and for a pass whether the validator warned), and the broken modules must
   fail, except where :data:`~tests.harness.broken_modules.CASES` documents a difference by design
   (``nan_embeddings``: the real validator passes NaN embeddings, ours fails them), where each validator must give
   its own documented verdict.
2. Synthetic HEAR tasks (:mod:`tests.harness.tasks`) at 16, 32 and 48 kHz.
3. ``python -m heareval.embeddings.runner`` and ``python -m heareval.predictions.runner`` end to end
   for the modules of :data:`HEAREVAL_MODULES`; every task must yield ``test.predicted-scores.json`` with
   finite scores, and the scores must clear the thresholds of :data:`THRESHOLDS`, while a negative control
   (an embedding that ignores the audio) must stay below :data:`CONTROL_MAXIMUM`. With ``--precisions fp32 bf16``
   the PaSST modules run once per precision (``load_model(..., precision=...)`` through heareval's
   ``--model-options``), each held to the same thresholds, their scores side by side in the table and report;
   ``--heareval-modules`` restricts which modules run.

Every validator run and runner is a process of its own; :func:`tests.harness.jobs.run_jobs` runs them side by
side, one per CPU core (``--jobs``), longest chains of work first.

Usage: ``python -m tests.harness.run_harness --work DIR [--report scores.json] [--skip-validator | --skip-heareval]
[--variants NAME ...] [--heareval-modules NAME ...] [--precisions fp32 bf16 ...] [--jobs N]``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import re
import shutil
import sys
import time
from pathlib import Path

import torch

from hear_gear_embed import Kind, get_variant, list_variants
from hear_gear_embed.embedding import Embedder
from hear_gear_embed.evaluation.validate import SCENE_BATCH, SCENE_LENGTH_S, TIMESTAMP_BATCH, TIMESTAMP_LENGTHS_S
from hear_gear_embed.hear.loading import resolve_module_name
from hear_gear_embed.model import PaSST
from hear_gear_embed.util.precision import PRECISIONS

from ..checkpoints import random_official_checkpoint
from ..code_paths import representatives
from .broken_modules import CASES, IMPORT_FAILS, Case
from .evaluate_check import compare_embeddings, compare_scores, evaluate_jobs, our_scores
from .jobs import Job, run_jobs
from .tasks import make_tasks

REPO_ROOT = Path(__file__).resolve().parents[2]

HEAREVAL_MODULES = tuple(resolve_module_name(get_variant(name).name) for name in ("passt_base", "handcrafted", "lowlevel_cqt"))
"""HEAR modules run through heareval end to end on every task, named from the registry (``hear_gear_embed.hear.<variant>``,
made on import by the package's module finder: there is no file per variant): PaSST with random weights (its checkpoint passed
with ``--model``), and two weight-free variants as they ship. What heareval exercises (loading with a weights file,
scene and timestamp embeddings of every task type, training and scoring on them) does not depend on which
blocks a variant concatenates: ``passt_base`` is the PaSST variant that costs least (passt_2lvlmel: 241 s of
embeddings on 2 cores instead of 75 s, the same scene embeddings)."""

BROKEN_PACKAGE = "tests.harness.broken_modules"
"""Tiny HEAR modules that break one validator rule each (and two controls that pass)."""

VALIDATOR_WARNING = re.compile(r"hearvalidator[/\\]validate\.py:\d+: UserWarning: (?!\s*IMPORTANT)(.*)")
"""A warning of hear-validator's own checks in its log; the drift notice (``IMPORTANT: ...``), which it always
gives, is left out."""

VERDICT = re.compile(r"^verdict: (PASS|FAIL) \((\d+) error\(s\), (\d+) warning\(s\)\)$", re.MULTILINE)
"""The last line of a ``hear-gear validate`` report."""

CONTROL_MODULE = "tests.harness.control_module"
CONTROL_TASKS = ("tones-multiclass", "tones-kfold", "timbre-multilabel")
"""The negative control (embeddings that ignore the audio) runs on the scene tasks only (cheap)."""

# Measured with the weight-free modules (handcrafted / lowlevel_cqt): tones 1.000 / 1.000, k-fold
# 0.988 / 0.963, timbre mAP 0.900 / 0.879, events onset-F 0.944 / 1.000; the same thresholds hold.
THRESHOLDS: dict[str, float] = {
    # 6 harmonic pitches >= 2 semitones apart (+-20 cents jitter); chance 1/6. Random-weight PaSST is a
    # random but deterministic function of the log-mel, which resolves these pitches, so a working
    # pipeline separates them (measured 1.000); a broken one (audio ignored, shuffled, NaN) is near
    # chance (control: 0.08). 0.9 allows 2 errors among the 24 test clips.
    "tones-multiclass": 0.9,
    # 4 pitches, 5 folds, chance 1/4; same reasoning (measured 1.000, control 0.20-0.28).
    "tones-kfold": 0.9,
    # 4 labels, 1-4 per clip: chance mAP is the label prevalence, about 0.6 (control 0.51-0.57);
    # measured 0.795 with random weights.
    "timbre-multilabel": 0.7,
    # Events of a C4 tone, a C5 tone and noise; passt_base's timestamp embedding (H+M of the 160 ms
    # around each timestamp, random weights) separates the two pitches and the noise frame by frame:
    # onset F-measure with a 200 ms collar, measured 1.000 (passt_2lvlmel, with 60 ms of log-mel frames
    # as well: 0.914). 0.75 leaves room for one or two missed onsets among the 10 test clips.
    "events": 0.75,
}
"""Minimum primary test score per task for the modules of :data:`HEAREVAL_MODULES`, with the reasons."""

CONTROL_MAXIMUM = {"tones-multiclass": 0.5, "tones-kfold": 0.5, "timbre-multilabel": 0.7}
"""The control must stay below these: evidence that the thresholds above can fail."""

PASST_FLOP_PER_S = 1.2e11
"""PaSST inference speed measured on 2 CPU cores (hear-validator on passt_2lvl and passt_lm2rf_hop5), to turn the
FLOPs of a job into expected seconds. Only the order in which jobs start depends on it and on the two constants
below."""
STARTUP_S = 10.0
"""Seconds of a process that imports TensorFlow and torch before it does anything (hear-validator on a weight-free
variant: 9 s)."""
PREDICTION_S = {"event": 100.0, "scene": 20.0}
"""Seconds of ``heareval.predictions.runner`` on one task, by embedding type (measured 58-136 s and 13-25 s)."""


def _log(message: str) -> None:
    print(f"[harness] {message}", flush=True)


DIVERSE = "diverse"
"""The diverse model validated beside the variants (its HEAR module is ``hear_gear_embed.hear.diverse``)."""
DIVERSE_SOURCE = "passt_base"
"""The variant whose random checkpoint gives the validated diverse model's neuralogram."""


def checkpoints(variants: list[str], root: Path) -> dict[str, Path | None]:
    """A full-size random checkpoint (raw official state dict, seed 0) per variant; ``None`` for weight-free ones; for
    :data:`DIVERSE`, a full-size diverse model (seed 0) on the neuralogram of :data:`DIVERSE_SOURCE`'s checkpoint."""
    out: dict[str, Path | None] = {}
    for name in variants:
        if name == DIVERSE:
            continue
        variant = get_variant(name)
        out[name] = random_official_checkpoint(variant.net, root) if variant.needs_network and variant.net else None
    if DIVERSE in variants:
        from hear_gear_embed.diverse.config import get_diverse
        from hear_gear_embed.hear.diverse import new_model

        source = random_official_checkpoint(get_variant(DIVERSE_SOURCE).net, root)
        root.mkdir(parents=True, exist_ok=True)  # the PaSST checkpoints may live in $HGE_TEST_CHECKPOINTS instead
        out[DIVERSE] = root / "diverse-seed0.pt"
        new_model(get_diverse(DIVERSE).with_source(DIVERSE_SOURCE, str(source)), seed=0, device="cpu").save_weights(
            out[DIVERSE])
    return out


@functools.cache
def _flop_model(name: str) -> Embedder | None:
    """An embedder of variant ``name`` whose network lives on the ``meta`` device (the FLOP model needs its geometry
    only); ``None`` for weight-free variants."""
    variant = get_variant(name)
    if not variant.needs_network or variant.net is None:
        return None
    with torch.device("meta"):
        net = PaSST(variant.net)
    return Embedder(variant, net=net)


def _network_flops(name: str, n_sounds: int, seconds: float, kind: Kind) -> int:
    """FLOPs of variant ``name``'s network for one call on ``n_sounds`` clips of ``seconds`` (0 without a network)."""
    model = _flop_model(name)
    return 0 if model is None else model.network_flops(n_sounds, int(seconds * model.sample_rate), kind)


def validator_seconds(name: str) -> float:
    """Expected seconds of one validator run on variant ``name`` (for the order of jobs); the diverse model's are its
    neuralogram's (the encoders are small)."""
    name = DIVERSE_SOURCE if name == DIVERSE else name
    flops = sum(_network_flops(name, TIMESTAMP_BATCH, length, "timestamp") for length in TIMESTAMP_LENGTHS_S)
    flops += _network_flops(name, SCENE_BATCH, SCENE_LENGTH_S, "scene")
    return STARTUP_S + flops / PASST_FLOP_PER_S


def _validator_script() -> str:
    """The ``hear-validator`` console script of this environment (beside the interpreter, else on PATH)."""
    beside = Path(sys.executable).with_name("hear-validator")
    found = str(beside) if beside.is_file() else shutil.which("hear-validator")
    if not found:
        raise RuntimeError("hear-validator is not installed in this environment")
    return found


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def real_verdict(job: Job) -> dict[str, object]:
    """What a ``hear-validator`` run said: verdict, whether its checks warned (the warnings), its last line (the
    error of a failure), seconds."""
    text = job.log.read_text(errors="replace")
    warnings = VALIDATOR_WARNING.findall(text)
    return {"passed": job.code == 0 and "Looks good!" in text, "warned": bool(warnings), "warnings": warnings,
            "last_line": text.strip().rsplit("\n", 1)[-1], "seconds": round(job.seconds, 1), "log": str(job.log)}


def in_process_verdict(job: Job) -> dict[str, object]:
    """What a ``hear-gear validate`` run said: verdict, whether it warned, its errors and warnings, seconds. A module
    that cannot be imported (exit status 2) fails, as the real validator crashes on it."""
    text = job.log.read_text(errors="replace")
    found = VERDICT.findall(text)
    if job.code == 2 or not found:
        errors = [f"no verdict (exit status {job.code}): {text.strip().splitlines()[-1] if text.strip() else ''}"]
        warnings: list[str] = []
    else:
        errors = [line.strip()[len("error: "):] for line in text.splitlines() if line.startswith("        error: ")]
        warnings = [line.strip()[len("warning: "):] for line in text.splitlines() if line.startswith("        warning: ")]
        verdict, n_errors, n_warnings = found[-1]
        if (verdict == "PASS") == bool(errors) or len(errors) != int(n_errors) or len(warnings) != int(n_warnings):
            errors.append(f"the report does not add up: {text.strip().splitlines()[-1]}")
    return {"passed": not errors and job.code == 0, "warned": bool(warnings), "errors": errors, "warnings": warnings,
            "seconds": round(job.seconds, 1)}


def _pass_fail(passed: object) -> str:
    return "PASS" if passed else "FAIL"


def _verdict(result: dict[str, object]) -> str:
    return _pass_fail(result["passed"]) + (" (warned)" if result["warned"] else "")


def validator_jobs(variants: list[str], compared: list[str], ckpts: dict[str, Path | None],
                   work: Path) -> list[Job]:
    """``hear-validator`` on each of ``variants`` and each broken module; ``hear-gear validate`` on each of
    ``compared`` and each broken module."""
    real, ours = _validator_script(), [sys.executable, "-m", "hear_gear_embed", "validate"]
    jobs = []
    for name in variants:
        module, model, seconds = f"hear_gear_embed.hear.{name}", ckpts[name], validator_seconds(name)
        jobs.append(Job(f"hear-validator {name}", [real, module, *(["-m", str(model)] if model else []), "-d", "cpu"],
                        work / f"validator-{name}.log", seconds))
        if name in compared:
            jobs.append(Job(f"hear-gear validate {name}", [*ours, module, *(["--model", str(model)] if model else []),
                                                          "--device", "cpu"],
                            work / f"in-process-{name}.log", seconds - STARTUP_S / 2))
    for name in [*CASES, IMPORT_FAILS]:
        module = f"{BROKEN_PACKAGE}.{name}"
        jobs.append(Job(f"hear-validator broken {name}", [real, module, "-d", "cpu"], work / f"validator-broken-{name}.log",
                        STARTUP_S))
        jobs.append(Job(f"hear-gear validate broken {name}", [*ours, module, "--device", "cpu"],
                        work / f"in-process-broken-{name}.log", STARTUP_S / 2))
    return jobs


def validator_results(jobs: dict[str, Job], variants: list[str], compared: list[str]) -> tuple[dict, dict]:
    """Per variant and per broken module: the real verdict, and for those compared the in-process one and
    whether they agree (same verdict and, when it passes, same warned-or-not: after a failed step, the
    in-process validator goes on to the next one and may warn there). A broken module's result also holds the
    verdicts expected of each validator: ``expected`` (``hear-validator``) and ``expected_in_process``, which differ
    where :data:`CASES` documents a difference by design."""

    def compare(real: dict[str, object], ours: dict[str, object]) -> dict[str, object]:
        agree = real["passed"] == ours["passed"] and (not real["passed"] or real["warned"] == ours["warned"])
        return {**real, "in_process": ours, "agree": agree}

    validator = {}
    for name in variants:
        real = real_verdict(jobs[f"hear-validator {name}"])
        validator[name] = compare(real, in_process_verdict(jobs[f"hear-gear validate {name}"])) if name in compared else real
    broken = {}
    for name, case in {**CASES, IMPORT_FAILS: Case(False, "")}.items():
        result = compare(real_verdict(jobs[f"hear-validator broken {name}"]),
                         in_process_verdict(jobs[f"hear-gear validate broken {name}"]))
        broken[name] = {"expected": _pass_fail(case.real_verdict), "expected_in_process": _pass_fail(case.passes),
                        **result}
    return validator, broken


def validator_failures(validator: dict[str, dict], broken: dict[str, dict]) -> list[str]:
    """A published variant that fails or makes hear-validator warn, a broken module on which either validator gives
    another verdict than expected, any disagreement but the documented ones (a broken module whose two expected
    verdicts differ: the difference is required, and a change of either verdict fails as unexpected)."""
    failures = [f"hear-validator failed on {n}:\n{_tail(Path(r['log']))}" for n, r in validator.items() if not r["passed"]]
    failures += [f"hear-validator warned on {n}: {'; '.join(r['warnings'])}" for n, r in validator.items() if r["warned"]]
    documented = {name for name, result in broken.items() if result["expected"] != result["expected_in_process"]}
    undocumented = {f"{BROKEN_PACKAGE}.{n}": r for n, r in broken.items() if n not in documented}
    for name, result in {**validator, **undocumented}.items():
        if "agree" in result and not result["agree"]:
            ours = result["in_process"]
            failures.append(f"{name}: hear-validator {_verdict(result)} ({result['last_line']}) but in process "
                            f"{_verdict(ours)} ({'; '.join(ours['errors'] + ours['warnings'])})")
    for name, result in broken.items():
        ours = result["in_process"]
        if _pass_fail(result["passed"]) != result["expected"]:
            failures.append(f"{BROKEN_PACKAGE}.{name}: expected hear-validator {result['expected']}, got "
                            f"{_verdict(result)} ({result['last_line']})")
        if _pass_fail(ours["passed"]) != result["expected_in_process"]:
            failures.append(f"{BROKEN_PACKAGE}.{name}: expected in process {result['expected_in_process']}, got "
                            f"{_verdict(ours)} ({'; '.join(ours['errors'] + ours['warnings'])})")
    return failures


def print_agreement(validator: dict[str, dict], broken: dict[str, dict]) -> None:
    """Verdicts of both validators per module (``-``: the in-process validator is not run on that variant; an expected
    ``PASS/FAIL``: hear-validator's and the in-process one's, a documented difference)."""
    _log("validators (hear-validator and, once per code path and on the broken modules, in process):")
    _log(f"  {'module':<38} {'expected':<9} {'hear-validator':<16} {'in process':<16} agree")
    rows = {**validator, **{f"broken_modules.{n}": r for n, r in broken.items()}}
    for name, result in rows.items():
        expected = result.get("expected", "PASS")
        documented = result.get("expected_in_process", expected) != expected
        if documented:
            expected = f"{expected}/{result['expected_in_process']}"
        ours = _verdict(result["in_process"]) if "in_process" in result else "-"
        agree = ("yes" if result["agree"] else "no (documented)" if documented else "NO") if "agree" in result else "-"
        _log(f"  {name:<38} {expected:<9} {_verdict(result):<16} {ours:<16} {agree}")


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


def _task_types(tasks_dir: Path) -> dict[str, str]:
    """Task name -> embedding type (``scene`` or ``event``), from each task's metadata."""
    return {d.name: json.loads((d / "task_metadata.json").read_text())["embedding_type"] for d in sorted(tasks_dir.iterdir())}


def _embedding_seconds(module: str, tasks_dir: Path) -> float:
    """Expected seconds of the embeddings runner for ``module`` on the tasks of ``tasks_dir`` (32 kHz clips)."""
    name = module.rsplit(".", 1)[-1]
    if name not in list_variants():
        return STARTUP_S
    flops = 0
    for task, kind in _task_types(tasks_dir).items():
        for split in (tasks_dir / task / "32000").iterdir():
            for clip in split.glob("*.wav"):
                seconds = clip.stat().st_size / 2 / 32000  # 16-bit mono
                flops += _network_flops(name, 1, seconds, "timestamp" if kind == "event" else "scene")
    return STARTUP_S + flops / PASST_FLOP_PER_S


def run_label(module: str, precision: str = "fp32") -> str:
    """How the harness names a module's run in jobs, logs and the report: the variant, with ``-<precision>`` unless fp32."""
    name = module.rsplit(".", 1)[-1]
    return name if precision == "fp32" else f"{name}-{precision}"


def embedding_folder(module: str, precision: str = "fp32") -> str:
    """The folder heareval's embeddings runner writes ``module``'s embeddings into: the module name, followed, when
    ``--model-options`` are given, by ``-key=value`` for each (slugified; the precision names are already slugs)."""
    return module if precision == "fp32" else f"{module}-precision={precision}"


def heareval_jobs(modules: dict[str, Path | None], tasks_dir: Path, emb_dir: Path, work: Path,
                  precision: str = "fp32") -> list[Job]:
    """The embeddings runner per module (all tasks of ``tasks_dir``), then the predictions runner per module and task;
    a precision other than fp32 goes to ``load_model`` through ``--model-options``."""
    types = _task_types(tasks_dir)
    options = [] if precision == "fp32" else ["--model-options", json.dumps({"precision": precision})]
    jobs = []
    for module, model in modules.items():
        label, folder = run_label(module, precision), embedding_folder(module, precision)
        jobs.append(Job(f"embeddings {label}", [
            sys.executable, "-m", "heareval.embeddings.runner", module, *(["--model", str(model)] if model else []),
            *options, "--tasks-dir", str(tasks_dir), "--embeddings-dir", str(emb_dir)], work / f"embeddings-{label}.log",
            _embedding_seconds(module, tasks_dir)))
        for task, kind in types.items():
            jobs.append(Job(f"predictions {label} {task}", [
                sys.executable, "-m", "heareval.predictions.runner", str(emb_dir / folder / task)],
                work / f"predictions-{label}-{task}.log", PREDICTION_S[kind], after=(f"embeddings {label}",)))
    return jobs


def heareval_scores(jobs: dict[str, Job], module: str, tasks: list[str], emb_dir: Path,
                    precision: str = "fp32") -> tuple[dict[str, dict], list[str]]:
    """Scores per task of ``module`` run in ``precision`` from its predictions jobs, and failures (a runner that failed
    or did not run)."""
    name = run_label(module, precision)
    scores: dict[str, dict] = {}
    failures = []
    embeddings = jobs[f"embeddings {name}"]
    if embeddings.code != 0:
        return scores, [f"heareval.embeddings.runner failed for {name} (exit {embeddings.code}):\n{_tail(embeddings.log)}"]
    for task in tasks:
        job = jobs[f"predictions {name} {task}"]
        score_file = emb_dir / embedding_folder(module, precision) / task / "test.predicted-scores.json"
        if job.code != 0 or not score_file.is_file():
            failures.append(f"heareval.predictions.runner failed for {name} on {task} (exit {job.code}):\n{_tail(job.log)}")
            continue
        scores[task] = {"seconds": round(job.seconds, 1), **primary_scores(score_file)}
    return scores, failures


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
    parser.add_argument("--variants", nargs="+", choices=[*list_variants(), DIVERSE],
                        help="validate these variants only (default: all, and the diverse model)")
    parser.add_argument("--heareval-modules", nargs="+", choices=[m.rsplit(".", 1)[-1] for m in HEAREVAL_MODULES],
                        help="run these of the heareval modules only (default: all; the control always runs)")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=["fp32"],
                        help="run the PaSST heareval modules once in each of these precisions (default: fp32)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes run at once (default: one per core)")
    args = parser.parse_args(argv)
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    start = time.time()
    validated = [] if args.skip_validator else (args.variants or [*list_variants(), DIVERSE])
    compared = [name for name in representatives() if name in validated]
    modules = [m for m in HEAREVAL_MODULES if not args.heareval_modules or m.rsplit(".", 1)[-1] in args.heareval_modules]
    heareval_variants = [] if args.skip_heareval else [m.rsplit(".", 1)[-1] for m in modules]
    # Weight-free modules compute in fp32 whatever is asked: they run once.
    runs = [(m, p) for m in modules for p in args.precisions if p == "fp32" or get_variant(m.rsplit(".", 1)[-1]).needs_network]
    ckpts = checkpoints([*validated, *(v for v in heareval_variants if v not in validated)], work / "checkpoints")
    jobs = [] if args.skip_validator else validator_jobs(validated, compared, ckpts, work)
    tasks_dir, emb_dir = work / "tasks", work / "embeddings"
    if not args.skip_heareval:
        generated = time.time()
        names = make_tasks(tasks_dir, (16000, 32000, 48000))
        # heareval's embeddings runner takes every folder of --tasks-dir: the control's folder links its tasks only.
        control_dir = work / "control-tasks"
        shutil.rmtree(control_dir, ignore_errors=True)
        control_dir.mkdir()
        for task in CONTROL_TASKS:
            (control_dir / task).symlink_to(tasks_dir / task, target_is_directory=True)
        _log(f"generated tasks {names} in {time.time() - generated:.1f} s")
        for module, precision in runs:
            jobs += heareval_jobs({module: ckpts[module.rsplit(".", 1)[-1]]}, tasks_dir, emb_dir, work, precision)
        jobs += heareval_jobs({CONTROL_MODULE: None}, control_dir, emb_dir, work)
        for module in modules:
            name = module.rsplit(".", 1)[-1]
            jobs += evaluate_jobs({module: ckpts[name]}, [tasks_dir / task for task in names], work,
                                  _embedding_seconds(module, tasks_dir) + sum(PREDICTION_S.values()))
    _log(f"{len(jobs)} jobs, {args.jobs} at a time")
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1",
               # The runners work in the scratch folder; the repository root goes on the path for the control
               # and broken modules.
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p))
    run_jobs(jobs, work, env, args.jobs, on_done=lambda job: _log(f"{job.name}: exit {job.code} ({job.seconds:.0f} s)"))
    by_name = {job.name: job for job in jobs}
    report: dict[str, object] = {"seconds": round(time.time() - start, 1),
                                 "jobs": {job.name: {"exit": job.code, "seconds": round(job.seconds, 1)} for job in jobs}}
    failures = [f"{job.name}: not run (a job it waits for failed)" for job in jobs if job.code is None]
    if not args.skip_validator:
        validator, broken = validator_results(by_name, validated, compared)
        print_agreement(validator, broken)
        failures += validator_failures(validator, broken)
        report.update(validator=validator, broken_modules=broken)
    if not args.skip_heareval:
        scores = {}
        for module, precision in runs:
            scores[run_label(module, precision)], missing = heareval_scores(by_name, module, names, emb_dir, precision)
            failures += missing
        control, missing = heareval_scores(by_name, CONTROL_MODULE, list(CONTROL_TASKS), emb_dir)
        failures += missing
        print_table({**scores, "control": control})
        for name, tasks in {**scores, "control": control}.items():
            failures += [f"{name} / {bad}" for bad in non_finite(tasks)]
        failures += check_thresholds(scores, control)
        report.update(scores=scores, control=control)
        agreement, missing = evaluate_agreement(by_name, modules, scores, emb_dir, work)
        failures += missing
        report.update(evaluate=agreement)
    _log(f"done in {time.time() - start:.0f} s")
    return _finish(args.report, report, failures)


def evaluate_agreement(jobs: dict[str, Job], modules: list[str], scores: dict[str, dict], emb_dir: Path,
                       work: Path) -> tuple[dict[str, object], list[str]]:
    """``hear-gear evaluate`` against heareval for each module (fp32): the same embeddings, MLP scores within
    tolerance (:mod:`tests.harness.evaluate_check`), and our metrics equal to heareval's score functions
    (:mod:`tests.harness.metric_oracle`); the side-by-side table is logged."""
    from .metric_oracle import check_metrics_against_heareval

    failures = [f"metrics: {failure}" for failure in check_metrics_against_heareval()]
    result: dict[str, object] = {"metrics_agree": not failures}
    rows: list[dict] = []
    for module in modules:
        name = module.rsplit(".", 1)[-1]
        job = jobs[f"evaluate {name}"]
        if job.code != 0:
            failures.append(f"hear-gear evaluate failed for {name} (exit {job.code}):\n{_tail(job.log)}")
            continue
        ours = our_scores(work, name)
        heareval = {task: values for task, values in scores.get(name, {}).items()}
        worst = 0.0
        for task in heareval:
            difference, bad = compare_embeddings(work / "evaluate" / name / "cache", emb_dir / module / task, task)
            worst = max(worst, difference)
            failures += [f"{name} / {failure}" for failure in bad]
        module_rows, bad = compare_scores(ours, heareval, name)
        rows += module_rows
        failures += bad
        predictions = sum(jobs[f"predictions {name} {task}"].seconds for task in heareval)
        result[name] = {"embedding_difference": worst, "seconds": round(job.seconds, 1),
                        "heareval_seconds": round(jobs[f"embeddings {name}"].seconds + predictions, 1),
                        "scores": ours["tasks"]}
    result["rows"] = rows
    _log("hear-gear evaluate against heareval (test scores; MLP: heareval's protocol in both):")
    _log(f"  {'module':<14} {'task':<18} {'metric':<24} {'heareval':>8} {'mlp':>8} {'|diff|':>7} {'tol':>5} "
         f"{'linear':>8} {'knn':>8}")
    for row in rows:
        tolerance = "-" if row["tolerance"] is None else f"{row['tolerance']:.2f}"
        mlp, linear, knn = (_number(row[p]) for p in ("mlp", "linear", "knn"))
        _log(f"  {row['module']:<14} {row['task']:<18} {row['metric']:<24} {row['heareval']:>8.3f} {mlp:>8} "
             f"{row['difference']:>7.3f} {tolerance:>5} {linear:>8} {knn:>8}")
    for name, values in result.items():
        if isinstance(values, dict) and "seconds" in values:
            _log(f"  {name}: hear-gear evaluate {values['seconds']:.0f} s (3 protocols, embeddings included), heareval "
                 f"{values['heareval_seconds']:.0f} s (embeddings and MLP); largest embedding difference "
                 f"{values['embedding_difference']:.1e}")
    return result, failures


def _number(value: float | None) -> str:
    """A score for the table; ``null`` in ``scores.json`` (not a finite number) as ``-``."""
    return "-" if value is None else f"{value:.3f}"


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
