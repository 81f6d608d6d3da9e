"""The GPU check: what this package claims on a CUDA GPU, measured in one run of at most 8 minutes.

``benchmarks/gpu_check.sh`` runs each step in a process of its own under its own timeout; run directly,
this script runs the steps of ``--steps`` one after another in one process. Steps:

1. ``pytest``: the tests marked ``cuda`` (``pytest -m cuda`` on the test files that use the mark; without
   CUDA the suite's ``tests/conftest.py`` skips them). On a CUDA device at least one must run, and none
   may fail or be skipped.
2. ``parity``: fp32 on the device against fp32 on the CPU, same checkpoint (seeded random weights in the
   official layout, :func:`tests.checkpoints.random_official_checkpoint`) and audio, for ``passt_base``
   (10 s) and ``passt_lm2rf_hop5`` (3 s: its 640 ms windows on a 5 ms STFT cost 13x more on the CPU):
   timestamp embeddings of 1 clip and scene embeddings of 2 clips, ``max |device - cpu| / max |cpu|``
   at most 1e-4 (the tolerance of the parity with hear21passt).
3. ``precision``: bf16 and fp16 against fp32 on the device for the same variants and audio: the
   relative error as above (recorded) and the minimum cosine similarity between matching embedding rows
   (at least 0.999, the benchmark's tolerance), embeddings float32 on the device, finite. On a CPU a
   precision the CPU refuses is recorded as refused; on CUDA a refusal fails.
4. ``throughput``: ``benchmarks/bench_passt.py`` in a subprocess on ``passt_base`` timestamps of 1 x 10 s
   in fp32, bf16 and fp16, and bf16 and fp16 compiled (:data:`COMPILED`: ``torch.compile``, its compile time
   recorded; CUDA graphs are not tried), against hear21passt in fp32 on the same device (``--no-reference`` where
   hear21passt is not installed: the targets are then unchecked), and the fp32 timestamps of one
   20-minute clip in a fresh process. Targets on CUDA: at least 20x hear21passt's speed in fp32 and 50x
   in bf16 (:data:`SPEEDUP_TARGETS`); the benchmark's own checks (parity with hear21passt, cosine against
   our fp32) must pass; the clip's working memory (peak minus what was held before the call) must stay
   within 1.25 times the memory budget (:data:`~hear_gear_embed.embedding.embedder.DEFAULT_BUDGET_MB`)
   plus the output.
5. ``train``: a training step of ``passt_base`` on 10 clips of 10 s with seed 003's structured Patchout in bf16
   autocast on the device, through the Trainer's own step (:func:`bench_train.measure`: the random checkpoint of the
   parity step, a generated task folder, 2 warm-up steps then 5 timed): clips/s, peak memory
   (``torch.cuda.max_memory_allocated``, and ``memory_allocated`` before the first step), the sequence length; every
   loss must be finite. On a CPU without bf16 units bf16 is recorded as refused and fp32 trains instead; on CUDA a
   refusal fails.
6. ``validator``: the real ``hear-validator`` (``python -m hearvalidator.validate``) with ``-d DEVICE``
   on every published variant, a full-size random checkpoint passed with ``--model`` to those with a
   network, 4 processes side by side; each must end with "Looks good!" and without one of the
   validator's own warnings (the verdict rule of ``nox -s harness``:
   :func:`tests.harness.run_harness.real_verdict`). hearvalidator imports TensorFlow but uses it only
   for TensorFlow models: where TensorFlow is not installed, a stand-in module that holds the
   ``Module`` class it tests against is put on the validator's path.

``--quick`` shrinks every step to the tiny test geometry and a second of audio (the validator to
``tiny_test`` and ``lowlevel_mel``, the benchmark to ``tiny_test`` without reference, training to 2 clips of 0.5 s of
``tiny_test``), so that the logic runs in seconds on a CPU: ``--device cpu --quick`` (``tests/tools/test_gpu_check.py``).

Results: ``gpu-check.json`` under ``--out``, rewritten after every step and every measurement within
one, so that a step killed by its timeout leaves what it measured. Each step has a ``status``
(``running``, ``pass``, ``fail``, ``error`` with the traceback's tail, ``skipped`` with the reason; the
summary turns a step left ``running`` into ``timeout`` or ``crashed``, and one never started into
``missing``), ``seconds``, ``budget_s`` where the runner gave one, ``checks`` (``name``, ``value``,
``op``, ``limit``, ``passed``: ``None`` where the value could not be measured, e.g. speed-ups without
hear21passt) and ``details``. At the top: ``environment``, ``passed`` (no failed check, every step
passed or was skipped), ``failures`` and ``unchecked`` (lines naming each). The benchmark writes
``bench-passt.json`` and ``.md`` beside it, the validator runs ``validator.log``. Exit status: 1 when
anything failed so far, else 0.

Usage::

    bash benchmarks/gpu_check.sh                                          # on a CUDA machine: everything
    python benchmarks/gpu_check.py --device cpu --quick --out /tmp/gpu    # the logic, on a CPU, in seconds
    python benchmarks/gpu_check.py --steps parity precision               # some steps, one process
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bench_passt import COSINE_TOLERANCE, PARITY_TOLERANCE, min_row_cosine, relative_error, test_audio  # noqa: E402

from benchmarks.machine import environment as machine_environment  # noqa: E402
from hear_gear_embed import VariantConfig, get_variant, list_variants, load_embedder  # noqa: E402
from hear_gear_embed.embedding import Embedder  # noqa: E402
from hear_gear_embed.embedding.embedder import DEFAULT_BUDGET_MB  # noqa: E402
from hear_gear_embed.util.device import resolve_device  # noqa: E402
from hear_gear_embed.util.precision import FLOAT_PRECISIONS, Precision, PrecisionUnsupportedError  # noqa: E402
from tests.checkpoints import random_official_checkpoint  # noqa: E402
from tests.harness.jobs import Job, run_jobs  # noqa: E402

STEPS = ("pytest", "parity", "precision", "throughput", "train", "validator")
"""Every step, in the order they run."""

REPORT_NAME = "gpu-check.json"
SPEEDUP_TARGETS: dict[Precision, float] = {"fp32": 20.0, "bf16": 50.0}
"""Least speed-up over hear21passt (fp32, same device) of ``passt_base`` timestamps of 1 x 10 s, per precision of ours."""
MEMORY_SLACK = 1.25
"""Working memory of the long clip allowed above the memory budget (estimates and allocator rounding), as a factor."""
VALIDATOR_WORKERS = 4
"""hear-validator processes side by side: each spends seconds importing and loading on one core before the GPU works."""
REDUCED: tuple[Precision, ...] = FLOAT_PRECISIONS[1:]
"""The precisions compared with fp32 (int8 is a CPU format)."""
COMPILED: tuple[Precision, ...] = ("bf16", "fp16")
"""The precisions the benchmark also times compiled on a GPU."""
CHECK_OPS: dict[str, Callable[[object, object], bool]] = {
    "<=": lambda value, limit: value <= limit,  # type: ignore[operator]
    ">=": lambda value, limit: value >= limit,  # type: ignore[operator]
    "==": lambda value, limit: value == limit,
}
"""How a check compares its value with its limit (NaN fails every one)."""


@dataclass(frozen=True)
class TrainCase:
    """The ``train`` step's run: ``batch`` clips of ``seconds`` of ``variant`` with seed 003's Patchout in
    ``precision``, ``warmup`` untimed steps then ``steps`` timed ones."""

    variant: str
    seconds: float
    batch: int
    warmup: int
    steps: int
    precision: Precision


@dataclass(frozen=True)
class Plan:
    """What the steps run: full sizes (on a GPU), or tiny ones (``--quick``) to try the logic on a CPU.

    Attributes:
        clips: variant -> seconds of audio for ``parity`` and ``precision`` (timestamps of 1 clip, scene of 2).
        bench_args: ``bench_passt.py`` arguments besides ``--device``, ``--out`` and ``--no-reference``.
        target_case: ``(variant, kind, n_sounds, seconds)`` of the benchmark row the speed-up targets apply to.
        reference: whether the benchmark may time hear21passt (it has no module for the tiny geometry).
        validator_variants: variants ``hear-validator`` runs on.
        train: the ``train`` step's run.
    """

    clips: dict[str, float]
    bench_args: tuple[str, ...]
    target_case: tuple[str, str, int, float]
    reference: bool
    validator_variants: tuple[str, ...]
    train: TrainCase


def make_plan(quick: bool) -> Plan:
    """The full plan, or the quick one."""
    if quick:
        return Plan(
            clips={"tiny_test": 1.0},
            bench_args=("--variants", "tiny_test", "--cases", "timestamp:1x1", "--precision", *FLOAT_PRECISIONS,
                        "--compiled", "bf16", "--memory-variants", "tiny_test", "--memory-minutes", "0.05", "--repeats", "1",
                        "--peak-repeats", "1"),
            target_case=("tiny_test", "timestamp", 1, 1.0),
            reference=False,
            validator_variants=("tiny_test", "lowlevel_mel"),
            train=TrainCase("tiny_test", 0.5, 2, 1, 2, "bf16"),
        )
    return Plan(
        clips={"passt_base": 10.0, "passt_lm2rf_hop5": 3.0},
        bench_args=("--variants", "passt_base", "--cases", "timestamp:1x10", "--precision", *FLOAT_PRECISIONS,
                    "--compiled", *COMPILED, "--memory-variants", "passt_base", "--memory-minutes", "20"),
        target_case=("passt_base", "timestamp", 1, 10.0),
        reference=True,
        validator_variants=tuple(list_variants()),
        train=TrainCase("passt_base", 10.0, 10, 2, 5, "bf16"),
    )


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def _jsonable(value: object) -> object:
    """``value`` with non-finite floats as strings (``"nan"``, ``"inf"``): the file stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class Report:
    """``gpu-check.json``: read when a process starts (a run of ``gpu_check.sh`` is one process per step, each adding
    its step), unless ``fresh``; written after every change.

    Thread-safe: the validator records its runs from the worker threads of :func:`~tests.harness.jobs.run_jobs`.
    """

    def __init__(self, path: Path, fresh: bool = False) -> None:
        self.path = path
        self.data: dict = (json.loads(path.read_text()) if path.is_file() and not fresh
                           else {"schema": 1, "started": _now(), "steps": {}})
        self.lock = threading.RLock()

    def save(self) -> None:
        """Write the report (through a temporary file, so a reader never sees half of it)."""
        with self.lock:
            self.data["updated"] = _now()
            partial = self.path.with_name(f".{self.path.name}.tmp")
            partial.write_text(json.dumps(self.data, indent=2))
            partial.replace(self.path)


