"""Downstream protocols fitted on a task's embeddings: kNN, a linear probe, and heareval's MLP protocol.

* ``mlp``: hear-eval-kit 2021.1.3's protocol (``heareval.predictions.task_predictions``) in plain torch. Its default
  grid (:data:`MLP`), shuffled as heareval shuffles it (``random.seed(42)``) and cut to its first 8 points; each point
  trains with Adam on unshuffled batches of 1024 rows (heareval's training loader asks for shuffling only when the split
  name is the string ``"train"``, and it always passes a list), validates every 3 epochs, stops after 20 validations
  without a strict improvement of the first metric (or at once on a non-finite one) and keeps the weights of its best
  validation; the best point on the first fold's validation is retrained on the other folds. Embeddings are used raw
  (heareval's ``embedding_norm`` is the identity).
* ``linear``: the same trainer without hidden layers (heareval's ``FullyConnectedPrediction`` with
  ``hidden_layers=0`` is a linear probe) on embeddings standardised with training statistics, over its own small grid
  (:data:`LINEAR`): without a normalisation layer, a linear read-out's optimisation depends on the embedding's scale,
  which differs by orders of magnitude between modules, and standardising makes one learning-rate grid fit all.
* ``knn``: embeddings standardised with training statistics (every dimension counts alike), neighbours by cosine
  similarity (it compares directions, so a row's overall magnitude, which in many embeddings follows loudness more than
  content, does not pick its neighbours), scores the mean of the ``k`` nearest training rows' multi-hot targets (so
  ranking scores apply; top-1 takes the lowest label among tied ones), ``k`` from :data:`KNN_CANDIDATES` chosen on the
  first fold's validation (the smallest among tied ones). No parameter is learnt.

Event tasks (all protocols): frame scores become events per file as heareval makes them (:func:`events_from_frames`:
median filter, threshold 0.5, adjacent frames joined, events shorter than a minimum dropped), with the postprocessing of
:data:`EVENT_POSTPROCESSING_GRID` that scores best on the validation split (for the MLP: at the kept epoch).

Seeds: ``seed`` seeds weight initialisation and dropout of every training run (the global torch state is restored
afterwards); ``seed=42`` is heareval's seed, but Lightning's random stream (its order of draws) is not reproduced, so
agreement with heareval is statistical: run several seeds to measure the spread (:func:`run_protocol`). The grid's
shuffle always uses heareval's 42: it defines which 8 configurations the protocol searches, not a random draw.
"""

from __future__ import annotations

import functools
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...util.chunking import chunks
from ...util.device import resolve_device
from ...util.names import unknown_name
from .data import Event, Fold, SplitEmbeddings, TaskInfo
from .metrics import Metric, task_metrics

logger = logging.getLogger(__name__)

PROTOCOLS: tuple[str, ...] = ("knn", "linear", "mlp")
"""The protocols' names, in the order of ``hear-gear evaluate``'s table."""

Postprocessing = tuple[tuple[str, int], ...]
"""One event postprocessing, as heareval keys it: ``(("median_filter_ms", 250), ("min_duration", 125))``."""

EVENT_POSTPROCESSING_GRID: dict[str, tuple[int, ...]] = {"median_filter_ms": (250,), "min_duration": (125, 250)}
"""heareval's ``EVENT_POSTPROCESSING_GRID`` (ms): median filter width and minimum event duration."""

EVENT_THRESHOLD = 0.5
"""A frame is active for a label when its (filtered) score is strictly above this."""

KNN_CANDIDATES: tuple[int, ...] = (1, 3, 5, 9, 17, 33, 65, 129, 257)
"""Numbers of neighbours tried by ``knn`` (those up to the number of training rows)."""

_KNN_BLOCK = 1 << 24
"""Elements of the largest array of one block of query rows: similarities, or neighbour targets (64 MiB in float32)."""

_PREDICTION_ROWS = 1 << 14
"""Rows predicted at once (hidden activations of 1024 units: 64 MiB per layer in float32)."""

_INITIALIZATIONS: dict[str, Callable[..., torch.Tensor]] = {
    "xavier_uniform": torch.nn.init.xavier_uniform_,
    "xavier_normal": torch.nn.init.xavier_normal_,
}


