"""GEAR runs: synthesise, embed with a HEAR module, measure, and write figures, metrics and a report.

A run (:func:`run_gear`) writes ``metrics.json`` (a :class:`GearRecord`; its ``metrics`` are
:meth:`GearMetrics.to_json`), ``report.md``, ``isomap.png``, ``isomap_<parameter>.png``, ``knn_log_ratios.png`` and
``gear.npz`` (parameters, Isomap coordinates and both log-ratio arrays, ``(N, 3)`` each; the embeddings if asked).
:func:`compare_runs` reads run folders back and writes ``comparison.md`` / ``.json`` and three figures.

* :mod:`.settings`: :class:`GearSettings`, :data:`~.settings.PAPER_SETTINGS`, the ridge targets;
* :mod:`.metrics`: :class:`GearMetrics`, the typed record of a run's measurements, and :func:`analyse`;
* :mod:`.report`: ``report.md``; :mod:`.compare`: :func:`compare_runs`; :mod:`.run`: :func:`run_gear`.
"""

from ..dispersion import DispersionMetrics
from .compare import COMPARED_ARRAYS, ComparisonRow, compare_runs
from .metrics import (
    GearAnalysis,
    GearMetrics,
    IsomapMetrics,
    KnnMetrics,
    PerParameter,
    RidgeMetrics,
    SensitivityMetrics,
    analyse,
)
from .report import render_report
from .run import EmbeddingInfo, GearRecord, GearTiming, embed_tones, run_gear
from .settings import PAPER_SETTINGS, RIDGE_TARGETS, GearSettings, ridge_targets

__all__ = [
    "COMPARED_ARRAYS",
    "PAPER_SETTINGS",
    "RIDGE_TARGETS",
    "ComparisonRow",
    "DispersionMetrics",
    "EmbeddingInfo",
    "GearAnalysis",
    "GearMetrics",
    "GearRecord",
    "GearSettings",
    "GearTiming",
    "IsomapMetrics",
    "KnnMetrics",
    "PerParameter",
    "RidgeMetrics",
    "SensitivityMetrics",
    "analyse",
    "compare_runs",
    "embed_tones",
    "render_report",
    "ridge_targets",
    "run_gear",
]
