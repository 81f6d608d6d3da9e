"""The training-claims script (``benchmarks/train_claims.py``) end to end on the tiny geometry (``--quick``: one epoch,
no hear-validator), and its task makers: the espeak-ng speech task (skipped without espeak-ng) and the trainvaltest
view of a k-fold fold."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest
import torch

from hear_gear_embed.evaluation.downstream.tasks import load_task
from tests.tools.scripts import import_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_claims.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    """``benchmarks/train_claims.py`` imported as a module."""
    return import_script("train_claims")


def test_quick_run_measures_every_claim(script: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "claims"
    threads = torch.get_num_threads()
    results = script.main(["--out", str(out), "--quick", "--tasks", "tones-multiclass"])
    assert torch.get_num_threads() == threads  # --quick runs on one thread, and gives the others back
    saved = json.loads((out / "train-claims.json").read_text())
    assert saved["becr"] == json.loads(json.dumps(results["becr"], default=str))
    settings = saved["settings"]
    assert saved["quick"] and settings["variant"] == "tiny_test" and settings["epochs"] == 1
    assert settings["batch_size"] == 4 and settings["becr"] == [0.05, 0.7] and saved["environment"]["cpu"]
    assert saved["environment"]["threads"] == 1

    entry = saved["becr"]["tasks"]["tones-multiclass"]
    for key in ("becr", "plain"):
        run = entry[key]
        assert run["metric"] == "top1_acc" and 0.0 <= run["test"]["top1_acc"] <= 1.0
        assert run["steps"] == 2 and run["wall_s_per_epoch"] > 0 and len(run["train_step_s_per_epoch"]) == 1
        # the Gini index through the HEAR module loaded with best.pt is the trainer's own (report.md, 4 digits)
        assert run["dispersion"]["gini"] == pytest.approx(run["trainer_test_gini"], abs=6e-5)
        assert 0.0 <= run["dispersion"]["gini"] <= run["dispersion"]["gini_max"] == pytest.approx(1 - 1 / 7)
        assert run["init"]["kind"] == "random" and not Path(run["best"]).exists()  # checkpoints removed at the end
    becr, plain = entry["becr"], entry["plain"]
    assert becr["becr_term_source"].startswith("logged") and plain["becr_term_source"].startswith("from the logged")
    assert "becr_share_of_loss" in becr and "becr_share_of_loss" not in plain
    # step 1 sees the same weights and batch in both runs: lambda 0's would-be term is BECR's logged one
    assert plain["becr_term"]["first"] == pytest.approx(becr["becr_term"]["first"], rel=1e-4, abs=1e-7)
    assert 0.0 <= entry["init_dispersion"]["gini"] < 1.0

    scored = saved["evaluate"]["tasks"]["tones-multiclass"]
    for key in ("init", "becr", "plain"):
        assert scored[key]["status"] == 0 and scored[key]["failed"] == {}
        assert set(scored[key]["scores"]) == {"knn", "linear"}
        assert 0.0 <= scored[key]["scores"]["linear"]["top1_acc"] <= 1.0

    cqt = saved["cqt"]
    assert cqt["variant"] == script.QUICK_CQT and cqt["runs"]["random"]["validator"] == {"skipped": "--quick"}
    assert cqt["runs"]["random"]["init"]["kind"] == "random" and "skipped" in cqt["runs"]["official"]

    table = (out / "train-claims.md").read_text()
    assert "| tones-multiclass | BECR (0.05, 0.7) | 1 | top1_acc" in table
    assert "| tones-multiclass | top1_acc | before fine-tuning (init) |" in table
    assert "| random | random: seed 0 | 1 | top1_acc" in table and "skipped: --quick" in table
    assert "- knn: fine-tuned with BECR scored above the network before fine-tuning on" in table

    (out / "train-claims.md").unlink()
    script.main(["--render", str(out / "train-claims.json")])
    assert (out / "train-claims.md").read_text() == table


def test_kfold_view_holds_the_trained_fold(script: ModuleType, tmp_path: Path) -> None:
    folders, skipped = script.make_tasks(tmp_path / "tasks", ["tones-kfold"], speech_per_class=5, speech_duration=1.0,
                                         speech_languages=("en-us",), seed=0, max_clips=2)
    assert skipped == {}
    kfold = load_task(folders["tones-kfold"])
    fold = kfold.data_splits[0]
    view = load_task(script.trainvaltest_view(folders["tones-kfold"], 0, tmp_path / "views" / "tones-kfold-fold0"))
    assert view.split_mode == "trainvaltest" and view.info.labels == kfold.info.labels
    for role, names in (("train", fold.train), ("valid", fold.valid), ("test", fold.test)):
        expected = sorted(label for name in names for label in kfold.split(name).labels.values())
        assert sorted(view.split(role).labels.values()) == expected
        assert len(view.split(role).files) == 2 * len(names)


def test_speech_task_is_left_out_without_espeak(script: ModuleType, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(script, "espeak", lambda: None)
    folders, skipped = script.make_tasks(tmp_path, ["speech-language"], speech_per_class=5, speech_duration=1.0,
                                         speech_languages=("en-us",), seed=0)
    assert folders == {} and "espeak-ng is not on PATH" in skipped["speech-language"]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not on PATH (apt-get install espeak-ng)")
def test_speech_task_from_espeak(script: ModuleType, tmp_path: Path) -> None:
    folders, skipped = script.make_tasks(tmp_path, ["speech-language"], speech_per_class=5, speech_duration=1.5,
                                         speech_languages=("en-us", "de"), seed=0)
    assert skipped == {}
    task = load_task(folders["speech-language"])
    assert task.info.name == "speech-language" and task.info.labels == ("de", "en-us")
    assert task.split_mode == "trainvaltest" and task.sample_duration_s == 1.5
    assert [len(task.split(s).files) for s in ("train", "valid", "test")] == [6, 2, 2]
    sources = (tmp_path / "speech-language-sources" / "table.csv").read_text().splitlines()
    assert sources[0] == "path,label,split,text,voice,speed_wpm,pitch" and len(sources) == 11
