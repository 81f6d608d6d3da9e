"""GEAR runs side by side (:mod:`hear_gear_embed.evaluation.gear.compare`): the table, the figures, the folds of the
ridge read-out, and the run folders that are refused, with the file and the problem named."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hear_gear_embed.evaluation.gear import compare_runs, run_gear

from ...util.corrupt import truncate
from . import FAKE, GRID, PNG, SMALL

RIDGE_NOTE = "Ridge R^2: {}-fold cross-validated linear read-out: whether the parameter can be recovered"


def test_compare_runs(runs: dict[str, Path], tmp_path: Path) -> None:
    summary = compare_runs([runs["fake"], runs["lowlevel_mel"]], tmp_path / "cmp")
    assert [r["run"] for r in summary["runs"]] == ["fake", "lowlevel_mel"]
    assert [r["sample_rate"] for r in summary["runs"]] == [16000, 32000]
    assert summary["same_dataset"] is True  # the same sounds, each synthesised at its model's rate
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "different datasets" not in table and "| fake |" in table and "| lowlevel_mel |" in table
    assert "sensitivity f1 [95 %]" in table and "chance level f1 0.143" in table
    assert RIDGE_NOTE.format(3) in table  # the runs' own settings.ridge_folds
    fake = json.loads((runs["fake"] / "metrics.json").read_text())["metrics"]
    assert summary["runs"][0]["sensitivity"] == fake["sensitivity"]
    assert summary["runs"][0]["sensitivity_interval"] == fake["sensitivity_interval"]
    assert summary["runs"][0]["dispersion"] == fake["dispersion"]
    assert json.loads((tmp_path / "cmp" / "comparison.json").read_text()) == summary
    for name in ("compare_isomap.png", "compare_log_ratios.png", "compare_sensitivity.png"):
        assert (tmp_path / "cmp" / name).read_bytes()[:8] == PNG
    other = tmp_path / "other"
    run_gear(FAKE, other, preset="perceptual", grid_overrides={**GRID, "seed": 5}, settings=SMALL, progress=False)
    assert compare_runs([runs["fake"], other], tmp_path / "cmp3")["same_dataset"] is False
    assert "different datasets" in (tmp_path / "cmp3" / "comparison.md").read_text()
    with pytest.raises(ValueError, match="not a GEAR run folder"):
        compare_runs([tmp_path], tmp_path / "cmp2")
    old = tmp_path / "old"
    shutil.copytree(runs["fake"], old)
    record = json.loads((old / "metrics.json").read_text())
    del record["metrics"]["sensitivity"]
    (old / "metrics.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="older version, without sensitivity"):
        compare_runs([old], tmp_path / "cmp4")


def _with_folds(source: Path, folder: Path, folds: int) -> Path:
    """A copy of the run ``source`` whose record says its ridge R^2 was ``folds``-fold."""
    shutil.copytree(source, folder)
    record = json.loads((folder / "metrics.json").read_text())
    record["settings"]["ridge_folds"] = folds
    (folder / "metrics.json").write_text(json.dumps(record, indent=2))
    return folder


def test_the_ridge_folds_are_the_runs_own(runs: dict[str, Path], tmp_path: Path) -> None:
    a, b = _with_folds(runs["fake"], tmp_path / "a", 5), _with_folds(runs["lowlevel_mel"], tmp_path / "b", 5)
    compare_runs([a, b], tmp_path / "default")
    assert RIDGE_NOTE.format(5) in (tmp_path / "default" / "comparison.md").read_text()  # the default, as always
    c = _with_folds(runs["lowlevel_mel"], tmp_path / "c", 10)
    summary = compare_runs([a, c], tmp_path / "mixed")
    table = (tmp_path / "mixed" / "comparison.md").read_text()
    assert ("Ridge R^2: cross-validated linear read-out, with folds that differ between the runs (a 5-fold, c 10-fold): "
            "whether the parameter can be recovered") in table
    assert "5-fold cross-validated" not in table
    assert "ridge_folds" not in json.dumps(summary)  # comparison.json keeps its format


def _delete(*keys: str) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        for key in keys[:-1]:
            record = record[key]
        del record[keys[-1]]

    return change


def _set(value: object, *keys: str) -> Callable[[dict[str, Any]], None]:
    def change(record: dict[str, Any]) -> None:
        for key in keys[:-1]:
            record = record[key]
        record[keys[-1]] = value

    return change


@pytest.mark.parametrize(("change", "problem"), [
    (_delete("embedding"), "embedding is missing"),
    (_delete("metrics", "knn", "median_abs_log_ratio", "leave_one_out"),
     "metrics.knn.median_abs_log_ratio.leave_one_out is missing"),
    (_delete("metrics", "ridge_r2", "alpha"), "metrics.ridge_r2.alpha is missing"),
    (_set("high", "metrics", "ridge_r2", "f1"), "metrics.ridge_r2.f1 must be a number, got 'high'"),
    (_set(True, "metrics", "isomap", "trustworthiness"), "metrics.isomap.trustworthiness must be a number, got True"),
    (_set([0.1], "metrics", "sensitivity_interval", "r"), r"metrics.sensitivity_interval.r must be a pair of numbers, "
                                                           r"got [0.1]"),
    (_set("36", "embedding", "dim"), "embedding.dim must be an integer, got '36'"),
    (_set(["x"], "metrics"), "metrics must be a JSON object, got list"),
    (_delete("metrics"), "metrics is missing"),
    (_set(36.0, "grid", "n_sounds"), "grid.n_sounds must be an integer, got 36.0"),
    (_delete("settings", "ridge_folds"), "settings.ridge_folds is missing"),
])
def test_compare_names_a_malformed_metrics_file_and_what_is_wrong(runs: dict[str, Path], tmp_path: Path,
                                                                 change: Callable[[dict[str, Any]], None],
                                                                 problem: str) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs["fake"], run)
    record = json.loads((run / "metrics.json").read_text())
    change(record)
    (run / "metrics.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match=f"^{re.escape(str(run / 'metrics.json'))}: not a GEAR metrics record: "
                                         f"{re.escape(problem)}$"):
        compare_runs([run], tmp_path / "cmp")
    assert not (tmp_path / "cmp").exists()


def test_compare_names_an_unreadable_metrics_or_arrays_file(runs: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(runs["fake"], run)
    metrics = run / "metrics.json"
    good = metrics.read_text()
    metrics.write_text(good[: len(good) // 2])
    with pytest.raises(ValueError, match=f"^{re.escape(str(metrics))}: not valid JSON \\("):
        compare_runs([run], tmp_path / "cmp")
    metrics.write_text("[1, 2]")
    with pytest.raises(ValueError, match=f"^{re.escape(str(metrics))}: not a GEAR metrics record: expected a JSON "
                                         "object, got list$"):
        compare_runs([run], tmp_path / "cmp")
    metrics.write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match=f"^{re.escape(str(metrics))}: not valid JSON"):
        compare_runs([run], tmp_path / "cmp")
    metrics.write_text(good)
    arrays = run / "gear.npz"
    with np.load(arrays) as data:
        saved = {k: data[k] for k in data.files}
    np.savez(arrays, **{k: v for k, v in saved.items() if k != "coords"})
    with pytest.raises(ValueError, match=f"^{re.escape(str(arrays))}: lacks the array\\(s\\) coords$"):
        compare_runs([run], tmp_path / "cmp")
    np.savez(arrays, **{**saved, "coords": saved["coords"][:, :2]})
    with pytest.raises(ValueError, match=f"^{re.escape(str(arrays))}: coords has shape \\(36, 2\\), expected \\(36, 3\\)"):
        compare_runs([run], tmp_path / "cmp")
    np.savez(arrays, **saved)
    truncate(arrays)
    with pytest.raises(ValueError, match=f"^{re.escape(str(arrays))}: not a readable \\.npz file"):
        compare_runs([run], tmp_path / "cmp")