class Step:
    """One step's entry in the report: checks and details, saved as they come."""

    def __init__(self, report: Report, name: str, budget_s: float | None) -> None:
        self.report = report
        self.entry: dict = {"status": "running", "started": _now(), "budget_s": budget_s, "checks": [], "details": {}}
        with report.lock:
            report.data["steps"][name] = self.entry
            report.save()

    def check(self, name: str, value: object, op: str, limit: object, note: str = "") -> bool | None:
        """Record a check of ``value op limit`` (``None`` value: not measured, the check is unchecked); whether it passed."""
        passed = None if value is None else bool(CHECK_OPS[op](value, limit))
        row = {"name": name, "value": _jsonable(value), "op": op, "limit": limit, "passed": passed}
        if note:
            row["note"] = note
        with self.report.lock:
            self.entry["checks"].append(row)
            self.report.save()
        return passed

    def detail(self, key: str, value: object) -> None:
        """Record ``value`` (JSON-serialisable) under ``details[key]``."""
        with self.report.lock:
            self.entry["details"][key] = value
            self.report.save()

    def skip(self, reason: str) -> None:
        """Mark the step skipped (a check that cannot run on this machine, e.g. no hearvalidator on a CPU run)."""
        self.entry["skipped"] = reason


@dataclass(frozen=True)
class Context:
    """What every step gets: the device, the plan, and where to write."""

    device: torch.device
    plan: Plan
    out: Path
    scratch: Path

    def checkpoint(self, variant: VariantConfig) -> Path:
        """A random checkpoint (seed 0, official layout) of ``variant``'s network geometry, written once per geometry."""
        assert variant.net is not None
        return random_official_checkpoint(variant.net, self.scratch / "checkpoints")


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here."""
    return importlib.util.find_spec(module) is not None


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(device: torch.device) -> dict[str, object]:
    """Versions, the GPU and the float32 settings that decide whether CUDA computes fp32 exactly (TF32)."""
    info: dict[str, object] = {
        **machine_environment(device), "torch_cuda": torch.version.cuda,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32, "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "cudnn_conv_fp32_precision": getattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision", None),
        "packages": {name: _version(name) for name in ("numpy", "nnAudio", "hear21passt", "hearvalidator", "tensorflow", "pytest")},
    }
    return info


def _run(command: list[str]) -> int:
    """Run ``command`` in the repository root, its output into ours (which the runner keeps); its exit status."""
    print(f"[gpu-check] $ {' '.join(command)}", flush=True)
    return subprocess.run(command, cwd=ROOT, check=False).returncode


# --- step 1: the tests marked cuda ---------------------------------------------------------------------------------


def cuda_test_files() -> list[str]:
    """Test files that use the ``cuda`` mark, relative to the repository root (collecting only these keeps the step short)."""
    files = (ROOT / "tests").rglob("test_*.py")
    return sorted(str(p.relative_to(ROOT)) for p in files if "mark.cuda" in p.read_text(errors="replace"))


def junit_counts(path: Path) -> dict[str, int]:
    """``tests``, ``failures``, ``errors``, ``skipped`` and ``passed`` of a pytest JUnit XML report, over its suites."""
    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {key: sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return counts


def step_pytest(step: Step, ctx: Context) -> None:
    """Step 1: ``pytest -m cuda`` on the files that use the mark; counts from its JUnit report."""
    files = cuda_test_files()
    step.detail("files", files)
    if not step.check("test files using the cuda mark", len(files), ">=", 1):
        return
    junit = ctx.scratch / "pytest-cuda.xml"
    junit.unlink(missing_ok=True)
    code = _run([sys.executable, "-m", "pytest", "-m", "cuda", "-p", "no:cacheprovider", f"--junitxml={junit}", *files])
    step.check("pytest exit status", code, "==", 0)
    if not junit.is_file():
        raise RuntimeError(f"pytest wrote no JUnit report (exit status {code})")
    counts = junit_counts(junit)
    step.detail("counts", counts)
    step.check("cuda tests failed or in error", counts["failures"] + counts["errors"], "<=", 0)
    if ctx.device.type == "cuda":
        step.check("cuda tests passed", counts["passed"], ">=", 1)
        step.check("cuda tests skipped on a CUDA device", counts["skipped"], "<=", 0)
    else:
        step.detail("note", f"no CUDA on {ctx.device}: the {counts['skipped']} cuda tests were skipped, as they must be")


# --- steps 2 and 3: fp32 against the CPU, reduced precision against fp32 ---------------------------------------------


def embed(model: Embedder, seconds: float) -> dict[str, torch.Tensor]:
    """Timestamp embeddings of 1 clip and scene embeddings of 2 clips of ``seconds`` (:func:`bench_passt.test_audio`),
    on the model's device."""
    device = model.device
    with torch.inference_mode():
        return {"timestamp": model.timestamp_embeddings(test_audio(1, seconds).to(device))[0],
                "scene": model.scene_embeddings(test_audio(2, seconds, seed=1).to(device))}


