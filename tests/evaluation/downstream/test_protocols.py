"""The protocols on small separable synthetic folds: the grid, scores, selection, k-fold, determinism, errors, and the
warnings of training splits too small to learn from."""

from __future__ import annotations

import copy
import dataclasses
import random
from typing import Any

import numpy as np
import pytest
import torch

from hear_gear_embed.evaluation.downstream import mlp, protocols
from hear_gear_embed.evaluation.downstream.data import EvaluationParams, Fold, SplitEmbeddings, TaskInfo
from hear_gear_embed.evaluation.downstream.protocols import (
    LINEAR,
    MLP,
    fold_warnings,
    grid_configurations,
    run_protocol,
)

from .synthetic import EVENTS, MULTICLASS, MULTILABEL, make_folds

# heareval's 8 grid points, in its order. Obtained once in the harness environment (heareval 2021.1.3, scikit-learn
# 1.9.1) with: seed_everything(42, workers=False); confs = list(ParameterGrid(PARAM_GRID)); random.shuffle(confs);
# [(c["hidden_layers"], c["lr"], c["initialization"].__name__) for c in confs[:8]].
HEAREVAL_GRID_POINTS = [
    (1, 0.0001, "xavier_normal"),
    (2, 0.001, "xavier_uniform"),
    (1, 0.001, "xavier_normal"),
    (1, 0.00032, "xavier_normal"),
    (2, 0.00032, "xavier_normal"),
    (2, 0.00032, "xavier_uniform"),
    (2, 0.0032, "xavier_normal"),
    (2, 0.0032, "xavier_uniform"),
]

#: Short schedules and narrow hidden layers for the score tests: the schedule's own logic is tested on its own below.
QUICK = {"grid_points": 2, "patience": 4, "max_epochs": 90}

SIZES = {"scene": (48, 16, 16), "event": (10, 6, 6)}


@pytest.fixture(autouse=True)
def _quick_trainers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(protocols.TRAINERS, "mlp", dataclasses.replace(MLP, grid={**MLP.grid, "hidden_dim": (64,)}, **QUICK))
    monkeypatch.setitem(protocols.TRAINERS, "linear", dataclasses.replace(LINEAR, **QUICK))


def folds_for(task: TaskInfo, **kwargs: object) -> list[Fold]:
    return make_folds(task, sizes=SIZES[task.embedding_type], **kwargs)  # type: ignore[arg-type]


def test_mlp_grid_is_heareval_s_eight_points_in_its_order() -> None:
    points = grid_configurations(MLP)
    assert [(p["hidden_layers"], p["lr"], p["initialization"]) for p in points] == HEAREVAL_GRID_POINTS
    assert {(p["hidden_dim"], p["dropout"], p["patience"], p["max_epochs"], p["check_val_every_n_epoch"], p["batch_size"])
            for p in points} == {(1024, 0.1, 20, 500, 3, 1024)}
    assert {p["check_val_every_n_epoch"] for p in grid_configurations(MLP, dataclasses.replace(MULTICLASS,
                                                                                             name="dcase2016_task2"))} == {10}
    assert len(grid_configurations(LINEAR)) == 6
    assert grid_configurations(MLP, MULTICLASS) == points  # a task without grids of its own: heareval's grid


# heareval 2021.1.3's PARAM_GRID (task_predictions.py), its Python objects named by strings: the oracle below builds
# the grid as task_predictions() does and checks the order of grid_configurations against it.
HEAREVAL_PARAM_GRID = {
    "hidden_layers": [1, 2], "hidden_dim": [1024], "dropout": [0.1], "lr": [3.2e-3, 1e-3, 3.2e-4, 1e-4], "patience": [20],
    "max_epochs": [500], "check_val_every_n_epoch": [3], "batch_size": [1024], "hidden_norm": ["BatchNorm1d"],
    "norm_after_activation": [False], "embedding_norm": ["Identity"],
    "initialization": ["xavier_uniform", "xavier_normal"], "optim": ["Adam"],
}
HEAREVAL_TASK_SPECIFIC_PARAM_GRID = {"dcase2016_task2": {"check_val_every_n_epoch": [10]}}


