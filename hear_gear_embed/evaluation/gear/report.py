"""``report.md`` of one GEAR run (:func:`render_report`), its sensitivity section, and the number format that the
report and the comparison share (:func:`fmt`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..analysis import SENSITIVITY_LEVEL
from ..synth import PARAMETERS
from .metrics import GearMetrics, SensitivityMetrics

if TYPE_CHECKING:
    from .run import GearRecord


def fmt(value: object) -> str:
    """A metric as the reports print it: floats to 3 decimals (4 significant digits from 1000), NaN as ``n/a``."""
    if isinstance(value, float):
        return "n/a" if np.isnan(value) else f"{value:.3f}" if abs(value) < 1000 else f"{value:.4g}"
    return str(value)


def render_report(record: GearRecord) -> str:
    """``report.md`` of one run from its ``metrics.json`` record.

    Raises:
        ValueError: ``record["metrics"]`` is not a GEAR metrics object (:meth:`GearMetrics.from_json`).
    """
    grid, settings = record["grid"], record["settings"]
    metrics = GearMetrics.from_json(record["metrics"], where=f"the GEAR record of {record['module']}")
    knn, ridge, iso, disp = metrics.knn, metrics.ridge, metrics.isomap, metrics.dispersion
    lines = [
        f"# GEAR report: `{record['module']}`",
        "",
        f"- checkpoint: {record['model_path'] or 'the module default'}",
        f"- precision: {record['precision']}",
        f"- embedding: {record['embedding']['kind']}, {record['embedding']['dim']} dimensions",
        f"- dataset: preset `{grid['name']}`, {grid['n_sounds']} tones of {grid['n_samples']} samples "
        f"({grid['duration_ms']:.1f} ms) at {grid['sample_rate']} Hz; f1 {grid['f1_low_hz']:.1f} to "
        f"{grid['f1_high_hz']:.1f} Hz ({grid['f1_scale']} scale), alpha {grid['alpha_low']:g} to "
        f"{grid['alpha_high']:g} ({grid['n_alpha']} values), r {grid['r_low']:g} to {grid['r_high']:g} "
        f"({grid['n_r']} values), at most {grid['max_harmonics']} harmonics, seed {grid['seed']}",
        f"- time: embedding {record['timing_s']['embed']:.1f} s, analysis {record['timing_s']['analyse']:.1f} s",
        "",
        *_render_sensitivity(metrics.sensitivity, settings["sensitivity_resamples"]),
        "## Parameter read-out",
        "",
        f"| parameter | median abs log-ratio, k-NN K={knn.k} in-sample (paper) | leave-one-out | "
        f"ridge R^2 ({settings['ridge_folds']}-fold) | ridge target |",
        "|---|---|---|---|---|",
    ]
    for name in PARAMETERS:
        lines.append(
            f"| {name} | {fmt(knn.in_sample[name])} | {fmt(knn.leave_one_out[name])} | "
            f"{fmt(ridge.r2[name])} | {ridge.targets[name]} |"
        )
    undefined = {name: n for name, n in knn.undefined_log_ratio.items() if n}
    lines += [
        "",
        "Lower log-ratios and higher R^2 are better. The in-sample k-NN counts each sound as its own "
        "neighbour (the paper's protocol); leave-one-out does not.",
    ]
    if undefined:
        lines.append(
            "Log-ratios are undefined where the true value is 0 and left out: "
            + ", ".join(f"{name}: {n} sounds" for name, n in undefined.items()) + "."
        )
    lines += [
        "",
        "Ridge R^2 says whether a parameter can be recovered by a linear read-out of the standardised embedding. "
        "It comes near 1 even for a parameter that moves a tiny share of the embedding, so it does not say how "
        "sensitive the embedding is to the parameter, or how invariant: the sensitivity index above does.",
        "",
        "## Isomap",
        "",
        f"K = {iso.n_neighbors} neighbours; trustworthiness of the 3-D map (k = {iso.trust_neighbors}): "
        f"{fmt(iso.trustworthiness)}. The K-NN graph has {iso.graph_components} connected component(s)"
        + ("." if iso.graph_components == 1 else ": Isomap joined them at their closest pairs, so distances between "
           "them are Euclidean, not geodesic."),
        "",
        "![Isomap coloured by each parameter](isomap.png)",
        "",
        "![k-NN log-ratios](knn_log_ratios.png)",
        "",
        "## Dispersion (BECR diagnostics)",
        "",
        "| Gini index | top-2 variance ratio | K-means F-test | Calinski-Harabasz | K-means clusters |",
        "|---|---|---|---|---|",
        f"| {fmt(disp.gini_index)} | {fmt(disp.top2_ratio)} | {fmt(disp.kmeans_f_test)} | "
        f"{fmt(disp.calinski_harabasz)} | {disp.n_clusters} |",
        "",
        "A dispersed embedding has a Gini index near 1 and low top-2 ratio, F-test and Calinski-Harabasz score.",
        "",
    ]
    return "\n".join(lines)


def _render_sensitivity(sensitivity: SensitivityMetrics, resamples: int) -> list[str]:
    index, interval, chance = sensitivity.index, sensitivity.interval, sensitivity.chance
    lines = [
        "## Sensitivity",
        "",
        "The share of the embedding's variance that each parameter explains: the sounds are grouped by the "
        "parameter, and the index S is the between-group sum of squares over the total, per standardised dimension, "
        f"averaged over the {sensitivity.dimensions} dimensions that vary. S = 1: the embedding follows "
        "this parameter alone; S at chance (what an embedding of pure noise scores): it ignores it. Interval: "
        f"{100 * SENSITIVITY_LEVEL:g} % bootstrap, {resamples} resamples of the sounds.",
        "",
        f"| parameter | sensitivity S | {100 * SENSITIVITY_LEVEL:g} % interval | chance | groups |",
        "|---|---|---|---|---|",
    ]
    for name in PARAMETERS:
        kind = "equal-count bins" if sensitivity.binned[name] else "values"
        lines.append(
            f"| {name} | {fmt(index[name])} | {fmt(interval[name][0])} .. {fmt(interval[name][1])} | "
            f"{fmt(chance[name])} | {sensitivity.groups[name]} {kind} |"
        )
    top = max(PARAMETERS, key=lambda name: index[name])
    others = [name for name in PARAMETERS if name != top]
    at_chance = [name for name in PARAMETERS if interval[name][0] <= chance[name]]
    rest = max(0.0, 1.0 - sum(index.values()))
    lines += [
        "",
        f"{top} explains the largest share of the embedding's variance ({fmt(index[top])}); "
        + " and ".join(f"{name} {fmt(index[name])} ({index[name] / chance[name]:.1f} times chance)" for name in others)
        + f". The remaining {fmt(rest)} lies within groups or in interactions of the parameters."
        + (
            f" The interval of {' and '.join(at_chance)} reaches the chance level: the embedding varies no more with "
            f"{'it' if len(at_chance) == 1 else 'them'} than with a random grouping of the sounds."
            if at_chance else ""
        ),
        "",
    ]
    return lines