def step_parity(step: Step, ctx: Context) -> None:
    """Step 2: fp32 on the device against fp32 on the CPU, per variant of the plan and kind of embedding."""
    cpu = torch.device("cpu")
    for name, seconds in ctx.plan.clips.items():
        variant = get_variant(name)
        path = ctx.checkpoint(variant)
        outputs = {}
        for where in (cpu, ctx.device):
            start = time.perf_counter()
            outputs[where.type] = {k: v.cpu() for k, v in embed(load_embedder(variant, path, device=where), seconds).items()}
            step.detail(f"{name} seconds on {where.type}", round(time.perf_counter() - start, 2))
        for kind, ours in outputs[ctx.device.type].items():
            error = relative_error(ours, outputs["cpu"][kind])
            step.check(f"{name} {kind} {seconds:g} s, fp32 on {ctx.device.type} vs cpu: max relative error", error, "<=",
                       PARITY_TOLERANCE)


def step_precision(step: Step, ctx: Context) -> None:
    """Step 3: each reduced precision against fp32 on the device, per variant of the plan and kind of embedding."""
    for name, seconds in ctx.plan.clips.items():
        variant = get_variant(name)
        path = ctx.checkpoint(variant)
        reference = embed(load_embedder(variant, path, device=ctx.device), seconds)
        for precision in REDUCED:
            label = f"{name} {precision}"
            try:
                model = load_embedder(variant, path, device=ctx.device, precision=precision)
            except PrecisionUnsupportedError as error:
                if ctx.device.type == "cuda":
                    step.check(f"{label}: accepted on {ctx.device.type}", False, "==", True, note=str(error))
                else:
                    step.detail(f"{label} refused", str(error))
                continue
            start = time.perf_counter()
            try:
                outputs = embed(model, seconds)
            except FloatingPointError as error:
                step.check(f"{label}: finite embeddings", False, "==", True, note=str(error))
                continue
            step.detail(f"{label} seconds", round(time.perf_counter() - start, 2))
            for kind, got in outputs.items():
                step.check(f"{label} {kind}: float32 on {ctx.device.type}",
                           got.dtype == torch.float32 and got.device.type == ctx.device.type, "==", True)
                step.detail(f"{label} {kind} max relative error vs fp32", relative_error(got, reference[kind]))
                step.check(f"{label} {kind} {seconds:g} s: min row cosine vs fp32", min_row_cosine(got, reference[kind]), ">=",
                           COSINE_TOLERANCE)


