"""GEAR runs: synthesise, embed with a HEAR module, measure, and write figures, metrics and a report.

One run (:func:`run_gear`) writes into its folder:

* ``metrics.json``: the module, checkpoint, dataset, settings, every metric and timings; the sensitivity
  indices are under ``metrics["sensitivity"]`` (``{"f1": S, "alpha": S, "r": S}``), their intervals, chance
  levels, groups and the dimensions they average over under ``sensitivity_interval``, ``sensitivity_chance``,
  ``sensitivity_groups``, ``sensitivity_binned`` and ``sensitivity_dimensions``;
* ``report.md``: the same, readable, with the figures;
* ``isomap.png`` (one 3-D panel per parameter) and ``isomap_<parameter>.png``;
* ``knn_log_ratios.png``: log-ratio distributions, in-sample and leave-one-out;
* ``gear.npz``: parameters ``(N, 3)``, Isomap coordinates ``(N, 3)``, both log-ratio arrays
  ``(N, 3)`` (and the embeddings ``(N, D)`` if asked), which :func:`compare_runs` reads back.

:func:`compare_runs` puts several run folders side by side: ``comparison.md`` / ``.json`` and the
figures ``compare_isomap.png`` (the paper's Figure 3), ``compare_log_ratios.png`` (Figure 4) and
``compare_sensitivity.png``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from ..embedding.config import KINDS, Kind
from ..hear.loading import load_hear_module
from ..util.files import check_writable
from ..util.npz import read_npz
from ..util.precision import Precision
from .analysis import (
    SENSITIVITY_LEVEL,
    graph_components,
    isomap_coordinates,
    isomap_trustworthiness,
    knn_log_ratios,
    median_abs_log_ratio,
    parameter_groups,
    ridge_r2,
    sensitivity_indices,
)
from .dispersion import dispersion_metrics
from .hear_module import embed_grid
from .plots import (
    plot_compare_isomap,
    plot_compare_log_ratios,
    plot_compare_sensitivity,
    plot_isomap,
    plot_isomap_parameter,
    plot_log_ratios,
)
from .synth import PARAMETERS, ToneGrid, make_grid

logger = logging.getLogger(__name__)

RIDGE_TARGETS = {"f1": "log2(f1 / Hz)", "alpha": "alpha", "r": "r"}
"""What the ridge read-out predicts for each parameter: pitch in octaves, the others as they are."""

_STRING, _INTEGER, _NUMBER, _PAIR = "a string", "an integer", "a number", "a pair of numbers"
COMPARED_FIELDS: tuple[tuple[str, str], ...] = (
    ("module", _STRING), ("grid.name", _STRING), ("grid.sample_rate", _INTEGER), ("grid.n_sounds", _INTEGER),
    ("grid.f1_scale", _STRING), ("embedding.dim", _INTEGER),
    *((f"metrics.{group}.{name}", kind) for group, kind in (
        ("sensitivity", _NUMBER), ("sensitivity_interval", _PAIR), ("sensitivity_chance", _NUMBER),
        ("knn.median_abs_log_ratio.in_sample", _NUMBER), ("knn.median_abs_log_ratio.leave_one_out", _NUMBER),
        ("ridge_r2", _NUMBER)) for name in PARAMETERS),
    ("metrics.isomap.trustworthiness", _NUMBER),
    *((f"metrics.dispersion.{name}", _NUMBER) for name in ("gini_index", "top2_ratio", "kmeans_f_test", "calinski_harabasz")),
)
"""What :func:`compare_runs` reads of a run's ``metrics.json``: dotted path -> what it must be (a number may be NaN)."""
COMPARED_ARRAYS = ("params", "coords", "log_ratios_in_sample", "log_ratios_loo")
"""What :func:`compare_runs` reads of a run's ``gear.npz``: arrays ``(n_sounds, 3)``, one column per parameter."""


