"""The PaSST benchmark script runs and reports consistent numbers (tiny model, no reference; with the reference:
``tests/parity/test_bench_reference.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from hear_gear_embed import get_variant
from hear_gear_embed.util.precision import cpu_bf16_units, cpu_int8_units


def test_benchmark_runs_and_writes_tables(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    results = bench.main([
        "--variants", "tiny_test", "--cases", "timestamp:2x1.5", "scene:1x12", "--no-reference", "--repeats", "2",
        "--peak-repeats", "2", "--memory-variants", "tiny_test", "--memory-minutes", "0.1", "0.3", "--out", str(out),
    ])
    saved = json.loads(out.read_text())
    assert saved["cases"] == json.loads(json.dumps(results["cases"]))
    timestamp, scene = saved["cases"]
    assert (timestamp["kind"], timestamp["n_sounds"], timestamp["seconds"]) == ("timestamp", 2, 1.5)
    assert timestamp["ours_audio_s_per_s"] == pytest.approx(3.0 / timestamp["ours_s"])
    assert timestamp["ours_calls"] == 2 and scene["network_gflop"] > 0
    peak = saved["peak_gflops"]
    assert peak == max(saved["matmul_gflops"]["start"]["peak"], saved["matmul_gflops"]["end"]["peak"]) > 0
    assert timestamp["precision"] == "fp32" and saved["precisions"]["timed"] == ["fp32"]
    assert timestamp["ours_fraction_of_peak"] == pytest.approx(timestamp["ours_gflops"] / peak)
    assert saved["failures"] == [] and "cpu_bf16_units" in saved["environment"]
    short, long = saved["memory"]
    size = get_variant("tiny_test").timestamp_embedding_size
    assert short["shape"] == [1, 121, size] and long["shape"] == [1, 361, size]
    assert long["output_mib"] > short["output_mib"] and long["peak_mib"] >= long["before_call_mib"] > 0
    if Path("/proc/self/status").exists():
        assert long["measure"] == "peak RSS (VmHWM, reset before the call)"
    table = out.with_suffix(".md").read_text()
    assert "| `tiny_test` | timestamp | 2 x 1.5 s |" in table and "| `tiny_test` | 0.3 min |" in table


def test_reduced_precision_is_timed_against_its_own_peak_and_our_fp32(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench, "PEAK_ROWS", 64)  # the peak's value is not checked here, only which one each row uses
    out = tmp_path / "bench.json"
    bench.main([
        "--variants", "tiny_test", "--cases", "timestamp:1x1", "scene:1x1", "--no-reference", "--precision", "bf16",
        "fp16", "--repeats", "1", "--peak-repeats", "1", "--memory-minutes", "--out", str(out),
    ])
    saved = json.loads(out.read_text())
    assert "fp16" in saved["precisions"]["refused"] and saved["environment"]["cpu_bf16_units"] == (
        None if cpu_bf16_units() is None else list(cpu_bf16_units())
    )
    bf16 = cpu_bf16_units() != ()
    assert saved["precisions"]["timed"] == (["fp32", "bf16"] if bf16 else ["fp32"])
    assert ("bf16" in saved["precisions"]["refused"]) is not bf16
    peaks = saved["peak_gflops_by_precision"]
    assert set(peaks) == set(saved["precisions"]["timed"]) and peaks["fp32"] == saved["peak_gflops"]
    for name, peak in peaks.items():
        matmul = saved["matmul_gflops_by_precision"][name]
        assert peak == max(matmul["start"]["peak"], matmul["end"]["peak"]) > 0
    rows = saved["cases"]
    assert [(r["kind"], r["precision"], r["compiled"]) for r in rows] == [(k, p, False) for k in ("timestamp", "scene")
                                                                        for p in peaks]
    for row in rows:
        assert row["ours_fraction_of_peak"] == pytest.approx(row["ours_gflops"] / peaks[row["precision"]])
        if row["precision"] == "fp32":
            assert row["speedup_vs_fp32"] == 1.0 and "min_cosine_vs_fp32" not in row
        else:
            fp32 = next(r for r in rows if r["kind"] == row["kind"] and r["precision"] == "fp32")
            assert row["speedup_vs_fp32"] == pytest.approx(fp32["ours_s"] / row["ours_s"])
            assert 1.0 + 1e-9 >= row["min_cosine_vs_fp32"] >= bench.COSINE_TOLERANCE and 0 < row["error_vs_fp32"] < 0.1
    table = out.with_suffix(".md").read_text()
    assert "fp16 not run, refused on cpu:" in table and "| `tiny_test` | scene | 1 x 1 s | fp32 |" in table
    assert ("| `tiny_test` | scene | 1 x 1 s | bf16 |" in table) is bf16


def test_a_low_cosine_fails_the_run_after_saving(bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if cpu_bf16_units() == ():
        pytest.skip("no bf16 units: bf16 is refused, nothing to compare")
    monkeypatch.setattr(bench, "COSINE_TOLERANCE", 1.0 + 1e-9)
    monkeypatch.setattr(bench, "PEAK_ROWS", 64)
    out = tmp_path / "bench.json"
    with pytest.raises(AssertionError, match="minimum cosine against our fp32"):
        bench.main(["--variants", "tiny_test", "--cases", "scene:1x1", "--no-reference", "--precision", "bf16",
                    "--repeats", "1", "--peak-repeats", "1", "--memory-minutes", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert len(saved["failures"]) == 1 and [r["precision"] for r in saved["cases"]] == ["fp32", "bf16"]


def test_compiled_and_int8_rows_with_their_compile_cost_and_time_shares(bench: ModuleType, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "PEAK_ROWS", 64)
    out = tmp_path / "bench.json"
    int8 = bool(cpu_int8_units())
    compiled = "int8" if int8 else "fp32"  # one compiled row: each compilation costs seconds
    bench.main(["--variants", "tiny_test", "--cases", "timestamp:2x1", "--no-reference", "--precision", "int8",
                "--compiled", compiled, "--profile", "--repeats", "1", "--peak-repeats", "1", "--memory-minutes",
                "--out", str(out)])
    saved = json.loads(out.read_text())
    setups = ["fp32", "int8", "int8 compiled"] if int8 else ["fp32", "fp32 compiled"]
    assert saved["setups"] == setups and ("int8" in saved["precisions"]["refused"]) is not int8
    rows = saved["cases"]
    assert [bench.setup_name((r["precision"], r["compiled"])) for r in rows] == setups
    for row in rows:
        shares = row["time_shares"]
        assert list(shares) == list(bench.SHARES) and sum(shares.values()) == pytest.approx(1.0)
        assert shares["matrix products"] > 0 and shares["frontend"] > 0
        # tiny_test's two receptive fields are two window lengths: two graphs, whatever the batch sizes.
        assert ("compile_s" in row) is row["compiled"] and row.get("compile_graphs", 2) == 2
    if not int8:
        assert rows[1]["min_cosine_vs_fp32"] > 0.99999 and rows[1]["error_vs_fp32"] < 1e-4
    else:
        assert saved["peak_gflops_by_precision"]["int8"] > 0
        assert all(r["min_cosine_vs_fp32"] >= bench.INT8_COSINE_TOLERANCE for r in rows if r["precision"] == "int8")
    table = out.with_suffix(".md").read_text()
    assert f"| `tiny_test` | timestamp | 2 x 1 s | {compiled} compiled |" in table and " / " in table


@pytest.mark.parametrize("text", ["timestamp:8", "frames:1x10", "scene:0x10", "scene:1x-1"])
def test_bad_cases_are_refused(bench: ModuleType, text: str) -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="case"):
        bench.parse_case(text)
