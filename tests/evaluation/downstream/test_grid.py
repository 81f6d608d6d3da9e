"""A grid of variant specs in one call: each variant evaluated into its folder, one that fails recorded while the
others go on, the comparison across them, and bad inputs refused before any variant is loaded."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hear_gear_embed.evaluation.downstream import grid
from hear_gear_embed.evaluation.downstream.grid import evaluate_grid
from hear_gear_embed.evaluation.downstream.tasks import TaskError

from .fakes import write_task


def test_a_variant_that_fails_is_recorded_and_the_others_compared(tmp_path: Path,
                                                                  official_ckpt: Callable[[str], Path]) -> None:
    task = write_task(tmp_path, "mini")
    result = evaluate_grid("passt[levels=M,hop=10|5]", [task], out_dir=tmp_path / "out",
                           weights=str(official_ckpt("passt_base")), protocols=("knn",), figures=False)
    hop10, hop5 = "passt[levels=M,rf=160,hop=10]", "passt[levels=M,rf=160,hop=5]"
    assert result["specs"] == [hop10, hop5] and list(result["failed"]) == [hop5]
    assert result["failed"][hop5].startswith("CheckpointError")  # a hop-10 checkpoint for the hop-5 geometry
    comparison = result["comparison"]
    assert [run["label"] for run in comparison["runs"]] == [hop10]
    assert comparison == json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert (tmp_path / "out" / hop10 / "scores.json").is_file() and not (tmp_path / "out" / hop5).exists()
    assert len(list((tmp_path / "out" / "embeddings").iterdir())) == 1


def test_bad_inputs_are_refused_before_any_variant_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def not_loaded(*args: object, **kwargs: object) -> None:
        raise AssertionError("a variant was loaded")

    monkeypatch.setattr(grid, "load", not_loaded)
    task = write_task(tmp_path, "mini")
    with pytest.raises(TaskError, match="not a task folder"):
        evaluate_grid("passt[levels=M|H]", [task, tmp_path / "missing"], out_dir=tmp_path / "out")
    with pytest.raises(ValueError, match="levels"):
        evaluate_grid("passt[levels=M|Q]", [task], out_dir=tmp_path / "out")
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match="Not a directory"):
        evaluate_grid("passt[levels=M|H]", [task], out_dir=tmp_path / "file" / "out")
    assert not (tmp_path / "out").exists()
