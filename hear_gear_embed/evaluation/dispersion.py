"""Dispersion of a batch of embeddings, and the BECR regulariser (Shah et al., arXiv 2303.03591).

:func:`gini_index` is the Gini index of the covariance eigenvalues, ``G = 1 - tr(K^2) / tr(K)^2`` (the paper's
equation 7), computed without an eigendecomposition from the smaller of ``Xc^T Xc`` ``(D, D)`` and ``Xc Xc^T``
``(N, N)``; differentiable torch, like :func:`becr_loss` and :func:`becr_objective`. A batch without variance
(``tr(K)`` below the dtype's machine epsilon times the mean squared row norm, the rounding noise centring leaves)
has ``G = 0`` with a finite zero gradient. :func:`dispersion_metrics` adds the paper's other diagnostics (top-2
ratio, K-means F-test, Calinski-Harabasz score) with NumPy / scikit-learn.

The definitions, and how to read them: docs/gear.md ("Dispersion and BECR").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

ArrayLike = Tensor | np.ndarray


def _as_batch(emb: ArrayLike, name: str = "emb") -> Tensor:
    """``emb`` as a floating-point ``(N, D)`` tensor with N >= 2 and only finite values."""
    if isinstance(emb, np.ndarray):
        if not np.issubdtype(emb.dtype, np.floating):
            raise ValueError(f"{name} must hold floating-point values, got dtype {emb.dtype}")
        emb = torch.from_numpy(emb)
    if not isinstance(emb, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(emb).__name__}")
    if not emb.is_floating_point():
        raise ValueError(f"{name} must hold floating-point values, got dtype {emb.dtype}")
    if emb.ndim != 2:
        raise ValueError(f"{name} must have shape (n_embeddings, dim), got shape {tuple(emb.shape)}")
    if emb.shape[0] < 2 or emb.shape[1] < 1:
        raise ValueError(f"{name} needs at least 2 embeddings of dimension >= 1 for a covariance, got shape {tuple(emb.shape)}")
    if not bool(torch.isfinite(emb.detach()).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    return emb


def _scatter(x: Tensor) -> Tensor:
    """The smaller of ``Xc Xc^T`` ``(N, N)`` and ``Xc^T Xc`` ``(D, D)`` for centred ``x`` ``(N, D)``.

    Both have the non-zero eigenvalues of the covariance ``K`` times ``N - 1``.
    """
    xc = x - x.mean(dim=0, keepdim=True)
    n, d = xc.shape
    return xc @ xc.T if n <= d else xc.T @ xc


def _has_variance(scatter: Tensor, x: Tensor) -> Tensor:
    """Whether ``tr(scatter)`` exceeds the rounding noise that centring leaves in ``x``."""
    floor = torch.finfo(x.dtype).eps * x.detach().square().sum(dim=1).mean()
    return torch.diagonal(scatter).sum() > floor


def _gini_of_scatter(scatter: Tensor, has_variance: Tensor) -> Tensor:
    trace = torch.diagonal(scatter).sum()
    # torch.where differentiates both branches: keep the unused one finite so the gradient stays finite.
    safe_trace = torch.where(has_variance, trace, torch.ones_like(trace))
    return torch.where(has_variance, 1 - scatter.square().sum() / safe_trace.square(), torch.zeros_like(trace))


def gini_index(emb: ArrayLike) -> Tensor:
    """Gini index of the covariance eigenvalues of a batch of embeddings (BECR, equation 7).

    Args:
        emb: embeddings ``(N, D)``, N >= 2, a tensor (differentiable) or a NumPy array.

    Returns:
        ``G = 1 - tr(K^2) / tr(K)^2`` as a 0-dim tensor of ``emb``'s dtype and device, in
        ``[0, 1 - 1/min(N - 1, D)]``; 0 for a batch without variance.
    """
    x = _as_batch(emb)
    scatter = _scatter(x)
    return _gini_of_scatter(scatter, _has_variance(scatter, x))


GiniForm = Literal["trace", "eig"]
"""How BECR computes the Gini index: from traces (:func:`gini_index`, the paper's optimised form, no
eigendecomposition) or from the eigenvalues of the covariance (:func:`gini_index_eig`, the paper's first form)."""


def gini_index_eig(emb: Tensor) -> Tensor:
    """:func:`gini_index` through an eigendecomposition, ``G = 1 - sum(l^2) / sum(l)^2`` over the eigenvalues ``l`` of
    the smaller scatter matrix: the same value up to rounding, differentiable, and slower (``O(min(N, D)^3)``); kept
    to measure what the trace form saves (benchmarks/bench_train.py)."""
    x = _as_batch(emb)
    scatter = _scatter(x)
    eigenvalues = torch.linalg.eigvalsh(scatter)
    return _gini_of_scatter(torch.diag(eigenvalues), _has_variance(scatter, x))


def becr_loss(emb: Tensor, epsilon: float = 0.7, *, form: GiniForm = "trace") -> Tensor:
    """BECR regulariser ``R = max(0, epsilon - G)^2`` (paper's equation 5): zero once ``G >= epsilon``.

    Args:
        emb: a batch of embeddings ``(N, D)``, N >= 2.
        epsilon: target Gini index in [0, 1]; the paper's best is 0.7.
        form: ``"trace"`` (:func:`gini_index`) or ``"eig"`` (:func:`gini_index_eig`).

    Returns:
        0-dim tensor, differentiable with respect to ``emb``.
    """
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
    if form not in ("trace", "eig"):
        raise ValueError(f"form must be 'trace' or 'eig', got {form!r}")
    gini = gini_index(emb) if form == "trace" else gini_index_eig(emb)
    return torch.clamp(epsilon - gini, min=0).square()


def becr_objective(task_loss: Tensor, emb: Tensor, lam: float = 0.05, epsilon: float = 0.7) -> Tensor:
    """Regularised training loss ``(1 - lam) * task_loss + lam * becr_loss(emb, epsilon)`` (equation 6).

    Args:
        task_loss: the task loss, a 0-dim tensor (e.g. binary cross-entropy).
        emb: the batch's embeddings ``(N, D)``.
        lam: weight of the regulariser in [0, 1]; the paper's best is 0.05.
        epsilon: target Gini index, see :func:`becr_loss`.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    if not isinstance(task_loss, Tensor) or task_loss.ndim != 0:
        raise ValueError("task_loss must be a 0-dim tensor (reduce it to a scalar first)")
    if not bool(torch.isfinite(task_loss.detach())):
        raise ValueError(f"task_loss is not finite: {float(task_loss.detach())}")
    return (1 - lam) * task_loss + lam * becr_loss(emb, epsilon)


def covariance_eigenvalues(emb: ArrayLike) -> np.ndarray:
    """Eigenvalues of the batch covariance, descending, float64 ``(min(N, D),)``.

    Computed from the smaller scatter matrix (see :func:`gini_index`), clipped at 0 against rounding.
    """
    x = _as_batch(emb).detach().cpu().double()
    return _eigenvalues(_scatter(x), x.shape[0])


def _eigenvalues(scatter: Tensor, n: int) -> np.ndarray:
    return (torch.linalg.eigvalsh(scatter).flip(0).clamp(min=0) / (n - 1)).numpy()


@dataclass(frozen=True)
class DispersionMetrics:
    """Dispersion diagnostics of one set of embeddings (definitions: docs/gear.md)."""

    n_embeddings: int
    dim: int
    gini_index: float
    top2_ratio: float
    kmeans_f_test: float
    calinski_harabasz: float
    n_clusters: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def dispersion_metrics(emb: ArrayLike, n_clusters: int = 8, seed: int = 0) -> DispersionMetrics:
    """All dispersion diagnostics of ``emb`` ``(N, D)``; K-means (``n_clusters``, seeded) runs once.

    Raises:
        ValueError: on a bad batch, or ``n_clusters`` outside ``[2, N - 1]``.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import calinski_harabasz_score

    xt = _as_batch(emb).detach().cpu().double()
    x = xt.numpy()
    n = x.shape[0]
    if not 2 <= n_clusters < n:
        raise ValueError(f"n_clusters must lie in [2, {n - 1}] for {n} embeddings, got {n_clusters}")
    scatter = _scatter(xt)
    has_variance = _has_variance(scatter, xt)
    if not bool(has_variance):
        return DispersionMetrics(n, x.shape[1], 0.0, 1.0, 0.0, 0.0, n_clusters)
    eig = _eigenvalues(scatter, n)
    labels = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit_predict(x)
    within = sum(float(np.sum((x[labels == k] - x[labels == k].mean(axis=0)) ** 2)) for k in np.unique(labels))
    total_ss = float(torch.diagonal(scatter).sum())
    n_found = len(np.unique(labels))
    ch = float(calinski_harabasz_score(x, labels)) if n_found > 1 else 0.0
    return DispersionMetrics(
        n_embeddings=n,
        dim=x.shape[1],
        gini_index=float(_gini_of_scatter(scatter, has_variance)),
        top2_ratio=float(eig[:2].sum() / eig.sum()),
        kmeans_f_test=1.0 - within / total_ss,
        calinski_harabasz=ch,
        n_clusters=n_clusters,
    )
