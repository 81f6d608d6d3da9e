"""One handle over every model: :class:`EmbeddingModel` wraps a variant of this package, any HEAR 2021 module, or an
:class:`~hear_gear_embed.embedding.embedder.Embedder` in hand, and every workflow (GEAR, ``evaluate``, both corpus
engines, the Ray Dataset API) takes it or a name (:mod:`.spec` loads one). :meth:`EmbeddingModel.embed` owns batching
and the clip-by-clip fallback (clips given as arrays or :class:`LazyClips`, results as :class:`ClipEmbeddings`);
:attr:`EmbeddingModel.identity` is what outputs record, refused once the weights changed in place."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Literal, cast, overload

import numpy as np
import torch

from ..embedding.config import KINDS, Kind, check_kinds
from ..embedding.embedder import Embedder
from ..model.hub import sha256_of
from ..util.chunking import length_batches
from ..util.device import resolve_device
from ..util.precision import Precision
from . import _api
from .identity import PACKAGE_MODULE_PREFIX, ModelIdentity, module_version
from .loading import MODEL_ATTRIBUTES, check_output

if TYPE_CHECKING:
    from .spec import ModelSpec

logger = logging.getLogger(__name__)

ClipInput = np.ndarray | torch.Tensor
"""One clip: ``(n_samples,)`` floating-point audio (a NumPy array or a CPU tensor)."""

Errors = Literal["raise", "return"]


_Described = tuple[str, bool, str]
"""What a model says of its weights: the weights on record, whether they are a file, the precision."""


class WeightsChangedError(ValueError):
    """A model's weights changed in place since they were loaded, so that its identity would name the wrong checkpoint."""


class ClipError(ValueError):
    """One clip could not be embedded, alone (:meth:`EmbeddingModel.embed` with ``errors="raise"``).

    Attributes:
        index: the clip's position in the call.
        cause: what it raised (also the ``__cause__``).
    """

    def __init__(self, index: int, cause: Exception) -> None:
        super().__init__(f"clip {index}: {type(cause).__name__}: {cause}")
        self.index, self.cause = index, cause


class LazyClips(Sequence[np.ndarray]):
    """``n_clips`` clips, each read by ``read(index)`` when :meth:`EmbeddingModel.embed` asks for it (with ``lengths``
    given, one batch at a time): files or syntheses that need not all be in memory at once."""

    def __init__(self, n_clips: int, read: Callable[[int], np.ndarray]) -> None:
        self.n_clips, self.read = n_clips, read

    def __len__(self) -> int:
        return self.n_clips

    @overload
    def __getitem__(self, index: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[np.ndarray]: ...

    def __getitem__(self, index: int | slice) -> np.ndarray | Sequence[np.ndarray]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.n_clips))]
        if not -self.n_clips <= index < self.n_clips:
            raise IndexError(f"clip {index} of {self.n_clips}")
        return self.read(index % self.n_clips)


@dataclass(frozen=True, eq=False)
class ClipEmbeddings:
    """The embeddings of one clip (the kinds that were asked for; the others are ``None``).

    Attributes:
        scene: ``(scene_embedding_size,)`` float32.
        timestamp_embeddings: ``(n_timestamps, timestamp_embedding_size)`` float32.
        timestamps_ms: ``(n_timestamps,)`` float64, the centre of each timestamp's window in milliseconds.
    """

    scene: np.ndarray | None = None
    timestamp_embeddings: np.ndarray | None = None
    timestamps_ms: np.ndarray | None = None

    def of(self, kind: Kind) -> np.ndarray:
        """The embeddings of ``kind``: :attr:`scene`, or :attr:`timestamp_embeddings` for ``"timestamp"``.

        Raises:
            ValueError: that kind was not computed.
        """
        array = self.scene if kind == "scene" else self.timestamp_embeddings
        if array is None:
            raise ValueError(f"{kind} embeddings were not computed for this clip; ask embed() for kinds=({kind!r},)")
        return array


