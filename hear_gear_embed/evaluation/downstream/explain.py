"""What a task's embeddings look like, beside its scores: seed 000's analyses on task embeddings.

* :func:`split_dispersion`: the dispersion diagnostics of one split (Gini index of the covariance spectrum, top-2
  ratio, K-means F-test, Calinski-Harabasz: :func:`~hear_gear_embed.evaluation.dispersion.dispersion_metrics`; seed
  000's Fig. 3 and Table 4), on a seeded subsample of at most :data:`MAX_DISPERSION_ROWS` rows;
* :func:`project`: 2-D PCA and t-SNE of a split's rows (seed 000's Fig. 4), each row tagged with its label, on a
  seeded subsample of at most :data:`MAX_PROJECTION_ROWS` rows (t-SNE is quadratic in rows);
* :func:`tested_rows`: the rows a task's figure shows, the test splits of every fold put together.

Computation only: the figure is drawn by :mod:`.figures`. Needs scikit-learn (the ``eval`` extra).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..dispersion import dispersion_metrics
from .data import SplitEmbeddings
from .tasks import HearTask

MAX_DISPERSION_ROWS = 4000
"""Most rows the dispersion of a split is measured on (K-means runs ten times on them); larger splits (event tasks
have a row per timestamp) are subsampled without replacement."""
MAX_PROJECTION_ROWS = 1500
"""Most rows a task's figure shows."""
N_CLUSTERS = 8
"""K of the K-means behind the F-test and the Calinski-Harabasz score (fewer for splits of at most 8 rows)."""
NO_LABEL = -1
"""The label index of a row without any label (an event task's frame between events)."""


def _subsample(n_rows: int, at_most: int, seed: int) -> np.ndarray:
    """Indices of at most ``at_most`` of ``n_rows`` rows, seeded, in increasing order."""
    if n_rows <= at_most:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=at_most, replace=False))


def split_dispersion(split: SplitEmbeddings, *, seed: int = 0, max_rows: int = MAX_DISPERSION_ROWS,
                     n_clusters: int = N_CLUSTERS) -> dict[str, float | int] | None:
    """The dispersion diagnostics of ``split``'s embeddings (definitions: docs/gear.md), with ``n_rows``, the split's
    row count, beside ``n_embeddings``, the rows measured.

    Args:
        split: the split's embeddings ``(n_rows, dim)``.
        seed: seeds the subsample and K-means.
        max_rows: most rows measured (a seeded subsample of larger splits).
        n_clusters: K of K-means, lowered to ``n_embeddings - 1`` for smaller splits.

    Returns:
        The metrics, or ``None`` for a split of fewer than 3 rows (no K-means with 2 clusters and a spare row).

    Raises:
        ValueError: ``max_rows`` below 3 or ``n_clusters`` below 2, or NaN or Inf embeddings.
    """
    if max_rows < 3 or n_clusters < 2:
        raise ValueError(f"max_rows must be at least 3 and n_clusters at least 2, got {max_rows} and {n_clusters}")
    n_rows = len(split.embeddings)
    if n_rows < 3:
        return None
    rows = _subsample(n_rows, max_rows, seed)
    metrics = dispersion_metrics(split.embeddings[rows], n_clusters=min(n_clusters, len(rows) - 1), seed=seed)
    return {"n_rows": n_rows, **metrics.as_dict()}


@dataclass(frozen=True)
class Projection:
    """2-D views of a split's rows, for a figure coloured by label.

    Attributes:
        pca: ``(n, 2)`` the first two principal components.
        tsne: ``(n, 2)`` t-SNE coordinates, or ``None`` for fewer than :data:`MIN_TSNE_ROWS` rows.
        label_index: ``(n,)`` int: the first of each row's labels in vocabulary order, :data:`NO_LABEL` for none.
        labels: the task's label names, in vocabulary order.
        explained: the share of the variance of the first two principal components (each in [0, 1]).
        n_rows: the split's row count (``n`` is at most :data:`MAX_PROJECTION_ROWS` of them).
    """

    pca: np.ndarray
    tsne: np.ndarray | None
    label_index: np.ndarray
    labels: tuple[str, ...]
    explained: tuple[float, float]
    n_rows: int


MIN_TSNE_ROWS = 5
"""Fewest rows t-SNE is run on (its perplexity must stay below the row count; here at most a third of it)."""


def project(split: SplitEmbeddings, labels: Sequence[str], *, seed: int = 0,
            max_rows: int = MAX_PROJECTION_ROWS) -> Projection:
    """PCA and t-SNE of ``split``'s rows (a seeded subsample of at most ``max_rows``), each tagged with its label.

    t-SNE's perplexity is scikit-learn's default 30, or a third of the rows for fewer than 91 rows; it starts from
    scikit-learn's PCA initialisation and is seeded, so one call gives one figure.

    Raises:
        ValueError: fewer than 2 rows, ``labels`` not matching the targets' columns, or ``max_rows`` below 2.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if max_rows < 2:
        raise ValueError(f"max_rows must be at least 2, got {max_rows}")
    n_rows = len(split.embeddings)
    if n_rows < 2:
        raise ValueError(f"a projection needs at least 2 rows, got {n_rows}")
    if split.targets.shape[1] != len(labels):
        raise ValueError(f"{len(labels)} label names for targets of {split.targets.shape[1]} labels")
    rows = _subsample(n_rows, max_rows, seed)
    x = split.embeddings[rows].astype(np.float64)
    active = split.targets[rows] > 0
    label_index = np.where(active.any(axis=1), active.argmax(axis=1), NO_LABEL)
    components = min(2, *x.shape)
    pca = PCA(n_components=components, random_state=seed)
    coords = np.zeros((len(rows), 2))
    coords[:, :components] = pca.fit_transform(x)
    ratio = np.nan_to_num(pca.explained_variance_ratio_)  # a split without variance: 0/0
    explained = (float(ratio[0]), float(ratio[1]) if components > 1 else 0.0)
    tsne = None
    if len(rows) >= MIN_TSNE_ROWS:
        perplexity = min(30.0, (len(rows) - 1) / 3)
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca" if components == 2 else "random",
                    random_state=seed).fit_transform(x)
    return Projection(coords, tsne, label_index, tuple(labels), explained, n_rows)


def tested_rows(task: HearTask, splits: Mapping[str, SplitEmbeddings]) -> SplitEmbeddings:
    """The rows of every split some fold tests on (in metadata order): a k-fold task's every fold, a
    train/valid/test task's test split."""
    tested = {name for ds in task.data_splits for name in ds.test}
    parts = [splits[s.name] for s in task.splits if s.name in tested]
    return parts[0] if len(parts) == 1 else SplitEmbeddings.concatenate(parts)