# --- step 4: throughput against hear21passt and the long clip's memory ----------------------------------------------


def bench_command(ctx: Context, reference: bool) -> list[str]:
    """The ``bench_passt.py`` command line of the plan."""
    return [sys.executable, str(ROOT / "benchmarks" / "bench_passt.py"), "--device", str(ctx.device), *ctx.plan.bench_args,
            "--out", str(ctx.out / "bench-passt.json"), *([] if reference else ["--no-reference"])]


def evaluate_bench(step: Step, results: dict, code: int, device_type: str, target_case: tuple[str, str, int, float]) -> None:
    """The checks of the throughput step on ``bench_passt.py``'s results and exit status."""
    step.check("bench_passt exit status", code, "==", 0)
    step.check("bench_passt failures (fp32 parity vs hear21passt <= 1e-4, min cosine vs our fp32 >= 0.999)",
               len(results["failures"]), "<=", 0, note="; ".join(results["failures"]))
    refused = results["precisions"]["refused"]
    if device_type == "cuda":
        step.check("precisions refused by the device", len(refused), "<=", 0,
                   note="; ".join(f"{name}: {reason}" for name, reason in refused.items()))
    variant, kind, n_sounds, seconds = target_case
    rows = {r["precision"] + (" compiled" if r.get("compiled") else ""): r for r in results["cases"]
            if (r["variant"], r["kind"], r["n_sounds"], r["seconds"]) == (variant, kind, n_sounds, seconds)}
    step.detail("speed", {p: {key: r.get(key) for key in ("ours_audio_s_per_s", "ref_audio_s_per_s", "speedup", "speedup_vs_fp32",
                                                           "ours_fraction_of_peak", "error_vs_fp32", "min_cosine_vs_fp32",
                                                           "compile_graphs", "compile_s")}
                          for p, r in rows.items()})
    for precision, target in SPEEDUP_TARGETS.items():
        row = rows.get(precision)
        value = None if row is None or device_type != "cuda" else row.get("speedup")
        note = ("the targets are for CUDA" if device_type != "cuda" else f"{precision} not timed" if row is None
                else "hear21passt not timed (--no-reference)" if value is None else "")
        step.check(f"{variant} {kind} {n_sounds}x{seconds:g} s {precision}: speed-up over hear21passt", value, ">=", target,
                   note=note)
    budget = DEFAULT_BUDGET_MB.get(device_type, DEFAULT_BUDGET_MB["cpu"])
    for row in results["memory"]:
        step.detail(f"{row['variant']} {row['minutes']:g} min peak MiB ({row['measure']})", row["peak_mib"])
        step.check(f"{row['variant']} {row['minutes']:g} min: working memory (peak - before the call, MiB)",
                   row["peak_mib"] - row["before_call_mib"], "<=", MEMORY_SLACK * budget + row["output_mib"],
                   note=f"{MEMORY_SLACK} x budget {budget} MiB + output {row['output_mib']:.0f} MiB")