@dataclass(frozen=True)
class GearSettings:
    """Analysis settings; the defaults are the paper's (Isomap K = 100 in 3-D, k-NN K = 40).

    Attributes:
        isomap_neighbors: K of the Isomap graph.
        isomap_components: Isomap output dimension.
        knn_neighbors: K of the k-NN regression.
        trust_neighbors: neighbourhood size of the Isomap trustworthiness.
        ridge_folds: folds of the cross-validated ridge regression.
        n_clusters: K-means clusters of the dispersion metrics.
        sensitivity_resamples: bootstrap resamples of the sensitivity indices' intervals.
        seed: seed of the K-fold split, of K-means and of the bootstrap.
    """

    isomap_neighbors: int = 100
    isomap_components: int = 3
    knn_neighbors: int = 40
    trust_neighbors: int = 10
    ridge_folds: int = 5
    n_clusters: int = 8
    sensitivity_resamples: int = 200
    seed: int = 0

    def check(self, n_sounds: int) -> None:
        """Raise ValueError, before any embedding is computed, if ``n_sounds`` cannot support these settings."""
        limits = {
            "isomap_neighbors": n_sounds - 1, "knn_neighbors": n_sounds - 1,
            "trust_neighbors": (n_sounds - 1) // 2, "ridge_folds": n_sounds, "n_clusters": n_sounds - 1,
        }
        lowest = {"ridge_folds": 2, "n_clusters": 2}
        for name, high in limits.items():
            value = getattr(self, name)
            if not lowest.get(name, 1) <= value <= high:
                raise ValueError(f"{name}={value} needs {lowest.get(name, 1)} <= {name} <= {high} for {n_sounds} sounds")
        if self.sensitivity_resamples < 2:
            raise ValueError(f"sensitivity_resamples={self.sensitivity_resamples} needs at least 2 resamples")


PAPER_SETTINGS = GearSettings()


@dataclass
class GearAnalysis:
    """The measurements of one set of embeddings; every array has one row per sound."""

    params: np.ndarray
    coords: np.ndarray
    log_ratios_in_sample: np.ndarray
    log_ratios_loo: np.ndarray
    metrics: dict[str, object]


class EmbeddingInfo(TypedDict):
    """What a GEAR run embedded: the embedding kind and its size."""

    kind: Kind
    dim: int


class GearTiming(TypedDict):
    """Seconds spent embedding and analysing."""

    embed: float
    analyse: float


class GearRecord(TypedDict):
    """The content of ``metrics.json`` of one run. The nested parts are JSON objects: ``grid`` from
    :meth:`~.synth.ToneGrid.describe`, ``settings`` the :class:`GearSettings`, ``metrics`` those of
    :class:`GearAnalysis`."""

    module: str
    model_path: str
    precision: Precision
    embedding: EmbeddingInfo
    grid: dict[str, Any]
    settings: dict[str, Any]
    metrics: dict[str, Any]
    timing_s: GearTiming
    versions: dict[str, str]


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


def ridge_targets(params: np.ndarray) -> np.ndarray:
    """``(N, 3)`` targets of the ridge read-out from parameters ``(N, 3)`` (f1 in Hz): see :data:`RIDGE_TARGETS`."""
    params = np.asarray(params, dtype=np.float64)
    return np.column_stack([np.log2(params[:, 0]), params[:, 1], params[:, 2]])


def _per_parameter(values: np.ndarray) -> dict[str, float]:
    return {name: float(v) for name, v in zip(PARAMETERS, values, strict=True)}


