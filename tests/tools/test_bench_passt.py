"""The PaSST benchmark script runs and reports consistent numbers (tiny model, no reference; with the reference:
``tests/parity/test_bench_reference.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from hear_gear_embed import get_variant


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
    assert timestamp["ours_fraction_of_peak"] == pytest.approx(timestamp["ours_gflops"] / peak)
    short, long = saved["memory"]
    size = get_variant("tiny_test").timestamp_embedding_size
    assert short["shape"] == [1, 121, size] and long["shape"] == [1, 361, size]
    assert long["output_mib"] > short["output_mib"] and long["peak_mib"] >= long["before_call_mib"] > 0
    if Path("/proc/self/status").exists():
        assert long["measure"] == "peak RSS (VmHWM, reset before the call)"
    table = out.with_suffix(".md").read_text()
    assert "| `tiny_test` | timestamp | 2 x 1.5 s |" in table and "| `tiny_test` | 0.3 min |" in table


@pytest.mark.parametrize("text", ["timestamp:8", "frames:1x10", "scene:0x10", "scene:1x-1"])
def test_bad_cases_are_refused(bench: ModuleType, text: str) -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError, match="case"):
        bench.parse_case(text)
