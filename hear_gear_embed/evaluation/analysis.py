"""GEAR's measurements on embeddings ``(N, D)`` of sounds with known parameters ``(N, P)``.

* :func:`isomap_coordinates` and :func:`isomap_trustworthiness`: the paper's Isomap, and how faithfully its 3-D
  neighbourhoods reflect the embedding's;
* :func:`knn_log_ratios`: ``log(theta_hat / theta)`` with ``theta_hat`` the mean over the K nearest neighbours
  (the paper's equations 2 and 3; ``leave_one_out=True`` excludes the sound itself, the paper does not);
* :func:`ridge_r2`: whether each parameter can be read out linearly from the embedding;
* :func:`sensitivity_indices`: the share of the embedding's variance that each parameter's groups
  (:func:`parameter_groups`) explain, with a bootstrap interval and the level of chance.

Neighbours are found by Euclidean distance, as in the paper. What each measure says: docs/gear.md.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)


def _check(emb: np.ndarray, values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    emb = np.asarray(emb)
    if emb.ndim != 2 or emb.shape[0] < 2:
        raise ValueError(f"embeddings must have shape (n_sounds >= 2, dim), got {emb.shape}")
    if not np.isfinite(emb).all():
        raise ValueError("embeddings contain NaN or Inf")
    if values is None:
        return emb.astype(np.float64), None
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != emb.shape[0]:
        raise ValueError(f"parameters must have shape ({emb.shape[0]}, n_parameters), got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("parameters contain NaN or Inf")
    return emb.astype(np.float64), values


def _check_neighbours(k: int, n: int, what: str, at_most: int) -> None:
    if not 1 <= k <= at_most:
        raise ValueError(f"{what}: K={k} neighbours need 1 <= K <= {at_most} for {n} sounds")


def isomap_coordinates(emb: np.ndarray, n_neighbors: int = 100, n_components: int = 3) -> np.ndarray:
    """Isomap of ``emb`` ``(N, D)``: coordinates ``(N, n_components)`` float64.

    A disconnected K-NN graph is joined by scikit-learn at its closest pairs (logged as a warning):
    distances across the join are then Euclidean rather than geodesic.
    """
    from sklearn.manifold import Isomap

    x, _ = _check(emb)
    _check_neighbours(n_neighbors, len(x), "Isomap", len(x) - 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        coords = Isomap(n_neighbors=n_neighbors, n_components=n_components, path_method="D").fit_transform(x)
    for message in dict.fromkeys(str(w.message) for w in caught):
        logger.warning("Isomap: %s", message)
    return np.asarray(coords, dtype=np.float64)


def graph_components(emb: np.ndarray, n_neighbors: int = 100) -> int:
    """Number of connected components of the symmetrised K-NN graph that Isomap builds on ``emb``.

    More than one means the embedding splits the sounds into groups with no K-NN path between them;
    Isomap then joins the groups at their closest pairs, and distances across groups are not geodesic.
    """
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import kneighbors_graph

    x, _ = _check(emb)
    _check_neighbours(n_neighbors, len(x), "K-NN graph", len(x) - 1)
    return int(connected_components(kneighbors_graph(x, n_neighbors), directed=False)[0])


def isomap_trustworthiness(emb: np.ndarray, coords: np.ndarray, n_neighbors: int = 10) -> float:
    """Trustworthiness (Venna and Kaski) of ``coords`` as a map of ``emb``, in [0, 1]; see scikit-learn."""
    from sklearn.manifold import trustworthiness

    x, _ = _check(emb)
    _check_neighbours(n_neighbors, len(x), "trustworthiness", (len(x) - 1) // 2)
    return float(trustworthiness(x, np.asarray(coords, dtype=np.float64), n_neighbors=n_neighbors))


def knn_log_ratios(emb: np.ndarray, values: np.ndarray, k: int = 40, leave_one_out: bool = False) -> np.ndarray:
    """Natural log of (K-NN estimate / true value) per sound and parameter (paper's equations 2-3).

    Args:
        emb: embeddings ``(N, D)``.
        values: parameters ``(N, P)`` (or ``(N,)``).
        k: neighbours averaged, K.
        leave_one_out: exclude each sound from its own neighbours (the paper includes it).

    Returns:
        ``(N, P)`` float64. NaN where the true value is not positive (the log-ratio is undefined, e.g.
        ``alpha = 0``); ``-inf`` where every neighbour has the value 0.
    """
    from sklearn.neighbors import NearestNeighbors

    x, y = _check(emb, values)
    assert y is not None
    _check_neighbours(k, len(x), "k-NN regression", len(x) - 1 if leave_one_out else len(x))
    index = NearestNeighbors(n_neighbors=k).fit(x)
    # kneighbors(None) leaves each sample out of its own query; kneighbors(x) is what the paper's
    # regressor saw, each sample being its own nearest neighbour.
    _, neighbours = index.kneighbors(None if leave_one_out else x, n_neighbors=k)
    estimate = y[neighbours].mean(axis=1)
    out = np.full_like(y, np.nan)
    defined = y > 0
    with np.errstate(divide="ignore"):
        out[defined] = np.log(estimate[defined]) - np.log(y[defined])
    return out


def median_abs_log_ratio(log_ratios: np.ndarray) -> np.ndarray:
    """Median of ``|log ratio|`` per parameter over the sounds where it is defined, ``(P,)``."""
    log_ratios = np.asarray(log_ratios, dtype=np.float64)
    if log_ratios.ndim == 1:
        log_ratios = log_ratios[:, None]
    return np.array([np.median(np.abs(col[~np.isnan(col)])) if (~np.isnan(col)).any() else np.nan for col in log_ratios.T])


def ridge_r2(emb: np.ndarray, targets: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Cross-validated R^2 of a ridge regression of each target from the standardised embedding.

    Each fold standardises the embedding on its training part and picks each target's ridge penalty among
    ``10^-3 .. 10^5`` by efficient leave-one-out on that part only; R^2 is computed on the pooled
    out-of-fold predictions (1 = perfect linear read-out, 0 = no better than the mean, can be < 0).

    Args:
        emb: embeddings ``(N, D)``.
        targets: ``(N, P)`` (or ``(N,)``), e.g. ``log2 f1``, ``alpha``, ``r``.
        folds: K of the shuffled K-fold split.
        seed: seed of the split.

    Returns:
        ``(P,)`` float64.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _check(emb, targets)
    assert y is not None
    if not 2 <= folds <= len(x):
        raise ValueError(f"folds must lie in [2, {len(x)}], got {folds}")
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 5, 17), alpha_per_target=True))
    split = KFold(n_splits=folds, shuffle=True, random_state=seed)
    predicted = cross_val_predict(model, x, y, cv=split)
    return np.asarray(r2_score(y, predicted, multioutput="raw_values"), dtype=np.float64)


SENSITIVITY_LEVEL = 0.95
"""Coverage of the bootstrap interval of :func:`sensitivity_indices`."""

_CONSTANT_DIM = 1e-6
"""A dimension whose standard deviation is at most this fraction of its root mean square is constant: float32
rounding of one value leaves it about 1e-7."""


def parameter_groups(values: np.ndarray, *, n_bins: int | None = None) -> np.ndarray:
    """The groups of sounds over which :func:`sensitivity_indices` takes means, one column per parameter.

    A parameter with at most ``n_bins`` distinct values (a grid, the paper's integer f1) gets one group per
    value; one with more (a continuous draw, the perceptual preset's f1) is cut into ``n_bins`` equal-count
    quantile bins: with the sounds sorted by that parameter (ties in input order), bin ``k`` holds the sorted
    positions ``ceil(k N / n_bins) .. ceil((k + 1) N / n_bins) - 1``, so bin sizes differ by at most one.

    Args:
        values: parameters ``(N, P)`` (or ``(N,)``), in their own units.
        n_bins: the most groups a parameter gets; by default ``round(sqrt(N))``, which is 50 for the
            presets' 2500 sounds: the number of alpha and r values of their grid.

    Returns:
        Group labels ``(N, P)`` int64, ``0 .. G_p - 1`` in increasing order of the parameter.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] < 2 or not np.isfinite(values).all():
        raise ValueError(f"parameters must be finite with shape (n_sounds >= 2, n_parameters), got shape {values.shape}")
    n = len(values)
    bins = round(np.sqrt(n)) if n_bins is None else n_bins
    if not 2 <= bins <= n:
        raise ValueError(f"n_bins must lie in [2, {n}] for {n} sounds, got {bins}")
    labels = np.empty(values.shape, dtype=np.int64)
    for j, column in enumerate(values.T):
        distinct, inverse = np.unique(column, return_inverse=True)
        if len(distinct) <= bins:
            labels[:, j] = inverse
        else:
            labels[np.argsort(column, kind="stable"), j] = np.arange(n) * bins // n
    return labels


@dataclass(frozen=True)
class Sensitivity:
    """First-order sensitivity indices of an embedding to ``P`` parameters (:func:`sensitivity_indices`).

    Attributes:
        index: ``S_p``, the share of the embedding's variance between the groups of parameter ``p``,
            in [0, 1], ``(P,)``.
        low, high: the bootstrap interval of ``S_p`` at :data:`SENSITIVITY_LEVEL`, ``(P,)`` each.
        chance: ``(G_p - 1) / (N - 1)``, the expected ``S_p`` of an embedding of pure noise, ``(P,)``.
        n_groups: ``G_p``, ``(P,)`` int.
        n_dims: dimensions that vary, over which ``S_p`` is averaged (constant ones are left out).
    """

    index: np.ndarray
    low: np.ndarray
    high: np.ndarray
    chance: np.ndarray
    n_groups: np.ndarray
    n_dims: int


def sensitivity_indices(emb: np.ndarray, groups: np.ndarray, *, n_resamples: int = 200, seed: int = 0) -> Sensitivity:
    """First-order sensitivity of an embedding to each parameter: the share of its variance between groups.

    With every dimension ``d`` standardised (zero mean, unit variance over the ``N`` sounds),
    ``S_p = (1 / D') sum_d sum_g n_g (mean_gd - mean_d)^2 / sum_i (x_id - mean_d)^2``: the between-group over
    the total sum of squares, i.e. the correlation ratio eta^2 of each dimension with parameter ``p``, averaged
    over the ``D'`` dimensions that vary. 1: the embedding is a function of ``p`` alone, up to within-group
    spread; ``(G_p - 1) / (N - 1)`` (``chance``): what pure noise scores. An embedding that varies in no
    dimension gets 0 for every parameter (it is invariant to all).

    The interval resamples the sounds with replacement ``n_resamples`` times and recomputes everything,
    standardisation included. A resample repeats sounds, which raises its index by up to the chance level;
    the interval is therefore the central :data:`SENSITIVITY_LEVEL` range of the resampled indices minus their
    mean, placed around ``S_p``.

    Args:
        emb: embeddings ``(N, D)``.
        groups: integer group labels ``(N, P)`` (or ``(N,)``), e.g. from :func:`parameter_groups`; each
            parameter needs at least 2 groups.
        n_resamples: bootstrap resamples, at least 2.
        seed: seed of the resampling.

    Returns:
        The indices, their intervals, chance levels and group counts.
    """
    x, _ = _check(emb)
    labels = np.asarray(groups)
    if labels.ndim == 1:
        labels = labels[:, None]
    if labels.ndim != 2 or labels.shape[0] != len(x) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"groups must be integer labels of shape ({len(x)}, n_parameters), got {labels.dtype} {labels.shape}")
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples}")
    n = len(x)
    dense = [np.unique(column, return_inverse=True)[1] for column in labels.T]
    n_groups = np.array([int(g.max()) + 1 for g in dense])
    if (n_groups < 2).any():
        j = int(np.flatnonzero(n_groups < 2)[0])
        raise ValueError(f"parameter {j} has a single group: a sensitivity index needs at least 2 groups")
    chance = (n_groups - 1) / (n - 1)
    centred = x - x.mean(axis=0)
    spread = centred.std(axis=0)
    varies = spread > _CONSTANT_DIM * np.sqrt((x**2).mean(axis=0))
    if not varies.any():
        zero = np.zeros(len(dense))
        return Sensitivity(zero, zero, zero, chance, n_groups, 0)
    z = centred[:, varies] / spread[varies]
    weights = np.vstack([np.ones(n), np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_resamples)])
    indices = _weighted_indices(z, dense, weights)
    estimate, resampled = indices[0], indices[1:]
    tail = 100 * (1 - SENSITIVITY_LEVEL) / 2
    offsets = np.percentile(resampled, [tail, 100 - tail], axis=0) - resampled.mean(axis=0)
    low, high = (np.clip(estimate + o, 0.0, 1.0) for o in offsets)
    return Sensitivity(estimate, low, high, chance, n_groups, int(varies.sum()))


def _weighted_indices(z: np.ndarray, groups: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """``S_p`` of the standardised embedding ``z`` ``(N, D)`` with sound ``i`` counted ``weights[b, i]`` times in
    weighting ``b``, ``(B, P)``. The groups partition the sounds, so the group sums of all weightings cost one
    ``(B, N) @ (N, D)`` product per parameter, split into one dense product per group."""
    n = len(z)
    first = weights @ z
    total = weights @ z**2 - first**2 / n
    # A dimension can be constant within a resample (e.g. the one sound that moves it is not drawn).
    varies = total > 1e-10 * n
    out = np.empty((len(weights), len(groups)))
    for j, labels in enumerate(groups):
        between = -(first**2) / n
        for members in np.split(np.argsort(labels, kind="stable"), np.flatnonzero(np.diff(np.sort(labels))) + 1):
            w = weights[:, members]
            count = w.sum(axis=1, keepdims=True)
            between += (w @ z[members]) ** 2 / np.where(count > 0, count, 1.0)
        eta = np.clip(between / np.where(varies, total, 1.0), 0.0, 1.0) * varies
        out[:, j] = eta.sum(axis=1) / np.maximum(varies.sum(axis=1), 1)
    return out
