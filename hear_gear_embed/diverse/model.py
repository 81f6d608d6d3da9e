""":class:`DiverseModel`: a diverse configuration's frame features, neuralogram and network, embedding audio in windows
(seed 001's 1 s chunks for scenes, a window around each timestamp). A ``torch.nn.Module`` with the HEAR attributes whose
:meth:`~DiverseModel.forward` is differentiable; the neuralogram's network is frozen and not one of its parameters."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal, overload

import torch
from torch import Tensor, nn

from ..embedding.config import KINDS, Kind
from ..embedding.inputs import AudioInput, as_audio_batch
from ..embedding.windowing import timestamps_ms
from ..features.frames import FrameFeatures
from ..model.checkpoint import CheckpointError, check_saved_geometry, load_into, read_checkpoint, save_checkpoint
from ..util.chunking import chunks
from ..util.units import n_timestamps
from .config import DiverseConfig
from .network import DiverseNet
from .streams import Neuralogram, StreamFrames, feature_frames, gather_windows, scene_centres, waveform_patches

WINDOWS_PER_CHUNK = 256
"""Windows through the encoders at once (bounds the working memory on long clips: about 2 MB per window at the
``diverse`` geometry)."""

NEURALOGRAM_KEY = "neuralogram"
"""Where a checkpoint records the neuralogram's source (name, weights, their SHA-256, frame size)."""


