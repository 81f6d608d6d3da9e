"""HEAR 2021 module of seed 001's diverse models: ``load_model(path)`` reads a model trained by ``hear-gear train diverse``
(or saved by :meth:`~hear_gear_embed.diverse.model.DiverseModel.save_weights`), with its configuration and the record of
its neuralogram's source; the embedding functions are the HEAR API's.

The neuralogram's source is any HEAR module or variant (:class:`ModuleNeuralogram`), loaded through the package's front
door (:func:`~.spec.load`), frozen, fed at its own sample rate, and its frames cached by the content of each clip, in
one cache per source and process (a training run reads every clip once per epoch; an ablation trains several models
on one source). A checkpoint names the source and the SHA-256 of its weights file: loading it with other weights
is refused, since the encoder learned those weights' embeddings.

    hear-validator hear_gear_embed.hear.diverse --model out/my-task/best.pt
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..diverse.config import DiverseConfig
from ..diverse.model import DiverseModel, read_diverse_checkpoint
from ..diverse.streams import StreamFrames
from ..embedding.inputs import AudioInput
from ..model.checkpoint import CheckpointError
from ..util.device import resolve_device
from ..util.resampling import resample
from .handle import EmbeddingModel
from .spec import load

logger = logging.getLogger(__name__)

CACHE_MB = 256.0
"""Neuralogram frames kept per source, MiB (least recently used dropped first)."""

_Frames = tuple[Tensor, float, float]
_CACHES: dict[tuple[object, ...], OrderedDict[bytes, _Frames]] = {}
"""The frames cache of each source (its record: name, weights, their SHA-256, rate), shared by its models."""


class ModuleNeuralogram:
    """The timestamp embeddings of a frozen HEAR model as a diverse model's stream frames.

    Args:
        handle: the loaded source.
        sample_rate: the diverse model's rate (Hz); audio is resampled to the source's rate when they differ.
        record: what checkpoints record of it (name, weights, their SHA-256, frame size and rate; :func:`neuralogram_for`).
        cache_mb: frames kept, by clip content, MiB.
    """

    def __init__(self, handle: EmbeddingModel, sample_rate: int, record: dict[str, Any], *,
                 cache_mb: float = CACHE_MB) -> None:
        self.handle, self.sample_rate, self.record = handle, sample_rate, record
        self.dim, self.name = handle.timestamp_embedding_size, handle.name
        self.cache_bytes = int(cache_mb * 2**20)
        key = (record["name"], record["weights"], record["sha256"], record["sample_rate"], sample_rate)
        self._cache = _CACHES.setdefault(key, OrderedDict())
        self.hits = self.misses = 0

    def apply_to(self, fn: Callable[[Tensor], Tensor]) -> None:
        """Apply a module move or cast to the source's model (it moves with the diverse model)."""
        self.handle.model._apply(fn)

    def __call__(self, audio: Tensor) -> StreamFrames:
        clips = audio.detach().float().cpu().numpy()
        keys = [hashlib.sha256(clip.tobytes()).digest() for clip in clips]
        found: dict[bytes, _Frames] = {key: self._cache[key] for key in keys if key in self._cache}
        missing = [i for i, key in enumerate(keys) if key not in found]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            found.update(self._compute([keys[i] for i in missing], clips[missing]))
        for key in keys:
            self._cache[key] = found[key]
            self._cache.move_to_end(key)
        held = sum(f[0].nbytes for f in self._cache.values())
        while len(self._cache) > 1 and held > self.cache_bytes:
            held -= self._cache.popitem(last=False)[1][0].nbytes
        first, hop = found[keys[0]][1], found[keys[0]][2]
        return StreamFrames(torch.stack([found[key][0] for key in keys]).to(audio.device), first, hop)

    def _compute(self, keys: list[bytes], clips: np.ndarray) -> dict[bytes, _Frames]:
        """The source's frames of ``clips`` ``(n, n_samples)`` at the model's rate, by key."""
        rate = self.handle.sample_rate
        if rate != self.sample_rate:
            clips = np.stack([resample(clip, self.sample_rate, rate) for clip in clips])
        with torch.inference_mode():
            embeddings, stamps = self.handle.timestamp_embeddings(torch.from_numpy(clips).to(self.handle.device))
        times = stamps[0].double().cpu() * (self.sample_rate / 1000.0)  # at the diverse model's rate
        steps = times.diff()
        if len(steps) and not bool(torch.allclose(steps, steps[0], rtol=1e-3, atol=0.5)):
            raise ValueError(f"neuralogram source {self.name}: its timestamps are not evenly spaced ({stamps[0][:5]} ms)")
        first, hop = float(times[0]), float(steps[0]) if len(steps) else math.inf
        return {key: (frames.clone(), first, hop) for key, frames in zip(keys, embeddings.float().cpu(), strict=True)}