def analyse(emb: np.ndarray, params: np.ndarray, settings: GearSettings = PAPER_SETTINGS) -> GearAnalysis:
    """Every GEAR measurement of embeddings ``(N, D)`` of sounds with parameters ``(N, 3)`` (f1 in Hz)."""
    params = np.asarray(params, dtype=np.float64)
    if params.ndim != 2 or params.shape[1] != len(PARAMETERS):
        raise ValueError(f"params must have shape (n_sounds, {len(PARAMETERS)}) in {PARAMETERS} order, got {params.shape}")
    settings.check(len(params))
    groups = parameter_groups(params)
    sensitivity = sensitivity_indices(emb, groups, n_resamples=settings.sensitivity_resamples, seed=settings.seed)
    coords = isomap_coordinates(emb, settings.isomap_neighbors, settings.isomap_components)
    in_sample = knn_log_ratios(emb, params, settings.knn_neighbors, leave_one_out=False)
    loo = knn_log_ratios(emb, params, settings.knn_neighbors, leave_one_out=True)
    metrics: dict[str, object] = {
        "sensitivity": _per_parameter(sensitivity.index),
        "sensitivity_interval": {
            name: [float(lo), float(hi)]
            for name, lo, hi in zip(PARAMETERS, sensitivity.low, sensitivity.high, strict=True)
        },
        "sensitivity_chance": _per_parameter(sensitivity.chance),
        "sensitivity_groups": {name: int(g) for name, g in zip(PARAMETERS, sensitivity.n_groups, strict=True)},
        "sensitivity_binned": {
            name: bool(len(np.unique(params[:, j])) > sensitivity.n_groups[j]) for j, name in enumerate(PARAMETERS)
        },
        "sensitivity_dimensions": sensitivity.n_dims,
        "knn": {
            "k": settings.knn_neighbors,
            "median_abs_log_ratio": {
                "in_sample": _per_parameter(median_abs_log_ratio(in_sample)),
                "leave_one_out": _per_parameter(median_abs_log_ratio(loo)),
            },
            "undefined_log_ratio": {name: int(np.isnan(in_sample[:, j]).sum()) for j, name in enumerate(PARAMETERS)},
        },
        "ridge_r2": _per_parameter(ridge_r2(emb, ridge_targets(params), settings.ridge_folds, settings.seed)),
        "ridge_targets": RIDGE_TARGETS,
        "isomap": {
            "n_neighbors": settings.isomap_neighbors,
            "graph_components": graph_components(emb, settings.isomap_neighbors),
            "trustworthiness": isomap_trustworthiness(emb, coords, settings.trust_neighbors),
            "trust_neighbors": settings.trust_neighbors,
        },
        "dispersion": dispersion_metrics(emb, settings.n_clusters, settings.seed).as_dict(),
    }
    return GearAnalysis(params, coords, in_sample, loo, metrics)


def _short(name: str) -> str:
    return name.removeprefix("hear_gear_embed.hear.")


def _versions() -> dict[str, str]:
    import sklearn
    import torch

    from .._version import __version__

    return {"hear_gear_embed": __version__, "torch": torch.__version__, "scikit-learn": sklearn.__version__}


