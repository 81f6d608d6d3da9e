"""Gini index of the covariance spectrum, BECR, and the K-means / PCA dispersion diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hear_gear_embed.evaluation.dispersion import (
    becr_loss,
    becr_objective,
    covariance_eigenvalues,
    dispersion_metrics,
    gini_index,
    gini_index_eig,
)


def _gini_from_eigenvalues(x: np.ndarray) -> float:
    cov = np.cov(x, rowvar=False)
    lam = np.clip(np.linalg.eigvalsh(np.atleast_2d(cov)), 0, None)
    return float(1 - np.sum((lam / lam.sum()) ** 2))


@pytest.mark.parametrize(("n", "d"), [(50, 8), (8, 50), (30, 30), (2, 5), (200, 1)])
def test_trace_formula_equals_eigenvalue_definition(n: int, d: int) -> None:
    rng = np.random.default_rng(n * 100 + d)
    x = rng.standard_normal((n, d)) * rng.uniform(0.1, 5.0, size=d) + rng.standard_normal(d)
    mixed = x @ rng.standard_normal((d, d))  # correlated dimensions: a non-diagonal covariance
    for data in (x, mixed):
        assert abs(float(gini_index(torch.from_numpy(data))) - _gini_from_eigenvalues(data)) < 1e-8


def test_numpy_and_torch_inputs_agree_and_dtype_is_kept() -> None:
    x = np.random.default_rng(0).standard_normal((40, 12))
    g64 = gini_index(x)
    g32 = gini_index(torch.from_numpy(x).float())
    assert g64.dtype == torch.float64 and g32.dtype == torch.float32
    assert abs(float(g64) - float(g32)) < 1e-5


def test_identical_rows_give_zero_with_finite_gradient() -> None:
    for dtype in (torch.float32, torch.float64):
        x = torch.tensor([[0.3, -1.7, 2.2, 1e3]], dtype=dtype).repeat(16, 1).requires_grad_()
        g = gini_index(x)
        assert float(g.detach()) == 0.0
        g.backward()
        assert torch.isfinite(x.grad).all()
        loss = becr_loss(x.detach().clone().requires_grad_(), epsilon=0.7)
        assert abs(float(loss.detach()) - 0.49) < 1e-6


def test_isotropic_gaussian_is_near_one_minus_one_over_d() -> None:
    d = 16
    x = torch.randn(20000, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert abs(float(gini_index(x)) - (1 - 1 / d)) < 2e-3


def test_rank_one_data_and_invariances() -> None:
    rng = np.random.default_rng(1)
    direction = rng.standard_normal(10)
    line = rng.standard_normal((100, 1)) * direction + 5.0
    assert abs(float(gini_index(line))) < 1e-10
    x = rng.standard_normal((64, 10)) * np.arange(1, 11)
    rotation, _ = np.linalg.qr(rng.standard_normal((10, 10)))
    g = float(gini_index(x))
    assert abs(float(gini_index(x @ rotation)) - g) < 1e-10  # rotation invariant
    assert abs(float(gini_index(3.7 * x - 2.0)) - g) < 1e-10  # scale and shift invariant
    assert 0.0 < g < 1 - 1 / 10


def test_gradients_are_finite_and_a_step_raises_the_gini_index() -> None:
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x = (x * torch.tensor([10.0, 1, 1, 1, 0.1, 0.1, 0.1, 0.1], dtype=torch.float64)).requires_grad_()
    loss = becr_loss(x, epsilon=0.9)
    assert float(loss.detach()) > 0
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    stepped = (x - 1.0 * x.grad).detach()
    assert float(gini_index(stepped)) > float(gini_index(x.detach()))


def test_becr_loss_and_objective_values() -> None:
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(3))
    g = float(gini_index(x))
    assert float(becr_loss(x, epsilon=g - 0.1)) == 0.0
    assert abs(float(becr_loss(x, epsilon=min(1.0, g + 0.1))) - min(0.1, 1 - g) ** 2) < 1e-6
    task = torch.tensor(0.8)
    total = becr_objective(task, x, lam=0.05, epsilon=0.99)
    assert abs(float(total) - (0.95 * 0.8 + 0.05 * (0.99 - g) ** 2)) < 1e-6
    assert float(becr_objective(task, x, lam=0.0)) == pytest.approx(0.8)


@pytest.mark.parametrize(("n", "d"), [(40, 6), (6, 40), (2, 3), (16, 1)])
def test_eigendecomposition_form_equals_the_trace_form_and_its_gradient(n: int, d: int) -> None:
    rng = np.random.default_rng(10 * n + d)
    data = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * rng.uniform(0.1, 3.0, size=d) + 4.0
    x = torch.from_numpy(data).requires_grad_()
    y = torch.from_numpy(data).requires_grad_()
    trace, eig = gini_index(x).detach(), gini_index_eig(y).detach()
    assert eig.dtype == torch.float64 and abs(float(trace) - float(eig)) < 1e-10
    assert abs(float(eig) - _gini_from_eigenvalues(data)) < 1e-8
    assert torch.allclose(torch.autograd.grad(becr_loss(x, 0.99), x)[0],
                          torch.autograd.grad(becr_loss(y, 0.99, form="eig"), y)[0], rtol=1e-7, atol=1e-12)


def test_eigendecomposition_form_of_a_batch_without_variance() -> None:
    x = torch.tensor([[0.3, -1.7, 2.2]]).repeat(8, 1).requires_grad_()
    g = gini_index_eig(x)
    assert float(g.detach()) == 0.0
    g.backward()
    assert torch.isfinite(x.grad).all()
    assert abs(float(becr_loss(x.detach(), epsilon=0.7, form="eig")) - 0.49) < 1e-6


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="shape"):
        gini_index(torch.zeros(5))
    with pytest.raises(ValueError, match="at least 2"):
        gini_index(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="NaN or Inf"):
        gini_index(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="floating"):
        gini_index(torch.zeros(3, 3, dtype=torch.int64))
    with pytest.raises(TypeError):
        gini_index([[1.0, 2.0], [3.0, 4.0]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="epsilon"):
        becr_loss(torch.randn(4, 3), epsilon=1.5)
    with pytest.raises(ValueError, match="form must be 'trace' or 'eig', got 'svd'"):
        becr_loss(torch.randn(4, 3), form="svd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 2"):
        gini_index_eig(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="lam"):
        becr_objective(torch.tensor(1.0), torch.randn(4, 3), lam=-0.1)
    with pytest.raises(ValueError, match="0-dim"):
        becr_objective(torch.ones(4), torch.randn(4, 3))
    with pytest.raises(ValueError, match="not finite"):
        becr_objective(torch.tensor(float("inf")), torch.randn(4, 3))


def test_dispersion_metrics_separate_clustered_from_spread_data() -> None:
    rng = np.random.default_rng(4)
    centres = rng.standard_normal((4, 20)) * 20
    clustered = centres[rng.integers(0, 4, 400)] + rng.standard_normal((400, 20))
    spread = rng.standard_normal((400, 20))
    a = dispersion_metrics(clustered, n_clusters=4)
    b = dispersion_metrics(spread, n_clusters=4)
    assert a.kmeans_f_test > 0.95 and b.kmeans_f_test < 0.5
    assert a.calinski_harabasz > 10 * b.calinski_harabasz
    assert a.gini_index < b.gini_index and a.top2_ratio > b.top2_ratio
    eig = covariance_eigenvalues(spread)
    assert b.top2_ratio == pytest.approx(eig[:2].sum() / eig.sum())
    assert (a.n_embeddings, a.dim, a.n_clusters) == (400, 20, 4)
    flat = dispersion_metrics(np.ones((10, 3)), n_clusters=3)
    assert (flat.gini_index, flat.kmeans_f_test, flat.top2_ratio) == (0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="n_clusters"):
        dispersion_metrics(spread[:5], n_clusters=5)
