"""The GPU check (``benchmarks/gpu_check.py`` and ``.sh``) on a CPU: the report's structure, failed checks, errors,
timeouts, the throughput targets on made-up benchmark results, and the shell runner. On a GPU machine the same
script runs at full size (docs/gpu.md)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from tests.tools.scripts import import_script

ROOT = Path(__file__).resolve().parents[2]
CHECK_KEYS = {"name", "value", "op", "limit", "passed"}


@pytest.fixture(scope="module")
def gpu_check() -> ModuleType:
    """``benchmarks/gpu_check.py`` imported as a module."""
    return import_script("gpu_check")


def quick(tmp_path: Path, *args: str) -> list[str]:
    return ["--device", "cpu", "--quick", "--out", str(tmp_path / "out"), "--scratch", str(tmp_path / "scratch"), *args]


def test_quick_run_writes_the_report(gpu_check: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_check, "installed", lambda module: module != "hearvalidator")
    report = gpu_check.main(quick(tmp_path, "--steps", "pytest", "parity", "precision", "validator"))
    assert json.loads((tmp_path / "out" / "gpu-check.json").read_text()) == report
    assert report["passed"] is True and report["failures"] == [] and report["quick"] is True
    assert {"torch", "device", "cudnn_allow_tf32", "packages"} <= set(report["environment"])
    steps = report["steps"]
    assert list(steps) == ["pytest", "parity", "precision", "validator"]
    for entry in steps.values():
        assert entry["seconds"] >= 0 and entry["budget_s"] is None
        for check in entry["checks"]:
            assert set(check) - {"note"} == CHECK_KEYS and check["passed"] is True
    tests = steps["pytest"]
    assert tests["status"] == "pass" and "tests/embedding/test_embedder.py" in tests["details"]["files"]
    counts = tests["details"]["counts"]
    if not torch.cuda.is_available():
        assert counts["tests"] == counts["skipped"] >= 1  # every cuda test collected, and skipped here
    assert steps["parity"]["status"] == "pass" and steps["parity"]["checks"][0]["value"] == 0.0  # the CPU against itself
    precision = steps["precision"]
    assert precision["status"] == "pass" and "tiny_test fp16 refused" in precision["details"]
    assert (steps["validator"]["status"], steps["validator"]["skipped"]) == ("skipped", "hearvalidator is not installed")


def test_a_failed_check_fails_the_step_and_the_run(gpu_check: ModuleType, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_check, "relative_error", lambda got, ref: 2e-4)
    report = gpu_check.main(quick(tmp_path, "--steps", "parity"))
    assert report["steps"]["parity"]["status"] == "fail" and report["passed"] is False
    assert [c["passed"] for c in report["steps"]["parity"]["checks"]] == [False, False]
    assert report["failures"] == [f"parity: tiny_test {kind} 1 s, fp32 on cpu vs cpu: max relative error: 0.0002 <= 0.0001"
                                  for kind in ("timestamp", "scene")]


def test_a_step_that_raises_is_an_error_and_the_next_step_still_runs(gpu_check: ModuleType, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(step: object, ctx: object) -> None:
        raise RuntimeError("deliberately broken")

    def fine(step: Any, ctx: object) -> None:
        step.check("a value", float("nan"), "<=", 1.0)

    monkeypatch.setitem(gpu_check.STEP_FUNCTIONS, "parity", broken)
    monkeypatch.setitem(gpu_check.STEP_FUNCTIONS, "precision", fine)
    report = gpu_check.main(quick(tmp_path, "--steps", "parity", "precision"))
    parity, precision = report["steps"]["parity"], report["steps"]["precision"]
    assert parity["status"] == "error" and "RuntimeError: deliberately broken" in parity["error"]
    assert precision["status"] == "fail" and precision["checks"][0]["value"] == "nan"  # NaN fails, and stays strict JSON
    assert report["failures"][0] == "parity: error: RuntimeError: deliberately broken"


def test_the_summary_names_timeouts_crashes_and_missing_steps(gpu_check: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    steps = {name: {"status": "running", "checks": [], "details": {}} for name in ("pytest", "parity")}
    steps["precision"] = {"status": "pass", "checks": [], "details": {}}
    (out / "gpu-check.json").write_text(json.dumps({"schema": 1, "steps": steps}))
    codes = ["pytest=124", "parity=1", "precision=0", "throughput=137"]
    report = gpu_check.main(["--summary", "--out", str(out), "--scratch", str(tmp_path / "scratch"), "--exit-codes", *codes])
    assert {name: entry["status"] for name, entry in report["steps"].items()} == {
        "pytest": "timeout", "parity": "crashed", "precision": "pass", "throughput": "timeout"}
    assert report["passed"] is False and len(report["failures"]) == 3
    everything = gpu_check.main(["--summary", "--out", str(out), "--scratch", str(tmp_path / "scratch")])
    assert everything["steps"]["validator"]["status"] == "missing"


def bench_results(speedups: dict[str, float | None], peak_mib: float) -> dict:
    """Made-up ``bench_passt.py`` results: passt_base timestamps of 1 x 10 s per precision, one 20-minute clip."""
    cases = []
    for setup, speedup in speedups.items():
        precision, _, compiled = setup.partition(" ")
        row = {"variant": "passt_base", "kind": "timestamp", "n_sounds": 1, "seconds": 10.0, "precision": precision,
               "compiled": bool(compiled), "ours_audio_s_per_s": 500.0}
        if speedup is not None:
            row["speedup"] = speedup
        cases.append(row)
    memory = [{"variant": "passt_base", "minutes": 20.0, "measure": "torch.cuda.max_memory_allocated", "peak_mib": peak_mib,
               "before_call_mib": 500.0, "output_mib": 119.0}]
    return {"cases": cases, "memory": memory, "failures": [], "precisions": {"refused": {}}}


def test_throughput_targets_apply_on_cuda(gpu_check: ModuleType, tmp_path: Path) -> None:
    report = gpu_check.Report(tmp_path / "gpu-check.json")
    step = gpu_check.Step(report, "throughput", None)
    results = bench_results({"fp32": 25.0, "bf16": 40.0, "fp16": 60.0, "bf16 compiled": 70.0},
                            peak_mib=500.0 + 1.25 * 4096 + 119.0 + 1)
    gpu_check.evaluate_bench(step, results, 0, "cuda", ("passt_base", "timestamp", 1, 10.0))
    verdicts = {c["name"]: c["passed"] for c in step.entry["checks"]}
    assert verdicts == {
        "bench_passt exit status": True,
        "bench_passt failures (fp32 parity vs hear21passt <= 1e-4, min cosine vs our fp32 >= 0.999)": True,
        "precisions refused by the device": True,
        "passt_base timestamp 1x10 s fp32: speed-up over hear21passt": True,
        "passt_base timestamp 1x10 s bf16: speed-up over hear21passt": False,
        "passt_base 20 min: working memory (peak - before the call, MiB)": False,
    }
    assert step.entry["details"]["speed"]["fp16"]["speedup"] == 60.0
    assert step.entry["details"]["speed"]["bf16 compiled"]["speedup"] == 70.0  # recorded; the target is eager bf16's


@pytest.mark.parametrize("device_type", ["cuda", "cpu"])
def test_throughput_targets_are_unchecked_without_a_reference_or_off_cuda(gpu_check: ModuleType, tmp_path: Path,
                                                                          device_type: str) -> None:
    report = gpu_check.Report(tmp_path / "gpu-check.json")
    step = gpu_check.Step(report, "throughput", None)
    speedups: dict[str, float | None] = {"fp32": None, "bf16": None} if device_type == "cuda" else {"fp32": 3.0, "bf16": 5.0}
    gpu_check.evaluate_bench(step, bench_results(speedups, peak_mib=1000.0), 0, device_type, ("passt_base", "timestamp", 1, 10.0))
    targets = [c for c in step.entry["checks"] if "speed-up" in c["name"]]
    assert [(c["value"], c["passed"]) for c in targets] == [(None, None), (None, None)]
    assert targets[0]["note"] == ("hear21passt not timed (--no-reference)" if device_type == "cuda" else "the targets are for CUDA")
    gpu_check.summarise(report)
    assert report.data["passed"] is True and len(report.data["unchecked"]) == 2


def test_bench_command_follows_the_plan(gpu_check: ModuleType, tmp_path: Path) -> None:
    ctx = gpu_check.Context(torch.device("cuda"), gpu_check.make_plan(quick=False), tmp_path, tmp_path)
    command = " ".join(gpu_check.bench_command(ctx, reference=True))
    assert ("--device cuda --variants passt_base --cases timestamp:1x10 --precision fp32 bf16 fp16 --compiled bf16 fp16 "
            "--memory-variants passt_base --memory-minutes 20") in command and "--no-reference" not in command
    assert command.endswith(f"--out {tmp_path / 'bench-passt.json'}")
    assert gpu_check.bench_command(ctx, reference=False)[-1] == "--no-reference"
    assert set(ctx.plan.validator_variants) >= {"passt_base", "passt_lm2rf_hop5", "handcrafted"}


def test_the_shell_runner_times_each_step_and_passes_the_exit_statuses_on(gpu_check: ModuleType, tmp_path: Path) -> None:
    # A stand-in interpreter records its arguments, sleeps past its step's timeout on "slow", and exits 3 on the summary.
    calls = tmp_path / "calls"
    python = tmp_path / "python"
    python.write_text(f"""#!/usr/bin/env bash