def heareval_grid_points(task_name: str, task_grid: dict[str, list[Any]], grid_points: int = 8) -> list[dict[str, Any]]:
    """heareval's grid points for a task: the default grid updated by its global task table, then by the task's
    ``evaluation_params.task_specific_param_grid``, expanded, shuffled by the global ``random`` seeded 42 and cut."""
    from sklearn.model_selection import ParameterGrid

    final_grid = copy.copy(HEAREVAL_PARAM_GRID)
    final_grid.update(HEAREVAL_TASK_SPECIFIC_PARAM_GRID.get(task_name, {}))
    final_grid.update(task_grid)
    confs = list(ParameterGrid(final_grid))
    state = random.getstate()
    random.seed(42)  # seed_everything(42)
    random.shuffle(confs)
    random.setstate(state)
    python_objects = ("hidden_norm", "embedding_norm", "optim")
    return [{k: v for k, v in conf.items() if k not in python_objects} for conf in confs[:grid_points]]


@pytest.mark.parametrize(("task_name", "task_grid"), [
    ("maestro", {"max_epochs": [50], "check_val_every_n_epoch": [1]}),  # hear-preprocess's maestro
    ("mini", {"lr": [1e-3]}),  # fewer points than 8: all of them
    ("mini", {"batch_size": [512, 1024], "hidden_layers": [1, 2, 3], "norm_after_activation": [True, False]}),
    ("dcase2016_task2", {"dropout": [0.2, 0.5]}),  # heareval's own table still applies
    ("dcase2016_task2", {"check_val_every_n_epoch": [1, 5]}),  # the task's grid overrides heareval's table
])
def test_a_task_s_param_grid_replaces_values_and_orders_points_as_heareval(task_name: str,
                                                                          task_grid: dict[str, list[Any]]) -> None:
    task = dataclasses.replace(MULTICLASS, name=task_name, evaluation_params=EvaluationParams(
        param_grid=tuple((name, tuple(values)) for name, values in task_grid.items())))
    assert grid_configurations(MLP, task) == heareval_grid_points(task_name, task_grid)


def test_linear_takes_only_the_schedule_of_a_task_s_param_grid() -> None:
    task = dataclasses.replace(MULTICLASS, evaluation_params=EvaluationParams(
        param_grid=(("lr", (0.5,)), ("hidden_dim", (8,)), ("max_epochs", (7,)), ("patience", (1, 2)))))
    points = grid_configurations(LINEAR, task)
    assert len(points) == 12  # every point of the linear grid, times the task's two patiences
    assert {p["lr"] for p in points} == {1e-2, 1e-3, 1e-4} and {p["hidden_layers"] for p in points} == {0}
    assert {p["max_epochs"] for p in points} == {7} and {p["patience"] for p in points} == {1, 2}
    assert "hidden_dim" not in points[0]
    # heareval's own table is the MLP's: the linear probe keeps its schedule on dcase2016_task2.
    assert {p["check_val_every_n_epoch"] for p in grid_configurations(LINEAR, dataclasses.replace(
        MULTICLASS, name="dcase2016_task2"))} == {3}
    unknown = dataclasses.replace(MULTICLASS, evaluation_params=EvaluationParams(param_grid=(("width", (8,)),)))
    with pytest.raises(ValueError, match="task 'tones': param_grid names width, which the grid lacks; it has batch_size"):
        grid_configurations(MLP, unknown)


@pytest.mark.parametrize("protocol", protocols.PROTOCOLS)
@pytest.mark.parametrize("task", [MULTICLASS, MULTILABEL, EVENTS], ids=lambda t: t.name)
def test_separable_embeddings_score_high(protocol: str, task: TaskInfo) -> None:
    result = run_protocol(protocol, task, folds_for(task), seed=0)
    primary = task.evaluation[0]
    assert set(result.scores) == set(task.evaluation)
    assert result.scores[primary] >= 0.9, result
    assert result.validation_score >= 0.9
    assert result.std == {name: 0.0 for name in task.evaluation}
    assert result.fold_scores == {"test": result.scores}
    if task.embedding_type == "event":
        assert result.scores["segment_1s_er"] <= 0.2
        assert set(result.hparams["postprocessing"]["test"]) == {"median_filter_ms", "min_duration"}  # type: ignore[index]


def test_the_validation_loss_stops_training_and_selects_when_the_task_does_not_score(
        monkeypatch: pytest.MonkeyPatch) -> None:
    task = dataclasses.replace(MULTILABEL, evaluation_params=EvaluationParams(use_scoring_for_early_stopping=False))
    fits: list[mlp.MLPProbe] = []
    fit = mlp.MLPProbe.fit

    def recording(self: mlp.MLPProbe, *args: object, **kwargs: object) -> object:
        fits.append(self)
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(mlp.MLPProbe, "fit", recording)
    for protocol in ("linear", "mlp"):
        fits.clear()
        result = run_protocol(protocol, task, folds_for(task, noise=1.0), seed=0)
        assert {probe.monitor for probe in fits} == {"loss"} and result.hparams["monitor"] == "loss"
        losses = [probe.best_score_ for probe in fits]
        assert result.validation_score == min(losses) > 0  # the lowest loss, not the highest
        assert result.scores["mAP"] >= 0.8
    assert run_protocol("linear", MULTILABEL, folds_for(MULTILABEL), seed=0).hparams["monitor"] == "score"


