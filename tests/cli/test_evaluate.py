"""``hear-gear evaluate``: a real run on small tasks (every protocol, short schedules), the cache reused, exit
statuses 1 and 2, and the messages of usage errors."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hear_gear_embed.cli import main
from hear_gear_embed.evaluation.downstream import protocols, workers
from hear_gear_embed.hear import spec
from tests.evaluation.downstream.fakes import write_task

SCENE = {split: {f"{split}-{i}.wav": ["quiet" if i % 2 else "loud"] for i in range(n)}
         for split, n in (("train", 6), ("valid", 4), ("test", 4))}
EVENTS = {split: {f"{split}-{i}.wav": [{"label": "loud", "start": 0.0, "end": 250.0}] for i in range(n)}
          for split, n in (("train", 4), ("valid", 2), ("test", 2))}


@pytest.fixture(scope="module")
def task_dirs(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A scene task (loud or quiet noise) and an event task."""
    root = tmp_path_factory.mktemp("tasks")
    loud = tuple(f for files in SCENE.values() for f, labels in files.items() if labels == ["loud"])
    scene = write_task(root, "loudness", labels=("loud", "quiet"), split_files=SCENE, loud=loud)
    event = write_task(root, "bursts", embedding_type="event", prediction_type="multilabel", labels=("loud",),
                       split_files=EVENTS, evaluation=["event_onset_200ms_fms", "segment_1s_er"])
    return [str(scene), str(event)]


