"""heareval's MLP protocol as scikit-learn classifiers: :class:`MLPProbe` (``FullyConnectedPrediction`` trained as
heareval trains it: Adam on unshuffled batches; with a validation split, early stopping and the weights of the best
validation, by a score or by the loss) and :class:`LinearProbe` (the same without hidden layers, on standardised
features)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, Self

import numpy as np
import torch
import torch.nn.functional as F

from ...util.chunking import chunks
from ...util.device import resolve_device
from ...util.names import unknown_name
from .probes import Probe, as_tensor, check_inputs, statistics
from .scoring import Scoring, better, worst

logger = logging.getLogger(__name__)

_PREDICTION_ROWS = 1 << 14
"""Rows predicted at once (hidden activations of 1024 units: 64 MiB per layer in float32)."""

_INITIALIZATIONS: dict[str, Callable[..., torch.Tensor]] = {
    "xavier_uniform": torch.nn.init.xavier_uniform_,
    "xavier_normal": torch.nn.init.xavier_normal_,
}

MONITORS = ("score", "loss")
"""What early stopping watches on the validation split: ``score`` (the probe's ``scoring``, heareval's default) or
``loss`` (the training loss, heareval's ``val_loss`` for a task with ``use_scoring_for_early_stopping`` false)."""


def _build_model(hidden_layers: int, hidden_dim: int, dropout: float, initialization: str, norm_after_activation: bool,
                 n_features: int, n_outputs: int) -> torch.nn.Sequential:
    """heareval's ``FullyConnectedPrediction`` (logits): [Linear, BatchNorm1d, Dropout, ReLU] x hidden_layers, Linear;
    with ``norm_after_activation``, [Linear, Dropout, ReLU, BatchNorm1d] x hidden_layers, Linear."""
    initialise = _INITIALIZATIONS[initialization]
    layers: list[torch.nn.Module] = []
    # heareval's gains: "linear" on the embedding (its activation is unknown), "relu" after a hidden layer.
    width, gain = n_features, torch.nn.init.calculate_gain("linear")
    for _ in range(hidden_layers):
        linear = torch.nn.Linear(width, hidden_dim)
        initialise(linear.weight, gain=gain)
        block: list[torch.nn.Module] = [torch.nn.Dropout(dropout), torch.nn.ReLU()]
        norm = torch.nn.BatchNorm1d(hidden_dim)
        layers += [linear, *block, norm] if norm_after_activation else [linear, norm, *block]
        width, gain = hidden_dim, torch.nn.init.calculate_gain("relu")
    projection = torch.nn.Linear(width, n_outputs)
    initialise(projection.weight, gain=gain)
    return torch.nn.Sequential(*layers, projection)


def _logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``(n_rows, n_outputs)`` logits of the model in evaluation mode, on the model's device."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model(x[start:stop]) for start, stop in chunks(len(x), _PREDICTION_ROWS)])


def _probabilities(model: torch.nn.Module, x: torch.Tensor, multiclass: bool) -> np.ndarray:
    """``(n_rows, n_outputs)`` softmax (multiclass) or sigmoid outputs of the model in evaluation mode."""
    logits = _logits(model, x)
    return (torch.softmax(logits, dim=1) if multiclass else torch.sigmoid(logits)).float().cpu().numpy()


def _loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """heareval's loss: cross-entropy against ``(n,)`` class indices, or binary cross-entropy against ``(n, n_outputs)``
    0/1 targets (mean over rows, and labels)."""
    return F.cross_entropy(logits, targets) if targets.dim() == 1 else F.binary_cross_entropy_with_logits(logits, targets)


class MLPProbe(Probe):
    """heareval's MLP (``FullyConnectedPrediction``) as a scikit-learn classifier, trained as heareval trains it.

    Adam (fused) on batches of ``batch_size`` rows in the order given, unshuffled as heareval's (its loader shuffles only
    a split named by the string ``"train"``, and it passes a list); a one-row batch is skipped when there are hidden
    layers (BatchNorm cannot train on it). Without ``X_valid``: ``max_epochs`` epochs, the last weights kept. With it:
    validation every ``check_val_every_n_epoch`` epochs (after epochs n - 1, 2n - 1, ...) with ``scoring`` (``monitor``
    ``score``) or the loss on the validation rows (``monitor`` ``loss``, lower is better), rounded to float32, stopping
    after ``patience`` validations without a strict improvement, or at once on a non-finite value (a NaN counts as the
    worst), and the weights of the best validation kept (the first among equals).

    Args:
        hidden_layers, hidden_dim, dropout: [Linear, BatchNorm1d, Dropout, ReLU] x ``hidden_layers``, then Linear.
        norm_after_activation: the BatchNorm1d after the ReLU instead ([Linear, Dropout, ReLU, BatchNorm1d]).
        lr: Adam's learning rate. initialization: ``xavier_uniform`` or ``xavier_normal`` (heareval's gains).
        batch_size, max_epochs, patience, check_val_every_n_epoch: the schedule (heareval's defaults).
        monitor: what the validation split is judged by: one of :data:`MONITORS` (``loss`` ignores ``scoring`` and
            ``greater_is_better``).
        standardise: standardise features with the training rows' mean and standard deviation (float64).
        seed: seeds weight initialisation and dropout, the global torch random state restored afterwards; ``None``
            draws from (and advances) the global state.
        device: where the network trains and predicts.
        scoring: ``scoring(y_valid, proba)`` (:data:`Scoring`); ``None``: :func:`~.scoring.default_scoring`.
        greater_is_better: whether a larger ``scoring`` value is better.
        classes: the labels of the output columns (``None``: those of ``y``); classes absent from ``y`` get a column.

    Attributes:
        classes_: the labels of ``predict_proba``'s columns.
        n_features_in_: the number of features.
        multilabel_: whether ``y`` was a 2-D indicator.
        model_: the trained ``torch.nn.Sequential`` (logits).
        mean_: ``(n_features,)`` float64 training mean, ``None`` without ``standardise`` (``scale_``: the standard
            deviation, 1 where it is 0).
        best_epoch_: the epoch of the kept weights (0-based).
        best_score_: its validation value, the score or the loss (NaN without ``X_valid``).
    """

    def __init__(self, *, hidden_layers: int = 1, hidden_dim: int = 1024, dropout: float = 0.1,
                 norm_after_activation: bool = False, lr: float = 1e-3, initialization: str = "xavier_uniform",
                 batch_size: int = 1024, max_epochs: int = 500, patience: int = 20, check_val_every_n_epoch: int = 3,
                 monitor: str = "score", standardise: bool = False, seed: int | None = 42,
                 device: str | torch.device = "cpu", scoring: Scoring | None = None, greater_is_better: bool = True,
                 classes: Sequence[Any] | None = None) -> None:
        self.hidden_layers, self.hidden_dim, self.dropout, self.lr = hidden_layers, hidden_dim, dropout, lr
        self.norm_after_activation, self.initialization = norm_after_activation, initialization
        self.batch_size, self.max_epochs, self.patience = batch_size, max_epochs, patience
        self.check_val_every_n_epoch, self.monitor, self.standardise = check_val_every_n_epoch, monitor, standardise
        self.seed, self.device, self.scoring = seed, device, scoring
        self.greater_is_better, self.classes = greater_is_better, classes

    def fit(self, X: Any, y: Any, *, X_valid: Any = None, y_valid: Any = None) -> Self:
        """Trains on ``X`` ``(n, n_features)`` and ``y`` ``(n,)`` labels or ``(n, n_classes)`` indicator; validates on
        ``X_valid`` and ``y_valid`` (optional, together) to stop early and keep the best weights."""
        name = type(self).__name__
        data = check_inputs(name, X, y, X_valid=X_valid, y_valid=y_valid, classes=self.classes)
        self._check_params(name)
        device = resolve_device(self.device)
        self._fitted_labels(data)
        self.mean_, self.scale_ = statistics(data.X) if self.standardise else (None, None)
        x = as_tensor(data.X, self.mean_, self.scale_, device)
        targets = torch.as_tensor(data.targets if data.indices is None else data.indices, device=device)
        validate = None
        if data.X_valid is not None:
            x_valid = as_tensor(data.X_valid, self.mean_, self.scale_, device)
            if self.monitor == "loss":
                valid = data.valid_targets if data.multilabel else data.valid_indices
                valid_targets = torch.as_tensor(valid, device=device)

                def validate(model: torch.nn.Module) -> float:
                    return float(_loss(_logits(model, x_valid), valid_targets))
            else:
                value = self._validation(data)

                def validate(model: torch.nn.Module) -> float:
                    return value(_probabilities(model, x_valid, not data.multilabel))

        self.model_, self.best_epoch_, self.best_score_ = self._train(x, targets, len(data.classes), validate, device)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, n_classes)`` float32 softmax (multiclass) or sigmoid (multilabel) outputs for ``X`` ``(n, n_features)``."""
        X = self._features(X)
        x = as_tensor(X, self.mean_, self.scale_, next(self.model_.parameters()).device)
        return _probabilities(self.model_, x, not self.multilabel_)

    def _check_params(self, name: str) -> None:
        if self.initialization not in _INITIALIZATIONS:
            raise ValueError(f"{name}: " + unknown_name("initialization", str(self.initialization), _INITIALIZATIONS))
        if self.monitor not in MONITORS:
            raise ValueError(f"{name}: " + unknown_name("monitor", str(self.monitor), MONITORS))
        if not isinstance(self.norm_after_activation, bool | np.bool_):
            raise ValueError(f"{name}: norm_after_activation must be True or False, got {self.norm_after_activation!r}")
        for param, least in (("hidden_layers", 0), ("hidden_dim", 1), ("batch_size", 1), ("max_epochs", 1),
                             ("patience", 0), ("check_val_every_n_epoch", 1)):
            value = getattr(self, param)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
                raise ValueError(f"{name}: {param} must be an integer >= {least}, got {value!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {self.dropout!r}")
        if not self.lr > 0:
            raise ValueError(f"{name}: lr must be positive, got {self.lr!r}")

    def _train(self, x: torch.Tensor, targets: torch.Tensor, n_outputs: int, validate: Callable[[torch.nn.Module], float] | None,
               device: torch.device) -> tuple[torch.nn.Sequential, int, float]:
        """The trained network, the epoch of its weights and their validation value (see the class docstring)."""
        higher = self.greater_is_better if self.monitor == "score" else False
        devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, enabled=self.seed is not None):
            if self.seed is not None:
                torch.manual_seed(self.seed)
            model = _build_model(self.hidden_layers, self.hidden_dim, self.dropout, self.initialization,
                                 bool(self.norm_after_activation), x.shape[1], n_outputs).to(device)
            # Adam as heareval's, its update fused into one kernel (faster per step on a CPU).
            optimiser = torch.optim.Adam(model.parameters(), lr=self.lr, fused=True)
            batches = [(a, b) for a, b in chunks(len(x), self.batch_size) if b - a > 1 or self.hidden_layers == 0]
            best: tuple[float, int, dict[str, torch.Tensor]] | None = None
            stop_best, waited = worst(higher), 0
            for epoch in range(self.max_epochs):
                model.train()
                for start, stop in batches:
                    loss = _loss(model(x[start:stop]), targets[start:stop])
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                if validate is None or (epoch + 1) % self.check_val_every_n_epoch:
                    continue
                # Lightning logs the monitored value as a float32 tensor and compares those.
                value = float(np.float32(validate(model)))
                logger.debug("epoch %d: validation %.4f", epoch, value)
                kept = value if not math.isnan(value) else worst(higher)
                if best is None or better(kept, best[0], higher):
                    best = (kept, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
                if not math.isfinite(value):
                    break
                if better(value, stop_best, higher):
                    stop_best, waited = value, 0
                else:
                    waited += 1
                    if waited >= self.patience:
                        break
        if validate is None:
            return model, self.max_epochs - 1, math.nan
        if best is None:
            raise ValueError(f"{type(self).__name__}: max_epochs {self.max_epochs} ends before the first validation "
                             f"(every {self.check_val_every_n_epoch} epochs)")
        model.load_state_dict(best[2])
        return model, best[1], best[0]


class LinearProbe(MLPProbe):
    """A linear read-out: :class:`MLPProbe` with ``hidden_layers=0`` and ``standardise=True`` by default (heareval's
    ``FullyConnectedPrediction`` without hidden layers, on features standardised with training statistics, so that one
    learning rate fits features of any scale). The arguments and attributes are :class:`MLPProbe`'s."""

    def __init__(self, *, hidden_layers: int = 0, hidden_dim: int = 1024, dropout: float = 0.1,
                 norm_after_activation: bool = False, lr: float = 1e-3, initialization: str = "xavier_uniform",
                 batch_size: int = 1024, max_epochs: int = 500, patience: int = 20, check_val_every_n_epoch: int = 3,
                 monitor: str = "score", standardise: bool = True, seed: int | None = 42,
                 device: str | torch.device = "cpu", scoring: Scoring | None = None, greater_is_better: bool = True,
                 classes: Sequence[Any] | None = None) -> None:
        super().__init__(hidden_layers=hidden_layers, hidden_dim=hidden_dim, dropout=dropout,
                         norm_after_activation=norm_after_activation, lr=lr, initialization=initialization,
                         batch_size=batch_size, max_epochs=max_epochs, patience=patience,
                         check_val_every_n_epoch=check_val_every_n_epoch, monitor=monitor, standardise=standardise,
                         seed=seed, device=device, scoring=scoring, greater_is_better=greater_is_better, classes=classes)
