"""``report.md`` of a GEAR run (:mod:`hear_gear_embed.evaluation.gear.report`): its sections, and the prose read from
the typed metrics."""

from __future__ import annotations

import json
from pathlib import Path

from hear_gear_embed.evaluation.gear import GearMetrics, GearRecord, render_report
from hear_gear_embed.evaluation.gear.report import fmt


def test_a_run_writes_its_report(runs: dict[str, Path]) -> None:
    report = (runs["fake"] / "report.md").read_text()
    assert "ridge R^2 (3-fold)" in report and "![Isomap" in report and "Gini index" in report
    assert "## Sensitivity" in report and "| f1 | " in report and "6 equal-count bins" in report
    assert "does not say how sensitive" in report


def test_the_report_is_rendered_from_the_record(runs: dict[str, Path]) -> None:
    folder = runs["lowlevel_mel"]
    record: GearRecord = json.loads((folder / "metrics.json").read_text())
    assert render_report(record) == (folder / "report.md").read_text()
    metrics = GearMetrics.from_json(record["metrics"])
    report = render_report(record)
    top = max(metrics.sensitivity.index, key=lambda name: metrics.sensitivity.index[name])
    assert f"{top} explains the largest share of the embedding's variance ({fmt(metrics.sensitivity.index[top])})" in report
    assert f"averaged over the {metrics.sensitivity.dimensions} dimensions that vary" in report
    assert f"k-NN K={metrics.knn.k} in-sample" in report and "timestamp, 1152 dimensions" in report


def test_numbers_are_printed_to_three_decimals() -> None:
    assert [fmt(0.12345), fmt(12345.6), fmt(float("nan")), fmt(3)] == ["0.123", "1.235e+04", "n/a", "3"]
