"""The kNN probe (:mod:`hear_gear_embed.evaluation.downstream.knn`): ``k`` chosen among candidates on a validation
split, and its checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hear_gear_embed.evaluation.downstream.knn import KNNProbe

from .test_probes import LABELS, blobs


def test_knn_chooses_k_among_candidates_on_validation() -> None:
    X, y = blobs(150, noise=1.0)
    y_noisy = y.copy()
    y_noisy[::4] = LABELS[(np.arange(0, 150, 4) + 1) % 3]  # a quarter of the training labels wrong
    X_valid, y_valid = blobs(60, seed=1, noise=1.0)
    probe = KNNProbe(n_neighbors=(1, 3, 9, 33)).fit(X, y_noisy, X_valid=X_valid, y_valid=y_valid)
    assert probe.n_neighbors_ in (3, 9, 33) and probe.best_score_ >= 0.8
    tied = KNNProbe(n_neighbors=(9, 3, 33), scoring=lambda y_true, proba: math.nan).fit(X, y, X_valid=X_valid, y_valid=y_valid)
    assert (tied.n_neighbors_, tied.best_score_) == (3, -math.inf)  # the smallest among tied ones; NaN is the worst
    assert KNNProbe(n_neighbors=50).fit(X[:10], y[:10]).n_neighbors_ == 10
    assert KNNProbe(n_neighbors=(20, 50)).fit(X[:10], y[:10], X_valid=X_valid, y_valid=y_valid).n_neighbors_ == 10
    assert KNNProbe(n_neighbors=(3, 50)).fit(X[:10], y[:10], X_valid=X_valid, y_valid=y_valid).n_neighbors_ == 3


def test_bad_numbers_of_neighbours_are_refused_at_fit() -> None:
    X, y = blobs(30)
    with pytest.raises(ValueError, match="n_neighbors must be an integer >= 1"):
        KNNProbe(n_neighbors=0).fit(X, y)
    with pytest.raises(ValueError, match="holds candidates, which X_valid and y_valid choose among"):
        KNNProbe(n_neighbors=(1, 5)).fit(X, y)
