"""Seed 001's ablation script (``benchmarks/diverse_ablation.py``) end to end on the tiny geometry (``--quick``)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.tools.scripts import import_script


def test_quick_run_trains_every_ablation_and_writes_the_tables(tmp_path: Path) -> None:
    script = import_script("diverse_ablation")
    out = tmp_path / "ablation"
    results = script.main(["--out", str(out), "--quick", "--json", str(out / "a.json"), "--md", str(out / "a.md")])
    labels = [r["label"] for r in results["runs"]]
    assert labels == ["pitch alone", "timbre alone", "waveform alone", "neuralogram alone", "all", "all but pitch",
                      "all but timbre", "all but waveform", "all but neuralogram"]
    sizes = {r["label"]: r["embedding_size"] for r in results["runs"]}
    assert sizes["all"] == 64 and sizes["pitch alone"] == 16 and sizes["all but pitch"] == 48
    assert all(0.0 <= r["test"] <= 1.0 and r["seconds_per_epoch"] > 0 and r["embed_s_per_audio_s"] > 0
               for r in results["runs"])
    assert json.loads((out / "a.json").read_text())["runs"] == json.loads(json.dumps(results["runs"]))
    table = (out / "a.md").read_text()
    assert "| all but neuralogram | " in table and "tones-multiclass (top1_acc)" in table
