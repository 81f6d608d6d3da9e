"""GEAR runs (:mod:`hear_gear_embed.evaluation.gear`) end to end: a foreign HEAR module and this package's variants,
figures, metrics, reports and comparisons; the analysis of an ideal embedding."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hear_gear_embed.evaluation import gear
from hear_gear_embed.evaluation.gear import GearSettings, analyse, compare_runs, ridge_targets, run_gear
from hear_gear_embed.util import precision as precision_module
from hear_gear_embed.util.precision import PrecisionUnsupportedError
from tests import gear_fake_module

from ..util.corrupt import truncate

FAKE = "tests.gear_fake_module"
SMALL = GearSettings(isomap_neighbors=12, knn_neighbors=5, trust_neighbors=5, ridge_folds=3, n_clusters=3)
GRID = {"n_alpha": 6, "n_r": 6, "duration_s": 0.25}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _well_behaved_fake():
    gear_fake_module.BEHAVIOUR["mode"] = "ok"
    yield
    gear_fake_module.BEHAVIOUR["mode"] = "ok"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gear")
    out = {"fake": root / "fake", "lowlevel_mel": root / "lowlevel_mel"}
    run_gear(FAKE, out["fake"], preset="perceptual", grid_overrides=GRID, settings=SMALL, progress=False)
    run_gear("lowlevel_mel", out["lowlevel_mel"], preset="perceptual", grid_overrides=GRID, settings=SMALL,
             kind="timestamp", progress=False, save_embeddings=True)
    return out


def test_a_run_writes_figures_metrics_and_report(runs: dict[str, Path]) -> None:
    folder = runs["fake"]
    for name in ("isomap.png", "isomap_f1.png", "isomap_alpha.png", "isomap_r.png", "knn_log_ratios.png"):
        assert (folder / name).read_bytes()[:8] == PNG, name
    record = json.loads((folder / "metrics.json").read_text())
    assert record["module"] == FAKE and record["embedding"] == {"kind": "scene", "dim": 24}
    assert record["precision"] == "fp32"
    assert record["grid"]["name"] == "perceptual" and record["grid"]["n_sounds"] == 36
    assert record["grid"]["sample_rate"] == 16000 and record["grid"]["n_samples"] == 4000
    metrics = record["metrics"]
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
    assert record["settings"]["sensitivity_resamples"] == 200
    assert metrics["ridge_r2"]["f1"] > 0.5  # band energies encode pitch linearly enough
    assert 0 <= metrics["dispersion"]["gini_index"] <= 1
    report = (folder / "report.md").read_text()
    assert "ridge R^2 (3-fold)" in report and "![Isomap" in report and "Gini index" in report
    assert "## Sensitivity" in report and "| f1 | " in report and "6 equal-count bins" in report
    assert "does not say how sensitive" in report
    with np.load(folder / "gear.npz") as data:
        assert data["params"].shape == data["coords"].shape == data["log_ratios_loo"].shape == (36, 3)
        assert "embeddings" not in data.files


def test_own_variant_with_timestamp_embeddings(runs: dict[str, Path]) -> None:
    record = json.loads((runs["lowlevel_mel"] / "metrics.json").read_text())
    assert record["module"] == "hear_gear_embed.hear.lowlevel_mel"
    assert record["embedding"] == {"kind": "timestamp", "dim": 1152}
    with np.load(runs["lowlevel_mel"] / "gear.npz") as data:
        assert data["embeddings"].shape == (36, 1152)


def test_compare_runs(runs: dict[str, Path], tmp_path: Path) -> None:
    summary = compare_runs([runs["fake"], runs["lowlevel_mel"]], tmp_path / "cmp")
    assert [r["run"] for r in summary["runs"]] == ["fake", "lowlevel_mel"]
    assert [r["sample_rate"] for r in summary["runs"]] == [16000, 32000]
    assert summary["same_dataset"] is True  # the same sounds, each synthesised at its model's rate
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "different datasets" not in table and "| fake |" in table and "| lowlevel_mel |" in table
    assert "sensitivity f1 [95 %]" in table and "chance level f1 0.143" in table
    fake = json.loads((runs["fake"] / "metrics.json").read_text())["metrics"]
    assert summary["runs"][0]["sensitivity"] == fake["sensitivity"]
    assert summary["runs"][0]["sensitivity_interval"] == fake["sensitivity_interval"]
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


def test_an_unwritable_out_dir_is_refused_before_the_module_is_loaded(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def not_loaded(*args: object, **kwargs: object) -> None:
        raise AssertionError("the module was loaded before the output folder was checked")

    monkeypatch.setattr(gear, "load_hear_module", not_loaded)
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match=r"cannot create or write the folder .*file/run: \[Errno 20\] Not a directory"):
        run_gear(FAKE, tmp_path / "file" / "run", preset="perceptual", grid_overrides=GRID, settings=SMALL, progress=False)


def test_passt_variant_with_a_checkpoint_file(official_ckpt: Callable[[str], Path], tmp_path: Path) -> None:
    # Random full-size weights: the numbers mean nothing, the test checks the path through PaSST.
    record = run_gear("passt_2lvl", tmp_path, model_path=str(official_ckpt("passt_2lvl")), preset="paper",
                      grid_overrides={"n_alpha": 5, "n_r": 5}, settings=SMALL, progress=False)
    assert record["embedding"] == {"kind": "scene", "dim": 1295}
    assert record["model_path"] == str(official_ckpt("passt_2lvl"))
    assert record["grid"]["sample_rate"] == 32000 and record["grid"]["n_samples"] == 1024


def test_precision_reaches_load_model_and_the_record(tiny_ckpt: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the CPU's answers, on any machine
    monkeypatch.setattr(precision_module, "cpu_bf16_units", lambda flags=None: ("avx512_bf16",))  # any CPU: tiny model
    grid = {"n_alpha": 5, "n_r": 5}
    record = run_gear("tiny_test", tmp_path / "bf16", model_path=str(tiny_ckpt), grid_overrides=grid, settings=SMALL,
                      progress=False, precision="bf16")
    assert record["precision"] == "bf16" and json.loads((tmp_path / "bf16" / "metrics.json").read_text())["precision"] == "bf16"
    assert "- precision: bf16" in (tmp_path / "bf16" / "report.md").read_text()
    with pytest.raises(PrecisionUnsupportedError, match="fp16 on a CPU"):
        run_gear("tiny_test", tmp_path / "fp16", model_path=str(tiny_ckpt), grid_overrides=grid, settings=SMALL,
                 progress=False, precision="fp16")
    with pytest.raises(ValueError, match="takes no precision argument"):
        run_gear(FAKE, tmp_path / "fake", grid_overrides=GRID, settings=SMALL, progress=False, precision="bf16")
    assert not (tmp_path / "fp16").exists() and not (tmp_path / "fake").exists()
    weight_free = run_gear("lowlevel_mel", tmp_path / "mel", grid_overrides=grid, settings=SMALL, progress=False,
                           precision="bf16")
    assert weight_free["precision"] == "fp32"  # what it computed in


def test_settings_are_checked_before_any_embedding(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="knn_neighbors"):
        GearSettings(isomap_neighbors=10, knn_neighbors=50).check(50)
    with pytest.raises(ValueError, match="isomap_neighbors"):
        run_gear(FAKE, tmp_path, grid_overrides={"n_alpha": 3, "n_r": 3}, progress=False)
    with pytest.raises(ValueError, match="does not vary alpha"):
        run_gear(FAKE, tmp_path, preset="perceptual", grid_overrides={"n_alpha": 1, "n_r": 36, "duration_s": 0.25}, settings=SMALL,
                 progress=False)
    with pytest.raises(ValueError, match="sensitivity_resamples"):
        GearSettings(isomap_neighbors=10, sensitivity_resamples=1).check(50)
    with pytest.raises(ValueError, match="kind must be one of \\('scene', 'timestamp'\\)"):
        run_gear(FAKE, tmp_path, grid_overrides=GRID, settings=SMALL, kind="timestamp_mean", progress=False)


def test_analyse_an_ideal_embedding() -> None:
    rng = np.random.default_rng(4)
    params = np.column_stack([rng.uniform(100, 800, 300), rng.uniform(0.1, 2, 300), rng.uniform(0.1, 1, 300)])
    emb = ridge_targets(params) / np.array([1.0, 2.0, 1.0])  # each parameter along its own axis, in octaves
    settings = GearSettings(isomap_neighbors=15, knn_neighbors=5, trust_neighbors=5, n_clusters=4)
    result = analyse(emb, params, settings)
    assert result.coords.shape == (300, 3) and result.log_ratios_loo.shape == (300, 3)
    assert all(v > 0.999 for v in result.metrics["ridge_r2"].values())
    loo = result.metrics["knn"]["median_abs_log_ratio"]["leave_one_out"]
    assert max(loo.values()) < 0.2
    assert result.metrics["isomap"]["trustworthiness"] > 0.95
    assert 0 < result.metrics["dispersion"]["gini_index"] < 2 / 3
    # Each dimension follows one parameter: each explains one dimension of three, plus chance on the other two.
    for name, value in result.metrics["sensitivity"].items():
        chance = result.metrics["sensitivity_chance"][name]
        assert 1 / 3 - 0.01 < value < 1 / 3 + chance, name
    assert result.metrics["sensitivity_binned"] == {"f1": True, "alpha": True, "r": True}  # all drawn at random
