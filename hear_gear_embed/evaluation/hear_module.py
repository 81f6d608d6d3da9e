"""Embed a :class:`~.synth.ToneGrid` with any HEAR 2021 module (loaded by
:func:`~hear_gear_embed.hear.loading.load_hear_module`), in batches."""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..embedding.config import KINDS, Kind
from ..hear.loading import HearModel
from .synth import ToneGrid

logger = logging.getLogger(__name__)


def embed_grid(
    hear: HearModel, grid: ToneGrid, kind: Kind = "scene", batch_size: int = 32, progress: bool = True
) -> np.ndarray:
    """Embed every sound of ``grid`` with ``hear``, ``batch_size`` sounds per call.

    Args:
        hear: from :func:`~hear_gear_embed.hear.loading.load_hear_module`.
        grid: the dataset; its ``sample_rate`` must equal the model's.
        kind: ``"scene"`` (``get_scene_embeddings``) or ``"timestamp"`` (``get_timestamp_embeddings``
            averaged over time: GEAR needs one vector per sound).
        batch_size: sounds per call of the HEAR function.
        progress: show a progress bar (tqdm, on stderr).

    Returns:
        Embeddings ``(grid.n_sounds, dim)`` float32.
    """
    from tqdm.auto import tqdm

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if grid.sample_rate != hear.sample_rate:
        raise ValueError(f"the grid is sampled at {grid.sample_rate} Hz but {hear.name} expects {hear.sample_rate} Hz")
    device = hear.device
    chunks = []
    with torch.no_grad(), tqdm(total=grid.n_sounds, unit="sound", desc=f"GEAR {hear.name}", disable=not progress) as bar:
        for start in range(0, grid.n_sounds, batch_size):
            stop = min(start + batch_size, grid.n_sounds)
            audio = torch.from_numpy(grid.audio(start, stop)).to(device)
            if kind == "scene":
                emb = hear.scene_embeddings(audio)
            else:
                emb = hear.timestamp_embeddings(audio)[0].mean(dim=1)
            chunks.append(emb.detach().float().cpu().numpy())
            bar.update(stop - start)
    logger.info("embedded %d sounds with %s (%s, dim %d)", grid.n_sounds, hear.name, kind, chunks[0].shape[1])
    return np.concatenate(chunks)