class EmbeddingModel:
    """A loaded embedding model, whatever it is: a variant of this package, any HEAR 2021 module, or an
    :class:`~hear_gear_embed.embedding.embedder.Embedder` in hand. Made by :func:`~.spec.load` (or :meth:`~.spec.ModelSpec.load`),
    :meth:`~EmbeddingModel.from_embedder` or :meth:`~EmbeddingModel.from_module`.

    Attributes:
        name: the variant's name, or the module's import name (what reports and messages call it).
        module_name: the HEAR module's import name (``hear_gear_embed.hear.<variant>`` for this package's variants).
        module: the HEAR module whose functions it calls (:mod:`hear_gear_embed.hear._api` for this package's models).
        model: the ``torch.nn.Module`` the HEAR functions take (an ``Embedder`` for this package's variants): train
            it, move it, save it.
        spec: how it was loaded (``None`` for a model made in hand), which is what a Ray worker is sent.
    """

    def __init__(self, name: str, module: ModuleType, model: torch.nn.Module, describe: Callable[[], _Described], *,
                 module_name: str, spec: ModelSpec | None = None) -> None:
        missing = [a for a in MODEL_ATTRIBUTES if not hasattr(model, a)]
        if missing:
            raise ValueError(f"the model of {module_name} lacks the HEAR attributes {', '.join(missing)}")
        self.name, self.module_name, self.model, self.spec = name, module_name, model, spec
        self.module = module
        self._describe = describe
        self._known: tuple[_Described, int, ModelIdentity] | None = None

    @classmethod
    def from_embedder(cls, embedder: Embedder, *, spec: ModelSpec | None = None) -> EmbeddingModel:
        """A handle over an :class:`~hear_gear_embed.embedding.embedder.Embedder` (its variant need not be registered)."""
        name = embedder.variant.name

        def describe() -> _Described:
            weights = embedder.weights_source
            return weights, embedder.net is not None and Path(weights).is_file(), embedder.precision

        return cls(name, _api, embedder, describe, module_name=PACKAGE_MODULE_PREFIX + name, spec=spec)

    @classmethod
    def from_module(cls, module: ModuleType, model: torch.nn.Module, *, model_path: str = "", precision: Precision = "fp32",
                    spec: ModelSpec | None = None) -> EmbeddingModel:
        """A handle over a HEAR ``module`` and the ``model`` its ``load_model(model_path)`` returned (in the precision
        that was passed to it)."""

        def describe() -> _Described:
            return model_path or "module default", bool(model_path) and Path(model_path).is_file(), precision

        return cls(module.__name__, module, model, describe, module_name=module.__name__, spec=spec)

    def __repr__(self) -> str:
        return f"EmbeddingModel({self.name!r}, {self.sample_rate} Hz, on {self.device})"

    def __reduce__(self) -> tuple[object, ...]:
        # Sent to another process (a Ray worker): a loaded model as its spec, which that process loads itself;
        # a model made in hand as itself (its Embedder).
        if self.spec is not None:
            self.identity  # noqa: B018 - refuses weights changed since they were loaded: the spec would not carry them
            return (self.spec.load, ())
        if self.module is not _api:
            raise TypeError(f"the model of HEAR module {self.name} was made in hand: load it with load() to send it")
        return (EmbeddingModel.from_embedder, (self.model,))

    @property
    def identity(self) -> ModelIdentity:
        """What decides the model's embeddings, as every output records it: read again when the model's weights
        (``load_weights``) or precision change through its API.

        Raises:
            WeightsChangedError: the weights changed in place since they were loaded (trained, or edited), so that the
                checkpoint on record no longer computes these embeddings.
        """
        described, state = self._describe(), _weights_state(self.model)
        if self._known is not None and self._known[0] == described:
            if self._known[1] != state:
                raise WeightsChangedError(
                    f"the weights of {self.name} changed in place since they were loaded from {described[0]} (trained or "
                    "edited): outputs would record that checkpoint for them; save them (Embedder.save_weights) and load "
                    "that file")
            return self._known[2]
        weights, has_file, precision = described
        sha = sha256_of(weights) if has_file else ""
        identity = ModelIdentity(self.module_name, self._module_version, weights, sha, precision)
        self._known = (described, state, identity)
        return identity

    @cached_property
    def _module_version(self) -> str:
        # what code the module runs does not change within a process: read it once
        return module_version(self.module)

    @property
    def sample_rate(self) -> int:
        """Hz."""
        return _int_attribute(self.model, "sample_rate")

    @property
    def scene_embedding_size(self) -> int:
        """Size of one scene embedding."""
        return _int_attribute(self.model, "scene_embedding_size")

    @property
    def timestamp_embedding_size(self) -> int:
        """Size of one timestamp embedding."""
        return _int_attribute(self.model, "timestamp_embedding_size")

    @property
    def device(self) -> torch.device:
        """Where the model's parameters (or buffers) live; the CPU for a model without any."""
        for tensor in (*self.model.parameters(), *self.model.buffers()):
            return tensor.device
        return torch.device("cpu")

    def to(self, device: str | torch.device | None) -> EmbeddingModel:
        """Move the model to ``device`` (``None``: CUDA when available, else the CPU); returns the handle."""
        self.model.to(resolve_device(device))
        return self

    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """``get_scene_embeddings(audio, model)``: one call, checked.

        Args:
            audio: ``(n_sounds, n_samples)`` float32 at :attr:`sample_rate`, on :attr:`device`.

        Returns:
            ``(n_sounds, scene_embedding_size)``.

        Raises:
            ValueError: the module returned something else than a finite tensor of that shape.
        """
        out = self.module.get_scene_embeddings(audio, self.model)
        return check_output(out, (audio.shape[0], self.scene_embedding_size), "get_scene_embeddings", self.module_name)

    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``get_timestamp_embeddings(audio, model)``: one call, checked.

        Args:
            audio: ``(n_sounds, n_samples)`` float32 at :attr:`sample_rate`, on :attr:`device`.

        Returns:
            ``(embeddings, timestamps)``: ``(n_sounds, n_timestamps, timestamp_embedding_size)`` and
            ``(n_sounds, n_timestamps)`` in ms.

        Raises:
            ValueError: the module returned something else than finite tensors of those shapes, or no timestamps.
        """
        emb, stamps = self.module.get_timestamp_embeddings(audio, self.model)
        what, name = "get_timestamp_embeddings", self.module_name
        emb = check_output(emb, (audio.shape[0], -1, self.timestamp_embedding_size), what, name)
        stamps = check_output(stamps, (audio.shape[0], emb.shape[1]), what + " (timestamps)", name)
        if emb.shape[1] == 0:
            raise ValueError(f"{name}.{what} returned no timestamps for {audio.shape[1]} samples")
        return emb, stamps

    @overload
    def embed(self, clips: np.ndarray | Sequence[ClipInput], kinds: Sequence[Kind] = ..., *,
              lengths: Sequence[int] | None = ..., max_items: int | None = ..., max_samples: int | None = ...,
              errors: Literal["raise"] = ..., progress: Callable[[int], object] | None = ...) -> list[ClipEmbeddings]: ...

    @overload
    def embed(self, clips: np.ndarray | Sequence[ClipInput], kinds: Sequence[Kind] = ..., *,
              lengths: Sequence[int] | None = ..., max_items: int | None = ..., max_samples: int | None = ...,
              errors: Literal["return"], progress: Callable[[int], object] | None = ...
              ) -> list[ClipEmbeddings | Exception]: ...

    def embed(self, clips: np.ndarray | Sequence[ClipInput], kinds: Sequence[Kind] = KINDS, *,
              lengths: Sequence[int] | None = None, max_items: int | None = None, max_samples: int | None = None,
              errors: Errors = "raise",
              progress: Callable[[int], object] | None = None) -> list[ClipEmbeddings] | list[ClipEmbeddings | Exception]:
        """Embed clips of any lengths: clips of one length are embedded together, in batches; when a batch fails, each
        of its clips is embedded alone, so that only the culprit fails.

        Args:
            clips: ``(n_clips, n_samples)`` audio, or a sequence of ``(n_samples,)`` clips (float, in [-1, 1], at
                :attr:`sample_rate`). A sequence is read one batch at a time, so it may load its clips on access.
            kinds: ``"scene"`` and/or ``"timestamp"``.
            lengths: each clip's length in samples, when known without reading it (then only one batch of clips is
                read at a time); a clip of another length is batched by its real length.
            max_items: most clips per batch (``None``: no bound).
            max_samples: most samples per batch (``None``: no bound); a longer clip is a batch of its own.
            errors: ``"raise"``: a clip that fails alone raises :class:`ClipError`, once its batch is done;
                ``"return"``: its place in the result holds what it raised.
            progress: called with the number of clips done after each batch (e.g. a progress bar's ``update``).

        Returns:
            One :class:`ClipEmbeddings` (or, with ``errors="return"``, exception) per clip, in order.

        Raises:
            ClipError: with ``errors="raise"``, a clip failed alone (a bad clip, or the model's failure on it).
            ValueError: bad kinds, bounds or ``errors``, or ``lengths`` of another count than the clips.
        """
        chosen = check_kinds(kinds)
        if errors not in ("raise", "return"):
            raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
        if (max_items is not None and max_items < 1) or (max_samples is not None and max_samples < 1):
            raise ValueError(f"max_items and max_samples must be at least 1, got {max_items} and {max_samples}")
        count = len(clips)
        sizes = [int(np.shape(clips[i])[-1]) if np.ndim(clips[i]) else 0 for i in range(count)] if lengths is None \
            else [int(n) for n in lengths]
        if len(sizes) != count:
            raise ValueError(f"{len(sizes)} lengths for {count} clips")
        results: list[ClipEmbeddings | Exception | None] = [None] * count
        for batch in length_batches(range(count), sizes, max_items=max_items, max_samples=max_samples or sys.maxsize):
            read: dict[int, list[tuple[int, np.ndarray]]] = {}
            for index in batch:
                try:
                    clip = _checked_clip(clips[index])
                except (TypeError, ValueError) as err:
                    results[index] = err
                    continue
                read.setdefault(clip.shape[0], []).append((index, clip))
            for group in read.values():  # one group unless a clip's real length differs from the one given
                outcomes = self._embed_group(np.stack([clip for _, clip in group]), chosen)
                for (index, _), outcome in zip(group, outcomes, strict=True):
                    results[index] = outcome
            if errors == "raise":
                for index in batch:
                    failure = results[index]
                    if isinstance(failure, Exception):
                        raise ClipError(index, failure) from failure
            if progress is not None:
                progress(len(batch))
        return cast(list[ClipEmbeddings | Exception], results)

    def _embed_group(self, audio: np.ndarray, kinds: tuple[Kind, ...]) -> list[ClipEmbeddings | Exception]:
        """Clips of one length ``(n, n_samples)`` in one call; when it fails, each clip alone."""
        try:
            return list(self._call(audio, kinds))
        except Exception as err:  # noqa: BLE001 - whatever the cause, the clips are retried alone, then fail one by one
            if len(audio) == 1:
                return [err]
            logger.warning("%s: a batch of %d clips failed (%s: %s); embedding them one at a time", self.name, len(audio),
                           type(err).__name__, err)
            return [self._embed_group(audio[i: i + 1], kinds)[0] for i in range(len(audio))]

    def _call(self, audio: np.ndarray, kinds: tuple[Kind, ...]) -> list[ClipEmbeddings]:
        """The HEAR functions on ``(n, n_samples)`` float32 clips, outputs checked, as NumPy arrays per clip."""
        scene: np.ndarray | None = None
        emb: np.ndarray | None = None
        stamps: np.ndarray | None = None
        with torch.no_grad():
            batch = torch.from_numpy(audio).to(self.device)
            if "scene" in kinds:
                scene = self.scene_embeddings(batch).float().cpu().numpy()
            if "timestamp" in kinds:
                emb_t, stamps_t = self.timestamp_embeddings(batch)
                emb, stamps = emb_t.float().cpu().numpy(), stamps_t.double().cpu().numpy()
        return [ClipEmbeddings(None if scene is None else scene[i], None if emb is None else emb[i],
                               None if stamps is None else stamps[i]) for i in range(len(audio))]


def _weights_state(model: torch.nn.Module) -> int:
    """A count that grows with every in-place change of ``model``'s parameters (an optimiser step, a state dict copied
    in); moving them to another device or dtype keeps it."""
    return sum(parameter._version for parameter in model.parameters())


def _int_attribute(model: torch.nn.Module, name: str) -> int:
    """``int(model.<name>)`` for a HEAR attribute of a model from any package (torch's stubs type every module attribute
    as ``Tensor | Module``, which plain attributes such as ``sample_rate`` are not)."""
    return int(getattr(model, name))


def _checked_clip(clip: object) -> np.ndarray:
    """One clip as a contiguous ``(n_samples,)`` float32 array.

    Raises:
        TypeError: not an array or a tensor, or not floating point.
        ValueError: not one-dimensional, empty, or holding NaN or Inf.
    """
    if isinstance(clip, torch.Tensor):
        clip = clip.detach().cpu().numpy()
    if not isinstance(clip, np.ndarray):
        raise TypeError(f"a clip must be a NumPy array or a torch tensor, got {type(clip).__name__}")
    if not np.issubdtype(clip.dtype, np.floating):
        raise TypeError(f"a clip must be floating-point audio in [-1, 1], got dtype {clip.dtype}")
    if clip.ndim != 1 or clip.shape[0] == 0:
        raise ValueError(f"a clip must have shape (n_samples,) with n_samples >= 1, got shape {clip.shape}")
    if not np.isfinite(clip).all():
        raise ValueError(f"a clip holds {int((~np.isfinite(clip)).sum())} NaN or Inf samples")
    return np.ascontiguousarray(clip, dtype=np.float32)
