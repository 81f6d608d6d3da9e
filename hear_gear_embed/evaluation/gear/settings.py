"""GEAR's analysis settings (:class:`GearSettings`, the paper's as :data:`PAPER_SETTINGS`) and what the ridge
read-out predicts (:data:`RIDGE_TARGETS`, :func:`ridge_targets`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RIDGE_TARGETS = {"f1": "log2(f1 / Hz)", "alpha": "alpha", "r": "r"}
"""What the ridge read-out predicts for each parameter: pitch in octaves, the others as they are."""


@dataclass(frozen=True)
class GearSettings:
    """Analysis settings; the defaults are the paper's (Isomap K = 100 in 3-D, k-NN K = 40).

    Attributes:
        isomap_neighbors: K of the Isomap graph.
        isomap_components: Isomap output dimension.
        knn_neighbors: K of the k-NN regression.
        trust_neighbors: neighbourhood size of the Isomap trustworthiness.
        ridge_folds: folds of the cross-validated ridge regression.
        n_clusters: K-means clusters of the dispersion metrics.
        sensitivity_resamples: bootstrap resamples of the sensitivity indices' intervals.
        seed: seed of the K-fold split, of K-means and of the bootstrap.
    """

    isomap_neighbors: int = 100
    isomap_components: int = 3
    knn_neighbors: int = 40
    trust_neighbors: int = 10
    ridge_folds: int = 5
    n_clusters: int = 8
    sensitivity_resamples: int = 200
    seed: int = 0

    def check(self, n_sounds: int) -> None:
        """Raise ValueError, before any embedding is computed, if ``n_sounds`` cannot support these settings."""
        limits = {
            "isomap_neighbors": n_sounds - 1, "knn_neighbors": n_sounds - 1,
            "trust_neighbors": (n_sounds - 1) // 2, "ridge_folds": n_sounds, "n_clusters": n_sounds - 1,
        }
        lowest = {"ridge_folds": 2, "n_clusters": 2}
        for name, high in limits.items():
            value = getattr(self, name)
            if not lowest.get(name, 1) <= value <= high:
                raise ValueError(f"{name}={value} needs {lowest.get(name, 1)} <= {name} <= {high} for {n_sounds} sounds")
        if self.sensitivity_resamples < 2:
            raise ValueError(f"sensitivity_resamples={self.sensitivity_resamples} needs at least 2 resamples")


PAPER_SETTINGS = GearSettings()
"""The GEAR paper's settings (the defaults)."""


def ridge_targets(params: np.ndarray) -> np.ndarray:
    """``(N, 3)`` targets of the ridge read-out from parameters ``(N, 3)`` (f1 in Hz): see :data:`RIDGE_TARGETS`."""
    params = np.asarray(params, dtype=np.float64)
    return np.column_stack([np.log2(params[:, 0]), params[:, 1], params[:, 2]])
