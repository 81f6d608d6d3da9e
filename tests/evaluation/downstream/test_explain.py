"""Seed 000's analyses on task embeddings: dispersion per split (on a seeded subsample), projections tagged by label,
and the rows a task's figure shows; oracles on Gaussian clouds whose answers are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hear_gear_embed.evaluation.downstream import explain
from hear_gear_embed.evaluation.downstream.data import SplitEmbeddings
from hear_gear_embed.evaluation.downstream.explain import NO_LABEL, project, split_dispersion
from hear_gear_embed.evaluation.downstream.figures import plot_projection, plot_scores
from hear_gear_embed.evaluation.downstream.tasks import load_task


def _split(embeddings: np.ndarray, targets: np.ndarray | None = None, prefix: str = "f") -> SplitEmbeddings:
    n = len(embeddings)
    targets = np.zeros((n, 1), np.float32) if targets is None else targets
    return SplitEmbeddings(embeddings.astype(np.float32), targets.astype(np.float32),
                           tuple(f"{prefix}{i}" for i in range(n)), np.arange(n))


def _clusters(n_per: int, n_labels: int, dim: int, spread: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = np.repeat(np.arange(n_labels), n_per)
    centres = rng.normal(size=(n_labels, dim)) * spread
    return centres[label] + rng.normal(size=(len(label), dim)), np.eye(n_labels)[label]


def test_an_isotropic_cloud_is_more_dispersed_than_a_collapsed_one() -> None:
    rng = np.random.default_rng(0)
    isotropic = split_dispersion(_split(rng.normal(size=(200, 16))))
    collapsed = split_dispersion(_split(rng.normal(size=(200, 1)) * rng.normal(size=(1, 16)) * 10
                                        + 0.1 * rng.normal(size=(200, 16))))
    assert isotropic is not None and collapsed is not None
    assert isotropic["gini_index"] > 0.9 > 0.2 > collapsed["gini_index"]
    assert isotropic["top2_ratio"] < 0.3 < 0.9 < collapsed["top2_ratio"]
    assert isotropic["n_rows"] == isotropic["n_embeddings"] == 200 and isotropic["dim"] == 16


def test_large_splits_are_measured_on_a_seeded_subsample_and_tiny_ones_not_at_all() -> None:
    emb = np.random.default_rng(1).normal(size=(50, 4))
    first = split_dispersion(_split(emb), max_rows=20, seed=3)
    assert first is not None and (first["n_rows"], first["n_embeddings"]) == (50, 20)
    assert split_dispersion(_split(emb), max_rows=20, seed=3) == first != split_dispersion(_split(emb), max_rows=20,
                                                                                           seed=4)
    five = split_dispersion(_split(emb[:5]))
    assert five is not None and five["n_clusters"] == 4
    assert split_dispersion(_split(emb[:2])) is None
    with pytest.raises(ValueError, match="max_rows must be at least 3 and n_clusters at least 2"):
        split_dispersion(_split(emb), max_rows=2)


def test_a_projection_keeps_labelled_clusters_apart(tmp_path: Path) -> None:
    emb, targets = _clusters(40, 3, 24, spread=6.0)
    targets[:5] = 0  # rows without a label
    targets[40, 2] = 1  # a row with two labels is tagged with the first
    projection = project(_split(emb, targets), ("a", "b", "c"), seed=0)
    assert projection.label_index[:5].tolist() == [NO_LABEL] * 5 and projection.label_index[40] == 1
    assert projection.tsne is not None and projection.pca.shape == projection.tsne.shape == (120, 2)
    assert 0 < projection.explained[1] <= projection.explained[0] and sum(projection.explained) <= 1
    labelled = projection.label_index != NO_LABEL
    for coords in (projection.pca, projection.tsne):  # each labelled point's nearest neighbour shares its label
        points, tags = coords[labelled], projection.label_index[labelled]
        distance = np.linalg.norm(points[:, None] - points[None], axis=-1) + np.eye(len(points)) * 1e9
        assert np.mean(tags[distance.argmin(axis=1)] == tags) > 0.95
    path = plot_projection(projection, tmp_path / "fig" / "p.png", "three")
    assert path.stat().st_size > 10_000


def test_projection_limits() -> None:
    emb, targets = _clusters(2, 2, 3, spread=1.0)
    small = project(_split(emb, targets), ("a", "b"))
    assert small.tsne is None and small.n_rows == 4
    sub = project(_split(*_clusters(30, 2, 3, spread=1.0)), ("a", "b"), max_rows=10)
    assert len(sub.label_index) == 10 and sub.n_rows == 60
    with pytest.raises(ValueError, match="2 label names for targets of 3 labels"):
        project(_split(*_clusters(3, 3, 3, spread=1.0)), ("a", "b"))
    with pytest.raises(ValueError, match="at least 2 rows"):
        project(_split(emb[:1], targets[:1]), ("a", "b"))


def test_a_k_fold_tasks_figure_shows_every_fold(synthetic_tasks: Path) -> None:
    task = load_task(synthetic_tasks / "tones-kfold")
    splits = {s.name: _split(np.full((len(s.files), 2), i, float), prefix=s.name) for i, s in enumerate(task.splits)}
    rows = explain.tested_rows(task, splits)
    assert len(rows.embeddings) == sum(len(s.files) for s in task.splits) == 80
    assert np.unique(rows.embeddings[:, 0]).tolist() == list(range(5))


def test_score_bars_refuse_series_of_another_length(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="series 'a' has 1 values for 2 tasks"):
        plot_scores(["t1", "t2"], [("a", [0.5])], tmp_path / "x.png", ylabel="score")
    assert plot_scores(["t1"], [("a", [None])], tmp_path / "x.png", ylabel="score").is_file()
