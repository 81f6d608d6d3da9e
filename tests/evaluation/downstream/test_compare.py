"""Evaluate runs side by side: the series per run and protocol, the runs' own normalised scores, and bad run folders
refused before anything is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hear_gear_embed.evaluation.downstream.compare import compare_evaluations


def _run(folder: Path, module: str, scores: dict[str, dict[str, dict[str, float | None]]], *,
         normalised: dict[str, dict[str, float]] | None = None) -> Path:
    folder.mkdir(parents=True)
    protocols = list(next(iter(scores.values())))
    content: dict[str, Any] = {
        "module": module, "weights": "none", "precision": "fp32", "protocols": protocols, "tasks": scores,
        "metrics": {task: ["top1_acc"] for task in scores},
    }
    if normalised is not None:
        content["hear2021"] = {"ESC-50": {"metric": "top1_acc", "best": 0.9475, "submissions": ["CP-JKU PaSST base"],
                                          "category": "general", "task_names": ["esc50"]}}
        content["normalised"] = normalised
        content["category_means"] = {p: {"general": {"mean": v["ESC-50"], "tasks": ["ESC-50"], "n_category": 7}}
                                     for p, v in normalised.items()}
    (folder / "scores.json").write_text(json.dumps(content))
    return folder


def test_runs_side_by_side_raw_and_normalised(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", "mod_a", {"esc50": {"knn": {"top1_acc": 0.5}, "mlp": {"top1_acc": 0.75}},
                                       "mine": {"knn": {"top1_acc": 0.25}, "mlp": {"top1_acc": None}}},
             normalised={"knn": {"ESC-50": 0.5 / 0.9475}, "mlp": {"ESC-50": 0.75 / 0.9475}})
    b = _run(tmp_path / "b", "mod_b", {"esc50": {"mlp": {"top1_acc": 0.9}}, "extra": {"mlp": {"top1_acc": 0.1}}},
             normalised={"mlp": {"ESC-50": 0.9 / 0.9475}})
    out = tmp_path / "cmp"
    summary = compare_evaluations([a, b], out)
    assert json.loads((out / "comparison.json").read_text()) == summary
    assert summary["tasks"] == ["esc50", "mine", "extra"]
    assert summary["scores"] == {
        "a / knn": {"esc50": 0.5, "mine": 0.25, "extra": None}, "a / mlp": {"esc50": 0.75, "mine": None, "extra": None},
        "b / mlp": {"esc50": 0.9, "mine": None, "extra": 0.1}}
    assert summary["normalised"]["b / mlp"] == {"ESC-50": pytest.approx(0.9 / 0.9475)}
    table = (out / "comparison.md").read_text()
    assert "| run / protocol | esc50 (top1_acc) | mine (top1_acc) | extra (top1_acc) |" in table
    assert "| a / knn | 0.5 | 0.25 | – |" in table and "| b / mlp | 0.9 | – | 0.1 |" in table
    assert "| run / protocol | ESC-50 | mean: general |" in table
    assert "| a / mlp | 0.792 | 0.792 (1 of 7) |" in table and "| b / mlp | 0.950 | 0.950 (1 of 7) |" in table
    assert "| ESC-50 | 0.9475 | CP-JKU PaSST base |" in table
    assert summary["runs"][0]["folder"] == str(a)  # outside the comparison's folder: as given
    assert (out / "comparison.png").stat().st_size > 5000 and (out / "comparison_normalised.png").is_file()

    plain = compare_evaluations([_run(tmp_path / "c", "mod_c", {"mine": {"knn": {"top1_acc": 0.5}}})], tmp_path / "p",
                                labels=["only"])
    assert plain["hear2021"] == {} and list(plain["scores"]) == ["only / knn"]
    assert not (tmp_path / "p" / "comparison_normalised.png").exists()
    assert "Normalised" not in (tmp_path / "p" / "comparison.md").read_text()


def test_bad_run_folders_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    good = _run(tmp_path / "good", "m", {"t": {"knn": {"top1_acc": 0.5}}})
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "scores.json").write_text("{not json")
    (tmp_path / "gear").mkdir()
    (tmp_path / "gear" / "scores.json").write_text(json.dumps({"module": "m"}))
    other = tmp_path / "other"
    other.mkdir()
    (other / "scores.json").write_text(json.dumps({"module": "m", "protocols": ["knn"], "tasks": {},
                                                   "metrics": {"t": ["mAP"]}}))
    out = tmp_path / "out"
    for folders, message in [([], "at least one evaluate run folder"),
                             ([good, tmp_path / "empty"], "not an evaluate run \\(scores.json is missing\\)"),
                             ([good, tmp_path / "broken"], "broken/scores.json: cannot be read"),
                             ([good, tmp_path / "gear"], "not a scores.json of hear-gear evaluate"),
                             ([good, good], "distinct labels"),
                             ([good, other], "task t: run other scores it by mAP, an earlier run by top1_acc")]:
        with pytest.raises(ValueError, match=message):
            compare_evaluations(folders, out)
    with pytest.raises(ValueError, match="1 labels for 2 run folders"):
        compare_evaluations([good, other], out, labels=["x"])
    assert not out.exists()
