"""Downstream evaluation on HEAR 2021 tasks, as heareval 2021.1.3 scores them (``hear-gear evaluate``).

* :mod:`.data`: what the parts share: a task's description (with its own evaluation parameters), a split's embeddings,
  the folds;
* :mod:`.tasks`: HEAR task folders, read and checked as heareval reads them;
* :mod:`.embeddings`: every split embedded with a HEAR module, in batches, cached on disk;
* :mod:`.metrics`: heareval's scores; :mod:`.events`: frame scores to events (heareval's postprocessing);
* :mod:`.scoring`: one split's predictions scored with a task's metrics, scores compared and aggregated over folds;
* :mod:`.probes`, :mod:`.mlp`, :mod:`.knn`: scikit-learn estimators on any arrays: :class:`MLPProbe`,
  :class:`LinearProbe`, :class:`KNNProbe`; :mod:`.protocols`: :func:`run_protocol`, the probes on a task's folds;
* :mod:`.explain`: dispersion per split and 2-D projections of a task's embeddings; :mod:`.figures` draws them;
* :mod:`.reference`: the best HEAR 2021 score of each task, normalised scores and their means per category;
* :mod:`.workers`: where protocols and figures run (this process, or ``jobs`` worker processes);
* :mod:`.runner`: :func:`evaluate`, tasks times protocols, ``scores.json`` and ``scores.md``;
* :mod:`.compare`: :func:`compare_evaluations`, evaluate runs side by side; :mod:`.grid`: :func:`evaluate_grid`, a
  grid of variant specs evaluated and compared.

Needs the ``eval`` extra (``pip install "hear_gear_embed[eval]"``); the torch-backed modules are imported on first use."""

from typing import TYPE_CHECKING

from ...util.lazy import lazy_exports
from .data import EvaluationParams, Event, Fold, SplitEmbeddings, TaskInfo
from .tasks import DataSplit, HearTask, Split, TaskError, event_labels_at, folds_rule, load_task

if TYPE_CHECKING:
    from .compare import compare_evaluations
    from .embeddings import DEFAULT_BATCH_SAMPLES, EmbeddingError, TaskEmbeddings, embed_task
    from .events import EVENT_POSTPROCESSING_GRID, EVENT_THRESHOLD, Postprocessing, events_from_frames
    from .explain import project, split_dispersion
    from .grid import evaluate_grid
    from .knn import KNNProbe
    from .metrics import METRICS, Metric, task_metrics
    from .mlp import LinearProbe, MLPProbe
    from .protocols import PROTOCOLS, ProtocolResult, fold_warnings, run_protocol
    from .reference import Hear2021Best, category_means, hear2021_best, normalised_scores
    from .runner import build_folds, evaluate, load_tasks, scores_markdown
    from .scoring import Scoring, SplitScorer, default_scoring, fold_summary

__getattr__, __dir__ = lazy_exports(__name__, {
    "DEFAULT_BATCH_SAMPLES": ".embeddings", "EmbeddingError": ".embeddings", "TaskEmbeddings": ".embeddings",
    "embed_task": ".embeddings", "EVENT_POSTPROCESSING_GRID": ".events", "EVENT_THRESHOLD": ".events",
    "Postprocessing": ".events", "events_from_frames": ".events", "METRICS": ".metrics", "Metric": ".metrics",
    "task_metrics": ".metrics", "KNNProbe": ".knn", "LinearProbe": ".mlp", "MLPProbe": ".mlp",
    "PROTOCOLS": ".protocols", "ProtocolResult": ".protocols", "fold_warnings": ".protocols", "run_protocol": ".protocols",
    "compare_evaluations": ".compare", "evaluate_grid": ".grid", "project": ".explain", "split_dispersion": ".explain",
    "Hear2021Best": ".reference", "category_means": ".reference", "hear2021_best": ".reference",
    "normalised_scores": ".reference", "build_folds": ".runner", "evaluate": ".runner", "load_tasks": ".runner",
    "scores_markdown": ".runner",
    "Scoring": ".scoring", "SplitScorer": ".scoring", "default_scoring": ".scoring", "fold_summary": ".scoring",
})

__all__ = [
    "DEFAULT_BATCH_SAMPLES", "EVENT_POSTPROCESSING_GRID", "EVENT_THRESHOLD", "METRICS", "PROTOCOLS", "DataSplit",
    "EmbeddingError", "EvaluationParams", "Event", "Fold", "Hear2021Best", "HearTask", "KNNProbe", "LinearProbe",
    "MLPProbe", "Metric", "Postprocessing", "ProtocolResult", "Scoring", "Split", "SplitEmbeddings", "SplitScorer",
    "TaskEmbeddings", "TaskError", "TaskInfo", "build_folds", "category_means", "compare_evaluations", "default_scoring",
    "embed_task", "evaluate", "evaluate_grid", "event_labels_at", "events_from_frames", "fold_summary", "fold_warnings",
    "folds_rule", "hear2021_best", "load_task", "load_tasks", "normalised_scores", "project", "run_protocol",
    "scores_markdown", "split_dispersion", "task_metrics",
]
