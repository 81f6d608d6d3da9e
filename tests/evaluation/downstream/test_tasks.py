"""Reading HEAR task folders as heareval does: every task type, the k-fold rule, the label-at-timestamp rule, and a
clear error for every malformed folder."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from hear_gear_embed.evaluation.downstream.data import EvaluationParams, Event, TaskInfo
from hear_gear_embed.evaluation.downstream.tasks import (
    PARAM_GRID_VALUES,
    DataSplit,
    TaskError,
    event_labels_at,
    folds_rule,
    load_task,
)

from .fakes import RATE, write_task


def test_reads_every_synthetic_task_type(synthetic_tasks: Path) -> None:
    scene = load_task(synthetic_tasks / "tones-multiclass")
    assert scene.info == TaskInfo("tones-multiclass", "scene", "multiclass", ("top1_acc",),
                                  ("A3", "B4", "C4", "D5", "E4", "G4"))
    assert [s.name for s in scene.splits] == ["train", "valid", "test"] and scene.sample_duration_s == 1.0
    assert scene.data_splits == (DataSplit(("train",), ("valid",), ("test",)),) and scene.used_splits == ("train", "valid", "test")
    train_json = json.loads((synthetic_tasks / "tones-multiclass" / "train.json").read_text())
    train = scene.split("train")
    assert train.files == tuple(train_json) and train.events is None
    assert train.labels == {f: tuple(v) for f, v in train_json.items()}
    assert scene.sample_rates() == (RATE,)
    assert scene.audio_paths("test", RATE) == tuple(synthetic_tasks / "tones-multiclass" / str(RATE) / "test" / f
                                                     for f in scene.split("test").files)

    multilabel = load_task(synthetic_tasks / "timbre-multilabel")
    assert multilabel.info.prediction_type == "multilabel" and multilabel.info.evaluation == ("mAP", "d_prime", "aucroc")
    assert any(len(labels) > 1 for labels in (multilabel.split("train").labels or {}).values())

    event = load_task(synthetic_tasks / "events")
    assert event.info.embedding_type == "event" and event.split("valid").labels is None
    first = json.loads((synthetic_tasks / "events" / "train.json").read_text())["train-000.wav"][0]
    assert (event.split("train").events or {})["train-000.wav"][0] == Event(first["label"], first["start"], first["end"])

    kfold = load_task(synthetic_tasks / "tones-kfold")
    assert kfold.split_mode == "new_split_kfold" and len(kfold.data_splits) == 5
    assert kfold.data_splits[4] == DataSplit(("fold01", "fold02", "fold03"), ("fold00",), ("fold04",))
    assert [d.name for d in kfold.data_splits] == [f"fold0{i}" for i in range(5)]
    assert len({scene.sha256, multilabel.sha256, event.sha256, kfold.sha256}) == 4


def test_kfold_rule_sorts_then_tests_each_fold_validating_on_the_next() -> None:
    assert folds_rule(["b", "d", "a", "c"]) == (
        DataSplit(("c", "d"), ("b",), ("a",)), DataSplit(("a", "d"), ("c",), ("b",)),
        DataSplit(("a", "b"), ("d",), ("c",)), DataSplit(("b", "c"), ("a",), ("d",)),
    )
    with pytest.raises(ValueError, match="not unique"):
        folds_rule(["a", "b", "a"])
    with pytest.raises(ValueError, match="at least 3 folds"):
        folds_rule(["a", "b"])


def test_presplit_kfold_task(tmp_path: Path) -> None:
    splits = {f"fold{i}": {f"f{i}.wav": ["a"]} for i in (2, 0, 1)}
    task = load_task(write_task(tmp_path, split_files=splits, split_mode="presplit_kfold"))
    assert [s.name for s in task.splits] == ["fold2", "fold0", "fold1"]  # metadata order, embedded in it
    assert task.data_splits[0] == DataSplit(("fold2",), ("fold1",), ("fold0",))


def test_event_labels_at_includes_the_end_as_heareval() -> None:
    # heareval: IntervalTree intervals [start, end + 0.0001), queried at each timestamp
    events = [Event("a", 100.0, 200.0), Event("b", 200.0, 300.0), Event("a", 250.0, 250.0)]
    assert event_labels_at(events, 99.99) == []
    assert event_labels_at(events, 100.0) == ["a"]
    assert event_labels_at(events, 200.0) == ["a", "b"]
    assert event_labels_at(events, 200.00009) == ["a", "b"]
    assert event_labels_at(events, 200.0001) == ["b"]
    assert event_labels_at(events, 250.0) == ["b", "a"]  # a zero-length event covers its instant
    assert event_labels_at(events, 300.0) == ["b"]
    assert event_labels_at(events, 300.0002) == []


@pytest.mark.parametrize(("metadata", "message"), [
    ({"evaluation": None}, "missing key(s) evaluation"),
    ({"embedding_type": "frame"}, "embedding_type must be one of scene, event"),
    ({"prediction_type": "regression"}, "prediction_type must be one of"),
    ({"split_mode": "stratified"}, "split_mode must be one of trainvaltest, new_split_kfold, presplit_kfold"),
    ({"splits": ["train", "test"]}, "splits lacks valid"),
    ({"splits": "train"}, "splits must be a non-empty list"),
    ({"sample_duration": -1}, "sample_duration must be a positive number"),
    ({"evaluation": []}, "evaluation must be a non-empty list"),
    ({"task_name": ""}, "task_name must be a non-empty string"),
])
def test_bad_metadata_is_named(tmp_path: Path, metadata: dict[str, Any], message: str) -> None:
    folder = write_task(tmp_path, **metadata)
    with pytest.raises(TaskError, match="task_metadata.json: .*" + re.escape(message)):
        load_task(folder)


def test_bad_kfold_metadata(tmp_path: Path) -> None:
    folder = write_task(tmp_path, split_files={"f0": {"x.wav": ["a"]}, "f1": {"y.wav": ["b"]}}, split_mode="new_split_kfold")
    with pytest.raises(TaskError, match=r"task_metadata.json: splits: k-fold needs at least 3 folds"):
        load_task(folder)


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="not a task folder"):
        load_task(tmp_path / "nothing")
    folder = write_task(tmp_path)
    (folder / "task_metadata.json").write_text("{")
    with pytest.raises(TaskError, match="task_metadata.json: not valid JSON"):
        load_task(folder)
    (folder / "task_metadata.json").unlink()
    with pytest.raises(TaskError, match="task_metadata.json: cannot read it"):
        load_task(folder)


@pytest.mark.parametrize(("vocabulary", "message"), [
    ("idx,label\n0,a\n2,b\n", "idx must run over 0 .. 1, got [0, 2]"),
    ("idx,label\n0,a\n0,b\n", "line 3: idx 0 occurs twice"),
    ("idx,label\n0,a\n1,a\n", "label(s) listed twice: a"),
    ("idx,name\n0,a\n", "header with the columns idx and label"),
    ("idx,label\nzero,a\n", "line 2: idx 'zero' is not an integer"),
])
def test_bad_vocabulary_is_named(tmp_path: Path, vocabulary: str, message: str) -> None:
    folder = write_task(tmp_path)
    (folder / "labelvocabulary.csv").write_text(vocabulary)
    with pytest.raises(TaskError, match="labelvocabulary.csv.*" + re.escape(message)):
        load_task(folder)


@pytest.mark.parametrize(("kind", "targets", "message"), [
    ("multiclass", ["c"], "label 'c' is not in labelvocabulary.csv"),
    ("multiclass", ["a", "b"], "a multiclass task needs exactly one label per file"),
    ("multiclass", [], "a multiclass task needs exactly one label per file"),
    ("multilabel", "a", "expected a list of labels"),
    ("event", [{"label": "c", "start": 0, "end": 10}], "label 'c' is not in labelvocabulary.csv"),
    ("event", [{"label": "a", "start": 10, "end": 5}], "event ends before it starts"),
    ("event", [{"label": "a", "start": 10}], "an event must be an object with label, start and end"),
    ("event", [{"label": "a", "start": "0", "end": 5}], "event start and end must be finite numbers of ms"),
])
def test_bad_targets_are_named(tmp_path: Path, kind: str, targets: object, message: str) -> None:
    splits = {"train": {"ok.wav": _ok(kind), "bad.wav": targets}, "valid": {"v.wav": _ok(kind)},
              "test": {"t.wav": _ok(kind)}}
    event = kind == "event"
    folder = write_task(tmp_path, embedding_type="event" if event else "scene",
                        prediction_type="multilabel" if event else kind, split_files=splits)
    with pytest.raises(TaskError, match="train.json: bad.wav: " + re.escape(message)):
        load_task(folder)


def test_multilabel_file_without_labels_and_numeric_labels(tmp_path: Path) -> None:
    splits = {"train": {"x.wav": [], "y.wav": [60]}, "valid": {"v.wav": ["60"]}, "test": {"t.wav": ["a"]}}
    task = load_task(write_task(tmp_path, prediction_type="multilabel", labels=("a", "60"), split_files=splits))
    assert task.split("train").labels == {"x.wav": (), "y.wav": ("60",)}  # heareval looks labels up as str(label)


def test_empty_or_missing_split(tmp_path: Path) -> None:
    folder = write_task(tmp_path, split_files={"train": {}, "valid": {"v.wav": ["a"]}, "test": {"t.wav": ["a"]}})
    with pytest.raises(TaskError, match="train.json: the split has no files"):
        load_task(folder)
    (folder / "train.json").unlink()
    with pytest.raises(TaskError, match="train.json: cannot read it"):
        load_task(folder)


def test_missing_sample_rate_or_audio_files(tmp_path: Path) -> None:
    task = load_task(write_task(tmp_path))
    with pytest.raises(TaskError, match=rf"16000/train: no audio for split train at 16000 Hz .* audio at: {RATE} Hz"):
        task.audio_paths("train", 16000)
    (task.path / str(RATE) / "test" / "test-1.wav").unlink()
    with pytest.raises(TaskError, match=r"1 file\(s\) of test.json are missing: test-1.wav"):
        task.audio_paths("test", RATE)


def _ok(kind: str) -> list[Any]:
    return [{"label": "a", "start": 0.0, "end": 100.0}] if kind == "event" else ["a"]


def _event_task(tmp_path: Path, **metadata: Any) -> Path:
    return write_task(tmp_path, embedding_type="event", prediction_type="multilabel",
                      split_files={split: {f"{split}.wav": _ok("event")} for split in ("train", "valid", "test")}, **metadata)


def test_a_task_without_evaluation_params_gets_heareval_s_defaults(tmp_path: Path) -> None:
    params = load_task(write_task(tmp_path)).info.evaluation_params
    assert params == EvaluationParams()
    assert (params.param_grid, params.postprocessing_grid, params.use_scoring_for_early_stopping) == ((), None, True)


def test_maestro_s_evaluation_params_are_read_as_heareval_reads_them(tmp_path: Path) -> None:
    """hear-preprocess 2021.1.1's maestro config: the only public task that sets them."""
    folder = _event_task(tmp_path, use_scoring_for_early_stopping=False, evaluation_params={
        "event_postprocessing_grid": {"median_filter_ms": [150], "min_duration": [50]},
        "task_specific_param_grid": {"max_epochs": [50], "check_val_every_n_epoch": [1]},
    })
    assert load_task(folder).info.evaluation_params == EvaluationParams(
        param_grid=(("max_epochs", (50,)), ("check_val_every_n_epoch", (1,))),
        postprocessing_grid=(("median_filter_ms", (150,)), ("min_duration", (50,))),
        use_scoring_for_early_stopping=False,
    )


