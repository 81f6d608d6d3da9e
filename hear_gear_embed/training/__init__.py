"""Training: fine-tune a variant's network with a new task head on HEAR scene task folders (``hear-gear train``), and
make such folders from labelled audio (``hear-gear task make``).

* :mod:`.config`: what a run is (pure data): :class:`TrainConfig`, :class:`Becr`, seed 003's Patchout per STFT hop;
* :mod:`.data`: a task fold's clips and targets, read with the evaluator's task reader;
* :mod:`.model`: the trained model (:class:`~.model.FineTuner`), where its weights start, what trains;
* :mod:`.trainer`: the loop, :func:`train` / :class:`Trainer`, checkpoints, resume; :mod:`.distributed`: torchrun;
* :mod:`.report`: the curves and ``report.md``;
* :mod:`.table`, :mod:`.make_task`: task folders from a CSV of labelled files.

Sits above :mod:`~hear_gear_embed.evaluation` and :mod:`~hear_gear_embed.io`, whose task reader, metrics, BECR and
audio decoding it uses; needs the ``train`` extra (``pip install "hear_gear_embed[train]"``). Guide: docs/training.md.
"""

from typing import TYPE_CHECKING

from ..util.lazy import lazy_exports
from .config import SEED003_PATCHOUT, Becr, TrainConfig, default_patchout

if TYPE_CHECKING:
    from .trainer import NonFiniteLossError, Trainer, TrainingInterrupted, TrainResult, train

__getattr__, __dir__ = lazy_exports(__name__, {
    "NonFiniteLossError": ".trainer", "Trainer": ".trainer", "TrainingInterrupted": ".trainer",
    "TrainResult": ".trainer", "train": ".trainer",
})

__all__ = ["SEED003_PATCHOUT", "Becr", "NonFiniteLossError", "TrainConfig", "TrainResult", "Trainer",
           "TrainingInterrupted", "default_patchout", "train"]