def step_throughput(step: Step, ctx: Context) -> None:
    """Step 4: ``bench_passt.py`` in a subprocess, its results checked by :func:`evaluate_bench`."""
    reference = ctx.plan.reference and installed("hear21passt")
    step.detail("reference", f"hear21passt {_version('hear21passt')}" if reference else "not timed (--no-reference)")
    out = ctx.out / "bench-passt.json"
    out.unlink(missing_ok=True)
    code = _run(bench_command(ctx, reference))
    if not out.is_file():
        raise RuntimeError(f"bench_passt.py wrote no results (exit status {code})")
    evaluate_bench(step, json.loads(out.read_text()), code, ctx.device.type, ctx.plan.target_case)


# --- step 5: a training step ------------------------------------------------------------------------------------------

TRAIN_DETAILS = ("variant", "init", "seconds", "batch", "precision", "patchout", "seq_len", "steps", "warmup", "step_s",
                 "median_step_s", "clips_per_s", "train_gflop_per_clip", "gflops", "losses", "measure_memory", "before_mib",
                 "peak_mib", "working_mib", "trained_parameters", "setup_s")
"""What the ``train`` step records of :func:`bench_train.measure`'s row."""


def step_train(step: Step, ctx: Context) -> None:
    """Step 5: the plan's training run through the Trainer's own step (:func:`bench_train.measure`), on the device."""
    import bench_train  # imports hear_gear_embed.training (the train extra), which the other steps do not need

    from hear_gear_embed.util.precision import compute_dtype

    case = ctx.plan.train
    precision: Precision = case.precision
    try:
        compute_dtype(precision, ctx.device)
    except PrecisionUnsupportedError as error:
        if ctx.device.type == "cuda":
            step.check(f"{case.variant} {precision}: accepted on {ctx.device.type}", False, "==", True, note=str(error))
            return
        step.detail(f"{precision} refused", str(error))
        precision = "fp32"
    task = ctx.scratch / f"train-task-{case.batch}x{case.seconds:g}"
    if not (task / "task_metadata.json").is_file():
        bench_train.make_task(task, case.batch, case.seconds)
    spec = bench_train.Spec("gpu-check", case.variant, case.seconds, case.batch, True, precision, None, case.steps,
                            case.warmup)
    # The checkpoint the parity step wrote (written now if this step runs alone): loading it takes a fraction of a
    # second, drawing full-size random weights several.
    (row,) = bench_train.measure([spec], task, ctx.device, init=ctx.checkpoint(get_variant(case.variant)))
    step.detail("train", {key: row.get(key) for key in TRAIN_DETAILS})
    if case.variant == "passt_base" and case.seconds == 10.0:
        step.detail("seed 003 Table 2: passt_base 10 s with Patchout, Titan RTX (clips/s)",
                    bench_train.SEED003_TABLE2[10.0]["clips_per_s_patchout"])
    label = f"{case.variant} {case.batch}x{case.seconds:g} s, Patchout, {precision} on {ctx.device.type}"
    step.check(f"{label}: every loss finite", row["finite"], "==", True, note=row.get("error", ""))
    step.check(f"{label}: timed steps", len(row["step_s"]) - case.warmup, "==", case.steps)
    if "clips_per_s" in row:
        print(f"[gpu-check] train: {label}: {row['clips_per_s']:.1f} clips/s, peak {row['peak_mib']:.0f} MiB "
              f"({row['measure_memory']})", flush=True)


