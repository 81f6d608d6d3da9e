"""What every probe shares (:mod:`hear_gear_embed.evaluation.downstream.probes`), tested on the three of them as
scikit-learn estimators on plain arrays: learning, labels and classes, scikit-learn's tools, and the errors of bad
inputs. Each probe's own behaviour: ``test_mlp.py``, ``test_knn.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.sparse
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score, average_precision_score
from sklearn.model_selection import GridSearchCV, cross_val_score

from hear_gear_embed.evaluation.downstream.knn import KNNProbe
from hear_gear_embed.evaluation.downstream.mlp import LinearProbe, MLPProbe

LABELS = np.array(["cat", "dog", "owl"])

#: Short schedules with small batches: a few hundred optimiser steps, well under a second each.
QUICK = {"max_epochs": 20, "batch_size": 32, "lr": 1e-2}
PROBES: dict[str, Callable[..., Any]] = {
    "knn": lambda **kw: KNNProbe(**kw),
    "linear": lambda **kw: LinearProbe(**{**QUICK, **kw}),
    "mlp": lambda **kw: MLPProbe(**{**QUICK, "hidden_dim": 32, **kw}),
}


def blobs(n: int, *, seed: int = 0, dim: int = 8, noise: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rows around one random centre per label of :data:`LABELS`, labels as strings (float32 rows)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(len(LABELS), dim)) * 2.0
    index = np.arange(n) % len(LABELS)
    return (centres[index] + noise * rng.normal(size=(n, dim))).astype(np.float32), LABELS[index]


def indicator_blobs(n: int, *, seed: int = 0, dim: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Multilabel rows: the sum of the directions of each row's labels plus noise; ``(n, 3)`` 0/1 indicator."""
    rng = np.random.default_rng(seed)
    directions = np.random.default_rng(98).normal(size=(3, dim)) * 2.0
    y = (rng.random((n, 3)) < 0.4).astype(np.int64)
    return y @ directions + 0.4 * rng.normal(size=(n, dim)), y


