"""Downstream evaluation on HEAR 2021 tasks, as heareval 2021.1.3 scores them (``hear-gear evaluate``).

* :mod:`.data`: what the parts share: a task's description, a split's embeddings, the folds;
* :mod:`.tasks`: HEAR task folders, read and checked as heareval reads them;
* :mod:`.embeddings`: every split embedded with a HEAR module, in batches, cached on disk;
* :mod:`.metrics`: heareval's scores; :mod:`.protocols`: kNN, a linear probe and heareval's MLP;
* :mod:`.runner`: :func:`evaluate`, tasks times protocols, ``scores.json`` and ``scores.md``.

Needs the ``eval`` extra: ``pip install "hear_gear_embed[eval]"``. The torch-backed modules are imported on first use.
"""

from typing import TYPE_CHECKING

from ...util.lazy import lazy_exports
from .data import Event, Fold, SplitEmbeddings, TaskInfo
from .tasks import DataSplit, HearTask, Split, TaskError, event_labels_at, folds_rule, load_task

if TYPE_CHECKING:
    from .embeddings import DEFAULT_BATCH_SAMPLES, EmbeddingError, TaskEmbeddings, embed_task
    from .metrics import METRICS, Metric, task_metrics
    from .protocols import PROTOCOLS, ProtocolResult, fold_warnings, run_protocol
    from .runner import build_folds, evaluate, load_tasks, scores_markdown

__getattr__, __dir__ = lazy_exports(__name__, {
    "DEFAULT_BATCH_SAMPLES": ".embeddings", "EmbeddingError": ".embeddings", "TaskEmbeddings": ".embeddings",
    "embed_task": ".embeddings", "METRICS": ".metrics", "Metric": ".metrics",
    "task_metrics": ".metrics", "PROTOCOLS": ".protocols", "ProtocolResult": ".protocols",
    "fold_warnings": ".protocols", "run_protocol": ".protocols", "build_folds": ".runner", "evaluate": ".runner",
    "load_tasks": ".runner", "scores_markdown": ".runner",
})

__all__ = [
    "DEFAULT_BATCH_SAMPLES", "METRICS", "PROTOCOLS", "DataSplit", "EmbeddingError", "Event", "Fold", "HearTask", "Metric",
    "ProtocolResult", "Split", "SplitEmbeddings", "TaskEmbeddings", "TaskError", "TaskInfo", "build_folds", "embed_task",
    "evaluate", "event_labels_at", "fold_warnings", "folds_rule", "load_task", "load_tasks", "run_protocol",
    "scores_markdown", "task_metrics",
]
