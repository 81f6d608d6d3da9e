"""The kNN protocol as a scikit-learn classifier (:class:`KNNProbe`): the mean target of the ``k`` most
cosine-similar standardised training rows, ``k`` chosen among candidates on a validation split, all candidates from
one top-k search."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import torch

from ...util.chunking import chunks
from ...util.device import resolve_device
from .probes import Probe, as_tensor, check_inputs, statistics
from .scoring import Scoring, first_best, worst

logger = logging.getLogger(__name__)

_KNN_BLOCK = 1 << 24
"""Elements of the largest array of one block of query rows: similarities, or neighbour targets (64 MiB in float32)."""


class KNNProbe(Probe):
    """k nearest neighbours: features standardised with training statistics (every dimension counts alike), neighbours
    by cosine similarity (a row's magnitude, which often follows loudness more than content, does not pick them), each
    class's probability the mean of the ``k`` most similar training rows' targets. No parameter is learnt.

    Args:
        n_neighbors: ``k``, or candidates (a sequence of several) of which the one that scores best on ``(X_valid,
            y_valid)`` is kept (the smallest among tied ones; a NaN value counts as the worst). Candidates above the
            number of training rows are left out (all of them: that number is used); an int above it is cut to it.
        device: where the similarities are computed (in blocks of bounded memory).
        scoring, greater_is_better, classes: as :class:`~.mlp.MLPProbe`'s.

    Attributes:
        classes_: the labels of ``predict_proba``'s columns (``n_features_in_``, ``multilabel_``: as
            :class:`~.mlp.MLPProbe`'s).
        n_neighbors_: the ``k`` used.
        best_score_: its validation value (NaN without ``X_valid``).
        mean_: ``(n_features,)`` float64 training mean (``scale_``: the standard deviation, 1 where it is 0).
        X_train_: ``(n, n_features)`` float32 standardised training rows (``Y_train_``: ``(n, n_classes)`` float32
            targets).
    """

    def __init__(self, *, n_neighbors: int | Sequence[int] = 5, device: str | torch.device = "cpu",
                 scoring: Scoring | None = None, greater_is_better: bool = True,
                 classes: Sequence[Any] | None = None) -> None:
        self.n_neighbors, self.device, self.scoring = n_neighbors, device, scoring
        self.greater_is_better, self.classes = greater_is_better, classes

    def fit(self, X: Any, y: Any, *, X_valid: Any = None, y_valid: Any = None) -> Self:
        """Keeps the standardised ``X`` ``(n, n_features)`` and the targets of ``y`` (``(n,)`` labels or ``(n, n_classes)``
        indicator); with candidates, chooses ``k`` on ``X_valid`` and ``y_valid``."""
        name = type(self).__name__
        data = check_inputs(name, X, y, X_valid=X_valid, y_valid=y_valid, classes=self.classes)
        candidates = self._candidates(name, len(data.X), data.X_valid is not None)
        device = resolve_device(self.device)
        self._fitted_labels(data)
        self.mean_, self.scale_ = statistics(data.X)
        self.X_train_ = ((data.X - self.mean_) / self.scale_).astype(np.float32)
        self.Y_train_ = data.targets
        self.n_neighbors_, self.best_score_ = candidates[0], math.nan
        if data.X_valid is not None:
            value, higher = self._validation(data), self.greater_is_better
            query = as_tensor(data.X_valid, self.mean_, self.scale_, device)
            values = [value(proba) for proba in self._means(query, candidates, device)]
            logger.debug("k %s: validation %s", candidates, values)
            values = [worst(higher) if math.isnan(v) else v for v in values]
            best = first_best(values, higher)
            self.n_neighbors_, self.best_score_ = candidates[best], values[best]
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, n_classes)`` float32 mean targets of each row's ``n_neighbors_`` nearest training rows."""
        X = self._features(X)
        device = resolve_device(self.device)
        return self._means(as_tensor(X, self.mean_, self.scale_, device), [self.n_neighbors_], device)[0]

    def _means(self, query: torch.Tensor, ks: Sequence[int], device: torch.device) -> list[np.ndarray]:
        train_x, train_y = (torch.as_tensor(a, device=device) for a in (self.X_train_, self.Y_train_))
        return _neighbour_means(train_x, train_y, query, ks)

    def _candidates(self, name: str, n_train: int, validated: bool) -> list[int]:
        """The ``k`` to try, increasing (one without a validation split)."""
        given: Any = self.n_neighbors
        ks = [given] if isinstance(given, int | np.integer) else list(given)
        if not ks or any(isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1 for k in ks):
            raise ValueError(f"{name}: n_neighbors must be an integer >= 1 or a non-empty sequence of them, got {given!r}")
        if len(set(ks)) > 1 and not validated:
            raise ValueError(f"{name}: n_neighbors={self.n_neighbors!r} holds candidates, which X_valid and y_valid "
                             "choose among: pass them to fit, or a single n_neighbors")
        return sorted({int(k) for k in ks if k <= n_train}) or [min(int(min(ks)), n_train)]


def _neighbour_means(train_x: torch.Tensor, train_y: torch.Tensor, query_x: torch.Tensor, ks: Sequence[int]) -> list[np.ndarray]:
    """For each ``k``: ``(n_query, n_labels)`` mean target of each query row's ``k`` most cosine-similar training rows
    (``train_x`` ``(n_train, n_features)``, ``train_y`` ``(n_train, n_labels)``), all ``k`` from one top-k search."""
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
