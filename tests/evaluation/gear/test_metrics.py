"""GEAR's measurements (:mod:`hear_gear_embed.evaluation.gear.metrics`): :func:`analyse`, and the typed record
:class:`GearMetrics`, written as the ``metrics`` of ``metrics.json`` and read back, checked field by field."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hear_gear_embed.evaluation.gear import GearAnalysis, GearMetrics, GearSettings, PerParameter, analyse, ridge_targets
from hear_gear_embed.evaluation.synth import PARAMETERS

GALLERY = Path(__file__).resolve().parents[3] / "docs" / "gallery"


def test_a_run_writes_every_metric(runs: dict[str, Path]) -> None:
    metrics = json.loads((runs["fake"] / "metrics.json").read_text())["metrics"]
    assert set(metrics) == {
        "sensitivity", "sensitivity_interval", "sensitivity_chance", "sensitivity_groups", "sensitivity_binned",
        "sensitivity_dimensions", "knn", "ridge_r2", "ridge_targets", "isomap", "dispersion",
    }
    assert set(metrics["sensitivity"]) == {"f1", "alpha", "r"}
    for name, value in metrics["sensitivity"].items():
        low, high = metrics["sensitivity_interval"][name]
        assert 0 <= low <= value <= high <= 1
    assert metrics["sensitivity_groups"] == {"f1": 6, "alpha": 6, "r": 6}  # 36 sounds: 6 bins of the continuous f1
    assert metrics["sensitivity_binned"] == {"f1": True, "alpha": False, "r": False}
    assert metrics["sensitivity_chance"]["alpha"] == pytest.approx(5 / 35)
    assert metrics["ridge_r2"]["f1"] > 0.5  # band energies encode pitch linearly enough
    assert 0 <= metrics["dispersion"]["gini_index"] <= 1


def _ideal() -> tuple[np.ndarray, np.ndarray, GearSettings]:
    rng = np.random.default_rng(4)
    params = np.column_stack([rng.uniform(100, 800, 300), rng.uniform(0.1, 2, 300), rng.uniform(0.1, 1, 300)])
    emb = ridge_targets(params) / np.array([1.0, 2.0, 1.0])  # each parameter along its own axis, in octaves
    return emb, params, GearSettings(isomap_neighbors=15, knn_neighbors=5, trust_neighbors=5, n_clusters=4)


@cache
def _ideal_analysis() -> GearAnalysis:
    return analyse(*_ideal())


def test_analyse_an_ideal_embedding() -> None:
    result = _ideal_analysis()
    assert result.coords.shape == (300, 3) and result.log_ratios_loo.shape == (300, 3)
    metrics = result.metrics
    assert all(v > 0.999 for v in metrics.ridge.r2.values())
    assert max(metrics.knn.leave_one_out.values()) < 0.2
    assert metrics.isomap.trustworthiness > 0.95
    assert 0 < metrics.dispersion.gini_index < 2 / 3
    # Each dimension follows one parameter: each explains one dimension of three, plus chance on the other two.
    for name, value in metrics.sensitivity.index.items():
        chance = metrics.sensitivity.chance[name]
        assert 1 / 3 - 0.01 < value < 1 / 3 + chance, name
    assert metrics.sensitivity.binned == PerParameter(True, True, True)  # all drawn at random
    assert metrics.knn.k == 5 and metrics.isomap.n_neighbors == 15 and metrics.dispersion.n_clusters == 4


def test_per_parameter_values_follow_the_parameters() -> None:
    assert tuple(f.name for f in fields(PerParameter)) == PARAMETERS
    values = PerParameter.of([1.0, 2.0, 3.0])
    assert dict(values) == values.to_json() == {"f1": 1.0, "alpha": 2.0, "r": 3.0}
    assert values["alpha"] == values.alpha == 2.0 and list(values) == list(PARAMETERS) and len(values) == 3
    with pytest.raises(KeyError):
        values["pitch"]


def test_to_json_and_from_json_round_trip(runs: dict[str, Path]) -> None:
    metrics = _ideal_analysis().metrics
    assert GearMetrics.from_json(metrics.to_json()) == metrics
    assert GearMetrics.from_json(json.loads(json.dumps(metrics.to_json()))) == metrics
    for folder in runs.values():
        written = json.loads((folder / "metrics.json").read_text())["metrics"]
        assert json.dumps(GearMetrics.from_json(written).to_json()) == json.dumps(written)


@pytest.mark.parametrize("path", sorted(GALLERY.glob("*/*/metrics.json")), ids=lambda p: "/".join(p.parts[-3:-1]))
def test_the_gallery_records_load_and_write_back_unchanged(path: Path) -> None:
    text = path.read_text()
    record = json.loads(text)
    metrics = GearMetrics.from_json(record["metrics"], where=str(path))
    assert json.dumps({**record, "metrics": metrics.to_json()}, indent=2) + "\n" == text


def test_the_gallery_is_there() -> None:
    assert len(list(GALLERY.glob("*/*/metrics.json"))) >= 2


def _malformed(change: str) -> dict[str, Any]:
    """The metrics of the ideal embedding, with ``change`` (``"del knn.k"`` or ``"set isomap.trustworthiness=..."``)."""
    metrics: dict[str, Any] = copy.deepcopy(_ideal_analysis().metrics.to_json())
    action, rest = change.split(" ", 1)
    path, _, value = rest.partition("=")
    *parents, last = path.split(".")
    target = metrics
    for key in parents:
        target = target[key]
    if action == "del":
        del target[last]
    else:
        target[last] = json.loads(value)
    return metrics


@pytest.mark.parametrize(("change", "problem"), [
    ("del sensitivity_dimensions", "metrics.sensitivity_dimensions is missing"),
    ("del knn.median_abs_log_ratio.in_sample.r", "metrics.knn.median_abs_log_ratio.in_sample.r is missing"),
    ("del isomap.trust_neighbors", "metrics.isomap.trust_neighbors is missing"),
    ("del dispersion.n_clusters", "metrics.dispersion.n_clusters is missing"),
    ("set sensitivity_binned.alpha=1", "metrics.sensitivity_binned.alpha must be a boolean, got 1"),
    ("set sensitivity_groups.f1=6.0", "metrics.sensitivity_groups.f1 must be an integer, got 6.0"),
    ("set ridge_targets.r=null", "metrics.ridge_targets.r must be a string, got None"),
    ("set sensitivity_interval.f1=[0.1, \"x\"]", "metrics.sensitivity_interval.f1 must be a pair of numbers, got [0.1, 'x']"),
    ("set knn.k=\"5\"", "metrics.knn.k must be an integer, got '5'"),
    ("set knn=[]", "metrics.knn must be a JSON object, got list"),
    ("set dispersion.gini_index=false", "metrics.dispersion.gini_index must be a number, got False"),
])
def test_a_malformed_record_names_the_file_and_the_field(change: str, problem: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape('run/metrics.json: not a GEAR metrics record: ' + problem)}$"):
        GearMetrics.from_json(_malformed(change), where="run/metrics.json")


def test_from_json_refuses_what_is_not_a_metrics_object() -> None:
    with pytest.raises(ValueError, match="^x.json: not a GEAR metrics record: metrics must be a JSON object, got list$"):
        GearMetrics.from_json([1, 2], where="x.json")
    older = _malformed("del sensitivity")
    with pytest.raises(ValueError, match="^x.json was written by an older version, without sensitivity indices"):
        GearMetrics.from_json(older, where="x.json")


def test_nan_and_integer_numbers_are_kept_as_written() -> None:
    metrics = _malformed("set dispersion.calinski_harabasz=1")
    metrics["ridge_r2"]["r"] = float("nan")
    read = GearMetrics.from_json(metrics)
    assert read.dispersion.calinski_harabasz == 1 and isinstance(read.dispersion.calinski_harabasz, int)
    assert np.isnan(read.ridge.r2.r)
    assert json.dumps(read.to_json()) == json.dumps(metrics)
