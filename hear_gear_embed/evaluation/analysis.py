"""GEAR's measurements on embeddings ``(N, D)`` of sounds with known parameters ``(N, P)``.

* :func:`isomap_coordinates`: Isomap (K nearest neighbours, Dijkstra geodesics, classical MDS), the
  paper's visualisation; :func:`isomap_trustworthiness` says how faithfully its 3-D neighbourhoods
  reflect the embedding's (1 = every 3-D neighbour is a neighbour in the embedding too).
* :func:`knn_log_ratios`: ``log(theta_hat / theta)`` where ``theta_hat`` averages the parameter over
  the K nearest neighbours in embedding space (paper's equations 2 and 3). ``leave_one_out=False``
  is the paper's protocol, in which every sound is one of its own K neighbours;
  ``leave_one_out=True`` excludes it, the honest out-of-sample version.
* :func:`ridge_r2`: cross-validated R^2 of a linear (ridge) read-out of each parameter, a global
  measure of how linearly the embedding encodes it (the paper asks for global measures).

Neighbours are found by Euclidean distance in the embedding space, as in the paper.
"""

from __future__ import annotations

import logging
import warnings

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