def run_gear(
    module: str,
    out_dir: str | Path,
    model_path: str = "",
    preset: str = "paper",
    grid_overrides: dict[str, object] | None = None,
    grid: ToneGrid | None = None,
    settings: GearSettings = PAPER_SETTINGS,
    kind: Kind = "scene",
    batch_size: int = 32,
    progress: bool = True,
    save_embeddings: bool = False,
    *,
    precision: Precision = "fp32",
) -> GearRecord:
    """Run GEAR on a HEAR module and write its outputs (see the module docstring) to ``out_dir``.

    Args:
        module: a registry variant (``handcrafted``) or any importable HEAR module (``hearbaseline``).
        out_dir: output folder, created if needed.
        model_path: checkpoint passed to ``load_model``; ``""`` for the module's default.
        preset: ``"paper"`` or ``"perceptual"``, built at the model's sample rate; ignored if ``grid``.
        grid_overrides: arguments of the preset (e.g. ``n_alpha``, ``duration_s``); its ``seed``
            defaults to ``settings.seed``.
        grid: a custom dataset (full control); its sample rate must be the model's.
        settings: analysis settings.
        kind: ``"scene"`` embeddings, or ``"timestamp"`` embeddings averaged over time.
        batch_size: sounds per HEAR call.
        progress: show a progress bar while embedding.
        save_embeddings: also store the embeddings in ``gear.npz``.
        precision: the format of the model's matrix products, passed to ``load_model`` unless ``"fp32"``
            (:func:`~hear_gear_embed.hear.loading.load_hear_module`); the model's own ``precision`` where it has one (``"fp32"`` for
            a weight-free variant) is recorded in ``metrics.json``.

    Returns:
        The content of ``metrics.json``.

    Raises:
        ValueError: bad settings or module, a dataset that does not vary every parameter, or a precision the module
            or its device cannot run.
        OSError: ``out_dir`` cannot be created or written (checked before the module is loaded; the message names it
            and the operating system's error).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    out = Path(out_dir)
    check_writable(out)
    hear = load_hear_module(module, model_path, precision=precision)
    if grid is None:
        grid = make_grid(preset, hear.sample_rate, **{"seed": settings.seed, **(grid_overrides or {})})
    elif grid_overrides:
        raise ValueError("give either grid or grid_overrides, not both")
    settings.check(grid.n_sounds)
    params = grid.parameters().matrix()
    fixed = [name for name, column in zip(PARAMETERS, params.T, strict=True) if np.ptp(column) == 0]
    if fixed:
        raise ValueError(f"the dataset does not vary {', '.join(fixed)}: GEAR measures the effect of every parameter")
    started = time.perf_counter()
    emb = embed_grid(hear, grid, kind, batch_size, progress)
    embedded = time.perf_counter()
    result = analyse(emb, params, settings)
    analysed = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    label = _short(hear.name)
    arrays = {
        "params": params, "coords": result.coords,
        "log_ratios_in_sample": result.log_ratios_in_sample, "log_ratios_loo": result.log_ratios_loo,
    }
    if save_embeddings:
        arrays["embeddings"] = emb
    # numpy's stub lets **kwds fill its keyword `allow_pickle: bool`; no array here has that name
    np.savez_compressed(out / "gear.npz", **arrays)  # type: ignore[arg-type]
    plot_isomap(result.coords, params, out / "isomap.png", title=label)
    for j, name in enumerate(PARAMETERS):
        plot_isomap_parameter(result.coords, params[:, j], name, out / f"isomap_{name}.png", title=f"{label}: {name}")
    plot_log_ratios(result.log_ratios_in_sample, result.log_ratios_loo, out / "knn_log_ratios.png", title=label)
    record: GearRecord = {
        "module": hear.name,
        "model_path": model_path,
        # This package's models say what they computed in (fp32 for weight-free variants); others ran as asked.
        "precision": getattr(hear.model, "precision", precision),
        "embedding": {"kind": kind, "dim": int(emb.shape[1])},
        "grid": grid.describe(),
        "settings": asdict(settings),
        "metrics": result.metrics,
        "timing_s": {"embed": round(embedded - started, 3), "analyse": round(analysed - embedded, 3)},
        "versions": _versions(),
    }
    (out / "metrics.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "report.md").write_text(render_report(record))
    logger.info("GEAR run of %s written to %s", hear.name, out)
    return record


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "n/a" if np.isnan(value) else f"{value:.3f}" if abs(value) < 1000 else f"{value:.4g}"
    return str(value)


def render_report(record: GearRecord) -> str:
    """``report.md`` of one run from its ``metrics.json`` record."""
    grid = record["grid"]
    metrics = record["metrics"]
    assert isinstance(grid, dict) and isinstance(metrics, dict)
    knn, iso, disp = metrics["knn"], metrics["isomap"], metrics["dispersion"]
    med = knn["median_abs_log_ratio"]
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
        *_render_sensitivity(metrics, record["settings"]["sensitivity_resamples"]),
        "## Parameter read-out",
        "",
        f"| parameter | median abs log-ratio, k-NN K={knn['k']} in-sample (paper) | leave-one-out | "
        f"ridge R^2 ({record['settings']['ridge_folds']}-fold) | ridge target |",
        "|---|---|---|---|---|",
    ]
    for name in PARAMETERS:
        lines.append(
            f"| {name} | {_fmt(med['in_sample'][name])} | {_fmt(med['leave_one_out'][name])} | "
            f"{_fmt(metrics['ridge_r2'][name])} | {metrics['ridge_targets'][name]} |"
        )
    undefined = {k: v for k, v in knn["undefined_log_ratio"].items() if v}
    lines += [
        "",
        "Lower log-ratios and higher R^2 are better. The in-sample k-NN counts each sound as its own "
        "neighbour (the paper's protocol); leave-one-out does not.",
    ]
    if undefined:
        lines.append(
            "Log-ratios are undefined where the true value is 0 and left out: "
            + ", ".join(f"{k}: {v} sounds" for k, v in undefined.items()) + "."
        )
    lines += [
        "",
        "Ridge R^2 says whether a parameter can be recovered by a linear read-out of the standardised embedding. "
        "It comes near 1 even for a parameter that moves a tiny share of the embedding, so it does not say how "
        "sensitive the embedding is to the parameter, or how invariant: the sensitivity index above does.",
        "",
        "## Isomap",
        "",
        f"K = {iso['n_neighbors']} neighbours; trustworthiness of the 3-D map (k = {iso['trust_neighbors']}): "
        f"{_fmt(iso['trustworthiness'])}. The K-NN graph has {iso['graph_components']} connected component(s)"
        + ("." if iso["graph_components"] == 1 else ": Isomap joined them at their closest pairs, so distances between "
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
        f"| {_fmt(disp['gini_index'])} | {_fmt(disp['top2_ratio'])} | {_fmt(disp['kmeans_f_test'])} | "
        f"{_fmt(disp['calinski_harabasz'])} | {disp['n_clusters']} |",
        "",
        "A dispersed embedding has a Gini index near 1 and low top-2 ratio, F-test and Calinski-Harabasz score.",
        "",
    ]
    return "\n".join(lines)


def _render_sensitivity(metrics: dict[str, Any], resamples: int) -> list[str]:
    index, interval, chance = metrics["sensitivity"], metrics["sensitivity_interval"], metrics["sensitivity_chance"]
    groups, binned = metrics["sensitivity_groups"], metrics["sensitivity_binned"]
    lines = [
        "## Sensitivity",
        "",
        "The share of the embedding's variance that each parameter explains: the sounds are grouped by the "
        "parameter, and the index S is the between-group sum of squares over the total, per standardised dimension, "
        f"averaged over the {metrics['sensitivity_dimensions']} dimensions that vary. S = 1: the embedding follows "
        "this parameter alone; S at chance (what an embedding of pure noise scores): it ignores it. Interval: "
        f"{100 * SENSITIVITY_LEVEL:g} % bootstrap, {resamples} resamples of the sounds.",
        "",
        f"| parameter | sensitivity S | {100 * SENSITIVITY_LEVEL:g} % interval | chance | groups |",
        "|---|---|---|---|---|",
    ]
    for name in PARAMETERS:
        kind = "equal-count bins" if binned[name] else "values"
        lines.append(
            f"| {name} | {_fmt(index[name])} | {_fmt(interval[name][0])} .. {_fmt(interval[name][1])} | "
            f"{_fmt(chance[name])} | {groups[name]} {kind} |"
        )
    top = max(PARAMETERS, key=lambda name: index[name])
    others = [name for name in PARAMETERS if name != top]
    at_chance = [name for name in PARAMETERS if interval[name][0] <= chance[name]]
    rest = max(0.0, 1.0 - sum(index.values()))
    lines += [
        "",
        f"{top} explains the largest share of the embedding's variance ({_fmt(index[top])}); "
        + " and ".join(f"{name} {_fmt(index[name])} ({index[name] / chance[name]:.1f} times chance)" for name in others)
        + f". The remaining {_fmt(rest)} lies within groups or in interactions of the parameters."
        + (
            f" The interval of {' and '.join(at_chance)} reaches the chance level: the embedding varies no more with "
            f"{'it' if len(at_chance) == 1 else 'them'} than with a random grouping of the sounds."
            if at_chance else ""
        ),
        "",
    ]
    return lines


def _load_run(folder: Path) -> tuple[GearRecord, dict[str, np.ndarray]]:
    """A run's record and arrays, checked for what :func:`compare_runs` reads (:data:`COMPARED_FIELDS`,
    :data:`COMPARED_ARRAYS`).

    Raises:
        ValueError: a file is missing, is not valid JSON or a readable ``.npz``, or lacks a field or an array or has one
            of the wrong type or shape; the message names the file and what is wrong.
    """
    metrics_file, arrays_file = folder / "metrics.json", folder / "gear.npz"
    for f in (metrics_file, arrays_file):
        if not f.is_file():
            raise ValueError(f"{folder} is not a GEAR run folder: {f.name} is missing")
    try:
        record = json.loads(metrics_file.read_text(encoding="utf-8"))
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{metrics_file}: not valid JSON ({err})") from err
    if isinstance(record, dict) and isinstance(record.get("metrics"), dict) and "sensitivity" not in record["metrics"]:
        raise ValueError(f"{folder} was written by an older version, without sensitivity indices: run GEAR on it again")
    problem = _record_problem(record)
    if problem:
        raise ValueError(f"{metrics_file}: not a GEAR metrics record: {problem}")
    arrays = read_npz(arrays_file, required=COMPARED_ARRAYS)
    expected = (record["grid"]["n_sounds"], len(PARAMETERS))
    for name in COMPARED_ARRAYS:
        if arrays[name].shape != expected:
            raise ValueError(f"{arrays_file}: {name} has shape {arrays[name].shape}, expected {expected} (the run's "
                             "sounds by parameter)")
    return record, arrays


def _record_problem(record: object) -> str:
    """What makes ``record`` (a parsed ``metrics.json``) lack one of :data:`COMPARED_FIELDS`; ``""``: nothing."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    for path, kind in COMPARED_FIELDS:
        value: object = record
        keys = path.split(".")
        for i, key in enumerate(keys):
            if not isinstance(value, dict):
                return f"{'.'.join(keys[:i])} must be a JSON object, got {type(value).__name__}"
            if key not in value:
                return f"{'.'.join(keys[: i + 1])} is missing"
            value = value[key]
        if not _is_kind(value, kind):
            return f"{path} must be {kind}, got {value!r}"
    return ""