def test_every_settable_hyper_parameter_and_postprocessing_setting_is_read(tmp_path: Path) -> None:
    grid: dict[str, list[Any]] = {
        "hidden_layers": [0, 3], "hidden_dim": [64], "dropout": [0.0, 0.5], "norm_after_activation": [True, False],
        "lr": [0.1, 1], "patience": [0], "max_epochs": [1], "check_val_every_n_epoch": [1], "batch_size": [7]}
    assert set(grid) == set(PARAM_GRID_VALUES)
    post: dict[str, list[float]] = {"threshold": [0.0, 1.0], "min_duration": [0, 12.5], "median_filter_ms": [0]}
    params = load_task(_event_task(tmp_path, evaluation_params={"task_specific_param_grid": grid,
                                                                "event_postprocessing_grid": post})).info.evaluation_params
    assert params.param_grid == tuple((k, tuple(v)) for k, v in grid.items())
    assert params.postprocessing_grid == tuple((k, tuple(v)) for k, v in post.items())
    assert params.use_scoring_for_early_stopping


GRID = "evaluation_params.task_specific_param_grid"
POST = "evaluation_params.event_postprocessing_grid"


@pytest.mark.parametrize(("metadata", "message"), [
    ({"use_scoring_for_early_stopping": "false"}, "use_scoring_for_early_stopping must be true or false, got 'false'"),
    ({"evaluation_params": None}, "evaluation_params must be an object, got None"),
    ({"evaluation_params": []}, "evaluation_params must be an object"),
    ({"evaluation_params": {"task_specific_param_grid": [["lr", [0.1]]]}}, f"{GRID} must be an object of"),
    ({"evaluation_params": {"task_specific_param_grid": {"lr": 0.001}}}, f"{GRID}.lr must be a non-empty list of numbers > 0"),
    ({"evaluation_params": {"task_specific_param_grid": {"lr": []}}}, f"{GRID}.lr must be a non-empty list"),
    ({"evaluation_params": {"task_specific_param_grid": {"lr": [0]}}}, f"{GRID}.lr must be a non-empty list of numbers > 0"),
    ({"evaluation_params": {"task_specific_param_grid": {"hidden_layers": [1.5]}}}, f"{GRID}.hidden_layers must be a "
                                                                                     "non-empty list of integers >= 0"),
    ({"evaluation_params": {"task_specific_param_grid": {"max_epochs": [True]}}}, f"{GRID}.max_epochs must be a "
                                                                                   "non-empty list of integers >= 1"),
    ({"evaluation_params": {"task_specific_param_grid": {"dropout": [1.0]}}}, f"{GRID}.dropout must be a non-empty list "
                                                                               "of numbers in [0, 1)"),
    ({"evaluation_params": {"task_specific_param_grid": {"norm_after_activation": [1]}}}, "true or false, got [1]"),
    ({"evaluation_params": {"task_specific_param_grid": {"learning_rate": [0.1]}}},
     f"{GRID}: unknown hyper-parameter 'learning_rate'. Known: hidden_layers, "),
    ({"evaluation_params": {"task_specific_param_grid": {"initialization": ["xavier_normal"]}}},
     f"{GRID}.initialization: heareval's values of initialization are Python objects"),
    ({"evaluation_params": {"event_postprocessing_grid": {"smoothing_ms": [100]}}},
     f"{POST}: unknown postprocessing setting 'smoothing_ms'"),
    ({"evaluation_params": {"event_postprocessing_grid": {"min_duration": [-5]}}},
     f"{POST}: min_duration must be a non-empty list of numbers >= 0 (ms), got [-5]"),
    ({"evaluation_params": {"event_postprocessing_grid": {"median_filter_ms": 250}}},
     f"{POST}: median_filter_ms must be a non-empty list"),
    ({"evaluation_params": {"event_postprocessing_grid": {"threshold": [1.5]}}},
     f"{POST}: threshold must be a non-empty list of numbers in [0, 1]"),
    ({"evaluation_params": {"event_postprocessing_grid": [250]}}, f"{POST}: must be an object of setting name"),
    ({"use_scoring_for_early_stopping": False},
     "use_scoring_for_early_stopping is false, so no score chooses the event postprocessing: heareval then needs a "
     "postprocessing grid of exactly one point, and heareval's default grid (no evaluation_params.event_postprocessing_grid) "
     "has 2"),
    ({"use_scoring_for_early_stopping": False,
      "evaluation_params": {"event_postprocessing_grid": {"median_filter_ms": [0, 150], "min_duration": [60, 0, 50]}}},
     "and its evaluation_params.event_postprocessing_grid has 6"),
])
def test_bad_evaluation_params_are_named(tmp_path: Path, metadata: dict[str, Any], message: str) -> None:
    folder = _event_task(tmp_path)
    path = folder / "task_metadata.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **metadata}))  # null kept, unlike write_task's
    with pytest.raises(TaskError, match="task_metadata.json: .*" + re.escape(message)):
        load_task(folder)


