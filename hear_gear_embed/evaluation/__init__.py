"""Understand and score the embeddings of any model (:class:`~hear_gear_embed.hear.handle.EmbeddingModel`): GEAR
(generative evaluation with synthetic tones), dispersion / BECR, and downstream scores on HEAR tasks. Needs the
``gear`` extra (scikit-learn, matplotlib, tqdm) except for :mod:`.dispersion`'s torch functions.

* :mod:`.synth`: the tone synthesiser and its datasets (``paper`` and ``perceptual`` presets);
* :mod:`.analysis`: sensitivity indices, Isomap, trustworthiness, k-NN log-ratios, ridge R^2;
* :mod:`.dispersion`: Gini index of the covariance spectrum, top-2 ratio, K-means F-test,
  Calinski-Harabasz, and the BECR regulariser;
* :mod:`.plots`: the figures; :mod:`.gear`: whole runs, their typed metrics, reports and comparisons;
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