# --- step 6: the real hear-validator ---------------------------------------------------------------------------------

TENSORFLOW_STANDIN = '''"""Stand-in for TensorFlow, written by benchmarks/gpu_check.py: hearvalidator imports it, and uses it only
to tell TensorFlow models (instances of ``Module``, which no torch model is) from torch ones."""


class Module:
    pass
'''


def validator_env(ctx: Context) -> tuple[dict[str, str], str]:
    """The validator processes' environment (this repository and, without TensorFlow, its stand-in on the path) and
    what TensorFlow they get."""
    paths = [str(ROOT)]
    tensorflow = _version("tensorflow")
    if not installed("tensorflow"):
        standin = ctx.scratch / "tensorflow-standin"
        (standin / "tensorflow").mkdir(parents=True, exist_ok=True)
        (standin / "tensorflow" / "__init__.py").write_text(TENSORFLOW_STANDIN)
        paths.insert(0, str(standin))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*paths, *filter(None, [os.environ.get("PYTHONPATH")])]))
    return env, f"tensorflow {tensorflow}" if tensorflow else "stand-in (TensorFlow not installed)"


def step_validator(step: Step, ctx: Context) -> None:
    """Step 6: hear-validator on each variant of the plan, :data:`VALIDATOR_WORKERS` processes side by side."""
    if not installed("hearvalidator"):
        if ctx.device.type == "cuda":
            raise RuntimeError("hearvalidator is not installed (benchmarks/gpu_wheels.sh downloads it)")
        step.skip("hearvalidator is not installed")
        return
    from tests.harness.run_harness import real_verdict

    env, tensorflow = validator_env(ctx)
    step.detail("tensorflow", tensorflow)
    jobs = []
    for name in ctx.plan.validator_variants:
        variant = get_variant(name)
        model = ["--model", str(ctx.checkpoint(variant))] if variant.needs_network else []
        jobs.append(Job(name, [sys.executable, "-m", "hearvalidator.validate", f"hear_gear_embed.hear.{name}", *model,
                               "-d", str(ctx.device)], ctx.scratch / f"validator-{name}.log", 2.0 if model else 1.0))

    def record(job: Job) -> None:
        verdict = real_verdict(job)
        step.check(f"hear-validator {job.name} -d {ctx.device}: Looks good!, no warning",
                   bool(verdict["passed"]) and not verdict["warned"], "==", True,
                   note="" if verdict["passed"] and not verdict["warned"] else f"{verdict['last_line']} {verdict['warnings']}")
        step.detail(f"{job.name} seconds", verdict["seconds"])

    run_jobs(jobs, ROOT, env, min(VALIDATOR_WORKERS, len(jobs)), on_done=record)
    with (ctx.out / "validator.log").open("w") as log:
        for job in jobs:
            log.write(f"===== {' '.join(job.cmd)} (exit status {job.code}, {job.seconds:.1f} s)\n")
            log.write(job.log.read_text(errors="replace") if job.log.is_file() else "(no log)\n")


