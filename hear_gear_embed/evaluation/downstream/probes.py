"""What every probe shares (:class:`Probe`): scikit-learn classifiers that read class probabilities out of fixed
features (embeddings), with one check of their inputs (:func:`check_inputs`) that names what is wrong. Each takes
``y`` as 1-D class labels (multiclass: softmax, cross-entropy) or a 2-D 0/1 indicator (multilabel: sigmoids, binary
cross-entropy), an optional validation split in ``fit(X, y, *, X_valid, y_valid)``, and ``classes`` to give
``predict_proba`` a column for classes absent from ``y``. The probes: :class:`~.mlp.MLPProbe` and
:class:`~.mlp.LinearProbe` (heareval's trainer), :class:`~.knn.KNNProbe`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .scoring import default_scoring


@dataclass(frozen=True)
class ProbeInputs:
    """A probe's checked training inputs.

    Attributes:
        X: ``(n, n_features)`` finite floats. targets: ``(n, n_classes)`` float32 0/1, columns in ``classes`` order.
        indices: ``(n,)`` int64 class index of each row (multiclass); ``None`` (multilabel).
        classes: ``(n_classes,)`` the labels of the columns. multilabel: whether ``y`` was a 2-D indicator.
        X_valid: ``(n_valid, n_features)`` or ``None``. y_valid: ``(n_valid,)`` or ``(n_valid, n_classes)``, or ``None``.
        valid_targets, valid_indices: as ``targets`` and ``indices``, of ``y_valid`` (``None`` without it).
    """

    X: np.ndarray
    targets: np.ndarray
    indices: np.ndarray | None
    classes: np.ndarray
    multilabel: bool
    X_valid: np.ndarray | None
    y_valid: np.ndarray | None
    valid_targets: np.ndarray | None = None
    valid_indices: np.ndarray | None = None


def check_inputs(estimator: str, X: Any, y: Any, *, X_valid: Any = None, y_valid: Any = None,
                 classes: Sequence[Any] | None = None) -> ProbeInputs:
    """Checks a probe's ``fit`` inputs; every error names ``estimator`` and the problem.

    Args:
        X: ``(n, n_features)`` numbers, finite. y: ``(n,)`` class labels or ``(n, n_classes)`` 0/1 indicator.
        X_valid, y_valid: both or neither, like ``X`` and ``y``.
        classes: the labels of the columns (``None``: the sorted labels of ``y``, or ``0 .. n_classes - 1``).
    """
    X = check_features(estimator, X)
    if y is None:
        raise ValueError(f"{estimator}: fit requires y to be passed, but the target y is None")
    y = np.asarray(y)
    if y.ndim not in (1, 2):
        raise ValueError(f"{estimator}: y must be 1-D class labels or a 2-D 0/1 indicator, got shape {y.shape}")
    if len(y) != len(X):
        raise ValueError(f"{estimator}: X has {len(X)} rows but y has {len(y)}")
    all_classes = _classes(estimator, y, classes)
    targets, indices = _targets(estimator, "y", y, all_classes)
    if y.ndim == 1 and len(all_classes) < 2:
        raise ValueError(f"{estimator}: a multiclass probe needs at least 2 classes, and "
                         + (f"y has 1 class ({all_classes.tolist()[0]!r}): pass classes= to name the others"
                            if classes is None else "classes has 1"))
    if (X_valid is None) != (y_valid is None):
        raise ValueError(f"{estimator}: " + ("X_valid is given without y_valid" if y_valid is None
                                             else "y_valid is given without X_valid"))
    valid_targets = valid_indices = None
    if X_valid is not None:
        X_valid = check_features(estimator, X_valid, X.shape[1], name="X_valid")
        y_valid = np.asarray(y_valid)
        if y_valid.ndim != y.ndim:
            raise ValueError(f"{estimator}: y_valid has shape {y_valid.shape}, but y is {y.ndim}-D")
        if len(y_valid) != len(X_valid):
            raise ValueError(f"{estimator}: X_valid has {len(X_valid)} rows but y_valid has {len(y_valid)}")
        valid_targets, valid_indices = _targets(estimator, "y_valid", y_valid, all_classes)
    return ProbeInputs(X, targets, indices, all_classes, y.ndim == 2, X_valid, y_valid, valid_targets, valid_indices)


def check_features(estimator: str, X: Any, n_features: int | None = None, *, name: str = "X") -> np.ndarray:
    """``X`` as a 2-D float array of at least one row (and ``n_features`` columns), finite, or a ValueError naming why."""
    if hasattr(X, "tocsr"):
        raise ValueError(f"{estimator}: {name} is a sparse matrix: sparse input is not supported, pass a dense array")
    try:
        X = np.asarray(X)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{estimator}: {name} is not an array of numbers: {err}") from err
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{estimator}: {name} must hold numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{estimator}: {name} must be 2-D (n_samples, n_features), got a {X.ndim}-D array of shape {X.shape}"
                         + (": Reshape your data with array.reshape(-1, 1) (one feature) or array.reshape(1, -1) (one sample)"
                            if X.ndim == 1 else ""))
    if 0 in X.shape:
        raise ValueError(f"{estimator}: {name} has 0 {'sample' if X.shape[0] == 0 else 'feature'}(s) (shape={X.shape}) "
                         "while a minimum of 1 is required")
    X = X if X.dtype.kind == "f" else X.astype(np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ValueError(f"{estimator}: {name} has {bad.sum()} NaN or Inf value(s), the first at row {row}, column {column}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{estimator}: {name} has {X.shape[1]} features, but "
                         + (f"X has {n_features}" if name != "X" else f"{estimator} is expecting {n_features} features as input"))
    return X


def _classes(estimator: str, y: np.ndarray, classes: Sequence[Any] | None) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] == 0:
        raise ValueError(f"{estimator}: y is a 2-D indicator without columns")
    if classes is not None:
        given = np.asarray(classes)
        if given.ndim != 1 or len(given) == 0:
            raise ValueError(f"{estimator}: classes must be a non-empty sequence of labels, got shape {given.shape}")
        if len({*given.tolist()}) != len(given):
            raise ValueError(f"{estimator}: classes has a label more than once")
        return given
    if y.ndim == 2:
        return np.arange(y.shape[1])
    try:
        return np.unique(y)
    except TypeError as err:
        raise ValueError(f"{estimator}: y's labels cannot be sorted (mixed types?): {err}") from err


def _targets(estimator: str, name: str, y: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(n, n_classes)`` float32 0/1 targets and ``(n,)`` class indices (``None`` for an indicator ``y``)."""
    if y.ndim == 2:
        if y.shape[1] != len(classes):
            raise ValueError(f"{estimator}: {name} has {y.shape[1]} columns, but there are {len(classes)} classes")
        if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
            raise ValueError(f"{estimator}: {name} is 2-D, so a multilabel indicator, but holds values other than 0 and 1")
        return y.astype(np.float32), None
    try:
        order = np.argsort(classes, kind="stable")
        position = np.clip(np.searchsorted(classes[order], y), 0, len(classes) - 1)
        known = np.asarray(classes[order][position] == y, dtype=bool)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{estimator}: {name}'s labels cannot be compared with the classes: {err}") from err
    if not known.all():
        unknown = ", ".join(repr(label) for label in list(dict.fromkeys(y[~known].tolist()))[:5])
        raise ValueError(f"{estimator}: {name} has labels that are not among the classes: {unknown}")
    indices = order[position].astype(np.int64)
    return np.eye(len(classes), dtype=np.float32)[indices], indices


