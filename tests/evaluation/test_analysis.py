"""GEAR measurements (:mod:`hear_gear_embed.evaluation.analysis`) against brute-force definitions and synthetic
embeddings with known structure."""

from __future__ import annotations

import numpy as np
import pytest

from hear_gear_embed.evaluation.analysis import (
    graph_components,
    isomap_coordinates,
    isomap_trustworthiness,
    knn_log_ratios,
    median_abs_log_ratio,
    ridge_r2,
)


def _brute_force(emb: np.ndarray, values: np.ndarray, k: int, leave_one_out: bool) -> np.ndarray:
    d = ((emb[:, None] - emb[None]) ** 2).sum(-1)
    if leave_one_out:
        np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.log(values[nearest].mean(axis=1) / values)


@pytest.mark.parametrize("leave_one_out", [False, True])
def test_knn_log_ratios_match_brute_force(leave_one_out: bool) -> None:
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((60, 5))
    values = rng.uniform(0.5, 2.0, size=(60, 3))
    ours = knn_log_ratios(emb, values, k=7, leave_one_out=leave_one_out)
    np.testing.assert_allclose(ours, _brute_force(emb, values, 7, leave_one_out), atol=1e-12)


def test_in_sample_counts_each_point_as_its_own_neighbour() -> None:
    rng = np.random.default_rng(1)
    emb, values = rng.standard_normal((40, 3)), rng.uniform(1, 2, size=(40, 1))
    np.testing.assert_array_equal(knn_log_ratios(emb, values, k=1), 0.0)
    assert np.abs(knn_log_ratios(emb, values, k=1, leave_one_out=True)).min() >= 0
    assert np.abs(knn_log_ratios(emb, values, k=1, leave_one_out=True)).max() > 0.1


def test_undefined_log_ratios_are_nan_and_skipped_by_the_median() -> None:
    emb = np.arange(10.0)[:, None]
    values = np.array([0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9])[:, None]
    ratios = knn_log_ratios(emb, values, k=3, leave_one_out=True)
    assert np.isnan(ratios[0, 0]) and np.isfinite(ratios[1:]).all()
    assert median_abs_log_ratio(ratios)[0] == pytest.approx(np.median(np.abs(ratios[1:, 0])))


def test_ridge_r2_high_for_linear_codes_and_near_zero_for_noise() -> None:
    rng = np.random.default_rng(2)
    targets = rng.uniform(size=(500, 3))
    emb = targets @ rng.standard_normal((3, 40)) + 0.01 * rng.standard_normal((500, 40))
    assert (ridge_r2(emb, targets) > 0.99).all()
    assert (ridge_r2(rng.standard_normal((500, 40)), targets) < 0.1).all()
    assert ridge_r2(emb, targets[:, 0]).shape == (1,)


def test_isomap_unrolls_a_curve_and_is_trustworthy() -> None:
    t = np.linspace(0, 3 * np.pi, 400)
    helix = np.column_stack([np.cos(t), np.sin(t), 0.3 * t])
    rotation, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((12, 12)))
    emb = np.pad(helix, ((0, 0), (0, 9))) @ rotation
    coords = isomap_coordinates(emb, n_neighbors=8)
    assert coords.shape == (400, 3)
    assert abs(np.corrcoef(coords[:, 0], t)[0, 1]) > 0.99  # the first axis is the arc length
    assert isomap_trustworthiness(emb, coords, n_neighbors=5) > 0.95


def test_bad_inputs_are_named() -> None:
    emb = np.zeros((10, 3))
    with pytest.raises(ValueError, match="NaN"):
        knn_log_ratios(np.full((10, 3), np.nan), np.ones(10))
    with pytest.raises(ValueError, match="parameters must have shape"):
        knn_log_ratios(emb, np.ones(9))
    with pytest.raises(ValueError, match="K=10"):
        knn_log_ratios(emb, np.ones(10), k=10, leave_one_out=True)
    with pytest.raises(ValueError, match="Isomap"):
        isomap_coordinates(emb, n_neighbors=10)
    with pytest.raises(ValueError, match="folds"):
        ridge_r2(emb, np.ones(10), folds=11)
    with pytest.raises(ValueError, match="shape"):
        ridge_r2(np.zeros(10), np.ones(10))


def test_graph_components_count_separate_clusters() -> None:
    rng = np.random.default_rng(5)
    blobs = np.concatenate([rng.standard_normal((30, 4)), rng.standard_normal((30, 4)) + 100.0])
    assert graph_components(blobs, n_neighbors=5) == 2
    assert graph_components(blobs, n_neighbors=40) == 1