STEP_FUNCTIONS: dict[str, Callable[[Step, Context], None]] = {
    "pytest": step_pytest, "parity": step_parity, "precision": step_precision, "throughput": step_throughput,
    "train": step_train, "validator": step_validator,
}


# --- running and summing up ------------------------------------------------------------------------------------------


@contextmanager
def _timed_step(report: Report, name: str, budget_s: float | None) -> Iterator[Step]:
    """A step's entry: ``running`` while the body runs, then its status and seconds (``error`` with the traceback's
    tail if the body raised)."""
    step = Step(report, name, budget_s)
    start = time.perf_counter()
    try:
        yield step
    except Exception:  # any failure of a step is its result; the next step still runs
        step.entry["error"] = traceback.format_exc()[-3000:]
        step.entry["status"] = "error"
    else:
        failed = any(c["passed"] is False for c in step.entry["checks"])
        step.entry["status"] = "fail" if failed else "skipped" if "skipped" in step.entry else "pass"
    step.entry["seconds"] = round(time.perf_counter() - start, 1)
    summarise(report)
    print(f"[gpu-check] {name}: {step.entry['status']} in {step.entry['seconds']} s", flush=True)
    for check in step.entry["checks"]:
        if check["passed"] is not True:
            print(f"[gpu-check]   {'FAILED' if check['passed'] is False else 'unchecked'}: {_check_line(check)}", flush=True)
    if "error" in step.entry:
        print(step.entry["error"], flush=True)


def _check_line(check: dict) -> str:
    value = check["value"]
    shown = f"{value:.3g}" if isinstance(value, float) else str(value)
    note = f" ({check['note']})" if check.get("note") else ""
    return f"{check['name']}: {shown} {check['op']} {check['limit']}{note}"


