"""heareval's trainer as a probe (:mod:`hear_gear_embed.evaluation.downstream.mlp`): early stopping on a validation
split (by a score or by the loss) and the weights it keeps, a non-finite validation, seeds, the norm's place, and its
hyper-parameters' checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score

from hear_gear_embed.evaluation.downstream.mlp import LinearProbe, MLPProbe
from hear_gear_embed.evaluation.downstream.protocols import MLP, grid_configurations

from .synthetic import MULTICLASS, make_folds
from .test_probes import LABELS, PROBES, blobs, indicator_blobs


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


def test_early_stopping_on_the_loss_keeps_the_lowest_validation_loss_and_reads_no_score() -> None:
    """heareval's ``val_loss`` monitor: minimised whatever ``greater_is_better`` says, ``scoring`` unread."""
    X, y = blobs(150, noise=1.5)
    X_valid, y_valid = blobs(60, seed=1, noise=1.5)
    index = np.searchsorted(LABELS, y_valid)

    def unread(y_true: np.ndarray, proba: np.ndarray) -> float:
        raise AssertionError("the loss monitor read the scoring")

    def log_likelihood(y_true: np.ndarray, proba: np.ndarray) -> float:
        return float(np.mean(np.log(proba[np.arange(len(proba)), np.searchsorted(LABELS, y_true)])))

    settings = {"max_epochs": 300, "patience": 2, "check_val_every_n_epoch": 1, "seed": 3}
    by_loss = PROBES["mlp"](**settings, monitor="loss", scoring=unread).fit(X, y, X_valid=X_valid, y_valid=y_valid)
    by_score = PROBES["mlp"](**settings, scoring=log_likelihood).fit(X, y, X_valid=X_valid, y_valid=y_valid)
    assert by_loss.best_epoch_ == by_score.best_epoch_ < 297  # the same training, stopped at the same minimum
    assert by_loss.best_score_ == pytest.approx(-by_score.best_score_, rel=1e-5)
    proba = by_loss.predict_proba(X_valid)
    assert by_loss.best_score_ == pytest.approx(-np.mean(np.log(proba[np.arange(len(index)), index])), rel=1e-5)

    X, y = indicator_blobs(120)
    X_valid, y_valid = indicator_blobs(40, seed=1)
    probe = PROBES["mlp"](**settings, monitor="loss").fit(X, y, X_valid=X_valid, y_valid=y_valid)
    p = probe.predict_proba(X_valid).astype(np.float64)
    binary_cross_entropy = -np.mean(y_valid * np.log(p) + (1 - y_valid) * np.log(1 - p))  # over rows and labels
    assert probe.best_score_ == pytest.approx(binary_cross_entropy, rel=1e-4)


def test_norm_after_activation_moves_the_batch_norm_after_the_relu() -> None:
    X, y = blobs(30)
    before = [type(m).__name__ for m in PROBES["mlp"](hidden_layers=2, max_epochs=1).fit(X, y).model_]
    after = [type(m).__name__ for m in PROBES["mlp"](hidden_layers=2, max_epochs=1, norm_after_activation=True).fit(X, y).model_]
    assert before == ["Linear", "BatchNorm1d", "Dropout", "ReLU"] * 2 + ["Linear"]
    assert after == ["Linear", "Dropout", "ReLU", "BatchNorm1d"] * 2 + ["Linear"]


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
    with pytest.raises(ValueError, match="unknown monitor 'val_loss'; did you mean loss"):
        MLPProbe(monitor="val_loss").fit(X, y)
    with pytest.raises(ValueError, match="norm_after_activation must be True or False, got 'yes'"):
        MLPProbe(norm_after_activation="yes").fit(X, y)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_epochs 2 ends before the first validation \\(every 3 epochs\\)"):
        LinearProbe(max_epochs=2).fit(X, y, X_valid=X, y_valid=y)
