"""The HEAR-task entry point: :func:`run_protocol` fits one protocol on a task's folds and scores every test split.

Three protocols (:data:`PROTOCOLS`), each glue over a probe of :mod:`.mlp` and :mod:`.knn`: ``mlp`` (:class:`~.mlp.MLPProbe`
over heareval's grid :data:`MLP`: its 16 points shuffled with ``random.seed(42)`` and cut to the first 8), ``linear``
(:class:`~.mlp.LinearProbe` over :data:`LINEAR`) and ``knn`` (:class:`~.knn.KNNProbe`, ``k`` among
:data:`KNN_CANDIDATES`). Hyper-parameters are chosen on the first fold's validation split with the task's first metric
(:class:`~.scoring.SplitScorer`, which also chooses the event postprocessing of :mod:`.events`), the other folds are
fitted with that choice, and the test scores are aggregated over folds as heareval does. ``seed`` seeds every training
run (the global torch state is restored afterwards); Lightning's order of random draws is not reproduced, so agreement
with heareval's MLP is statistical. :func:`fold_warnings` names what a fold's training split is too small to teach.

A task's own :class:`~.data.EvaluationParams` apply as heareval applies them: its ``param_grid`` replaces values of the
trainers' grids (:func:`grid_configurations`; ``linear`` takes only its schedule), its postprocessing grid is every
protocol's (:class:`~.scoring.SplitScorer`), and with ``use_scoring_for_early_stopping`` false ``mlp`` and ``linear``
stop, keep weights and select grid points on the validation loss (``knn`` still chooses ``k`` on the first metric).
"""

from __future__ import annotations

import logging
import random
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ...util.device import resolve_device
from ...util.names import unknown_name
from .data import Fold, SplitEmbeddings, TaskInfo
from .events import EVENT_POSTPROCESSING_GRID, EVENT_THRESHOLD, Postprocessing, events_from_frames
from .knn import KNNProbe
from .metrics import Metric, task_metrics
from .mlp import LinearProbe, MLPProbe
from .scoring import SplitScorer, first_best, fold_summary

__all__ = [
    "EVENT_POSTPROCESSING_GRID", "EVENT_THRESHOLD", "KNN_CANDIDATES", "LINEAR", "MLP", "PROTOCOLS", "TRAINERS",
    "Postprocessing", "ProtocolResult", "TrainerSettings", "events_from_frames", "fold_warnings", "grid_configurations",
    "run_protocol",
]

logger = logging.getLogger(__name__)

PROTOCOLS: tuple[str, ...] = ("knn", "linear", "mlp")
"""The protocols' names, in the order of ``hear-gear evaluate``'s table."""

KNN_CANDIDATES: tuple[int, ...] = (1, 3, 5, 9, 17, 33, 65, 129, 257)
"""Numbers of neighbours tried by ``knn`` (those up to the number of training rows)."""


SCHEDULE: tuple[str, ...] = ("patience", "max_epochs", "check_val_every_n_epoch", "batch_size")
"""The grid names that set a trainer's schedule rather than its model: the part of a task's own ``param_grid`` that
``linear`` takes too."""


@dataclass(frozen=True)
class TrainerSettings:
    """A protocol trained by gradient descent: its hyper-parameter grid, how the grid is searched, and its schedule.

    Attributes:
        grid: heareval's names -> values tried: ``hidden_layers``, ``lr``, ``initialization`` (``xavier_uniform`` or
            ``xavier_normal``), and with hidden layers ``hidden_dim``, ``dropout`` and ``norm_after_activation``.
        grid_points: how many configurations are trained (the first ones after shuffling); ``None``: all of them.
        grid_seed: the seed of Python's ``random`` that shuffles the expanded grid (heareval: 42).
        patience: validations without a strict improvement before training stops.
        max_epochs: the most epochs trained.
        check_val_every_n_epoch: epochs between validations (after epochs n - 1, 2n - 1, ...).
        batch_size: training rows per optimiser step.
        standardise: whether embeddings are standardised with the training split's mean and standard deviation.
        task_grids: task name -> grid names -> values, replacing the grid's for that task (heareval's
            ``TASK_SPECIFIC_PARAM_GRID``).
        task_grid_names: the names of a task's own ``param_grid`` that this trainer takes (``None``: every name).
    """

    grid: Mapping[str, tuple[Any, ...]]
    grid_points: int | None
    grid_seed: int
    patience: int
    max_epochs: int
    check_val_every_n_epoch: int
    batch_size: int
    standardise: bool
    task_grids: Mapping[str, Mapping[str, tuple[Any, ...]]] = field(default_factory=dict)
    task_grid_names: tuple[str, ...] | None = None

    @property
    def task_overrides(self) -> dict[str, dict[str, Any]]:
        """Deprecated (until 0.3): :attr:`task_grids`, each name's first value."""
        warnings.warn("TrainerSettings.task_overrides is deprecated: read task_grids (grid values per name)",
                      DeprecationWarning, stacklevel=2)
        return {task: {name: values[0] for name, values in grid.items()} for task, grid in self.task_grids.items()}