printf '%s\\n' "$*" >>{calls}
case "$*" in *"--steps slow"*) sleep 30 ;; *--summary*) exit 3 ;; esac
""")
    python.chmod(0o755)
    out = tmp_path / "out"
    env = dict(os.environ, OUT=str(out), PYTHON=str(python), GPU_CHECK_WHEELS="", GPU_CHECK_STEPS="parity:30 slow:1")
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--device", "cpu", "--quick"], env=env,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 3, done.stdout + done.stderr
    first, slow, summary = (line.split() for line in calls.read_text().splitlines())
    assert first == ["benchmarks/gpu_check.py", "--device", "cpu", "--quick", "--steps", "parity", "--budget-s", "30", "--out",
                     str(out)]
    assert slow[5:8] == ["slow", "--budget-s", "1"]
    assert summary == ["benchmarks/gpu_check.py", "--device", "cpu", "--quick", "--summary", "--out", str(out), "--exit-codes",
                       "parity=0", "slow=124"]
    args = gpu_check.build_parser().parse_args(first[1:])
    assert (args.steps, args.budget_s, args.out) == (["parity"], 30.0, out)
    assert gpu_check.build_parser().parse_args(summary[1:]).exit_codes == ["parity=0", "slow=124"]
    assert (out / "gpu-check.log").is_file() and not (out / "gpu-check.json").exists()


def test_quick_train_step_measures_a_training_step(gpu_check: ModuleType, tmp_path: Path) -> None:
    report = gpu_check.main(quick(tmp_path, "--steps", "train"))
    entry = report["steps"]["train"]
    assert entry["status"] == "pass" and report["passed"] is True
    train = entry["details"]["train"]
    case = gpu_check.make_plan(quick=True).train
    bf16 = "bf16 refused" not in entry["details"]
    assert train["precision"] == ("bf16" if bf16 else "fp32") and train["variant"] == case.variant == "tiny_test"
    assert (train["batch"], train["seconds"], len(train["step_s"])) == (case.batch, case.seconds, case.warmup + case.steps)
    assert train["patchout"] == {"freq": 4, "time": 40, "proportion": 0.0}
    assert train["seq_len"] == 8 * 3 + 2  # 12 - 4 rows, 4 columns less 40 x 4 // 99
    assert train["clips_per_s"] > 0 and train["peak_mib"] >= train["before_mib"] > 0 and len(train["losses"]) == 3
    assert train["init"].endswith(".pt")  # the parity step's random checkpoint, not a fresh random draw
    assert [c["passed"] for c in entry["checks"]] == [True, True]


def test_the_train_step_fails_on_a_non_finite_loss_and_on_a_refused_precision(
    gpu_check: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bench_train

    measure = bench_train.measure

    def nan_after_one_step(specs: list, task: Path, device: torch.device, init: object) -> list[dict]:
        (row,) = measure(specs, task, device, init)
        row.update(step_s=row["step_s"][:1], losses=[float("nan")], finite=False, error="the loss (nan) is not finite")
        return [row]

    monkeypatch.setattr(bench_train, "measure", nan_after_one_step)
    report = gpu_check.main(quick(tmp_path, "--steps", "train"))
    assert report["steps"]["train"]["status"] == "fail"
    assert [c["passed"] for c in report["steps"]["train"]["checks"]] == [False, False]
    assert "every loss finite: False == True (the loss (nan) is not finite)" in report["failures"][0]

    from hear_gear_embed.util import precision

    def refuse(name: str, device: torch.device) -> torch.dtype:
        raise precision.PrecisionUnsupportedError(f"no {name} here")

    monkeypatch.setattr(precision, "compute_dtype", refuse)
    ctx = gpu_check.Context(torch.device("cuda"), gpu_check.make_plan(quick=True), tmp_path, tmp_path)
    step = gpu_check.Step(gpu_check.Report(tmp_path / "gpu-check.json"), "train", None)
    gpu_check.step_train(step, ctx)  # on CUDA a refusal fails, before anything runs
    assert [(c["name"], c["passed"], c["note"]) for c in step.entry["checks"]] == [
        ("tiny_test bf16: accepted on cuda", False, "no bf16 here")]


def test_the_runner_budgets_every_step_within_eight_minutes(gpu_check: ModuleType) -> None:
    text = (ROOT / "benchmarks" / "gpu_check.sh").read_text()
    default = text.split('steps=${GPU_CHECK_STEPS:-"', 1)[1].split('"', 1)[0]
    budgets = {name: int(seconds) for name, seconds in (entry.split(":") for entry in default.split())}
    assert tuple(budgets) == gpu_check.STEPS and budgets["train"] >= 30
    assert sum(budgets.values()) + 5 * len(budgets) <= 480 - 10  # each may take 5 s to die; install and summary