class DiverseModel(nn.Module):
    """Embeds batches of audio with one diverse configuration.

    Args:
        config: the configuration.
        neuralogram: the frozen source of the neuralogram stream (required when the configuration has one).

    Attributes:
        config: the configuration.
        sample_rate: expected sample rate (Hz).
        scene_embedding_size, timestamp_embedding_size: the embedding size (one encoder width per stream).
        net: the trainable network (:class:`~.network.DiverseNet`).
        weights_source: the checkpoint its weights came from, or ``"random (seed N)"``.
    """

    def __init__(self, config: DiverseConfig, neuralogram: Neuralogram | None = None) -> None:
        super().__init__()
        stream = config.neuralogram
        if (stream is None) != (neuralogram is None):
            raise ValueError(f"{config.name}: " + ("its neuralogram stream needs a source network" if neuralogram is None
                                                   else "a neuralogram source was given, but no stream reads it"))
        self.config = config
        self.sample_rate = config.sample_rate
        self.scene_embedding_size = self.timestamp_embedding_size = config.embedding_size
        names = config.feature_names
        self.frame_features = FrameFeatures(config.features, names) if names else None
        self.neuralogram = neuralogram
        dims = {s.name: config.frame_dim(s) or (neuralogram.dim if neuralogram is not None else 0) for s in config.streams}
        self.net = DiverseNet(config, dims)
        self.weights_source = "random (unseeded)"

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def precision(self) -> str:
        """Always ``"fp32"``: the model is small; its cost is the frame features and the neuralogram."""
        return "fp32"

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> DiverseModel:
        # The neuralogram's network is not a submodule (frozen, not saved): it moves with the model all the same.
        if self.neuralogram is not None:
            self.neuralogram.apply_to(fn)
        return super()._apply(fn, recurse)

    def stream_frames(self, audio: Tensor) -> dict[str, StreamFrames]:
        """Every stream's frames of ``(batch, n_samples)`` audio, computed once per clip."""
        config = self.config
        features: dict[str, Tensor] = {}
        if self.frame_features is not None:
            with torch.no_grad():
                features = self.frame_features(audio, 256 * 2**20)
        out: dict[str, StreamFrames] = {}
        for stream in config.streams:
            if stream.kind == "features":
                hop = config.frame_hop(stream)
                assert hop is not None
                out[stream.name] = feature_frames(features, stream.features, hop)
            elif stream.kind == "waveform":
                out[stream.name] = waveform_patches(audio, config.patch_samples(stream))
            else:
                assert self.neuralogram is not None
                with torch.no_grad():
                    out[stream.name] = self.neuralogram(audio)  # on the audio's device (the protocol's contract)
        return out

    def window_embeddings(self, frames: dict[str, StreamFrames], centres: Tensor) -> Tensor:
        """``(batch, n_windows, embedding_size)``: the network on the window centred on each of ``centres`` (samples)
        of every clip, in chunks of :data:`WINDOWS_PER_CHUNK` windows.

        Raises:
            FloatingPointError: the network returned NaN or Inf (from finite audio: its weights diverged).
        """
        batch = next(iter(frames.values())).frames.shape[0]
        parts = []
        for start, stop in chunks(len(centres), max(1, WINDOWS_PER_CHUNK // max(1, batch))):
            inputs = {name: gather_windows(f, centres[start:stop], self.config.window_samples) for name, f in frames.items()}
            parts.append(self.net(inputs).view(batch, stop - start, -1))
        out = torch.cat(parts, dim=1)
        if not bool(torch.isfinite(out).all()):
            raise FloatingPointError(f"the {self.config.name} network returned non-finite values (finite input audio; "
                                     f"weights from {self.weights_source})")
        return out

    def scene_embeddings(self, audio: AudioInput) -> Tensor:
        """``(n_sounds, scene_embedding_size)`` float32: the mean of the embeddings of ``ceil(n_samples / window)``
        windows, ``window_ms`` apart and centred as a group on the clip (:func:`~.streams.scene_centres`)."""
        clips = as_audio_batch(audio, self.device)
        centres = scene_centres(clips.shape[1], self.config.window_samples)
        return self.window_embeddings(self.stream_frames(clips), centres).mean(dim=1)

    def timestamp_embeddings(self, audio: AudioInput) -> tuple[Tensor, Tensor]:
        """``(n_sounds, n_timestamps, timestamp_embedding_size)`` float32 embeddings of the window centred on each
        timestamp, and ``(n_sounds, n_timestamps)`` timestamps in ms, every ``timestamp_hop_ms`` from 0."""
        clips = as_audio_batch(audio, self.device)
        n_sounds, n_samples = clips.shape
        hop = self.config.timestamp_hop_samples
        centres = torch.arange(n_timestamps(n_samples, hop), dtype=torch.float64) * hop
        embeddings = self.window_embeddings(self.stream_frames(clips), centres)
        return embeddings, timestamps_ms(n_sounds, n_samples, hop, self.sample_rate, self.device)

    @overload
    def forward(self, audio: AudioInput, kind: Literal["scene"] = "scene") -> Tensor: ...

    @overload
    def forward(self, audio: AudioInput, kind: Literal["timestamp"]) -> tuple[Tensor, Tensor]: ...

    def forward(self, audio: AudioInput, kind: Kind = "scene") -> Tensor | tuple[Tensor, Tensor]:
        """:meth:`scene_embeddings` or :meth:`timestamp_embeddings`, with gradients to the network's parameters."""
        if kind == "scene":
            return self.scene_embeddings(audio)
        if kind == "timestamp":
            return self.timestamp_embeddings(audio)
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def neuralogram_record(self) -> dict[str, Any] | None:
        """What a checkpoint records of the neuralogram's source (``None`` without one)."""
        if self.neuralogram is None:
            return None
        record = getattr(self.neuralogram, "record", None)
        return dict(record) if record is not None else {"name": self.neuralogram.name, "dim": self.neuralogram.dim}

    def save_weights(self, path: str | os.PathLike[str], *, extra: dict[str, Any] | None = None) -> None:
        """Save the network's weights with the configuration and the neuralogram's source (loadable by
        :func:`read_diverse_checkpoint` and ``hear_gear_embed.hear.diverse.load_model``)."""
        save_checkpoint(path, self.net, self.config, self.config.name,
                        extra={NEURALOGRAM_KEY: self.neuralogram_record(), **(extra or {})})

    def load_weights(self, path: str | os.PathLike[str]) -> None:
        """Load network weights saved for this configuration, strictly.

        Raises:
            CheckpointError: unreadable, saved for another configuration, or keys that do not fit.
        """
        state, metadata = read_checkpoint(path)
        check_saved_geometry(metadata, self.config, str(path))
        load_into(self.net, state, str(path))
        self.weights_source = os.fspath(path)


def read_diverse_checkpoint(path: str | os.PathLike[str]) -> tuple[DiverseConfig, dict[str, Any] | None]:
    """The configuration and neuralogram record saved with a diverse model's weights at ``path``.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a checkpoint of a diverse model.
    """
    _, metadata = read_checkpoint(path)
    record = metadata.get("net")
    if not isinstance(record, dict) or "streams" not in record:
        raise CheckpointError(f"{path} holds no diverse model: it was not saved by DiverseModel.save_weights or "
                              "hear-gear train with a diverse model (a PaSST checkpoint loads with its variant)")
    try:
        config = DiverseConfig.from_dict(record)
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}") from err
    source = metadata.get(NEURALOGRAM_KEY)
    return config, dict(source) if isinstance(source, dict) else None