MLP = TrainerSettings(
    grid={
        "hidden_layers": (1, 2),
        "hidden_dim": (1024,),
        "dropout": (0.1,),
        "norm_after_activation": (False,),
        "lr": (3.2e-3, 1e-3, 3.2e-4, 1e-4),
        "initialization": ("xavier_uniform", "xavier_normal"),
    },
    grid_points=8,
    grid_seed=42,
    patience=20,
    max_epochs=500,
    check_val_every_n_epoch=3,
    batch_size=1024,
    standardise=False,
    # heareval validates this task less often because sed_eval is slow there; it changes when training stops.
    task_grids={"dcase2016_task2": {"check_val_every_n_epoch": (10,)}},
)
"""heareval's default ``PARAM_GRID`` (its single-valued entries that JSON cannot set: ``BatchNorm1d`` as the hidden
norm, Adam, identity embedding norm)."""

LINEAR = TrainerSettings(
    grid={"hidden_layers": (0,), "lr": (1e-2, 1e-3, 1e-4), "initialization": ("xavier_uniform", "xavier_normal")},
    grid_points=None,
    grid_seed=42,
    patience=20,
    max_epochs=500,
    check_val_every_n_epoch=3,
    batch_size=1024,
    standardise=True,
    task_grid_names=SCHEDULE,
)
"""The linear probe: every point of a learning rate x initialisation grid, with the MLP's schedule (a task's own
``param_grid`` may change the schedule, not the linear model or its learning rates)."""

TRAINERS: dict[str, TrainerSettings] = {"linear": LINEAR, "mlp": MLP}


@dataclass(frozen=True)
class ProtocolResult:
    """The test scores of one protocol on one task.

    Attributes:
        protocol: one of :data:`PROTOCOLS`.
        scores: metric name -> test value, the mean over folds (NaN folds left out, as heareval's pandas mean does).
        fold_scores: fold name -> metric name -> test value.
        std: metric name -> sample standard deviation over folds (ddof 1, as heareval); 0.0 with one fold.
        validation_score: the primary metric on the first fold's validation split, selected configuration (its
            validation loss when the task sets ``use_scoring_for_early_stopping`` false and the protocol trains).
        hparams: JSON-serialisable description of the selected configuration (and, per fold, the kept epoch and
            event postprocessing).
        seconds: wall time of fitting and scoring, all folds.
    """

    protocol: str
    scores: dict[str, float]
    fold_scores: dict[str, dict[str, float]]
    std: dict[str, float]
    validation_score: float
    hparams: dict[str, object]
    seconds: float


