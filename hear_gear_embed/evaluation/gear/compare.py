"""Several GEAR run folders side by side (:func:`compare_runs`): each folder read back and checked
(``metrics.json`` through :meth:`~.metrics.GearMetrics.from_json`, ``gear.npz`` for :data:`COMPARED_ARRAYS`), then
``comparison.json`` (one :class:`ComparisonRow` per run), ``comparison.md`` and the comparison figures."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from ...util.npz import read_npz
from ..analysis import SENSITIVITY_LEVEL
from ..plots import plot_compare_isomap, plot_compare_log_ratios, plot_compare_sensitivity
from ..synth import PARAMETERS
from .metrics import GearMetrics, JsonFields, RecordProblem
from .report import fmt

logger = logging.getLogger(__name__)

COMPARED_ARRAYS = ("params", "coords", "log_ratios_in_sample", "log_ratios_loo")
"""What :func:`compare_runs` reads of a run's ``gear.npz``: arrays ``(n_sounds, 3)``, one column per parameter."""


class ComparisonRow(TypedDict):
    """One run in ``comparison.json``; the per-parameter values are keyed by parameter name."""

    run: str
    module: str
    preset: str
    sample_rate: int
    dim: int
    median_abs_log_ratio_in_sample: dict[str, float]
    median_abs_log_ratio_loo: dict[str, float]
    sensitivity: dict[str, float]
    sensitivity_interval: dict[str, list[float]]
    sensitivity_chance: dict[str, float]
    ridge_r2: dict[str, float]
    trustworthiness: float
    dispersion: dict[str, float]


@dataclass(frozen=True)
class _Run:
    """What a comparison reads of one run folder."""

    module: str
    grid: dict[str, Any]
    dim: int
    ridge_folds: int
    metrics: GearMetrics
    arrays: dict[str, np.ndarray]


def _load_run(folder: Path) -> _Run:
    """A run's record and arrays, checked for what :func:`compare_runs` reads.

    Raises:
        ValueError: a file is missing, is not valid JSON or a readable ``.npz``, or lacks a field or an array or has one
            of the wrong type or shape; the message names the file and what is wrong.
    """
    metrics_file, arrays_file = folder / "metrics.json", folder / "gear.npz"
    for f in (metrics_file, arrays_file):
        if not f.is_file():
            raise ValueError(f"{folder} is not a GEAR run folder: {f.name} is missing")
    try:
        parsed = json.loads(metrics_file.read_text(encoding="utf-8"))
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{metrics_file}: not valid JSON ({err})") from err
    try:
        record = JsonFields(parsed)
        module = record.string("module")
        grid = record.fields("grid")
        grid.string("name")
        grid.integer("sample_rate")
        n_sounds = grid.integer("n_sounds")
        grid.string("f1_scale")
        dim = record.fields("embedding").integer("dim")
        ridge_folds = record.fields("settings").integer("ridge_folds")
        metrics = record.get("metrics")
    except RecordProblem as problem:
        raise ValueError(f"{metrics_file}: not a GEAR metrics record: {problem}") from None
    typed = GearMetrics.from_json(metrics, where=str(metrics_file))
    arrays = read_npz(arrays_file, required=COMPARED_ARRAYS)
    expected = (n_sounds, len(PARAMETERS))
    for name in COMPARED_ARRAYS:
        if arrays[name].shape != expected:
            raise ValueError(f"{arrays_file}: {name} has shape {arrays[name].shape}, expected {expected} (the run's "
                             "sounds by parameter)")
    return _Run(module, grid.value, dim, ridge_folds, typed, arrays)


def _dataset_key(grid: dict[str, object]) -> dict[str, object]:
    """What must match for two runs to have heard the same tones, whatever each model's sample rate.

    On the ``cycles`` scale the digital signals are fixed (f1 in cycles per ``n_samples``), so their
    duration and f1 in Hz follow the rate; on the ``midi`` scale the physical sounds are fixed (f1 in
    Hz, duration in ms) and the number of samples follows the rate.
    """
    rate_dependent = {"name", "sample_rate"} | (
        {"duration_ms", "f1_low_hz", "f1_high_hz"} if grid["f1_scale"] == "cycles" else {"n_samples"}
    )
    return {k: v for k, v in grid.items() if k not in rate_dependent}


def _row(label: str, run: _Run) -> ComparisonRow:
    m = run.metrics
    return {
        "run": label, "module": run.module, "preset": run.grid["name"], "sample_rate": run.grid["sample_rate"],
        "dim": run.dim,
        "sensitivity": m.sensitivity.index.to_json(),
        "sensitivity_interval": {name: list(pair) for name, pair in m.sensitivity.interval.items()},
        "sensitivity_chance": m.sensitivity.chance.to_json(),
        "median_abs_log_ratio_in_sample": m.knn.in_sample.to_json(),
        "median_abs_log_ratio_loo": m.knn.leave_one_out.to_json(),
        "ridge_r2": m.ridge.r2.to_json(), "trustworthiness": m.isomap.trustworthiness,
        "dispersion": m.dispersion.as_dict(),
    }


