"""The training benchmark (``benchmarks/bench_train.py``) runs its whole protocol on the tiny geometry (``--quick``) and
reports consistent numbers; its full-size geometry (sequence lengths, FLOPs) matches seed 003's Table 2 without
training anything."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from hear_gear_embed import get_variant
from hear_gear_embed.model.passt import forward_flops
from hear_gear_embed.training import default_patchout
from hear_gear_embed.util.precision import cpu_bf16_units
from tests.tools.scripts import import_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench_train() -> ModuleType:
    """``benchmarks/bench_train.py`` imported as a module."""
    return import_script("bench_train")


def test_quick_run_measures_every_section(bench_train: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules["bench_passt"], "PEAK_ROWS", 64)  # the peak's value is not checked, only its use
    out = tmp_path / "train.json"
    results = bench_train.main(["--quick", "--steps", "1", "--becr-repeats", "3", "--peak-repeats", "1", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["table2"] == json.loads(json.dumps(results["table2"])) and saved["quick"] is True
    assert "cpu_bf16_units" in saved["environment"] and len(saved["load_before"]) == len(saved["load_after"]) == 3
    others = saved["other_processes"]
    assert others["samples"] == len(others["log"]) >= others["samples_with_others_busy"] >= 0
    bf16 = cpu_bf16_units() != ()
    assert saved["precisions"]["timed"] == (["fp32", "bf16"] if bf16 else ["fp32"])
    assert ("bf16" in saved["precisions"]["refused"]) is not bf16
    peaks = saved["peak_gflops_by_precision"]
    for name, peak in peaks.items():
        matmul = saved["matmul_gflops_by_precision"][name]
        assert peak == max(matmul["start"]["peak"], matmul["end"]["peak"]) > 0

    table2 = saved["table2"]
    assert [(r["variant"], r["hop_ms"], r["patchout"] is not None) for r in table2] == [
        ("tiny_test", 10.0, False), ("tiny_test", 10.0, True), ("tiny_test_hop5", 5.0, False), ("tiny_test_hop5", 5.0, True)]
    rows = table2 + saved["precision"] + saved["becr"]["steps"]
    for row in rows:
        net = bench_train.variant_config(row["variant"]).net
        patchout = default_patchout(row["hop_ms"]) if row["patchout"] else None
        assert row["patchout"] == (None if patchout is None else {"freq": patchout.freq, "time": patchout.time,
                                                                  "proportion": 0.0})
        columns = net.n_time_patches(row["frames"])
        kept = patchout.kept(net, columns)[2] if patchout else net.freq_patches * columns
        assert row["seq_len"] == kept + 2
        flops = forward_flops(net, row["frames"], row["blocks"], "H" in ("H", "M", "L"), patchout=patchout)
        assert row["train_gflop_per_clip"] == pytest.approx(3 * flops / 1e9)
        assert row["finite"] is True and "error" not in row and len(row["step_s"]) == len(row["losses"]) == 2
        assert row["clips_per_s"] == pytest.approx(row["batch"] / row["median_step_s"])
        assert row["median_step_s"] == row["step_s"][1]  # the warm-up step is not timed
        assert row["fraction_of_peak"] == pytest.approx(row["gflops"] / peaks[row["precision"]])
        assert row["others_busy"]["samples"] >= row["others_busy"]["busy"] >= 0 and len(row["wall_clock"]) == 2
    assert table2[0]["seq_len"] > table2[1]["seq_len"] and table2[2]["frames"] == 2 * table2[0]["frames"]
    for plain, cut in ((table2[0], table2[1]), (table2[2], table2[3])):
        assert "speedup" not in plain and cut["speedup"] == pytest.approx(cut["clips_per_s"] / plain["clips_per_s"])
    for row in table2 + saved["precision"]:  # one fresh process each: memory measured
        assert row["peak_mib"] >= row["before_mib"] > 0 and row["ru_maxrss_mib"] > 0
        assert row["working_mib"] == pytest.approx(row["peak_mib"] - row["before_mib"])
        # ru_maxrss would carry this test runner's own peak into the subprocess: VmHWM is the process's own
        assert row["measure_memory"] == ("peak RSS (VmHWM, reset before the first step)" if Path("/proc/self/status").exists()
                                         else "peak RSS (ru_maxrss)")

    precision = saved["precision"]
    assert [(r["patchout"] is not None, r["precision"]) for r in precision] == [
        (p, name) for p in (False, True) for name in saved["precisions"]["timed"]]
    for row in precision:
        if row["precision"] == "fp32":  # the same configuration as a table2 row: that row, not measured twice
            assert row["reused_from"] == "table2" and row["speedup_vs_fp32"] == 1.0
            assert row["clips_per_s"] == next(r["clips_per_s"] for r in table2
                                              if r["variant"] == row["variant"] and r["patchout"] == row["patchout"])
        else:
            fp32 = next(r for r in precision if r["patchout"] == row["patchout"] and r["precision"] == "fp32")
            assert row["speedup_vs_fp32"] == pytest.approx(row["clips_per_s"] / fp32["clips_per_s"])

    steps = saved["becr"]["steps"]
    assert [r["becr"] for r in steps] == [None, "trace", "eig"] and {r["batch"] for r in steps} == {4}
    assert steps[0]["becr_term"] == [None, None] and all(t > 0 for r in steps[1:] for t in r["becr_term"])
    assert steps[1]["becr_term"][0] == pytest.approx(steps[2]["becr_term"][0], rel=1e-3)  # same weights, same batch
    assert steps[0]["vs_none"] == 0.0 and all(r["working_mib"] is None for r in steps)  # one process for the three
    regulariser = saved["becr"]["regulariser"]
    assert [(r["n"], r["dim"]) for r in regulariser] == [(10, 1295), (64, 1295)]
    for row in regulariser:
        assert row["gini"] < 0.7 and row["trace_loss"] > 0 and row["trace_ms"] > 0 and row["eig_ms"] > 0
        assert row["eig_loss"] == pytest.approx(row["trace_loss"], rel=1e-3)
        assert row["eig_over_trace"] == pytest.approx(row["eig_ms"] / row["trace_ms"])

    table = out.with_suffix(".md").read_text()
    assert "| 10 ms | `tiny_test` | 2 x 0.5 s | none | 50 (1190) |" in table
    assert "| 5 ms | `tiny_test_hop5` | 2 x 0.5 s | 6 rows, 100 columns |" in table
    assert "| `tiny_test` | 4 x 0.5 s | eig |" in table and "| 64 x 1295 |" in table
    assert ("bf16 not run, refused on cpu:" in table) is not bf16


def test_one_section_only(bench_train: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules["bench_passt"], "PEAK_ROWS", 64)
    out = tmp_path / "becr.json"
    saved = bench_train.main(["--quick", "--only", "becr", "--steps", "1", "--warmup", "0", "--becr-repeats", "2",
                              "--peak-repeats", "1", "--out", str(out)])
    assert saved["table2"] == saved["precision"] == [] and len(saved["becr"]["steps"]) == 3
    assert all(len(r["step_s"]) == 1 for r in saved["becr"]["steps"])
    assert "Seed 003" not in out.with_suffix(".md").read_text()


def test_full_size_geometry_is_seed_003s(bench_train: ModuleType) -> None:
    """Sequence lengths of seed 003's Table 2 (its 5 ms figures count the patches without CLS and DIST), without building
    a network."""

    def geometry(variant: str, patchout: bool) -> dict:
        return bench_train.geometry(bench_train.Spec("table2", variant, 10.0, 2, patchout, "fp32", None, 3, 1))

    base, base_p = geometry("passt_base", False), geometry("passt_base", True)
    hop5, hop5_p = geometry("passt_lm2rf_hop5", False), geometry("passt_lm2rf_hop5", True)
    assert (base["seq_len"], base_p["seq_len"]) == (1190, 474)  # seed 003: 1190 / 474
    assert (hop5["seq_len"] - 2, hop5_p["seq_len"] - 2) == (2388, 594)  # seed 003: 2388 / 594
    assert (base["frames"], hop5["frames"], base["blocks"], hop5["blocks"]) == (1000, 2000, 12, 12)
    net = get_variant("passt_base").net
    assert base_p["train_gflop_per_clip"] == pytest.approx(3 * forward_flops(net, 1000, 12, True, default_patchout(10.0)) / 1e9)
    assert hop5["forward_gflop_per_clip"] > 2 * base["forward_gflop_per_clip"] > 4 * base_p["forward_gflop_per_clip"]
