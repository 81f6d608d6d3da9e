"""GEAR measurements (:mod:`hear_gear_embed.evaluation.analysis`) against brute-force definitions and synthetic
embeddings with known structure."""

from __future__ import annotations

import numpy as np
import pytest

from hear_gear_embed.evaluation.analysis import (
    _weighted_indices,
    graph_components,
    isomap_coordinates,
    isomap_trustworthiness,
    knn_log_ratios,
    median_abs_log_ratio,
    parameter_groups,
    ridge_r2,
    sensitivity_indices,
)
from hear_gear_embed.evaluation.synth import ToneGrid, paper_grid, perceptual_grid


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


def _eta_squared_by_definition(emb: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the non-constant dimensions of sum_g n_g (mean_g - mean)^2 / sum_i (x_i - mean)^2, by loops."""
    shares = []
    for column in emb.T:
        total = ((column - column.mean()) ** 2).sum()
        if total == 0:
            continue
        between = sum((labels == g).sum() * (column[labels == g].mean() - column.mean()) ** 2 for g in np.unique(labels))
        shares.append(between / total)
    return float(np.mean(shares))


def _grid_params(grid: ToneGrid) -> np.ndarray:
    return grid.parameters().matrix()


def test_parameter_groups_take_grid_values_and_bin_continuous_ones_by_quantile() -> None:
    params = _grid_params(perceptual_grid(16000, n_alpha=10, n_r=10))  # 100 sounds: 10 groups at most
    groups = parameter_groups(params)
    for j in (1, 2):  # alpha and r: one group per grid value, in increasing order
        np.testing.assert_array_equal(groups[:, j], np.unique(params[:, j], return_inverse=True)[1])
    f1_groups = groups[:, 0]  # continuous f1: 10 equal-count bins, ordered by f1
    np.testing.assert_array_equal(np.bincount(f1_groups), np.full(10, 10))
    assert all(params[f1_groups == g, 0].max() < params[f1_groups == g + 1, 0].min() for g in range(9))
    assert np.bincount(parameter_groups(params[:, 0], n_bins=7)[:, 0]).tolist() == [15, 14, 14, 15, 14, 14, 14]
    paper = parameter_groups(_grid_params(paper_grid(16000)))
    assert [len(np.unique(c)) for c in paper.T] == [13, 50, 50]  # integer f1 12..24 cycles, 50 x 50 grid


def test_sensitivity_matches_its_definition() -> None:
    rng = np.random.default_rng(10)
    emb = rng.standard_normal((90, 5)) * [1.0, 10.0, 0.1, 1.0, 3.0]
    labels = rng.integers(0, 6, size=(90, 2))
    emb[:, 0] += labels[:, 0]
    result = sensitivity_indices(emb, labels, n_resamples=20)
    expected = [_eta_squared_by_definition(emb, labels[:, j]) for j in range(2)]
    np.testing.assert_allclose(result.index, expected, rtol=1e-12)
    np.testing.assert_allclose(result.chance, (result.n_groups - 1) / 89)


def test_a_resample_weighs_each_sound_by_its_count() -> None:
    rng = np.random.default_rng(11)
    emb = rng.standard_normal((50, 4))
    labels = rng.integers(0, 5, size=(50, 2))
    counts = rng.multinomial(50, np.full(50, 1 / 50))
    z = (emb - emb.mean(axis=0)) / emb.std(axis=0)
    weighted = _weighted_indices(z, list(labels.T), counts[None, :].astype(np.float64))
    repeated = sensitivity_indices(np.repeat(emb, counts, axis=0), np.repeat(labels, counts, axis=0)).index
    np.testing.assert_allclose(weighted[0], repeated, rtol=1e-10)


@pytest.mark.parametrize("preset", ["paper", "perceptual"])
def test_an_embedding_of_f1_alone_is_sensitive_to_f1_only(preset: str) -> None:
    params = _grid_params((paper_grid if preset == "paper" else perceptual_grid)(16000))
    octaves = np.log2(params[:, 0])
    emb = np.column_stack([octaves, np.cos(3 * octaves), octaves**2, np.zeros(len(params))])
    result = sensitivity_indices(emb, parameter_groups(params))
    # Integer f1 groups hold one value each; 50 bins of continuous f1 leave a little spread within each.
    assert result.index[0] == pytest.approx(1.0) if preset == "paper" else result.index[0] > 0.99
    for j in (1, 2):
        assert result.low[j] <= result.chance[j] <= result.high[j]
    assert result.n_dims == 3  # the constant column is left out, not NaN


def test_an_embedding_of_alpha_alone_is_sensitive_to_alpha_only() -> None:
    params = _grid_params(perceptual_grid(16000))
    emb = np.exp(-np.outer(params[:, 1], np.arange(1, 9)))  # decays of 8 harmonics
    result = sensitivity_indices(emb, parameter_groups(params))
    assert result.index[1] == pytest.approx(1.0)
    assert result.low[0] <= result.chance[0] <= result.high[0]  # f1 is drawn at random: chance
    # r crosses alpha on a full grid: every r group holds every alpha value once, so the group means are equal.
    assert result.index[2] == pytest.approx(0.0, abs=1e-12)


def test_additive_codes_split_the_variance_in_known_shares() -> None:
    params = _grid_params(paper_grid(16000, n_alpha=20, n_r=25))  # alpha and r cross on a full grid
    a = np.sin(3 * params[:, 1])
    b = np.exp(2 * params[:, 2])
    groups = parameter_groups(params, n_bins=25)
    share_a = a.var() / (a.var() + b.var())  # a and b are exactly uncorrelated on a full grid
    one_dim = sensitivity_indices((a + b)[:, None], groups)
    np.testing.assert_allclose(one_dim.index[1:], [share_a, 1 - share_a], rtol=1e-10)
    # Every dimension counts once, whatever its scale: (1 + 0 + share_a) / 3 of alpha.
    three_dims = sensitivity_indices(np.column_stack([a, 1000 * b, a + b]), groups)
    np.testing.assert_allclose(three_dims.index[1:], [(1 + share_a) / 3, (2 - share_a) / 3], rtol=1e-10)


def test_sensitivity_ignores_the_scale_and_offset_of_dimensions_and_constant_ones() -> None:
    rng = np.random.default_rng(12)
    labels = rng.integers(0, 8, size=(200, 2))
    emb = rng.standard_normal((200, 6)) + labels[:, :1]
    base = sensitivity_indices(emb, labels, seed=3)
    moved = sensitivity_indices(np.column_stack([emb * rng.uniform(1e-3, 1e3, 6) + 7.0, np.full((200, 2), 5.0)]), labels, seed=3)
    for field in ("index", "low", "high"):
        np.testing.assert_allclose(getattr(moved, field), getattr(base, field), rtol=1e-9)
    assert base.n_dims == moved.n_dims == 6
    constant = sensitivity_indices(np.full((200, 3), 2.5), labels)
    np.testing.assert_array_equal(constant.index, 0.0)  # nothing varies: invariant to every parameter
    assert constant.n_dims == 0 and np.isfinite(constant.high).all()


def test_noise_scores_chance_and_the_interval_narrows_with_more_sounds() -> None:
    rng = np.random.default_rng(13)
    widths = []
    for n_side in (20, 60):
        params = _grid_params(perceptual_grid(16000, n_alpha=n_side, n_r=n_side))
        groups = parameter_groups(params)
        noise = sensitivity_indices(rng.standard_normal((len(params), 64)), groups)
        np.testing.assert_allclose(noise.index, noise.chance, rtol=0.15)
        assert (noise.low <= noise.chance).all() and (noise.chance <= noise.high).all()
        code = np.log2(params[:, [0]]) + 0.5 * rng.standard_normal((len(params), 16))
        result = sensitivity_indices(code, groups)
        assert (result.low <= result.index).all() and (result.index <= result.high).all()
        widths.append(result.high[0] - result.low[0])
    assert widths[1] < 0.6 * widths[0]  # 9x the sounds: about a third of the width


def test_sensitivity_inputs_are_checked() -> None:
    emb = np.zeros((10, 3))
    with pytest.raises(ValueError, match="groups must be integer labels of shape \\(10"):
        sensitivity_indices(emb, np.zeros((9, 2), dtype=int))
    with pytest.raises(ValueError, match="integer labels"):
        sensitivity_indices(emb, np.zeros(10))
    with pytest.raises(ValueError, match="parameter 1 has a single group"):
        sensitivity_indices(emb, np.column_stack([np.arange(10) % 2, np.zeros(10, dtype=int)]))
    with pytest.raises(ValueError, match="n_resamples"):
        sensitivity_indices(emb, np.arange(10) % 2, n_resamples=1)
    with pytest.raises(ValueError, match="NaN"):
        sensitivity_indices(np.full((10, 3), np.nan), np.arange(10) % 2)
    with pytest.raises(ValueError, match="n_bins"):
        parameter_groups(np.arange(10.0), n_bins=1)
    with pytest.raises(ValueError, match="finite"):
        parameter_groups(np.array([1.0, np.inf, 2.0]))