def compare_runs(folders: list[str | Path], out_dir: str | Path) -> dict[str, object]:
    """Compare GEAR run folders side by side; each run is labelled by its folder name.

    Writes ``comparison.md``, ``comparison.json``, ``compare_isomap.png``, ``compare_log_ratios.png`` and
    ``compare_sensitivity.png`` to ``out_dir``. Models may run at different sample rates (each run
    synthesises at its model's rate); runs whose tones differ otherwise are compared with a warning
    and a note in the table, as their numbers are not directly comparable.

    Returns:
        The content of ``comparison.json``.

    Raises:
        ValueError: no folder, two of one name, or a folder that is not a readable GEAR run (a file missing, malformed
            or of an older version: the message names the file and what is wrong), checked before anything is written.
    """
    if len(folders) < 1:
        raise ValueError("give at least one GEAR run folder")
    paths = [Path(f) for f in folders]
    labels = [p.resolve().name for p in paths]
    if len(set(labels)) != len(labels):
        raise ValueError(f"run folders must have distinct names (they label the runs), got {labels}")
    runs = [_load_run(p) for p in paths]
    keys = [_dataset_key(run.grid) for run in runs]
    same_data = all(k == keys[0] for k in keys)
    if not same_data:
        logger.warning("the runs use different datasets; their metrics are not directly comparable")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [_row(label, run) for label, run in zip(labels, runs, strict=True)]
    summary: dict[str, object] = {"same_dataset": same_data, "runs": rows}
    (out / "comparison.json").write_text(json.dumps(summary, indent=2) + "\n")
    pairs = list(zip(labels, runs, strict=True))
    plot_compare_isomap([(label, run.arrays["coords"], run.arrays["params"]) for label, run in pairs],
                        out / "compare_isomap.png")
    plot_compare_log_ratios(
        [(label, run.arrays["log_ratios_in_sample"], run.arrays["log_ratios_loo"]) for label, run in pairs],
        out / "compare_log_ratios.png",
    )
    plot_compare_sensitivity(
        [(r["run"], r["sensitivity"], r["sensitivity_interval"], r["sensitivity_chance"]) for r in rows],
        out / "compare_sensitivity.png",
    )
    (out / "comparison.md").write_text(_render_comparison(rows, same_data, [run.ridge_folds for run in runs]))
    return summary


def _ridge_read_out(rows: list[ComparisonRow], folds: list[int]) -> str:
    """How the runs' ridge R^2 was cross-validated (``folds``: each run's ``settings.ridge_folds``)."""
    if len(set(folds)) == 1:
        return f"{folds[0]}-fold cross-validated linear read-out"
    each = ", ".join(f"{r['run']} {k}-fold" for r, k in zip(rows, folds, strict=True))
    return f"cross-validated linear read-out, with folds that differ between the runs ({each})"


def _render_comparison(rows: list[ComparisonRow], same_data: bool, folds: list[int]) -> str:
    head = "| run | module | preset | rate (Hz) | dim | " + " | ".join(
        [f"sensitivity {p} [{100 * SENSITIVITY_LEVEL:g} %]" for p in PARAMETERS]
        + [f"LOO k-NN abs log-ratio {p}" for p in PARAMETERS] + [f"ridge R^2 {p}" for p in PARAMETERS]
    ) + " | trustworthiness | Gini | top-2 ratio | K-means F | Calinski-Harabasz |"
    lines = ["# GEAR comparison", ""]
    if not same_data:
        lines += ["**The runs use different datasets: compare their numbers with care.**", ""]
    lines += [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        loo, r2, disp = r["median_abs_log_ratio_loo"], r["ridge_r2"], r["dispersion"]
        cells = [str(r["run"]), f"`{r['module']}`", str(r["preset"]), str(r["sample_rate"]), str(r["dim"])]
        cells += [
            f"{fmt(r['sensitivity'][p])} [{fmt(r['sensitivity_interval'][p][0])}, {fmt(r['sensitivity_interval'][p][1])}]"
            for p in PARAMETERS
        ]
        cells += [fmt(loo[p]) for p in PARAMETERS] + [fmt(r2[p]) for p in PARAMETERS]
        cells += [fmt(r["trustworthiness"])] + [
            fmt(disp[k]) for k in ("gini_index", "top2_ratio", "kmeans_f_test", "calinski_harabasz")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    chances = {json.dumps(r["sensitivity_chance"], sort_keys=True) for r in rows}
    chance = (
        "chance level " + ", ".join(f"{p} {fmt(rows[0]['sensitivity_chance'][p])}" for p in PARAMETERS)
        if len(chances) == 1 else "the chance levels differ between runs (`comparison.json`)"
    )
    lines += [
        "",
        "Sensitivity: the share of the embedding's variance (standardised dimensions) between the groups of "
        f"each parameter, with its bootstrap interval; {chance}. Near 1: the embedding follows the parameter; "
        "at chance: it is invariant to it. LOO: median |log(k-NN estimate / true)| with each sound left out of its "
        "own neighbours (lower is better); the in-sample (paper) values are in `comparison.json`. Ridge R^2: "
        f"{_ridge_read_out(rows, folds)}: whether the parameter can be recovered, not how much of the "
        "embedding it moves.",
        "",
        "![Sensitivity of every run](compare_sensitivity.png)",
        "",
        "![Isomap of every run](compare_isomap.png)",
        "",
        "![k-NN log-ratios of every run](compare_log_ratios.png)",
        "",
    ]
    return "\n".join(lines)