def grid_configurations(settings: TrainerSettings, task: TaskInfo | None = None) -> list[dict[str, Any]]:
    """The configurations a trainer protocol tries on ``task`` (``None``: a task without grids of its own), in heareval's
    order.

    As heareval builds it: the trainer's grid (:data:`SCHEDULE` included, as single values), in which the values that
    ``TASK_SPECIFIC_PARAM_GRID`` (``settings.task_grids``) gives for the task's name, then those of the task's own
    ``param_grid`` (the names in ``settings.task_grid_names``), replace the grid's, name by name (``dict.update``). It is
    expanded with scikit-learn's ``ParameterGrid`` (names sorted, the last varying fastest), shuffled with Python's
    ``random`` seeded 42, and the first ``grid_points`` are kept; this shuffles with a private ``random.Random``, so the
    global random state is untouched.

    Raises:
        ValueError: the task's ``param_grid`` names a hyper-parameter that the grid lacks.
    """
    from sklearn.model_selection import ParameterGrid

    grid = {**settings.grid, "patience": (settings.patience,), "max_epochs": (settings.max_epochs,),
            "check_val_every_n_epoch": (settings.check_val_every_n_epoch,), "batch_size": (settings.batch_size,)}
    if task is not None:
        grid.update(settings.task_grids.get(task.name, {}))
        own = dict(task.evaluation_params.param_grid)
        taken = {name: tuple(values) for name, values in own.items()
                 if settings.task_grid_names is None or name in settings.task_grid_names}
        unknown = sorted(set(taken) - set(grid))
        if unknown:
            raise ValueError(f"task {task.name!r}: param_grid names {', '.join(unknown)}, which the grid lacks; it has "
                             f"{', '.join(sorted(grid))}")
        if len(taken) < len(own):
            logger.info("%s: this protocol keeps its own %s (the task's param_grid sets them for heareval's MLP)", task.name,
                        ", ".join(sorted(set(own) - set(taken))))
        grid.update(taken)
    configurations = [dict(point) for point in ParameterGrid({key: list(values) for key, values in grid.items()})]
    random.Random(settings.grid_seed).shuffle(configurations)
    return configurations[: settings.grid_points]


@dataclass(frozen=True)
class _FoldData:
    """One fold as the probes take it: labels as class indices (multiclass) or the multi-hot targets, and scorers."""

    fold: Fold
    y_train: np.ndarray
    y_valid: np.ndarray
    valid: SplitScorer
    test: SplitScorer


def _fold_data(task: TaskInfo, fold: Fold, metrics: Sequence[Metric]) -> _FoldData:
    def labels(split: SplitEmbeddings) -> np.ndarray:
        return split.targets.argmax(axis=1) if task.prediction_type == "multiclass" else split.targets

    return _FoldData(fold, labels(fold.train), labels(fold.valid), SplitScorer(task, fold.valid, metrics),
                     SplitScorer(task, fold.test, metrics))


def _postprocessing(d: _FoldData, valid_scores: np.ndarray) -> Postprocessing | None:
    """The event postprocessing that scores best on the fold's validation split (``None`` for a scene task)."""
    return d.valid.select(valid_scores)[1] if d.valid.files else None


def _run_trainer(name: str, task: TaskInfo, data: Sequence[_FoldData], seed: int,
                 device: torch.device) -> tuple[list[dict[str, float]], float, dict[str, object]]:
    settings = TRAINERS[name]
    probe_class = LinearProbe if name == "linear" else MLPProbe
    first = data[0]
    # heareval's monitor: the first metric, or (use_scoring_for_early_stopping false) "val_loss", minimised.
    monitor = "score" if task.evaluation_params.use_scoring_for_early_stopping else "loss"
    higher = first.valid.primary.higher_is_better and monitor == "score"

    def fit(config: Mapping[str, Any], d: _FoldData) -> MLPProbe:
        probe = probe_class(**config, monitor=monitor, standardise=settings.standardise, seed=seed, device=device,
                            classes=tuple(range(len(task.labels))), scoring=d.valid,
                            greater_is_better=d.valid.primary.higher_is_better)
        return probe.fit(d.fold.train.embeddings, d.y_train, X_valid=d.fold.valid.embeddings, y_valid=d.y_valid)

    results = []
    configurations = grid_configurations(settings, task)
    for i, config in enumerate(configurations):
        probe = fit(config, first)
        logger.info("%s %s grid point %d/%d %s: validation %s %.4f at epoch %d", task.name, name, i + 1,
                    len(configurations), config, monitor, probe.best_score_, probe.best_epoch_)
        results.append((config, probe))
    config, probe = results[first_best([p.best_score_ for _, p in results], higher)]
    probes = [probe] + [fit(config, d) for d in data[1:]]
    # The postprocessing of the kept weights: the one their validation chose while training.
    postprocessings = [_postprocessing(d, p.predict_proba(d.fold.valid.embeddings)) for d, p in zip(data, probes, strict=True)]
    scores = [d.test.scores(p.predict_proba(d.fold.test.embeddings), post)
              for d, p, post in zip(data, probes, postprocessings, strict=True)]
    hparams: dict[str, object] = {
        **config,
        "monitor": monitor,
        "standardise": settings.standardise,
        "epoch": {d.fold.name: p.best_epoch_ for d, p in zip(data, probes, strict=True)},
    }
    if first.test.files:
        hparams["postprocessing"] = {d.fold.name: dict(post or ()) for d, post in zip(data, postprocessings, strict=True)}
    return scores, probe.best_score_, hparams