def summarise(report: Report, expected: tuple[str, ...] = (), exit_codes: dict[str, int] | None = None) -> None:
    """Set the report's ``passed``, ``failures`` and ``unchecked``. A step of ``expected`` that did not finish is
    ``missing``, or where its process's exit status is known (``exit_codes``), ``timeout`` (124 or 137, from
    ``timeout``) or ``crashed`` (the traceback is in the log)."""
    steps = report.data["steps"]
    for name in expected:
        entry = steps.setdefault(name, {"status": "missing", "checks": [], "details": {}})
        code = (exit_codes or {}).get(name)
        if entry["status"] in ("running", "missing") and code is not None:
            entry["status"] = "timeout" if code in (124, 137) else "crashed"
            entry["exit_status"] = code
    failures, unchecked = [], []
    for name, entry in steps.items():
        if entry["status"] not in ("pass", "fail", "skipped", "running"):  # a failed step's checks say why
            error = f": {entry['error'].strip().splitlines()[-1]}" if "error" in entry else ""
            failures.append(f"{name}: {entry['status']}{error}")
        for check in entry["checks"]:
            if check["passed"] is False:
                failures.append(f"{name}: {_check_line(check)}")
            elif check["passed"] is None:
                unchecked.append(f"{name}: {_check_line(check)}")
    report.data.update(passed=not failures, failures=failures, unchecked=unchecked)
    report.save()


def print_summary(report: Report) -> None:
    """One line per step, then every failure and unchecked target."""
    print("[gpu-check] step        status    seconds  budget  checks", flush=True)
    for name, entry in report.data["steps"].items():
        n_passed = sum(c["passed"] is True for c in entry["checks"])
        print(f"[gpu-check] {name:<11} {entry['status']:<9} {entry.get('seconds', '-')!s:>7}  {entry.get('budget_s') or '-'!s:>6}"
              f"  {n_passed}/{len(entry['checks'])} passed", flush=True)
    for line in report.data["failures"]:
        print(f"[gpu-check] FAILED: {line}", flush=True)
    for line in report.data["unchecked"]:
        print(f"[gpu-check] unchecked: {line}", flush=True)
    print(f"[gpu-check] {'PASSED' if report.data['passed'] else 'FAILED'}: {report.path}", flush=True)


def _exit_codes(items: list[str]) -> dict[str, int]:
    codes = {}
    for item in items:
        name, _, code = item.partition("=")
        codes[name] = int(code)
    return codes


def build_parser() -> argparse.ArgumentParser:
    """The command line (``gpu_check.sh`` passes ``--steps``, ``--budget-s``, ``--out``, ``--summary`` and ``--exit-codes``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="torch device to check (default cuda)")
    parser.add_argument("--quick", action="store_true", help="tiny geometry and a second of audio: the logic, on a CPU")
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or ROOT / "benchmarks" / "results" / "gpu"))
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "hge-gpu-check",
                        help="checkpoints and logs that do not come back (default: $TMPDIR/hge-gpu-check)")
    parser.add_argument("--budget-s", type=float, default=None, help="the runner's timeout for these steps (recorded)")
    parser.add_argument("--summary", action="store_true", help="sum up the run of gpu_check.sh instead of running a step")
    parser.add_argument("--exit-codes", nargs="*", default=[], metavar="STEP=CODE",
                        help="with --summary: the exit status of each step run (default: every step expected)")
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Run the steps of ``argv`` (or, with ``--summary``, only sum up the run), update ``gpu-check.json`` and return it."""
    args = build_parser().parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    args.scratch.mkdir(parents=True, exist_ok=True)
    # Every step in this process: a run of its own, not steps added to an earlier one.
    report = Report(args.out / REPORT_NAME, fresh=args.steps == list(STEPS) and not args.summary)
    if args.summary:
        codes = _exit_codes(args.exit_codes)
        summarise(report, tuple(codes) or STEPS, codes)
        print_summary(report)
        return report.data
    device = resolve_device(args.device)
    report.data.update(device=str(device), quick=args.quick, environment=environment(device))
    ctx = Context(device, make_plan(args.quick), args.out, args.scratch)
    for name in args.steps:
        with _timed_step(report, name, args.budget_s) as step:
            STEP_FUNCTIONS[name](step, ctx)
    if args.steps == list(STEPS):
        print_summary(report)
    return report.data


if __name__ == "__main__":
    sys.exit(0 if main()["passed"] else 1)
