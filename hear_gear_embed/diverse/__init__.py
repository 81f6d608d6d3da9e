"""Seed 001's diverse embeddings, learned: one small transformer per feature stream (pitch peaks, MFCCs, raw-waveform
patches, a frozen network's embeddings), their embeddings concatenated.

* :mod:`.config`: what a diverse model is (pure data) and the registry of its configurations (``diverse``, ...);
* :mod:`.streams`: where each stream's frames come from, and how a window reads them;
* :mod:`.network`: the encoders (:class:`~.network.DiverseNet`);
* :mod:`.model`: :class:`~.model.DiverseModel`, the embedding model with the HEAR attributes, and its checkpoints.

Sits beside the registry, above the frame features and PaSST's blocks; its HEAR module, which also loads the
neuralogram's source network, is :mod:`hear_gear_embed.hear.diverse`; ``hear-gear train diverse`` trains it.
Guide: docs/diverse.md.
"""

from typing import TYPE_CHECKING

from ..util.lazy import lazy_exports
from .config import DiverseConfig, Encoder, Stream, get_diverse, is_diverse, list_diverse, register_diverse

if TYPE_CHECKING:
    from .model import DiverseModel, read_diverse_checkpoint
    from .network import DiverseNet

__getattr__, __dir__ = lazy_exports(__name__, {
    "DiverseModel": ".model", "read_diverse_checkpoint": ".model", "DiverseNet": ".network",
})

__all__ = ["DiverseConfig", "DiverseModel", "DiverseNet", "Encoder", "Stream", "get_diverse", "is_diverse", "list_diverse",
           "read_diverse_checkpoint", "register_diverse"]