def statistics(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n_features,)`` float64 mean and standard deviation of ``X`` (a constant feature's deviation is 1)."""
    train = X.astype(np.float64)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    return mean, std


def as_tensor(X: np.ndarray, mean: np.ndarray | None, scale: np.ndarray | None, device: torch.device) -> torch.Tensor:
    """``X`` standardised in float64 (when ``mean`` is given), then as a float32 tensor on ``device``."""
    if mean is not None:
        X = (X - mean) / scale
    return torch.as_tensor(X.astype(np.float32), device=device)


class Probe(ClassifierMixin, BaseEstimator):
    """What the probes share: the fitted label attributes, ``predict``, and checks."""

    mean_: np.ndarray | None
    scale_: np.ndarray | None

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _fitted_labels(self, data: ProbeInputs) -> None:
        self.classes_, self.n_features_in_, self.multilabel_ = data.classes, data.X.shape[1], data.multilabel

    def _features(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "classes_")
        return check_features(type(self).__name__, X, self.n_features_in_)

    def _validation(self, data: ProbeInputs) -> Callable[[np.ndarray], float]:
        """``proba`` ``(n_valid, n_classes)`` -> the validation metric on ``data.y_valid``."""
        scoring = self.scoring if self.scoring is not None else default_scoring(data.classes, data.multilabel)
        return lambda proba: float(scoring(data.y_valid, proba))

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n, n_classes)`` float32 probabilities of ``X`` ``(n, n_features)``, columns in ``classes_`` order."""
        raise NotImplementedError

    def predict(self, X: Any) -> np.ndarray:
        """``(n,)`` labels of the most probable class (the first among tied ones), or the ``(n, n_classes)`` 0/1
        indicator of the probabilities above 0.5 (multilabel)."""
        proba = self.predict_proba(X)
        if self.multilabel_:
            return (proba > 0.5).astype(np.int64)
        return self.classes_[proba.argmax(axis=1)]
