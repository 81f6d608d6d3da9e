"""GEAR runs end to end (:mod:`hear_gear_embed.evaluation.gear.run`): a foreign HEAR module and this package's
variants, by name or loaded, the files of a run folder, precision, the checks made before anything is embedded, and
the embedding of tone grids."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from hear_gear_embed import EmbeddingModel, get_variant, load, load_embedder
from hear_gear_embed.evaluation.gear import embed_tones, run_gear
from hear_gear_embed.evaluation.gear import run as run_module
from hear_gear_embed.evaluation.synth import make_grid, perceptual_grid
from hear_gear_embed.util import precision as precision_module
from hear_gear_embed.util.precision import PrecisionUnsupportedError
from tests import gear_fake_module

from . import FAKE, GRID, PNG, SMALL


def test_a_run_writes_figures_metrics_and_report(runs: dict[str, Path]) -> None:
    folder = runs["fake"]
    for name in ("isomap.png", "isomap_f1.png", "isomap_alpha.png", "isomap_r.png", "knn_log_ratios.png"):
        assert (folder / name).read_bytes()[:8] == PNG, name
    record = json.loads((folder / "metrics.json").read_text())
    assert record["module"] == FAKE and record["embedding"] == {"kind": "scene", "dim": 24}
    assert record["precision"] == "fp32"
    assert record["grid"]["name"] == "perceptual" and record["grid"]["n_sounds"] == 36
    assert record["grid"]["sample_rate"] == 16000 and record["grid"]["n_samples"] == 4000
    assert record["settings"]["sensitivity_resamples"] == 200
    assert (folder / "report.md").is_file()
    with np.load(folder / "gear.npz") as data:
        assert data["params"].shape == data["coords"].shape == data["log_ratios_loo"].shape == (36, 3)
        assert "embeddings" not in data.files


def test_own_variant_with_timestamp_embeddings(runs: dict[str, Path]) -> None:
    record = json.loads((runs["lowlevel_mel"] / "metrics.json").read_text())
    assert record["module"] == "hear_gear_embed.hear.lowlevel_mel"
    assert record["embedding"] == {"kind": "timestamp", "dim": 1152}
    with np.load(runs["lowlevel_mel"] / "gear.npz") as data:
        assert data["embeddings"].shape == (36, 1152)


def test_an_unwritable_out_dir_is_refused_before_the_module_is_loaded(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def not_loaded(*args: object, **kwargs: object) -> None:
        raise AssertionError("the module was loaded before the output folder was checked")

    monkeypatch.setattr(run_module, "as_model", not_loaded)
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


def test_settings_are_checked_before_any_embedding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def not_embedded(*args: object, **kwargs: object) -> None:
        raise AssertionError("the tones were embedded before the settings were checked")

    monkeypatch.setattr(run_module, "embed_tones", not_embedded)
    with pytest.raises(ValueError, match="isomap_neighbors"):
        run_gear(FAKE, tmp_path, grid_overrides={"n_alpha": 3, "n_r": 3}, progress=False)
    with pytest.raises(ValueError, match="does not vary alpha"):
        run_gear(FAKE, tmp_path, preset="perceptual", grid_overrides={"n_alpha": 1, "n_r": 36, "duration_s": 0.25}, settings=SMALL,
                 progress=False)
    with pytest.raises(ValueError, match="kind must be one of \\('scene', 'timestamp'\\)"):
        run_gear(FAKE, tmp_path, grid_overrides=GRID, settings=SMALL, kind="timestamp_mean", progress=False)
    with pytest.raises(ValueError, match="give either grid or grid_overrides, not both"):
        run_gear(FAKE, tmp_path, grid=make_grid("perceptual", 16000, **GRID), grid_overrides=GRID, settings=SMALL,
                 progress=False)


@pytest.fixture
def fake() -> EmbeddingModel:
    return load(FAKE)  # its misbehaving modes are reset by the package's autouse fixture (conftest.py)


def test_tone_embeddings_are_batch_independent(fake: EmbeddingModel) -> None:
    grid = perceptual_grid(16000, n_alpha=3, n_r=3, duration_s=0.1)
    np.testing.assert_allclose(embed_tones(fake, grid, batch_size=2, progress=False),
                               embed_tones(fake, grid, batch_size=9, progress=False), rtol=1e-5, atol=1e-6)


def test_timestamp_embeddings_are_averaged_over_time(fake: EmbeddingModel) -> None:
    grid = perceptual_grid(16000, n_alpha=2, n_r=2, duration_s=0.1)
    frames, _ = gear_fake_module.get_timestamp_embeddings(torch.from_numpy(grid.audio(0, grid.n_sounds)), fake.model)
    np.testing.assert_allclose(embed_tones(fake, grid, "timestamp", progress=False), frames.mean(dim=1).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="kind must be one of \\('scene', 'timestamp'\\), got 'timestamp_mean'"):
        embed_tones(fake, grid, "timestamp_mean", progress=False)  # type: ignore[arg-type]


def test_misbehaving_modules_are_reported(fake: EmbeddingModel) -> None:
    grid = perceptual_grid(16000, n_alpha=2, n_r=2, duration_s=0.1)
    gear_fake_module.BEHAVIOUR["mode"] = "nan"
    with pytest.raises(ValueError, match="NaN"):
        embed_tones(fake, grid, progress=False)
    gear_fake_module.BEHAVIOUR["mode"] = "shape"
    with pytest.raises(ValueError, match="shape"):
        embed_tones(fake, grid, progress=False)
    with pytest.raises(ValueError, match="16000 Hz"):
        embed_tones(fake, perceptual_grid(32000, n_alpha=2, n_r=2, duration_s=0.1), progress=False)


def test_an_embedder_in_hand_of_an_unregistered_variant(tmp_path: Path) -> None:
    """GEAR on a model you hold: no registered variant needed; the record names what it ran."""
    import dataclasses

    variant = dataclasses.replace(get_variant("lowlevel_mel"), name="mel_in_hand")
    model = EmbeddingModel.from_embedder(load_embedder(variant, device="cpu"))
    record = run_gear(model, tmp_path, preset="perceptual", grid_overrides=GRID, settings=SMALL, progress=False)
    by_name = run_gear("lowlevel_mel", tmp_path / "by_name", preset="perceptual", grid_overrides=GRID, settings=SMALL,
                       progress=False)
    assert record["module"] == "hear_gear_embed.hear.mel_in_hand" and record["model_path"] == "none"
    assert record["metrics"] == by_name["metrics"]
    with pytest.raises(ValueError, match="apply to a model given by name"):
        run_gear(model, tmp_path, model_path="w.pt", progress=False)
    with pytest.warns(DeprecationWarning, match="run_gear\\(module=...\\) is deprecated"):
        run_gear(module="lowlevel_mel", out_dir=tmp_path / "old", preset="perceptual", grid_overrides=GRID, settings=SMALL,
                 progress=False)