@dataclass(frozen=True)
class TrainerSettings:
    """A protocol trained by gradient descent: its hyper-parameter grid, how the grid is searched, and its schedule.

    Attributes:
        grid: heareval's names -> values tried: ``hidden_layers``, ``lr``, ``initialization`` (``xavier_uniform`` or
            ``xavier_normal``), and with hidden layers ``hidden_dim`` and ``dropout``.
        grid_points: how many configurations are trained (the first ones after shuffling).
        grid_seed: the seed of Python's ``random`` that shuffles the expanded grid (heareval: 42).
        patience: validations without a strict improvement before training stops.
        max_epochs: the most epochs trained.
        check_val_every_n_epoch: epochs between validations (after epochs n - 1, 2n - 1, ...).
        batch_size: training rows per optimiser step.
        standardise: whether embeddings are standardised with the training split's mean and standard deviation.
        task_overrides: task name -> schedule fields replaced for it (heareval's ``TASK_SPECIFIC_PARAM_GRID``).
    """

    grid: Mapping[str, tuple[Any, ...]]
    grid_points: int
    grid_seed: int
    patience: int
    max_epochs: int
    check_val_every_n_epoch: int
    batch_size: int
    standardise: bool
    task_overrides: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


MLP = TrainerSettings(
    grid={
        "hidden_layers": (1, 2),
        "hidden_dim": (1024,),
        "dropout": (0.1,),
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
    task_overrides={"dcase2016_task2": {"check_val_every_n_epoch": 10}},
)
"""heareval's default ``PARAM_GRID`` (its single-valued entries: ``BatchNorm1d`` after each hidden linear layer, Adam,
identity embedding norm)."""

LINEAR = TrainerSettings(
    grid={"hidden_layers": (0,), "lr": (1e-2, 1e-3, 1e-4), "initialization": ("xavier_uniform", "xavier_normal")},
    grid_points=6,
    grid_seed=42,
    patience=20,
    max_epochs=500,
    check_val_every_n_epoch=3,
    batch_size=1024,
    standardise=True,
)
"""The linear probe: every point of a learning rate x initialisation grid, with the MLP's schedule."""

TRAINERS: dict[str, TrainerSettings] = {"linear": LINEAR, "mlp": MLP}


@dataclass(frozen=True)
class ProtocolResult:
    """The test scores of one protocol on one task.

    Attributes:
        protocol: one of :data:`PROTOCOLS`.
        scores: metric name -> test value, the mean over folds (NaN folds left out, as heareval's pandas mean does).
        fold_scores: fold name -> metric name -> test value.
        std: metric name -> sample standard deviation over folds (ddof 1, as heareval); 0.0 with one fold.
        validation_score: the primary metric on the first fold's validation split, selected configuration.
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


def grid_configurations(settings: TrainerSettings, task_name: str = "") -> list[dict[str, Any]]:
    """The configurations a trainer protocol tries, in heareval's order.

    heareval expands its grid with scikit-learn's ``ParameterGrid`` (keys sorted, the last varying fastest), shuffles
    the list with Python's ``random`` seeded 42 and keeps the first ``grid_points``; this does the same with a private
    ``random.Random``, so the global random state is untouched. Each configuration also holds the schedule
    (``patience``, ``max_epochs``, ``check_val_every_n_epoch``, ``batch_size``, with ``task_name``'s overrides).
    """
    from sklearn.model_selection import ParameterGrid

    configurations = [dict(point) for point in ParameterGrid({key: list(values) for key, values in settings.grid.items()})]
    random.Random(settings.grid_seed).shuffle(configurations)
    schedule = {
        "patience": settings.patience,
        "max_epochs": settings.max_epochs,
        "check_val_every_n_epoch": settings.check_val_every_n_epoch,
        "batch_size": settings.batch_size,
        **settings.task_overrides.get(task_name, {}),
    }
    return [{**point, **schedule} for point in configurations[: settings.grid_points]]


def events_from_frames(
    scores: np.ndarray,
    timestamps_ms: np.ndarray,
    labels: Sequence[str],
    *,
    median_filter_ms: float,
    min_duration: float,
    threshold: float = EVENT_THRESHOLD,
) -> list[Event]:
    """One file's events from its frame scores, as heareval's ``create_events_from_prediction`` makes them.

    The scores are median-filtered along time over ``round(median_filter_ms / mean frame step)`` frames (scipy's
    ``median_filter``, reflected edges; no filter for 0 or a single frame), thresholded (strictly above), and each run of
    active frames of a label becomes an event from the first to the last frame's timestamp, kept when it lasts at least
    ``min_duration`` ms (so a single active frame is an event only when ``min_duration`` is 0).

    Args:
        scores: ``(n_frames, n_labels)`` frame scores, rows in time order.
        timestamps_ms: ``(n_frames,)`` increasing frame centres in ms.
        labels: the label names of the columns.

    Returns:
        The events, sorted by onset (then label).
    """
    scores = np.asarray(scores)
    timestamps_ms = np.asarray(timestamps_ms, dtype=np.float64)
    if scores.ndim != 2 or scores.shape != (len(timestamps_ms), len(labels)) or len(timestamps_ms) == 0:
        raise ValueError(f"scores {scores.shape} must be (n_frames >= 1 = {len(timestamps_ms)} timestamps, {len(labels)} labels)")
    if (np.diff(timestamps_ms) <= 0).any():
        raise ValueError("timestamps_ms must increase strictly")
    return _runs_to_events(_active_runs(scores, timestamps_ms, median_filter_ms, threshold), labels, min_duration)


def _active_runs(scores: np.ndarray, timestamps_ms: np.ndarray, median_filter_ms: float,
                 threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of active frames: label index, start and end timestamps (ms), per label in time order."""
    if median_filter_ms and len(timestamps_ms) > 1:
        width = int(round(median_filter_ms / float(np.mean(np.diff(timestamps_ms)))))
        if width:
            from scipy.ndimage import median_filter

            scores = median_filter(scores, size=(width, 1))
    active = np.zeros((scores.shape[1], scores.shape[0] + 2), dtype=np.int8)
    active[:, 1:-1] = (scores > threshold).T
    steps = np.diff(active, axis=1)
    label, start = np.nonzero(steps == 1)
    _, stop = np.nonzero(steps == -1)
    return label, timestamps_ms[start], timestamps_ms[stop - 1]


def _runs_to_events(runs: tuple[np.ndarray, np.ndarray, np.ndarray], labels: Sequence[str], min_duration: float) -> list[Event]:
    label, start, end = runs
    keep = end - start >= min_duration
    order = np.argsort(start[keep], kind="stable")
    return [Event(labels[i], float(s), float(e))
            for i, s, e in zip(label[keep][order], start[keep][order], end[keep][order], strict=True)]


@functools.cache
def _postprocessings() -> tuple[Postprocessing, ...]:
    """The points of :data:`EVENT_POSTPROCESSING_GRID`, keyed as heareval keys them."""
    from sklearn.model_selection import ParameterGrid

    grid = ParameterGrid({key: list(values) for key, values in EVENT_POSTPROCESSING_GRID.items()})
    return tuple(tuple(point.items()) for point in grid)


class _Scorer:
    """Scores one split's frame or clip scores with the task's metrics (events: per postprocessing)."""

    def __init__(self, task: TaskInfo, split: SplitEmbeddings, metrics: Sequence[Metric]) -> None:
        self.task = task
        self.metrics = metrics
        self.primary = metrics[0]
        self.targets = split.targets
        self.reference: Mapping[str, Sequence[Event]] = split.events or {}
        self.files: list[tuple[str, np.ndarray, np.ndarray]] = []
        if split.timestamps_ms is not None:
            for index in np.unique(split.file_index):
                rows = np.flatnonzero(split.file_index == index)[::-1]
                # heareval keys a file's frames by timestamp: a repeated timestamp keeps its last row.
                times, first = np.unique(split.timestamps_ms[rows], return_index=True)
                self.files.append((split.files[index], rows[first], times))

    def _events(self, scores: np.ndarray,
                postprocessings: Sequence[Postprocessing]) -> dict[Postprocessing, dict[str, list[Event]]]:
        out: dict[Postprocessing, dict[str, list[Event]]] = {p: {} for p in postprocessings}
        for name, rows, times in self.files:
            runs: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
            for postprocessing in postprocessings:
                params = dict(postprocessing)
                width = params["median_filter_ms"]
                if width not in runs:
                    runs[width] = _active_runs(scores[rows], times, width, EVENT_THRESHOLD)
                out[postprocessing][name] = _runs_to_events(runs[width], self.task.labels, params["min_duration"])
        return out

    def _value(self, metric: Metric, scores: np.ndarray, events: Mapping[str, Sequence[Event]] | None) -> float:
        if events is None:
            return metric.compute(scores, self.targets)
        return metric.compute(events, self.reference, self.task.labels)

    def select(self, scores: np.ndarray) -> tuple[float, Postprocessing | None]:
        """The primary metric of ``scores`` ``(n_rows, n_labels)``, with the best event postprocessing (events).

        As heareval: a NaN primary counts as 0 when postprocessings are compared, ties go to the larger parameters,
        and the value returned is the raw one (NaN stays NaN). Unlike heareval, an error rate is minimised here
        (heareval sorts every primary metric in decreasing order; no HEAR task has an error rate as its first metric).
        """
        if not self.files:
            return self._value(self.primary, scores, None), None
        candidates = self._events(scores, _postprocessings())
        values = {p: self._value(self.primary, scores, events) for p, events in candidates.items()}
        sign = 1.0 if self.primary.higher_is_better else -1.0
        best = max(values, key=lambda p: (sign * (0.0 if math.isnan(values[p]) else values[p]), tuple(v for _, v in p)))
        return values[best], best

    def scores(self, scores: np.ndarray, postprocessing: Postprocessing | None) -> dict[str, float]:
        """Every metric of the task on ``scores`` (events: made with ``postprocessing``)."""
        events = None
        if self.files:
            if postprocessing is None:
                raise ValueError("event scores need a postprocessing")
            events = self._events(scores, [postprocessing])[postprocessing]
        return {metric.name: float(self._value(metric, scores, events)) for metric in self.metrics}


def _better(a: float, b: float, higher_is_better: bool) -> bool:
    return a > b if higher_is_better else a < b


def _first_best(values: Sequence[float], higher_is_better: bool) -> int:
    """Index of the best value, the first among equals (heareval's stable sort of grid points)."""
    best = 0
    for i, value in enumerate(values):
        if _better(value, values[best], higher_is_better):
            best = i
    return best


def _worst(higher_is_better: bool) -> float:
    return -math.inf if higher_is_better else math.inf


# ---------------------------------------------------------------------------------------------------------------------
# Trainer (linear, mlp)


@dataclass(frozen=True)
class _Fitted:
    model: torch.nn.Module
    epoch: int
    validation_score: float
    postprocessing: Postprocessing | None


def _build_model(config: Mapping[str, Any], n_features: int, n_labels: int) -> torch.nn.Sequential:
    """heareval's ``FullyConnectedPrediction`` (logits): [Linear, BatchNorm1d, Dropout, ReLU] x hidden_layers, Linear."""
    initialise = _INITIALIZATIONS[config["initialization"]]
    layers: list[torch.nn.Module] = []
    # heareval's gains: "linear" on the embedding (its activation is unknown), "relu" after a hidden layer.
    width, gain = n_features, torch.nn.init.calculate_gain("linear")
    for _ in range(config["hidden_layers"]):
        linear = torch.nn.Linear(width, config["hidden_dim"])
        initialise(linear.weight, gain=gain)
        layers += [linear, torch.nn.BatchNorm1d(config["hidden_dim"]), torch.nn.Dropout(config["dropout"]), torch.nn.ReLU()]
        width, gain = config["hidden_dim"], torch.nn.init.calculate_gain("relu")
    projection = torch.nn.Linear(width, n_labels)
    initialise(projection.weight, gain=gain)
    return torch.nn.Sequential(*layers, projection)


def _probabilities(model: torch.nn.Module, x: torch.Tensor, multiclass: bool) -> np.ndarray:
    """``(n_rows, n_labels)`` softmax (multiclass) or sigmoid outputs of the model in evaluation mode."""
    model.eval()
    out = []
    with torch.no_grad():
        for start, stop in chunks(len(x), _PREDICTION_ROWS):
            logits = model(x[start:stop])
            out.append((torch.softmax(logits, dim=1) if multiclass else torch.sigmoid(logits)).float().cpu().numpy())
    return np.concatenate(out)


def _train(config: Mapping[str, Any], x: torch.Tensor, y: torch.Tensor, x_valid: torch.Tensor, valid: _Scorer,
           multiclass: bool, seed: int, device: torch.device) -> _Fitted:
    """One training run with heareval's early stopping and checkpointing (see the module docstring)."""
    higher = valid.primary.higher_is_better
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model = _build_model(config, x.shape[1], y.shape[1]).to(device)
        # Adam as heareval's, its update fused into one kernel (a third faster per step on a CPU).
        optimiser = torch.optim.Adam(model.parameters(), lr=config["lr"], fused=True)
        targets = y.argmax(dim=1) if multiclass else y
        loss_fn = F.cross_entropy if multiclass else F.binary_cross_entropy_with_logits
        # BatchNorm cannot train on one row; heareval would fail on such a last batch, this skips it.
        batches = [(a, b) for a, b in chunks(len(x), config["batch_size"]) if b - a > 1 or config["hidden_layers"] == 0]
        best: tuple[float, int, dict[str, torch.Tensor], Postprocessing | None] | None = None
        stop_best, waited = _worst(higher), 0
        for epoch in range(config["max_epochs"]):
            model.train()
            for start, stop in batches:
                rows = slice(start, stop)
                loss = loss_fn(model(x[rows]), targets[rows])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
            if (epoch + 1) % config["check_val_every_n_epoch"]:
                continue
            value, postprocessing = valid.select(_probabilities(model, x_valid, multiclass))
            # Lightning logs the monitored value as a float32 tensor and compares those.
            value = float(np.float32(value))
            finite = math.isfinite(value)
            kept = value if not math.isnan(value) else _worst(higher)
            if best is None or _better(kept, best[0], higher):
                state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best = (kept, epoch, state, postprocessing)
            if not finite:
                break
            if _better(value, stop_best, higher):
                stop_best, waited = value, 0
            else:
                waited += 1
                if waited >= config["patience"]:
                    break
    if best is None:
        raise ValueError(f"max_epochs {config['max_epochs']} ends before the first validation "
                         f"(every {config['check_val_every_n_epoch']} epochs)")
    model.load_state_dict(best[2])
    return _Fitted(model, best[1], best[0], best[3])


@dataclass(frozen=True)
class _FoldData:
    fold: Fold
    train_x: torch.Tensor
    train_y: torch.Tensor
    valid_x: torch.Tensor
    test_x: torch.Tensor
    valid: _Scorer
    test: _Scorer


def _fold_data(task: TaskInfo, fold: Fold, metrics: Sequence[Metric], standardise: bool, device: torch.device) -> _FoldData:
    train = fold.train.embeddings.astype(np.float64)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0

    def tensor(array: np.ndarray) -> torch.Tensor:
        if standardise:
            array = (array - mean) / std
        return torch.as_tensor(array.astype(np.float32), device=device)

    return _FoldData(
        fold=fold,
        train_x=tensor(fold.train.embeddings),
        train_y=torch.as_tensor(fold.train.targets.astype(np.float32), device=device),
        valid_x=tensor(fold.valid.embeddings),
        test_x=tensor(fold.test.embeddings),
        valid=_Scorer(task, fold.valid, metrics),
        test=_Scorer(task, fold.test, metrics),
    )


def _run_trainer(name: str, task: TaskInfo, data: Sequence[_FoldData], seed: int,
                 device: torch.device) -> tuple[list[dict[str, float]], float, dict[str, object]]:
    settings = TRAINERS[name]
    multiclass = task.prediction_type == "multiclass"
    first = data[0]
    results = []
    for i, config in enumerate(grid_configurations(settings, task.name)):
        fitted = _train(config, first.train_x, first.train_y, first.valid_x, first.valid, multiclass, seed, device)
        logger.info("%s %s grid point %d/%d %s: validation %.4f at epoch %d", task.name, name, i + 1, settings.grid_points,
                    config, fitted.validation_score, fitted.epoch)
        results.append((config, fitted))
    config, fitted = results[_first_best([f.validation_score for _, f in results], first.valid.primary.higher_is_better)]
    fits = [fitted] + [_train(config, d.train_x, d.train_y, d.valid_x, d.valid, multiclass, seed, device) for d in data[1:]]
    scores = [d.test.scores(_probabilities(f.model, d.test_x, multiclass), f.postprocessing)
              for d, f in zip(data, fits, strict=True)]
    hparams: dict[str, object] = {
        **config,
        "standardise": settings.standardise,
        "epoch": {d.fold.name: f.epoch for d, f in zip(data, fits, strict=True)},
    }
    if first.test.files:
        hparams["postprocessing"] = {d.fold.name: dict(f.postprocessing or ()) for d, f in zip(data, fits, strict=True)}
    return scores, fitted.validation_score, hparams


# ---------------------------------------------------------------------------------------------------------------------
# kNN


def _neighbour_means(train_x: torch.Tensor, train_y: torch.Tensor, query_x: torch.Tensor, ks: Sequence[int]) -> list[np.ndarray]:
    """For each ``k``: ``(n_query, n_labels)`` mean target of each query row's ``k`` most cosine-similar training rows."""
    train = torch.nn.functional.normalize(train_x, dim=1)
    query = torch.nn.functional.normalize(query_x, dim=1)
    k_max = max(ks)
    out = [np.empty((len(query), train_y.shape[1]), dtype=np.float32) for _ in ks]
    for start, stop in chunks(len(query), _KNN_BLOCK // max(len(train), k_max * train_y.shape[1])):
        nearest = torch.topk(query[start:stop] @ train.T, k_max, dim=1).indices
        cumulative = torch.cumsum(train_y[nearest], dim=1)
        for k, target in zip(ks, out, strict=True):
            target[start:stop] = (cumulative[:, k - 1] / k).cpu().numpy()
    return out


def _run_knn(task: TaskInfo, data: Sequence[_FoldData]) -> tuple[list[dict[str, float]], float, dict[str, object]]:
    first = data[0]
    ks = [k for k in KNN_CANDIDATES if k <= len(first.train_x)]
    higher = first.valid.primary.higher_is_better
    values = []
    for k, scores in zip(ks, _neighbour_means(first.train_x, first.train_y, first.valid_x, ks), strict=True):
        value, _ = first.valid.select(scores)
        logger.info("%s knn k=%d: validation %.4f", task.name, k, value)
        values.append(_worst(higher) if math.isnan(value) else value)
    best = _first_best(values, higher)
    validation_score, k = values[best], ks[best]
    fold_scores, postprocessings = [], {}
    for d in data:
        k_fold = min(k, len(d.train_x))
        valid_scores, test_scores = (_neighbour_means(d.train_x, d.train_y, x, [k_fold])[0] for x in (d.valid_x, d.test_x))
        _, postprocessing = d.valid.select(valid_scores)
        fold_scores.append(d.test.scores(test_scores, postprocessing))
        postprocessings[d.fold.name] = dict(postprocessing or ())
    hparams: dict[str, object] = {"k": k, "standardise": True, "similarity": "cosine"}
    if first.test.files:
        hparams["postprocessing"] = postprocessings
    return fold_scores, validation_score, hparams


# ---------------------------------------------------------------------------------------------------------------------
# Entry point


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


def _summary(fold_names: Sequence[str], fold_scores: Sequence[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """heareval's aggregation: mean and sample standard deviation over folds, NaN values left out."""
    means, stds = {}, {}
    for metric in fold_scores[0]:
        values = np.array([scores[metric] for scores in fold_scores])
        finite = values[~np.isnan(values)]
        means[metric] = float(finite.mean()) if len(finite) else math.nan
        if len(fold_names) == 1:
            stds[metric] = 0.0
        else:
            with np.errstate(invalid="ignore"):  # an infinite value (a perfect d') has a NaN spread, as in pandas
                stds[metric] = float(finite.std(ddof=1)) if len(finite) > 1 else math.nan
    return means, stds


def run_protocol(
    protocol: str, task: TaskInfo, folds: Sequence[Fold], *, seed: int = 42, device: str | torch.device = "cpu"
) -> ProtocolResult:
    """Fit ``protocol`` on ``folds`` and score every fold's test split with the task's metrics.

    Hyper-parameters (the grid point, ``k``) are selected on the first fold's validation split with the task's first
    metric; the other folds are fitted with that selection, each choosing its event postprocessing on its own
    validation split.

    Args:
        protocol: one of :data:`PROTOCOLS`.
        task: the task (labels, prediction type, metrics).
        folds: one fold (train / valid / test) or several (k-fold).
        seed: seeds initialisation and dropout (``linear``, ``mlp``; ``knn`` has no randomness).
        device: where the models run and similarities are computed.

    Raises:
        ValueError: an unknown protocol or metric, no fold, an empty split, embeddings of different dimensions,
            targets not over the task's labels, NaN or Inf embeddings (naming the fold and split), timestamps on a
            scene task (or none on an event task), a multiclass row without exactly one label.
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
    standardise = protocol == "knn" or TRAINERS[protocol].standardise
    data = [_fold_data(task, fold, metrics, standardise, resolved) for fold in folds]
    if protocol == "knn":
        fold_scores, validation_score, hparams = _run_knn(task, data)
    else:
        fold_scores, validation_score, hparams = _run_trainer(protocol, task, data, seed, resolved)
    names = [fold.name for fold in folds]
    means, stds = _summary(names, fold_scores)
    return ProtocolResult(
        protocol=protocol,
        scores=means,
        fold_scores=dict(zip(names, fold_scores, strict=True)),
        std=stds,
        validation_score=validation_score,
        hparams=hparams,
        seconds=time.perf_counter() - start,
    )