def _is_kind(value: object, kind: str) -> bool:
    def number(x: object) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    if kind == _STRING:
        return isinstance(value, str)
    if kind == _INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _NUMBER:
        return number(value)
    return isinstance(value, list) and len(value) == 2 and all(number(x) for x in value)


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
    keys = [_dataset_key(run[0]["grid"]) for run in runs]
    same_data = all(k == keys[0] for k in keys)
    if not same_data:
        logger.warning("the runs use different datasets; their metrics are not directly comparable")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[ComparisonRow] = []
    for label, (record, _) in zip(labels, runs, strict=True):
        m = record["metrics"]
        assert isinstance(m, dict)
        rows.append({
            "run": label, "module": record["module"], "preset": record["grid"]["name"],
            "sample_rate": record["grid"]["sample_rate"],
            "dim": record["embedding"]["dim"],
            "sensitivity": m["sensitivity"], "sensitivity_interval": m["sensitivity_interval"],
            "sensitivity_chance": m["sensitivity_chance"],
            "median_abs_log_ratio_in_sample": m["knn"]["median_abs_log_ratio"]["in_sample"],
            "median_abs_log_ratio_loo": m["knn"]["median_abs_log_ratio"]["leave_one_out"],
            "ridge_r2": m["ridge_r2"], "trustworthiness": m["isomap"]["trustworthiness"],
            "dispersion": m["dispersion"],
        })
    summary: dict[str, object] = {"same_dataset": same_data, "runs": rows}
    (out / "comparison.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot_compare_isomap(
        [(label, a["coords"], a["params"]) for label, (_, a) in zip(labels, runs, strict=True)], out / "compare_isomap.png"
    )
    plot_compare_log_ratios(
        [(label, a["log_ratios_in_sample"], a["log_ratios_loo"]) for label, (_, a) in zip(labels, runs, strict=True)],
        out / "compare_log_ratios.png",
    )
    plot_compare_sensitivity(
        [(r["run"], r["sensitivity"], r["sensitivity_interval"], r["sensitivity_chance"]) for r in rows],
        out / "compare_sensitivity.png",
    )
    (out / "comparison.md").write_text(_render_comparison(rows, same_data))
    return summary