@pytest.mark.parametrize("protocol", protocols.PROTOCOLS)
@pytest.mark.parametrize("use_scoring", [True, False])
def test_an_event_task_s_one_point_postprocessing_grid_is_every_protocol_s(protocol: str, use_scoring: bool) -> None:
    grid = (("median_filter_ms", (0,)), ("min_duration", (100,)))
    task = dataclasses.replace(EVENTS, evaluation_params=EvaluationParams(
        postprocessing_grid=grid, use_scoring_for_early_stopping=use_scoring))
    result = run_protocol(protocol, task, folds_for(task), seed=0)
    assert result.hparams["postprocessing"] == {"test": {"median_filter_ms": 0, "min_duration": 100}}
    assert result.scores["event_onset_200ms_fms"] >= 0.8


def test_kfold_selects_on_the_first_fold_and_aggregates(monkeypatch: pytest.MonkeyPatch) -> None:
    folds = make_folds(MULTICLASS, sizes=(24, 8, 8), n_folds=3, noise=1.5)
    trained_on = []
    fit = mlp.MLPProbe.fit  # the linear probe's too

    def counting(self: mlp.MLPProbe, x: np.ndarray, *args: object, **kwargs: object) -> object:
        trained_on.append(len(x))
        return fit(self, x, *args, **kwargs)

    monkeypatch.setattr(mlp.MLPProbe, "fit", counting)
    result = run_protocol("linear", MULTICLASS, folds, seed=0)
    assert len(trained_on) == 2 + 2  # the grid on the first fold, then one run per other fold
    assert list(result.fold_scores) == ["fold00", "fold01", "fold02"]
    values = [scores["top1_acc"] for scores in result.fold_scores.values()]
    assert result.scores["top1_acc"] == pytest.approx(np.mean(values))
    assert result.std["top1_acc"] == pytest.approx(np.std(values, ddof=1))
    assert set(result.hparams["epoch"]) == set(result.fold_scores)  # type: ignore[arg-type]


def test_knn_k_is_chosen_on_validation() -> None:
    # A third of the training labels are wrong: one neighbour is a poor vote, a majority of many is right.
    fold = make_folds(MULTICLASS, sizes=(120, 40, 40))[0]
    targets = fold.train.targets.copy()
    targets[::3] = np.roll(targets[::3], 1, axis=1)
    result = run_protocol("knn", MULTICLASS, [_replace_split(fold, "train", targets=targets)])
    assert result.hparams["k"] in protocols.KNN_CANDIDATES
    assert result.hparams["k"] > 1
    assert result.scores["top1_acc"] >= 0.9


def test_same_seed_same_result_and_the_global_random_state_is_untouched() -> None:
    folds = folds_for(MULTILABEL, noise=1.0)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    first = run_protocol("mlp", MULTILABEL, folds, seed=5)
    assert torch.equal(torch.rand(3), before)
    second = run_protocol("mlp", MULTILABEL, folds, seed=5)
    assert (first.scores, first.hparams, first.validation_score) == (second.scores, second.hparams, second.validation_score)


def _replace_split(fold: Fold, name: str, **changes: object) -> Fold:
    return dataclasses.replace(fold, **{name: dataclasses.replace(getattr(fold, name), **changes)})


def test_bad_inputs_are_refused_with_the_problem_named() -> None:
    fold = folds_for(MULTICLASS)[0]
    with pytest.raises(ValueError, match="unknown protocol 'mpl'; did you mean mlp"):
        run_protocol("mpl", MULTICLASS, [fold])
    with pytest.raises(ValueError, match="no fold"):
        run_protocol("knn", MULTICLASS, [])
    nan = fold.valid.embeddings.copy()
    nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="fold 'test', split 'valid' has NaN or Inf embeddings"):
        run_protocol("knn", MULTICLASS, [_replace_split(fold, "valid", embeddings=nan)])
    empty = SplitEmbeddings(np.zeros((0, 16), np.float32), np.zeros((0, 4), np.float32), (), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="split 'test' has no rows"):
        run_protocol("knn", MULTICLASS, [dataclasses.replace(fold, test=empty)])
    with pytest.raises(ValueError, match="targets over 4 labels, the task 3"):
        run_protocol("knn", dataclasses.replace(MULTICLASS, labels=("a", "b", "c")), [fold])
    two = fold.train.targets.copy()
    two[0] = 1.0
    with pytest.raises(ValueError, match="exactly one label"):
        run_protocol("knn", MULTICLASS, [_replace_split(fold, "train", targets=two)])
    with pytest.raises(ValueError, match="lacks timestamps"):
        run_protocol("knn", dataclasses.replace(MULTICLASS, embedding_type="event", evaluation=("segment_1s_er",)), [fold])
    with pytest.raises(ValueError, match="unknown metric"):
        run_protocol("knn", dataclasses.replace(MULTICLASS, evaluation=("accuracy",)), [fold])
    with pytest.raises(ValueError, match="not a torch device"):
        run_protocol("knn", MULTICLASS, [fold], device="gpu0")