def test_what_heareval_ignores_is_ignored_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    scene = write_task(tmp_path, "scene", use_scoring_for_early_stopping=False, evaluation_params={
        "use_scoring_for_early_stopping": True, "grid": {}, "event_postprocessing_grid": {"smoothing": 1}})
    # heareval does not read a scene task's postprocessing grid, so even a malformed one is only warned about; and a
    # scene task may stop on the loss, having no postprocessing to choose.
    assert load_task(scene).info.evaluation_params == EvaluationParams(use_scoring_for_early_stopping=False)
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2
    assert "evaluation_params: use_scoring_for_early_stopping, grid ignored, as heareval ignores them: it reads only " \
           "task_specific_param_grid and event_postprocessing_grid (it reads use_scoring_for_early_stopping at the top " \
           "level of the file, not here)" in warned[0]
    assert "evaluation_params.event_postprocessing_grid ignored: a scene task has no events" in warned[1]
    caplog.clear()
    # An empty grid is heareval's single point of create_events_from_prediction's defaults.
    event = _event_task(tmp_path, use_scoring_for_early_stopping=False, evaluation_params={"event_postprocessing_grid": {}})
    assert load_task(event).info.evaluation_params == EvaluationParams(postprocessing_grid=(),
                                                                       use_scoring_for_early_stopping=False)
    assert caplog.records == []
