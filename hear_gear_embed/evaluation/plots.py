"""GEAR figures (PNG, matplotlib's Agg canvas; pyplot and its global state are never touched).

Isomap scatters are coloured on a diverging red-white-blue scale, red for high parameter values, as
in the paper's Figure 3; f1 is coloured on a log-frequency scale. Log-ratio distributions are
horizontal violins with the median marked, as in the paper's Figure 4. Sensitivity indices are
horizontal bars with their bootstrap interval and the chance level marked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from .synth import PARAMETERS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.collections import PolyCollection
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.gridspec import SubplotSpec

LABELS = {"f1": "f1 (Hz)", "alpha": "alpha (Fourier decay)", "r": "r (odd/even ratio)"}
CMAP = "RdBu_r"
_SCATTER = {"s": 4, "linewidths": 0, "alpha": 0.9, "cmap": CMAP}


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches at 100 dpi with constrained layout (3-D axes available), outside
    pyplot."""
    from matplotlib.figure import Figure
    from mpl_toolkits.mplot3d import Axes3D  # noqa: F401 - registers the "3d" projection

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _norm(name: str, values: np.ndarray) -> Normalize:
    from matplotlib.colors import LogNorm, Normalize

    low, high = float(np.min(values)), float(np.max(values))
    if high <= low:
        high = low + 1.0
    return LogNorm(low, high) if name == "f1" and low > 0 else Normalize(low, high)


def _scatter3d(fig: Figure, spec: SubplotSpec, coords: np.ndarray, values: np.ndarray, name: str, title: str) -> None:
    ax = fig.add_subplot(spec, projection="3d")
    points = ax.scatter(coords[:, 0], coords[:, 1], coords[:, 2], c=values, norm=_norm(name, values), **_SCATTER)
    ax.set_title(title, fontsize=9)
    ax.set_xticklabels([])
    ax.set_yticklabels([])
    ax.set_zticklabels([])
    fig.colorbar(points, ax=ax, shrink=0.6, pad=0.02, label=LABELS.get(name, name))