@pytest.mark.parametrize("name", PROBES)
def test_each_probe_learns_separable_classes_labelled_by_strings(name: str) -> None:
    X, y = blobs(240)
    X_test, y_test = blobs(90, seed=1)
    probe = PROBES[name]().fit(X, y)
    assert list(probe.classes_) == list(LABELS) and probe.n_features_in_ == 8
    proba = probe.predict_proba(X_test)
    assert proba.shape == (90, 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert probe.predict(X_test).dtype.kind == "U"
    assert accuracy_score(y_test, probe.predict(X_test)) >= 0.9  # chance: 1/3
    assert probe.score(X_test, y_test) == accuracy_score(y_test, probe.predict(X_test))


@pytest.mark.parametrize("name", PROBES)
def test_each_probe_learns_a_multilabel_indicator(name: str) -> None:
    X, y = indicator_blobs(240)
    X_test, y_test = indicator_blobs(90, seed=1)
    probe = PROBES[name](classes=("low", "high", "noise")).fit(X, y)
    assert list(probe.classes_) == ["low", "high", "noise"] and probe.multilabel_
    proba = probe.predict_proba(X_test)
    assert proba.shape == (90, 3) and ((proba >= 0) & (proba <= 1)).all()
    assert set(np.unique(probe.predict(X_test))) <= {0, 1} and probe.predict(X_test).shape == (90, 3)
    assert average_precision_score(y_test, proba) >= 0.85  # chance: about 0.4


@pytest.mark.parametrize("name", PROBES)
def test_classes_give_a_column_to_a_class_absent_from_training(name: str) -> None:
    X, y = blobs(120)
    probe = PROBES[name](classes=("owl", "dog", "cat", "eel")).fit(X, y)
    assert list(probe.classes_) == ["owl", "dog", "cat", "eel"]  # the given order is the columns' order
    proba = probe.predict_proba(X)
    assert proba.shape == (120, 4)
    assert "eel" not in set(probe.predict(X))
    assert accuracy_score(y, probe.predict(X)) >= 0.9
    if name == "knn":
        assert (proba[:, 3] == 0).all()


def test_the_linear_probe_and_knn_work_with_their_defaults() -> None:
    X, y = blobs(120)
    for probe in (KNNProbe(), LinearProbe()):
        assert accuracy_score(y, probe.fit(X, y).predict(X)) >= 0.9
    assert len(probe.model_) == 1  # the linear probe: a single Linear layer
    assert (LinearProbe().get_params()["hidden_layers"], LinearProbe().get_params()["standardise"]) == (0, True)
    assert (MLPProbe().get_params()["hidden_layers"], MLPProbe().get_params()["standardise"]) == (1, False)


def test_clone_get_params_and_set_params_are_scikit_learn_s() -> None:
    probe = MLPProbe(lr=0.1, classes=("a", "b"), hidden_dim=16)
    params = probe.get_params()
    assert params["lr"] == 0.1 and params["classes"] == ("a", "b") and params["scoring"] is None
    copy = clone(probe)
    assert copy is not probe and copy.get_params() == params
    assert probe.set_params(lr=0.5, seed=3) is probe and (probe.lr, probe.seed) == (0.5, 3)
    X, y = blobs(60)
    fitted = LinearProbe(max_epochs=2).fit(X, y)
    with pytest.raises(NotFittedError):
        clone(fitted).predict(X)
    knn = KNNProbe(n_neighbors=(1, 3))
    assert clone(knn).get_params()["n_neighbors"] == (1, 3)


def test_cross_val_score_and_grid_search() -> None:
    X, y = blobs(150)
    scores = cross_val_score(LinearProbe(**QUICK), X, y, cv=3)
    assert scores.shape == (3,) and (scores >= 0.8).all()
    search = GridSearchCV(KNNProbe(), {"n_neighbors": [1, 7]}, cv=3).fit(X, y)
    assert search.best_params_["n_neighbors"] in (1, 7) and search.best_score_ >= 0.8


@pytest.mark.parametrize("name", PROBES)
def test_bad_inputs_are_refused_with_the_problem_named(name: str) -> None:
    X, y = blobs(30)
    make = PROBES[name]
    nan = X.copy()
    nan[3, 2] = np.nan
    inf = X.copy()
    inf[5, 1] = np.inf
    cases: list[tuple[tuple[Any, ...], dict[str, Any], str]] = [
        ((nan, y), {}, "X has 1 NaN or Inf value.*row 3, column 2"),
        ((X, y), {"X_valid": inf, "y_valid": y}, "X_valid has 1 NaN or Inf value.*row 5, column 1"),
        ((X, y[:-1]), {}, "X has 30 rows but y has 29"),
        ((X, y), {"X_valid": X}, "X_valid is given without y_valid"),
        ((X, y), {"y_valid": y}, "y_valid is given without X_valid"),
        ((X[:, :, None], y), {}, "X must be 2-D .*3-D array of shape \\(30, 8, 1\\)"),
        ((X, y[:, None, None]), {}, "y must be 1-D class labels or a 2-D 0/1 indicator, got shape \\(30, 1, 1\\)"),
        ((X, np.full(30, "cat")), {}, "a multiclass probe needs at least 2 classes, and y has 1 class \\('cat'\\)"),
        ((X, np.full((30, 2), 0.5)), {}, "y is 2-D, so a multilabel indicator, but holds values other than 0 and 1"),
        ((X, y), {"X_valid": X[:, :5], "y_valid": y}, "X_valid has 5 features, but X has 8"),
        ((X, y), {"X_valid": X, "y_valid": np.full(30, "eel")}, "y_valid has labels that are not among the classes: 'eel'"),
        ((X, y), {"X_valid": X[:10], "y_valid": y}, "X_valid has 10 rows but y_valid has 30"),
        ((np.full((30, 8), "a"), y), {}, "X must hold numbers"),
        ((X[:, 0], y), {}, "X must be 2-D .*1-D array of shape \\(30,\\): Reshape your data"),
        ((X, None), {}, "fit requires y to be passed, but the target y is None"),
        ((scipy.sparse.csr_matrix(X), y), {}, "X is a sparse matrix: sparse input is not supported"),
        ((X[:0], y[:0]), {}, "X has 0 sample\\(s\\) \\(shape=\\(0, 8\\)\\) while a minimum of 1 is required"),
    ]
    for args, kwargs, match in cases:
        with pytest.raises(ValueError, match=f"{type(make()).__name__}: {match}"):
            make().fit(*args, **kwargs)
    with pytest.raises(ValueError, match="y has labels that are not among the classes: 'owl'"):
        make(classes=("cat", "dog")).fit(X, y)
    with pytest.raises(ValueError, match="y has 3 columns, but there are 2 classes"):
        make(classes=("a", "b")).fit(X, np.eye(3, dtype=int)[np.arange(30) % 3])
    with pytest.raises(NotFittedError):
        make().predict(X)
    fitted = make(**({} if name == "knn" else {"max_epochs": 1})).fit(X, y)
    with pytest.raises(ValueError, match=f"X has 5 features, but {type(fitted).__name__} is expecting 8 features as input"):
        fitted.predict_proba(X[:, :5])
    with pytest.raises(ValueError, match="X has 1 NaN or Inf value"):
        fitted.predict(nan)