def _run_knn(task: TaskInfo, data: Sequence[_FoldData],
             device: torch.device) -> tuple[list[dict[str, float]], float, dict[str, object]]:
    first = data[0]
    classes = tuple(range(len(task.labels)))
    chosen = KNNProbe(n_neighbors=KNN_CANDIDATES, device=device, classes=classes, scoring=first.valid,
                      greater_is_better=first.valid.primary.higher_is_better)
    chosen.fit(first.fold.train.embeddings, first.y_train, X_valid=first.fold.valid.embeddings, y_valid=first.y_valid)
    k = chosen.n_neighbors_
    logger.info("%s knn: k=%d, validation %.4f", task.name, k, chosen.best_score_)
    fold_scores, postprocessings = [], {}
    for d in data:
        probe = chosen
        if d is not first:
            probe = KNNProbe(n_neighbors=k, device=device, classes=classes).fit(d.fold.train.embeddings, d.y_train)
        postprocessing = _postprocessing(d, probe.predict_proba(d.fold.valid.embeddings))
        fold_scores.append(d.test.scores(probe.predict_proba(d.fold.test.embeddings), postprocessing))
        postprocessings[d.fold.name] = dict(postprocessing or ())
    hparams: dict[str, object] = {"k": k, "standardise": True, "similarity": "cosine"}
    if first.test.files:
        hparams["postprocessing"] = postprocessings
    return fold_scores, chosen.best_score_, hparams


def _check_split(task: TaskInfo, fold: str, split_name: str, split: SplitEmbeddings, dim: int) -> None:
    where = f"fold {fold!r}, split {split_name!r}"
    if len(split.embeddings) == 0:
        raise ValueError(f"{where} has no rows")
    if split.embeddings.shape[1] != dim:
        raise ValueError(f"{where} has {split.embeddings.shape[1]}-dimensional embeddings, the training split {dim}")
    if split.targets.shape[1] != len(task.labels):
        raise ValueError(f"{where} has targets over {split.targets.shape[1]} labels, the task {len(task.labels)}")
    if not np.isfinite(split.embeddings).all():
        raise ValueError(f"{where} has NaN or Inf embeddings")
    if (split.timestamps_ms is None) != (task.embedding_type == "scene"):
        raise ValueError(f"{where} {'lacks' if split.timestamps_ms is None else 'has'} timestamps and events, "
                         f"but task {task.name!r} is a {task.embedding_type} task")
    if task.prediction_type == "multiclass" and not (split.targets.sum(axis=1) == 1).all():
        raise ValueError(f"{where}: a multiclass task needs exactly one label per row")