def _train_rows(fold: Fold, rows: np.ndarray, targets: np.ndarray | None = None) -> Fold:
    """``fold`` with only the training rows ``rows`` (their targets replaced by ``targets``)."""
    train = fold.train
    return dataclasses.replace(fold, train=SplitEmbeddings(
        train.embeddings[rows], train.targets[rows] if targets is None else targets, train.files, train.file_index[rows],
        None if train.timestamps_ms is None else train.timestamps_ms[rows], train.events))


def test_fold_warnings_name_what_no_protocol_can_learn() -> None:
    for task in (MULTICLASS, MULTILABEL, EVENTS):  # separable folds: nothing to say
        assert fold_warnings(task, folds_for(task), protocols.PROTOCOLS) == []
    fold = folds_for(MULTICLASS)[0]
    first_two = np.flatnonzero(fold.train.targets[:, :2].any(axis=1))  # rows of labels a and b only
    assert fold_warnings(MULTICLASS, [_train_rows(fold, first_two)], ("knn",)) == [
        f"the training split: 2 of the 4 labels of the test split never occur in its {len(first_two)} training row(s) "
        "(c, d): no protocol can learn them, and their test rows are scored at chance or worse"]
    one = _train_rows(fold, np.array([0]))
    assert fold_warnings(MULTICLASS, [one], ("knn", "linear"))[0].startswith("the training split: 3 of the 4 labels")
    assert len(fold_warnings(MULTICLASS, [one], ("knn", "linear"))) == 1  # the mlp's need is named only when it runs
    assert fold_warnings(MULTICLASS, [one], ("mlp",))[1] == (
        "the training split has 1 row: the mlp protocol cannot train on it (BatchNorm needs 2 rows per batch), so its "
        "scores are those of an untrained network")

    fold = folds_for(MULTILABEL)[0]
    targets = fold.train.targets.copy()
    targets[:, 2] = 1.0  # "noise" in every training row: nothing tells its absence
    assert fold_warnings(MULTILABEL, [_train_rows(fold, np.arange(len(targets)), targets)], ("knn",)) == [
        f"the training split: 1 of the 3 labels of the test split occur in every one of its {len(targets)} training "
        "row(s) (noise): no protocol can learn when they are absent"]
    events = folds_for(EVENTS)[0]
    targets = events.train.targets.copy()
    targets[:, 0] = 0.0  # no training frame of tone_a
    warned = fold_warnings(EVENTS, [_train_rows(events, np.arange(len(targets)), targets)], ("knn",))
    assert warned == [f"the training split: 1 of the 3 labels of the test split never occur in its {len(targets)} "
                      "training row(s) (tone_a): no protocol can learn them, and their test rows are scored at chance "
                      "or worse"]

    folds = make_folds(MULTICLASS, n_folds=3, sizes=(12, 8, 8))
    folds[1] = _train_rows(folds[1], np.flatnonzero(folds[1].train.targets[:, 0] == 0))
    assert fold_warnings(MULTICLASS, folds, ("knn",)) == [
        f"the training split of fold {folds[1].name}: 1 of the 4 labels of the test split never occur in its "
        f"{len(folds[1].train.targets)} training row(s) (a): no protocol can learn them, and their test rows are scored "
        "at chance or worse"]


def test_what_other_modules_import_from_protocols_is_still_there() -> None:
    from hear_gear_embed.evaluation.downstream import events

    assert protocols.events_from_frames is events.events_from_frames  # tests/harness/metric_oracle.py imports it here
    assert {"PROTOCOLS", "ProtocolResult", "fold_warnings", "run_protocol", "TaskInfo"} <= set(dir(protocols))


def test_task_overrides_is_read_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="task_overrides is deprecated: read task_grids"):
        assert protocols.MLP.task_overrides == {"dcase2016_task2": {"check_val_every_n_epoch": 10}}