def test_evaluate_end_to_end(task_dirs: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("linear", "mlp"):  # the protocols' schedules are theirs to test; here, short ones
        monkeypatch.setitem(protocols.TRAINERS, name, dataclasses.replace(protocols.TRAINERS[name], grid_points=1,
                                                                          patience=1, max_epochs=6))
    out = tmp_path / "out"
    assert main(["evaluate", "lowlevel_mel", *task_dirs, "--out", str(out), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    scores = json.loads((out / "scores.json").read_text())
    assert scores["module"] == "hear_gear_embed.hear.lowlevel_mel" and scores["protocols"] == ["knn", "linear", "mlp"]
    assert set(scores["tasks"]["loudness"]) == {"knn", "linear", "mlp"} and scores["failed"] == {}
    assert scores["tasks"]["loudness"]["knn"]["top1_acc"] == 1.0  # loud and quiet noise are told apart
    assert set(scores["tasks"]["bursts"]["mlp"]) == {"event_onset_200ms_fms", "segment_1s_er"}
    assert printed.startswith("# Downstream evaluation of hear_gear_embed.hear.lowlevel_mel")
    assert "| loudness | top1_acc | 1 |" in printed and (out / "scores.md").read_text() in printed
    assert scores["embeddings_cached"] == {"loudness": False, "bursts": False}
    assert (out / "embeddings").is_dir()

    assert main(["evaluate", "lowlevel_mel", *task_dirs, "--out", str(out), "--protocol", "knn"]) == 0
    again = json.loads((out / "scores.json").read_text())
    assert again["embeddings_cached"] == {"loudness": True, "bursts": True}
    assert again["tasks"]["loudness"]["knn"] == scores["tasks"]["loudness"]["knn"]


def test_a_failed_protocol_exits_1_and_keeps_the_rest(task_dirs: list[str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    real = workers.run_protocol

    def knn_fails_on_bursts(protocol: str, task: protocols.TaskInfo, *args: object, **kwargs: object) -> object:
        if task.name == "bursts":
            raise RuntimeError("no luck")
        return real(protocol, task, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(workers, "run_protocol", knn_fails_on_bursts)
    out = tmp_path / "out"
    assert main(["evaluate", "lowlevel_mel", *task_dirs, "--out", str(out), "--protocol", "knn", "--no-cache",
                 "--batch-size", "2"]) == 1
    assert "failed: bursts / knn: RuntimeError: no luck" in capsys.readouterr().err
    scores = json.loads((out / "scores.json").read_text())
    assert scores["tasks"]["loudness"]["knn"]["top1_acc"] == 1.0 and not (out / "embeddings").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--protocol", "knn,svm"], "unknown protocol 'svm'"),
    (["--protocol", "knn,"], "give protocol names separated by commas"),
    (["--batch-size", "0"], "--batch-size and --jobs must be at least 1"),
    (["--jobs", "0"], "--batch-size and --jobs must be at least 1"),
    (["--chunks", "-1"], "chunk_seconds must be a positive number of seconds"),
    (["--device", "tpu"], "is not a torch device"),
    (["--model", "missing.pt"], "uses no network weights"),
])
def test_usage_errors_exit_2(task_dirs: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             args: list[str], message: str) -> None:
    assert main(["evaluate", "lowlevel_mel", *task_dirs, "--out", str(tmp_path / "out"), *args]) == 2
    assert message in capsys.readouterr().err


def test_bad_inputs_exit_2(task_dirs: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "lowlevel_mel", task_dirs[0], str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    assert "nowhere: not a task folder" in capsys.readouterr().err
    assert main(["evaluate", "no_such_hear_module", *task_dirs, "--out", str(tmp_path / "o")]) == 2
    assert "cannot import HEAR module 'no_such_hear_module'" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main(["evaluate", "lowlevel_mel", *task_dirs, "--out", str(tmp_path / "file")]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "lowlevel_mel"])
    assert exit_info.value.code == 2


def test_a_missing_eval_extra_is_named(task_dirs: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if scikit-learn were not installed
    assert main(["evaluate", "lowlevel_mel", *task_dirs, "--out", str(tmp_path)]) == 2
    assert 'sklearn missing): pip install "hear_gear_embed[eval]"' in capsys.readouterr().err


def test_without_matplotlib_only_the_figures_are_refused(task_dirs: list[str], monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["evaluate", "lowlevel_mel", *task_dirs, "--out", str(tmp_path / "a")]) == 2
    assert 'matplotlib missing): pip install "hear_gear_embed[eval]" (or --no-figures)' in capsys.readouterr().err
    assert main(["evaluate", "lowlevel_mel", task_dirs[0], "--out", str(tmp_path / "b"), "--protocol", "knn",
                 "--no-figures", "--no-cache"]) == 0


def test_an_unwritable_out_exits_2_before_any_work(task_dirs: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    def not_loaded(*args: object, **kwargs: object) -> None:
        raise AssertionError("the module was loaded before --out was checked")

    monkeypatch.setattr(spec, "load", not_loaded)
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "out"
    assert main(["evaluate", "lowlevel_mel", *task_dirs, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out: ") and f"cannot create or write the folder {out}: [Errno 20] Not a directory" in err


def test_an_unwritable_cache_is_read_and_the_run_goes_on(task_dirs: list[str], tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "file").write_text("")
    cache = tmp_path / "file" / "cache"  # cannot be created, whoever runs (root included)
    with caplog.at_level("WARNING"):
        assert main(["evaluate", "lowlevel_mel", task_dirs[0], "--out", str(tmp_path / "out"), "--cache", str(cache),
                     "--protocol", "knn"]) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and warned[0].startswith(f"the embeddings cache {cache} is not writable (") and \
        warned[0].endswith("nothing new is kept"), warned
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores["tasks"]["loudness"]["knn"]["top1_acc"] == 1.0 and scores["embeddings_cached"] == {"loudness": False}


def test_evaluate_compare_puts_runs_side_by_side(task_dirs: list[str], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for module, jobs in (("lowlevel_mel", "2"), ("lowlevel_cqt", "1")):
        assert main(["evaluate", module, task_dirs[0], "--out", str(tmp_path / module), "--protocol", "knn",
                     "--no-cache", "--no-figures", "--jobs", jobs]) == 0
        assert not (tmp_path / module / "figures").exists()
    capsys.readouterr()
    out = tmp_path / "cmp"
    assert main(["evaluate-compare", str(tmp_path / "lowlevel_mel"), str(tmp_path / "lowlevel_cqt"), "--out",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Evaluation runs compared") and "| lowlevel_cqt / knn | 1 |" in printed
    assert json.loads((out / "comparison.json").read_text())["tasks"] == ["loudness"]
    assert main(["evaluate-compare", str(tmp_path / "lowlevel_mel"), str(tmp_path), "--out", str(out)]) == 2
    assert "not an evaluate run (scores.json is missing)" in capsys.readouterr().err


def test_a_grid_of_variant_specs_is_evaluated_and_compared(task_dirs: list[str], tmp_path: Path,
                                                          official_ckpt: Callable[[str], Path],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "grid"
    assert main(["evaluate", "passt[levels=M|M+H,rf=160]", task_dirs[0], "--out", str(out), "--protocol", "knn",
                 "--model", str(official_ckpt("passt_base")), "--no-figures"]) == 0
    printed = capsys.readouterr().out
    names = ["passt[levels=M,rf=160,hop=10]", "passt[levels=M+H,rf=160,hop=10]"]
    comparison = json.loads((out / "comparison.json").read_text())
    assert [run["label"] for run in comparison["runs"]] == names and list(comparison["scores"]) == [
        f"{name} / knn" for name in names]
    for name in names:
        scores = json.loads((out / name / "scores.json").read_text())
        assert scores["variant"] == name and comparison["scores"][f"{name} / knn"]["loudness"] == \
            scores["tasks"]["loudness"]["knn"]["top1_acc"]
    assert "# Evaluation runs compared" in printed and len(list((out / "embeddings").iterdir())) == 2
    assert [run["folder"] for run in comparison["runs"]] == names  # inside the grid's folder: relative

    assert main(["evaluate", "passt[levels=M|Q]", task_dirs[0], "--out", str(tmp_path / "bad")]) == 2
    assert "levels" in capsys.readouterr().err and not (tmp_path / "bad").exists()
