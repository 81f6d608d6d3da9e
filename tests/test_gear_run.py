"""GEAR end to end: a foreign HEAR module and this package's variants, figures, reports, CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hear_gear_embed.cli import main
from hear_gear_embed.evaluation.gear import GearSettings, compare_runs, run_gear
from hear_gear_embed.evaluation.hear_module import embed_grid, load_hear_module, resolve_module_name
from hear_gear_embed.evaluation.synth import perceptual_grid
from tests import gear_fake_module

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
             kind="timestamp_mean", progress=False, save_embeddings=True)
    return out


def test_a_run_writes_figures_metrics_and_report(runs: dict[str, Path]) -> None:
    folder = runs["fake"]
    for name in ("isomap.png", "isomap_f1.png", "isomap_alpha.png", "isomap_r.png", "knn_log_ratios.png"):
        assert (folder / name).read_bytes()[:8] == PNG, name
    record = json.loads((folder / "metrics.json").read_text())
    assert record["module"] == FAKE and record["embedding"] == {"kind": "scene", "dim": 24}
    assert record["grid"]["name"] == "perceptual" and record["grid"]["n_sounds"] == 36
    assert record["grid"]["sample_rate"] == 16000 and record["grid"]["n_samples"] == 4000
    metrics = record["metrics"]
    assert set(metrics) == {"knn", "ridge_r2", "ridge_targets", "isomap", "dispersion"}
    assert metrics["ridge_r2"]["f1"] > 0.5  # band energies encode pitch linearly enough
    assert 0 <= metrics["dispersion"]["gini_index"] <= 1
    report = (folder / "report.md").read_text()
    assert "ridge R^2 (3-fold)" in report and "![Isomap" in report and "Gini index" in report
    with np.load(folder / "gear.npz") as data:
        assert data["params"].shape == data["coords"].shape == data["log_ratios_loo"].shape == (36, 3)
        assert "embeddings" not in data.files


def test_own_variant_with_timestamp_embeddings(runs: dict[str, Path]) -> None:
    record = json.loads((runs["lowlevel_mel"] / "metrics.json").read_text())
    assert record["module"] == "hear_gear_embed.hear.lowlevel_mel"
    assert record["embedding"] == {"kind": "timestamp_mean", "dim": 1152}
    with np.load(runs["lowlevel_mel"] / "gear.npz") as data:
        assert data["embeddings"].shape == (36, 1152)


def test_compare_runs(runs: dict[str, Path], tmp_path: Path) -> None:
    summary = compare_runs([runs["fake"], runs["lowlevel_mel"]], tmp_path / "cmp")
    assert [r["run"] for r in summary["runs"]] == ["fake", "lowlevel_mel"]
    assert [r["sample_rate"] for r in summary["runs"]] == [16000, 32000]
    assert summary["same_dataset"] is True  # the same sounds, each synthesised at its model's rate
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    assert "different datasets" not in table and "| fake |" in table and "| lowlevel_mel |" in table
    for name in ("compare_isomap.png", "compare_log_ratios.png"):
        assert (tmp_path / "cmp" / name).read_bytes()[:8] == PNG
    other = tmp_path / "other"
    run_gear(FAKE, other, preset="perceptual", grid_overrides={**GRID, "seed": 5}, settings=SMALL, progress=False)
    assert compare_runs([runs["fake"], other], tmp_path / "cmp3")["same_dataset"] is False
    assert "different datasets" in (tmp_path / "cmp3" / "comparison.md").read_text()
    with pytest.raises(ValueError, match="not a GEAR run folder"):
        compare_runs([tmp_path], tmp_path / "cmp2")


def test_embedding_is_batch_independent() -> None:
    hear = load_hear_module(FAKE)
    grid = perceptual_grid(16000, n_alpha=3, n_r=3, duration_s=0.1)
    np.testing.assert_allclose(embed_grid(hear, grid, batch_size=2, progress=False),
                               embed_grid(hear, grid, batch_size=9, progress=False), rtol=1e-5, atol=1e-6)


def test_passt_variant_with_a_checkpoint_file(official_ckpt: Callable[[str], Path], tmp_path: Path) -> None:
    # Random full-size weights: the numbers mean nothing, the test checks the path through PaSST.
    record = run_gear("passt_2lvl", tmp_path, model_path=str(official_ckpt("passt_2lvl")), preset="paper",
                      grid_overrides={"n_alpha": 5, "n_r": 5}, settings=SMALL, progress=False)
    assert record["embedding"] == {"kind": "scene", "dim": 1295}
    assert record["model_path"] == str(official_ckpt("passt_2lvl"))
    assert record["grid"]["sample_rate"] == 32000 and record["grid"]["n_samples"] == 1024


def test_misbehaving_modules_are_reported(tmp_path: Path) -> None:
    hear = load_hear_module(FAKE)
    grid = perceptual_grid(16000, n_alpha=2, n_r=2, duration_s=0.1)
    gear_fake_module.BEHAVIOUR["mode"] = "nan"
    with pytest.raises(ValueError, match="NaN"):
        embed_grid(hear, grid, progress=False)
    gear_fake_module.BEHAVIOUR["mode"] = "shape"
    with pytest.raises(ValueError, match="shape"):
        embed_grid(hear, grid, progress=False)
    with pytest.raises(ValueError, match="16000 Hz"):
        embed_grid(hear, perceptual_grid(32000, n_alpha=2, n_r=2, duration_s=0.1), progress=False)
    with pytest.raises(ValueError, match="cannot import"):
        load_hear_module("no_such_hear_module")
    with pytest.raises(ValueError, match="not a HEAR module"):
        load_hear_module("json")
    with pytest.raises(ValueError, match="isomap_neighbors"):  # checked before any embedding
        run_gear(FAKE, tmp_path, grid_overrides={"n_alpha": 3, "n_r": 3}, progress=False)
    assert resolve_module_name("handcrafted") == "hear_gear_embed.hear.handcrafted"
    assert resolve_module_name("hearbaseline") == "hearbaseline"
    assert resolve_module_name("tiny_test") == "tiny_test"  # unpublished variants have no HEAR module


def test_cli_gear_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--preset", "perceptual", "--n-alpha", "5", "--n-r", "5", "--duration", "0.2",
              "--isomap-neighbors", "10", "--knn-neighbors", "4", "--no-progress"]
    assert main(["gear", FAKE, "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["gear", "handcrafted", "--out", str(tmp_path / "b"), *common]) == 0
    assert "ridge R^2" in capsys.readouterr().out
    assert main(["gear-compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "comparison.md").is_file()
    assert main(["gear", "no_such_hear_module", "--out", str(tmp_path / "d")]) == 2
    assert main(["gear", FAKE, "--duration", "0.5"]) == 2  # --duration needs the perceptual preset
    assert "error:" in capsys.readouterr().err


def test_cli_names_a_missing_gear_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if scikit-learn were not installed
    assert main(["gear", FAKE, "--out", str(tmp_path), "--n-alpha", "5", "--n-r", "5", "--isomap-neighbors", "5",
                 "--knn-neighbors", "3", "--no-progress"]) == 2
    assert "gear extra" in capsys.readouterr().err
