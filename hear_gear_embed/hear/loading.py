"""Load any HEAR 2021 module: this package's variants (``handcrafted`` is short for
``hear_gear_embed.hear.handcrafted``) and any importable module that follows the HEAR API (e.g.
``hearbaseline``): ``load_model(model_file_path)`` returning a model with ``sample_rate``,
``scene_embedding_size`` and ``timestamp_embedding_size``, ``get_scene_embeddings(audio, model)`` and
``get_timestamp_embeddings(audio, model)``. Every output is checked (type, shape, finite values).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

from ..embedding.embedder import Embedder
from ..model.hub import sha256_of
from ..registry import is_variant
from ..util.precision import Precision, check_precision_name

logger = logging.getLogger(__name__)


_API = ("load_model", "get_scene_embeddings", "get_timestamp_embeddings")


@dataclass
class HearModel:
    """A loaded HEAR module: its import name, the module, the model and the checkpoint it came from."""

    name: str
    module: ModuleType
    model: torch.nn.Module
    model_path: str

    @property
    def sample_rate(self) -> int:
        """The model's ``sample_rate``, Hz."""
        return _int_attribute(self.model, "sample_rate")

    @property
    def scene_embedding_size(self) -> int:
        """The model's ``scene_embedding_size``."""
        return _int_attribute(self.model, "scene_embedding_size")

    @property
    def timestamp_embedding_size(self) -> int:
        """The model's ``timestamp_embedding_size``."""
        return _int_attribute(self.model, "timestamp_embedding_size")

    @property
    def device(self) -> torch.device:
        """Where the model's parameters (or buffers) live; CPU for a model without any."""
        for tensor in (*self.model.parameters(), *self.model.buffers()):
            return tensor.device
        return torch.device("cpu")

    @property
    def distribution(self) -> tuple[str, str]:
        """``(name, version)`` of the installed distribution that provides the module (``("", "")`` when none
        does, e.g. a module on ``PYTHONPATH``)."""
        top = self.name.split(".")[0]
        for dist in importlib.metadata.packages_distributions().get(top, []):
            return dist, importlib.metadata.version(dist)
        return "", ""

    @property
    def identity(self) -> dict[str, str]:
        """What decides the module's embeddings, as every output records it:

        * ``module``: the import name;
        * ``module_version``: the version of the distribution that provides it (``""`` when none does);
        * ``weights``: this package's checkpoint path, ``"random (seed N)"`` or ``"none"`` (weight-free variant);
          another module's ``model_file_path``, or ``"module default"``;
        * ``weights_sha256``: SHA-256 of that file (``""`` when it is not one);
        * ``precision``: the format of this package's network's matrix products; ``fp32`` for other modules, which
          run as they are.
        """
        if isinstance(self.model, Embedder):
            weights, precision, has_file = self.model.weights_source, self.model.precision, self.model.net is not None
        else:
            weights, precision, has_file = self.model_path or "module default", "fp32", bool(self.model_path)
        sha = sha256_of(weights) if has_file and Path(weights).is_file() else ""
        return {"module": self.name, "module_version": self.distribution[1], "weights": weights,
                "weights_sha256": sha, "precision": precision}

    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """``get_scene_embeddings(audio, model)``, checked.

        Args:
            audio: ``(n_sounds, n_samples)`` float32 at :attr:`sample_rate`, on :attr:`device`.

        Returns:
            ``(n_sounds, scene_embedding_size)``.

        Raises:
            ValueError: the module returned something else than a finite tensor of that shape.
        """
        out = self.module.get_scene_embeddings(audio, self.model)
        return _check_output(out, (audio.shape[0], self.scene_embedding_size), "get_scene_embeddings", self.name)

    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``get_timestamp_embeddings(audio, model)``, checked.

        Args:
            audio: ``(n_sounds, n_samples)`` float32 at :attr:`sample_rate`, on :attr:`device`.

        Returns:
            ``(embeddings, timestamps)``: ``(n_sounds, n_timestamps, timestamp_embedding_size)`` and
            ``(n_sounds, n_timestamps)`` in ms.

        Raises:
            ValueError: the module returned something else than finite tensors of those shapes, or no timestamps.
        """
        emb, stamps = self.module.get_timestamp_embeddings(audio, self.model)
        what = "get_timestamp_embeddings"
        emb = _check_output(emb, (audio.shape[0], -1, self.timestamp_embedding_size), what, self.name)
        stamps = _check_output(stamps, (audio.shape[0], emb.shape[1]), what + " (timestamps)", self.name)
        if emb.shape[1] == 0:
            raise ValueError(f"{self.name}.{what} returned no timestamps for {audio.shape[1]} samples")
        return emb, stamps


def _int_attribute(model: torch.nn.Module, name: str) -> int:
    """``int(model.<name>)`` for a HEAR attribute of a model from any package (torch's stubs type every module
    attribute as ``Tensor | Module``, which plain attributes such as ``sample_rate`` are not)."""
    return int(getattr(model, name))


def resolve_module_name(name: str) -> str:
    """The import name of ``name``: a registered variant maps to ``hear_gear_embed.hear.<variant>``."""
    if is_variant(name):
        return f"hear_gear_embed.hear.{name}"
    return name


def load_hear_module(name: str, model_path: str = "", *, precision: Precision = "fp32") -> HearModel:
    """Import a HEAR module and load its model (``load_model(model_path)``, or ``load_model()`` if empty).

    Args:
        name: a registry variant or an importable HEAR module.
        model_path: checkpoint passed to ``load_model``; ``""`` for the module's default.
        precision: passed to ``load_model`` as ``precision=`` unless ``"fp32"`` (this package's modules take it;
            other HEAR modules are loaded as they are in fp32).

    Raises:
        ValueError: the module cannot be imported, lacks part of the HEAR API, its ``load_model`` takes no
            ``precision`` (for one other than fp32) or its model lacks the HEAR attributes; unknown precision.
        PrecisionUnsupportedError: the module's device cannot compute ``precision`` fast (a ``ValueError``).
    """
    check_precision_name(precision)
    import_name = resolve_module_name(name)
    try:
        module = importlib.import_module(import_name)
    except ImportError as err:
        raise ValueError(f"cannot import HEAR module {import_name!r}: {err}") from err
    missing = [fn for fn in _API if not callable(getattr(module, fn, None))]
    if missing:
        raise ValueError(f"{import_name!r} is not a HEAR module: it lacks {', '.join(missing)}")
    args = (model_path,) if model_path else ()
    if precision == "fp32":
        model = module.load_model(*args)
    elif "precision" in inspect.signature(module.load_model).parameters:
        model = module.load_model(*args, precision=precision)
    else:
        raise ValueError(f"{import_name}.load_model takes no precision argument: it cannot run in {precision}")
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"{import_name}.load_model returned {type(model).__name__}, not a torch.nn.Module")
    absent = [a for a in ("sample_rate", "scene_embedding_size", "timestamp_embedding_size") if not hasattr(model, a)]
    if absent:
        raise ValueError(f"the model of {import_name!r} lacks the HEAR attributes {', '.join(absent)}")
    model.eval()
    return HearModel(import_name, module, model, model_path)


def _check_output(values: object, expected: tuple[int, ...], what: str, name: str) -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        raise ValueError(f"{name}.{what} returned {type(values).__name__}, not a torch.Tensor")
    if values.ndim != len(expected) or any(e >= 0 and s != e for s, e in zip(values.shape, expected, strict=True)):
        raise ValueError(f"{name}.{what} returned shape {tuple(values.shape)}, expected {expected} (-1: any)")
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name}.{what} returned NaN or Inf")
    return values


