"""heareval's trainer as a probe (:mod:`hear_gear_embed.evaluation.downstream.mlp`): early stopping on a validation
split and the weights it keeps, a non-finite validation, seeds, and its hyper-parameters' checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score

from hear_gear_embed.evaluation.downstream.mlp import LinearProbe, MLPProbe
from hear_gear_embed.evaluation.downstream.protocols import MLP, grid_configurations

from .synthetic import MULTICLASS, make_folds
from .test_probes import LABELS, PROBES, blobs


def test_early_stopping_sets_the_best_epoch_and_keeps_its_weights() -> None:
    X, y = blobs(150, noise=1.5)
    X_valid, y_valid = blobs(60, seed=1, noise=1.5)
    calls = []

    def accuracy(y_true: np.ndarray, proba: np.ndarray) -> float:
        calls.append(1)
        return accuracy_score(y_true, LABELS[proba.argmax(axis=1)])

    probe = PROBES["mlp"](max_epochs=300, patience=2, check_val_every_n_epoch=1, scoring=accuracy)
    probe.fit(X, y, X_valid=X_valid, y_valid=y_valid)
    # Validation after every epoch: the best, then 2 more without a strict improvement, then the stop.
    assert len(calls) == probe.best_epoch_ + 3 < 300
    assert probe.best_score_ == pytest.approx(accuracy_score(y_valid, probe.predict(X_valid)))
    default = PROBES["mlp"](max_epochs=300, patience=2, check_val_every_n_epoch=1).fit(X, y, X_valid=X_valid, y_valid=y_valid)
    assert (default.best_epoch_, default.best_score_) == (probe.best_epoch_, probe.best_score_)  # accuracy by default
    unvalidated = PROBES["mlp"](max_epochs=4).fit(X, y)
    assert unvalidated.best_epoch_ == 3 and math.isnan(unvalidated.best_score_)


def test_early_stopping_keeps_the_best_validation() -> None:
    fold = make_folds(MULTICLASS, sizes=(48, 16, 16))[0]
    script = iter([0.2, 0.6, 0.6, 0.4, 0.5, 0.9, 0.9])  # never improves after the second check
    seen: list[np.ndarray] = []

    def scripted(y_true: np.ndarray, probabilities: np.ndarray) -> float:
        seen.append(probabilities)
        return next(script)

    config = {**grid_configurations(MLP)[0], "patience": 3}
    probe = MLPProbe(**config, seed=0, scoring=scripted)
    probe.fit(fold.train.embeddings, fold.train.targets.argmax(axis=1), X_valid=fold.valid.embeddings,
              y_valid=fold.valid.targets.argmax(axis=1))
    # Checks after epochs 2, 5, 8, 11, 14: the best is the second; three more without a strict improvement stop it.
    assert len(seen) == 5
    assert (probe.best_epoch_, probe.best_score_) == (5, pytest.approx(0.6))
    np.testing.assert_array_equal(probe.predict_proba(fold.valid.embeddings), seen[1])


def test_a_non_finite_validation_stops_at_once() -> None:
    fold = make_folds(MULTICLASS, sizes=(48, 16, 16))[0]
    probe = MLPProbe(**grid_configurations(MLP)[0], seed=0, scoring=lambda y_true, probabilities: math.nan)
    probe.fit(fold.train.embeddings, fold.train.targets.argmax(axis=1), X_valid=fold.valid.embeddings,
              y_valid=fold.valid.targets.argmax(axis=1))
    assert (probe.best_epoch_, probe.best_score_) == (2, -math.inf)


def test_seeded_fits_are_reproducible_and_leave_the_global_random_state_alone() -> None:
    X, y = blobs(90)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    first = PROBES["mlp"](seed=5, max_epochs=3).fit(X, y).predict_proba(X)
    assert torch.equal(torch.rand(3), before)
    np.testing.assert_array_equal(PROBES["mlp"](seed=5, max_epochs=3).fit(X, y).predict_proba(X), first)
    assert not np.array_equal(PROBES["mlp"](seed=6, max_epochs=3).fit(X, y).predict_proba(X), first)


def test_bad_hyper_parameters_are_refused_at_fit() -> None:
    X, y = blobs(30)
    with pytest.raises(ValueError, match="unknown initialization 'xavier'; did you mean xavier_normal, xavier_uniform"):
        MLPProbe(initialization="xavier").fit(X, y)
    with pytest.raises(ValueError, match="max_epochs must be an integer >= 1, got 0"):
        LinearProbe(max_epochs=0).fit(X, y)
    with pytest.raises(ValueError, match="dropout must be in"):
        MLPProbe(dropout=1.0).fit(X, y)
    with pytest.raises(ValueError, match="max_epochs 2 ends before the first validation \\(every 3 epochs\\)"):
        LinearProbe(max_epochs=2).fit(X, y, X_valid=X, y_valid=y)