def save_figure(fig: Figure, path: Path) -> Path:
    """``fig`` written to ``path`` (its format from the suffix; folders created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def plot_isomap(coords: np.ndarray, params: np.ndarray, path: Path, title: str = "") -> Path:
    """One 3-D Isomap scatter per parameter, side by side: ``coords`` ``(N, 3)``, ``params`` ``(N, 3)``."""
    return plot_compare_isomap([(title, coords, params)], path)


def plot_isomap_parameter(coords: np.ndarray, values: np.ndarray, name: str, path: Path, title: str = "") -> Path:
    """A 3-D Isomap scatter coloured by one parameter, ``values`` ``(N,)``."""
    fig = new_figure(5.5, 4.6)
    _scatter3d(fig, fig.add_gridspec(1, 1)[0, 0], coords, values, name, title or name)
    return save_figure(fig, path)


def _violins(ax: Axes, groups: Sequence[np.ndarray], labels: Sequence[str], colours: Sequence[str]) -> None:
    positions = np.arange(len(groups))[::-1]
    for pos, values, colour in zip(positions, groups, colours, strict=True):
        finite = values[np.isfinite(values)]
        if len(finite) < 2:
            continue
        parts = ax.violinplot([finite], positions=[pos], orientation="horizontal", showmedians=True, widths=0.85)
        # matplotlib types the result as dict[str, Collection]; "bodies" is in fact a list of PolyCollection
        for body in cast("list[PolyCollection]", parts["bodies"]):
            body.set_facecolor(colour)
            body.set_alpha(0.55)
        for key in ("cbars", "cmins", "cmaxes", "cmedians"):
            parts[key].set_color("0.25")
            parts[key].set_linewidth(0.8)
    ax.set_yticks(positions, labels, fontsize=8)
    ax.axvline(0.0, color="0.3", linewidth=0.8)


def plot_log_ratios(in_sample: np.ndarray, leave_one_out: np.ndarray, path: Path, title: str = "") -> Path:
    """Distributions of k-NN log-ratios per parameter, in-sample (paper) and leave-one-out; ``(N, 3)`` each."""
    fig = new_figure(12, 2.8)
    axes = fig.subplots(1, len(PARAMETERS))
    for j, (ax, name) in enumerate(zip(axes, PARAMETERS, strict=True)):
        _violins(ax, [in_sample[:, j], leave_one_out[:, j]], ["in-sample", "leave-one-out"], ["tab:red", "tab:blue"])
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("log(estimate / true)")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def plot_compare_isomap(runs: Sequence[tuple[str, np.ndarray, np.ndarray]], path: Path) -> Path:
    """Figure 3 of the paper: a row per run ``(label, coords (N, 3), params (N, 3))``, a column per parameter."""
    fig = new_figure(13, 4.2 * len(runs))
    grid = fig.add_gridspec(len(runs), len(PARAMETERS))
    for i, (label, coords, params) in enumerate(runs):
        for j, name in enumerate(PARAMETERS):
            _scatter3d(fig, grid[i, j], coords, params[:, j], name, f"{label}: {name}" if label else name)
    return save_figure(fig, path)


def plot_compare_log_ratios(runs: Sequence[tuple[str, np.ndarray, np.ndarray]], path: Path) -> Path:
    """Figure 4 of the paper: per parameter, the log-ratio distribution of every run ``(label, in-sample, LOO)``."""
    from matplotlib.patches import Patch

    fig = new_figure(13, 1.0 + 0.9 * len(runs))
    axes = fig.subplots(1, len(PARAMETERS), sharey=True)
    for j, (ax, name) in enumerate(zip(axes, PARAMETERS, strict=True)):
        groups, labels, colours = [], [], []
        for label, in_sample, loo in runs:
            groups += [in_sample[:, j], loo[:, j]]
            labels += [f"{label}", ""]
            colours += ["tab:red", "tab:blue"]
        _violins(ax, groups, labels, colours)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("log(estimate / true)")
    fig.legend(
        handles=[
            Patch(color="tab:red", alpha=0.55, label="in-sample (paper)"),
            Patch(color="tab:blue", alpha=0.55, label="leave-one-out"),
        ],
        loc="outside lower center", ncols=2, fontsize=8,
    )
    return save_figure(fig, path)


def plot_compare_sensitivity(
    runs: Sequence[tuple[str, Mapping[str, float], Mapping[str, Sequence[float]], Mapping[str, float]]], path: Path
) -> Path:
    """Per parameter, the sensitivity index of every run ``(label, index, (low, high), chance)`` (each keyed by
    parameter name): a bar with its interval, and the chance level as a red tick."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig = new_figure(13, 1.4 + 0.4 * len(runs))
    axes = fig.subplots(1, len(PARAMETERS), sharey=True)
    positions = np.arange(len(runs))[::-1]
    for ax, name in zip(axes, PARAMETERS, strict=True):
        index = np.array([run[1][name] for run in runs])
        interval = np.array([run[2][name] for run in runs]).T
        ax.barh(positions, index, height=0.6, color="tab:purple", alpha=0.7,
                xerr=np.abs(interval - index), error_kw={"linewidth": 0.8, "capsize": 2})
        ax.scatter([run[3][name] for run in runs], positions, marker="|", s=200, linewidths=2, color="tab:red", zorder=3)
        ax.set_xlim(0.0, 1.0)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("sensitivity S (share of variance)")
    axes[0].set_yticks(positions, [run[0] for run in runs], fontsize=8)
    fig.legend(
        handles=[
            Patch(color="tab:purple", alpha=0.7, label="sensitivity S, with its bootstrap interval"),
            Line2D([], [], color="tab:red", marker="|", linestyle="", markersize=12, markeredgewidth=2,
                   label="chance (pure noise)"),
        ],
        loc="outside lower center", ncols=2, fontsize=8,
    )
    return save_figure(fig, path)
