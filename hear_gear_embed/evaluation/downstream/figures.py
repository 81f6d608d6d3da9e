"""Figures of downstream evaluation (PNG, matplotlib's Agg canvas; pyplot and its global state are never touched).

* :func:`plot_projection`: a task's test embeddings in 2-D, PCA beside t-SNE, one colour per label (seed 000's Fig. 4);
* :func:`plot_scores`: scores of several runs side by side, one group of bars per task (``evaluate-compare`` and an
  ablation grid).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..plots import new_figure, save_figure
from .explain import NO_LABEL, Projection

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_LEGEND_LABELS = 12
"""Labels named in a projection's legend; a task with more is coloured on a continuous scale by label index."""
_POINTS: dict[str, Any] = {"s": 6, "linewidths": 0, "alpha": 0.8}
_NO_LABEL_COLOUR = "0.75"


def _scatter(ax: Axes, coords: np.ndarray, projection: Projection, title: str) -> None:
    from matplotlib import colormaps

    index = projection.label_index
    none = index == NO_LABEL
    if none.any():
        ax.scatter(coords[none, 0], coords[none, 1], c=_NO_LABEL_COLOUR, label="(no label)", **_POINTS)
    present = np.unique(index[~none])
    if len(present) <= MAX_LEGEND_LABELS:
        colours = colormaps["tab10" if len(present) <= 10 else "tab20"]
        for i, label in enumerate(present):
            rows = index == label
            ax.scatter(coords[rows, 0], coords[rows, 1], color=colours(i), label=projection.labels[label], **_POINTS)
    else:
        ax.scatter(coords[~none, 0], coords[~none, 1], c=index[~none], cmap="turbo", **_POINTS)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_projection(projection: Projection, path: Path, title: str = "") -> Path:
    """PCA (axes: the first two components, with their share of the variance) beside t-SNE (when computed) of one
    task's rows, one colour per label; written to ``path`` (folders created)."""
    panels = 1 if projection.tsne is None else 2
    fig = new_figure(4.2 * panels + 1.8, 4.2)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    first, second = projection.explained
    _scatter(axes[0], projection.pca, projection, f"PCA ({100 * first:.0f}% + {100 * second:.0f}% of the variance)")
    if projection.tsne is not None:
        _scatter(axes[1], projection.tsne, projection, "t-SNE")
    shown = len(projection.label_index)
    rows = f"{shown} rows" if shown == projection.n_rows else f"{shown} of {projection.n_rows} rows"
    fig.suptitle(f"{title} ({rows})" if title else rows, fontsize=10)
    handles, names = axes[0].get_legend_handles_labels()
    if names:
        fig.legend(handles, names, loc="outside right center", fontsize=7, markerscale=2, frameon=False)
    return save_figure(fig, path)


def plot_scores(tasks: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], path: Path, *,
                ylabel: str, title: str = "", reference: float | None = None) -> Path:
    """One group of bars per task, one bar per series (a run, or a run's protocol); a missing score (``None``) leaves
    a gap. ``reference`` draws a horizontal line (1.0 for scores normalised to the best HEAR 2021 score)."""
    from matplotlib import colormaps

    if not tasks or not series:
        raise ValueError("plot_scores needs at least one task and one series")
    for name, values in series:
        if len(values) != len(tasks):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(tasks)} tasks")
    fig = new_figure(min(16.0, max(6.0, 0.2 * len(tasks) * len(series) + 4.0)), 4.5)
    ax = fig.subplots()
    width = 0.8 / len(series)
    colours = colormaps["tab10" if len(series) <= 10 else "tab20"]
    x = np.arange(len(tasks))
    for i, (name, values) in enumerate(series):
        heights = np.array([np.nan if v is None else v for v in values], dtype=float)
        ax.bar(x - 0.4 + width * (i + 0.5), heights, width, label=name, color=colours(i % colours.N))
    if reference is not None:
        ax.axhline(reference, color="0.3", linewidth=0.8, linestyle="--")
    ax.set_xticks(x, tasks, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    fig.legend(fontsize=7, frameon=False, loc="outside right upper")
    return save_figure(fig, path)