def _render_comparison(rows: list[ComparisonRow], same_data: bool) -> str:
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
            f"{_fmt(r['sensitivity'][p])} [{_fmt(r['sensitivity_interval'][p][0])}, {_fmt(r['sensitivity_interval'][p][1])}]"
            for p in PARAMETERS
        ]
        cells += [_fmt(loo[p]) for p in PARAMETERS] + [_fmt(r2[p]) for p in PARAMETERS]
        cells += [_fmt(r["trustworthiness"])] + [
            _fmt(disp[k]) for k in ("gini_index", "top2_ratio", "kmeans_f_test", "calinski_harabasz")
        ]
        lines.append("| " + " | ".join(cells) + " |")
    chances = {json.dumps(r["sensitivity_chance"], sort_keys=True) for r in rows}
    chance = (
        "chance level " + ", ".join(f"{p} {_fmt(rows[0]['sensitivity_chance'][p])}" for p in PARAMETERS)
        if len(chances) == 1 else "the chance levels differ between runs (`comparison.json`)"
    )
    lines += [
        "",
        "Sensitivity: the share of the embedding's variance (standardised dimensions) between the groups of "
        f"each parameter, with its bootstrap interval; {chance}. Near 1: the embedding follows the parameter; "
        "at chance: it is invariant to it. LOO: median |log(k-NN estimate / true)| with each sound left out of its "
        "own neighbours (lower is better); the in-sample (paper) values are in `comparison.json`. Ridge R^2: "
        "5-fold cross-validated linear read-out: whether the parameter can be recovered, not how much of the "
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