def fold_warnings(task: TaskInfo, folds: Sequence[Fold], protocols: Sequence[str]) -> list[str]:
    """What makes a fold's training split too small to learn from, one message per fold and problem; ``[]``: nothing.

    Each protocol learns a label from the training rows that have it and (multilabel and event tasks, whose labels
    are separate yes-or-no decisions) from those that lack it. So, for the labels that occur in a fold's test split:

    * a label that no training row has cannot be predicted by any protocol (every task type);
    * a label that every training row has (multilabel and event tasks) cannot be told absent by any protocol;
    * a training split of a single row leaves ``mlp`` untrained: its hidden layers' BatchNorm cannot train on a batch
      of one row, which is skipped (named only when ``mlp`` is among ``protocols``).

    Fewer training rows than labels is not itself a problem (one row per label can be learnt from); it matters through
    the labels above, which the messages name. The validation split only selects hyper-parameters: it is not checked.
    """
    out = []
    for fold in folds:
        where = "the training split" if len(folds) == 1 else f"the training split of fold {fold.name}"
        train = fold.train.targets > 0
        tested = np.asarray((fold.test.targets > 0).any(axis=0))
        rows = len(train)
        unseen = tested & ~train.any(axis=0)
        if unseen.any():
            out.append(f"{where}: {unseen.sum()} of the {tested.sum()} labels of the test split never occur in its {rows} "
                       f"training row(s) ({_label_list(task, unseen)}): no protocol can learn them, and their test rows "
                       "are scored at chance or worse")
        always = tested & train.all(axis=0)
        if task.prediction_type != "multiclass" and always.any():
            out.append(f"{where}: {always.sum()} of the {tested.sum()} labels of the test split occur in every one of its "
                       f"{rows} training row(s) ({_label_list(task, always)}): no protocol can learn when they are "
                       "absent")
        if "mlp" in protocols and rows == 1:
            out.append(f"{where} has 1 row: the mlp protocol cannot train on it (BatchNorm needs 2 rows per batch), so "
                       "its scores are those of an untrained network")
    return out


def _label_list(task: TaskInfo, chosen: np.ndarray, most: int = 10) -> str:
    """The names of the labels marked in ``chosen`` ``(n_labels,)``, the first ``most`` of them."""
    names = [label for label, c in zip(task.labels, chosen, strict=True) if c]
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def run_protocol(
    protocol: str, task: TaskInfo, folds: Sequence[Fold], *, seed: int = 42, device: str | torch.device = "cpu"
) -> ProtocolResult:
    """Fit ``protocol`` on ``folds`` and score every fold's test split with the task's metrics.

    Hyper-parameters (the grid point, ``k``) are selected on the first fold's validation split with the task's first
    metric (or, for ``linear`` and ``mlp`` on a task with ``use_scoring_for_early_stopping`` false, the validation
    loss); the other folds are fitted with that selection, each choosing its event postprocessing on its own
    validation split.

    Args:
        protocol: one of :data:`PROTOCOLS`.
        task: the task (labels, prediction type, metrics, its own evaluation parameters).
        folds: one fold (train / valid / test) or several (k-fold).
        seed: seeds initialisation and dropout (``linear``, ``mlp``; ``knn`` has no randomness).
        device: where the models run and similarities are computed.

    Raises:
        ValueError: an unknown protocol or metric, no fold, an empty split, embeddings of different dimensions,
            targets not over the task's labels, NaN or Inf embeddings (naming the fold and split), timestamps on a
            scene task (or none on an event task), a multiclass row without exactly one label, evaluation parameters
            that name a hyper-parameter the protocol's grid lacks or a postprocessing setting heareval lacks.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(unknown_name("protocol", protocol, PROTOCOLS))
    if not folds:
        raise ValueError("no fold to fit and score")
    metrics = task_metrics(task.evaluation, task.embedding_type)
    dim = folds[0].train.embeddings.shape[1]
    for fold in folds:
        for split_name in ("train", "valid", "test"):
            _check_split(task, fold.name, split_name, getattr(fold, split_name), dim)
    resolved = resolve_device(device)
    start = time.perf_counter()
    data = [_fold_data(task, fold, metrics) for fold in folds]
    if protocol == "knn":
        fold_scores, validation_score, hparams = _run_knn(task, data, resolved)
    else:
        fold_scores, validation_score, hparams = _run_trainer(protocol, task, data, seed, resolved)
    names = [fold.name for fold in folds]
    means, stds = fold_summary(names, fold_scores)
    return ProtocolResult(
        protocol=protocol,
        scores=means,
        fold_scores=dict(zip(names, fold_scores, strict=True)),
        std=stds,
        validation_score=validation_score,
        hparams=hparams,
        seconds=time.perf_counter() - start,
    )
