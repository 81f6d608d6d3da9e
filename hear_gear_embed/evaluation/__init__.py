"""Understand and score embeddings: GEAR (generative evaluation with synthetic tones), dispersion / BECR, and
downstream scores on HEAR tasks.

Works on any HEAR module. Needs the ``gear`` extra (scikit-learn, matplotlib, tqdm) except for
:mod:`.dispersion`'s torch functions (:func:`gini_index`, :func:`becr_loss`, :func:`becr_objective`).

* :mod:`.synth`: the tone synthesiser and its datasets (``paper`` and ``perceptual`` presets);
* :mod:`.hear_module`: embed a dataset with any HEAR module (:mod:`hear_gear_embed.hear.loading` loads it), in batches;
* :mod:`.analysis`: sensitivity indices, Isomap, trustworthiness, k-NN log-ratios, ridge R^2;
* :mod:`.dispersion`: Gini index of the covariance spectrum, top-2 ratio, K-means F-test,
  Calinski-Harabasz, and the BECR regulariser;
* :mod:`.plots`: the figures; :mod:`.gear`: whole runs, reports and comparisons;
* :mod:`.downstream`: ``hear-gear evaluate``, HEAR tasks scored as heareval scores them (needs the ``eval`` extra).
"""

from .dispersion import DispersionMetrics, becr_loss, becr_objective, dispersion_metrics, gini_index
from .gear import GearAnalysis, GearSettings, analyse, compare_runs, run_gear
from .synth import PARAMETERS, ToneGrid, ToneParameters, make_grid, paper_grid, perceptual_grid, synthesize

__all__ = [
    "PARAMETERS",
    "DispersionMetrics",
    "GearAnalysis",
    "GearSettings",
    "ToneGrid",
    "ToneParameters",
    "analyse",
    "becr_loss",
    "becr_objective",
    "compare_runs",
    "dispersion_metrics",
    "gini_index",
    "make_grid",
    "paper_grid",
    "perceptual_grid",
    "run_gear",
    "synthesize",
]