def neuralogram_for(config: DiverseConfig, *, device: str | torch.device | None = None,
                    weights: str | None = None) -> ModuleNeuralogram | None:
    """The frozen source of ``config``'s neuralogram stream (``None`` without one), on ``device``.

    Args:
        config: the diverse configuration; its neuralogram stream names the source and its weights.
        device: where the source runs.
        weights: other weights for the source than the configuration's (a file at another path).

    Raises:
        ModuleLoadError, WeightsUnavailableError, CheckpointError: the source cannot be loaded.
    """
    stream = config.neuralogram
    if stream is None:
        return None
    chosen = stream.source_weights if weights is None else weights
    handle = load(stream.source, weights=chosen or None, device=device)
    identity = handle.identity
    record = {"name": stream.source, "weights": identity.weights, "sha256": identity.weights_sha256,
              "dim": handle.timestamp_embedding_size, "sample_rate": handle.sample_rate}
    logger.info("%s's neuralogram: %s (weights %s), %d values per frame at %d Hz", config.name, stream.source,
                identity.weights, record["dim"], record["sample_rate"])
    return ModuleNeuralogram(handle, config.sample_rate, record)


def new_model(config: DiverseConfig, *, seed: int = 0, device: str | torch.device | None = None) -> DiverseModel:
    """A diverse model with seeded random weights (truncated normal,
    :meth:`~hear_gear_embed.diverse.network.DiverseNet.reset_parameters`)
    and its neuralogram's source loaded, on ``device`` (``None``: CUDA when available, else the CPU), in eval mode."""
    source = neuralogram_for(config, device=device)
    model = DiverseModel(config, source)
    model.net.reset_parameters(torch.Generator().manual_seed(seed))
    model.weights_source = f"random (seed {seed})"
    return model.to(source.handle.device if source is not None else resolve_device(device)).eval()


def load_model(model_file_path: str = "", *, device: str | torch.device | None = None,
               neuralogram_weights: str | None = None) -> DiverseModel:
    """Load a trained diverse model as a HEAR model (a ``torch.nn.Module`` in eval mode).

    Args:
        model_file_path: a checkpoint of a diverse model (``best.pt`` of ``hear-gear train diverse``); required, as
            there are no official weights.
        device: where the model runs; ``None`` picks CUDA when available, else the CPU.
        neuralogram_weights: the neuralogram source's weights at another path than the one recorded (the same file:
            its SHA-256 is checked).

    Raises:
        ValueError: no path given.
        FileNotFoundError: no such file.
        CheckpointError: not a diverse model's checkpoint, its weights do not fit, or the neuralogram's source is not
            the one it was trained with.
    """
    if not model_file_path:
        raise ValueError("hear_gear_embed.hear.diverse has no official weights: pass the checkpoint of a trained model "
                         "(hear-gear train diverse TASK_DIR --out OUT writes OUT/<task>/best.pt)")
    config, saved = read_diverse_checkpoint(model_file_path)
    source = neuralogram_for(config, device=device, weights=neuralogram_weights)
    if source is not None:
        _check_source(saved, source.record, os.fspath(model_file_path))
    model = DiverseModel(config, source)
    model.load_weights(model_file_path)
    return model.to(source.handle.device if source is not None else resolve_device(device)).eval()


def _check_source(saved: dict[str, Any] | None, loaded: dict[str, Any], path: str) -> None:
    if saved is None:
        raise CheckpointError(f"{path} does not record its neuralogram's source")
    if saved.get("dim") != loaded["dim"]:
        raise CheckpointError(f"{path}: the neuralogram source {loaded['name']} now gives {loaded['dim']} values per "
                              f"frame; the model was trained on {saved.get('dim')}")
    if saved.get("sha256") and saved["sha256"] != loaded["sha256"]:
        raise CheckpointError(f"{path}: the model was trained on the neuralogram of {saved['name']} with weights "
                              f"{saved.get('weights')} (sha256 {saved['sha256'][:16]}...); the weights loaded now "
                              f"({loaded['weights']}) differ. Pass neuralogram_weights= the file it was trained with")


def _check_model(model: object) -> DiverseModel:
    if not isinstance(model, DiverseModel):
        raise TypeError(f"model must come from hear_gear_embed.hear.diverse.load_model(), got {type(model).__name__}")
    return model


def get_scene_embeddings(audio: AudioInput, model: DiverseModel) -> Tensor:
    """Scene embeddings ``(n_sounds, model.scene_embedding_size)`` float32 of ``audio`` ``(n_sounds, n_samples)`` in
    [-1, 1] at ``model.sample_rate``: the mean over seed 001's 1 s windows."""
    diverse = _check_model(model)
    with torch.inference_mode():
        return diverse.scene_embeddings(audio)


def get_timestamp_embeddings(audio: AudioInput, model: DiverseModel) -> tuple[Tensor, Tensor]:
    """Timestamp embeddings ``(n_sounds, n_timestamps, model.timestamp_embedding_size)`` float32 of the window around
    each timestamp, and the timestamps ``(n_sounds, n_timestamps)`` in ms."""
    diverse = _check_model(model)
    with torch.inference_mode():
        return diverse.timestamp_embeddings(audio)
