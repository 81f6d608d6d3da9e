"""A model asked for, and loaded: :func:`load`, the front door for any variant (by name or configuration) or any HEAR
module, :class:`ModelSpec`, the same request as plain data (small enough to send to every Ray worker, which loads its
own copy), and :func:`as_model`, what the workflows accept (a loaded model, a spec or a name)."""

from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass
from typing import cast

import torch

from ..embedding.config import VariantConfig
from ..embedding.embedder import Embedder
from ..embedding.factory import load_embedder, random_embedder
from ..registry import get_variant, is_variant
from ..util.device import resolve_device
from ..util.precision import Precision, check_precision_name
from .handle import EmbeddingModel
from .identity import PACKAGE_MODULE_PREFIX, ModelIdentity
from .loading import import_hear_module, load_module_model

WEIGHT_KEYWORDS = ("official", "random")
"""The words :func:`load`'s ``weights`` takes besides a checkpoint path."""


@dataclass(frozen=True)
class ModelSpec:
    """A model to load, as plain data: :func:`load`'s arguments (see there).

    Attributes:
        source: a variant name or spec (``passt[levels=L+M,rf=160+640,hop=5]``, :mod:`~hear_gear_embed.variant_spec`),
            a :class:`~hear_gear_embed.embedding.config.VariantConfig`, or the import name of a HEAR module
            (``hear_gear_embed.hear.<variant>`` is the variant).
        weights: ``""`` (the model's default), ``"official"``, ``"random"`` or a checkpoint path.
        seed: the seed of ``weights="random"`` (default 0).
        device: torch device (``None``: CUDA when available, else the CPU).
        precision: ``fp32``, ``bf16``, ``fp16`` or ``int8``.
        memory_budget_mb: working memory per chunk of windows, MiB (this package's variants only).
        download: allow downloading missing official weights.
        compile: run the network compiled; ``None``: where it pays (this package's variants only).
    """

    source: str | VariantConfig = "passt_base"
    weights: str = ""
    seed: int | None = None
    device: str | None = None
    precision: Precision = "fp32"
    memory_budget_mb: float | None = None
    download: bool = True
    compile: bool | None = None

    def __post_init__(self) -> None:
        check_precision_name(self.precision)
        if self.compile is not None and not isinstance(self.compile, bool):
            raise TypeError(f"compile must be True, False or None (by precision), got {self.compile!r}")
        if isinstance(self.source, str) and not self.source:
            raise ValueError("a model name is needed: a variant (hear-gear list) or a HEAR module's import name")
        if self.seed is not None and self.weights != "random":
            raise ValueError(f"seed applies to weights='random' only, not to weights={self.weights!r}")
        if self.variant is None:
            given = [option for option, is_set in (("weights='official'", self.weights == "official"),
                                                   ("weights='random'", self.weights == "random"),
                                                   ("memory_budget_mb", self.memory_budget_mb is not None),
                                                   ("compile", self.compile is not None)) if is_set]
            if given:
                raise ValueError(f"{', '.join(given)} apply to this package's variants only, not to HEAR module "
                                 f"{self.name!r}")

    @property
    def variant(self) -> VariantConfig | None:
        """The variant this spec loads, or ``None`` for another HEAR module."""
        if isinstance(self.source, VariantConfig):
            return self.source
        short = self.source.removeprefix(PACKAGE_MODULE_PREFIX)
        return get_variant(short) if is_variant(short) else None

    @property
    def name(self) -> str:
        """The variant's name, or the module's import name."""
        variant = self.variant
        return variant.name if variant is not None else str(self.source)

    def with_device(self, device: str | None) -> ModelSpec:
        """This spec on another device."""
        return dataclasses.replace(self, device=device)

    def load(self) -> EmbeddingModel:
        """Load the model (see :func:`load` for what it raises)."""
        variant = self.variant
        if variant is None:
            module = import_hear_module(str(self.source))
            model = load_module_model(module, self.weights, precision=self.precision)
            model.to(resolve_device(self.device))
            return EmbeddingModel.from_module(module, model, model_path=self.weights, precision=self.precision, spec=self)
        if self.weights == "random":
            embedder = random_embedder(variant, 0 if self.seed is None else self.seed, device=self.device,
                                       memory_budget_mb=self.memory_budget_mb, precision=self.precision,
                                       compile=self.compile)
        else:
            if self.weights == "official" and (not variant.needs_network or variant.weights is None):
                raise ValueError(f"variant {variant.name} has no official weights"
                                 + ("" if variant.needs_network else " (it needs none: leave weights unset)"))
            embedder = load_embedder(variant, "" if self.weights == "official" else self.weights, device=self.device,
                                     download=self.download, memory_budget_mb=self.memory_budget_mb,
                                     precision=self.precision, compile=self.compile)
        return EmbeddingModel.from_embedder(embedder, spec=self)

    def probe(self) -> tuple[ModelIdentity, int]:
        """What every output of this spec's model records, on whichever device it runs, and its sample rate (Hz):
        found by loading it once on the CPU in fp32 (so that a bad name, module or checkpoint fails here, and a reduced
        precision is not refused by a CPU without the units of the device that will compute), with the precision the
        model will compute in."""
        probe = dataclasses.replace(self, device="cpu", precision="fp32").load()
        variant = self.variant
        computes = self.precision if variant is None or variant.needs_network else "fp32"
        return dataclasses.replace(probe.identity, precision=computes), probe.sample_rate


def load(
    name_or_config: str | VariantConfig = "passt_base",
    *,
    weights: str | os.PathLike[str] | None = None,
    seed: int | None = None,
    device: str | torch.device | None = None,
    precision: Precision = "fp32",
    memory_budget_mb: float | None = None,
    download: bool = True,
    compile: bool | None = None,
) -> EmbeddingModel:
    """Load an embedding model: a variant of this package (by name or configuration) or any HEAR 2021 module.

    Args:
        name_or_config: a variant name (``hear-gear list``) or spec (``passt[levels=L+M,rf=160+640,hop=5]``,
            :mod:`~hear_gear_embed.variant_spec`), a :class:`~hear_gear_embed.embedding.config.VariantConfig`
            (registered or not), or the import name of a HEAR module (``hearbaseline``).
        weights: ``None``: the model's default (a variant's official checkpoint, from the cache or downloaded; none
            for a weight-free variant; a module's own default); ``"official"``: the official checkpoint (an error for
            a variant without one); ``"random"``: seeded random weights (meaningless embeddings, for tests); else a
            checkpoint file (an official one, or one saved by this package), or for a HEAR module the path given to
            its ``load_model``. A file named like one of the words is given as ``"./official"``.
        seed: the seed of ``weights="random"`` (default 0).
        device: where the model runs; ``None`` picks CUDA when available, else the CPU.
        precision: the format of the network's matrix products: ``"fp32"``, ``"bf16"`` (GPUs, and CPUs with bf16
            units), ``"fp16"`` (GPUs), ``"int8"`` (CPUs with int8 units); for a HEAR module, passed to its
            ``load_model`` when that takes it.
        memory_budget_mb: working memory per chunk of windows, MiB (this package's variants only).
        download: allow downloading missing official weights.
        compile: run the network compiled (``True``), eager (``False``), or where it pays (``None``: int8 only); this
            package's variants only (:meth:`~hear_gear_embed.embedding.embedder.Embedder.set_compile`).

    Returns:
        The :class:`EmbeddingModel`.

    Raises:
        KeyError: a :class:`VariantConfig`'s frontend or features are unknown (never for a registered variant).
        ModuleLoadError: the name is neither a variant nor an importable HEAR module, or its ``load_model`` raised.
        ValueError: a variant spec with a bad key or value; options that do not apply (``seed`` without
            ``weights="random"``, ``weights="random"`` or ``memory_budget_mb`` or ``compile`` for another module,
            ``weights="official"`` for a variant without official weights), a bad ``memory_budget_mb``,
            ``device="meta"``.
        WeightsUnavailableError, CheckpointError, DeviceUnavailableError, PrecisionUnsupportedError: as
            :func:`~hear_gear_embed.embedding.factory.load_embedder`.
    """
    if weights is None:
        path = ""
    elif isinstance(weights, str):
        path = weights
    else:
        path = os.fspath(weights)
        path = f"./{path}" if path in WEIGHT_KEYWORDS else path
    where = None if device is None else str(device)
    return ModelSpec(name_or_config, path, seed, where, precision, memory_budget_mb, download, compile).load()


def as_model(model: EmbeddingModel | ModelSpec | str, *, model_path: str = "", precision: Precision = "fp32",
             device: str | torch.device | None = None, compile: bool | None = None) -> EmbeddingModel:
    """What the workflows take: an :class:`EmbeddingModel` as it is, a :class:`ModelSpec` loaded, or a name loaded with
    ``model_path`` (the checkpoint, ``""`` for the default), ``precision``, ``device`` and ``compile``.

    A model from this package's ``load_model()`` (an ``Embedder``, as 0.1 took it) is accepted with a
    ``DeprecationWarning`` until 0.3.

    Raises:
        ValueError: ``model_path``, ``precision``, ``device`` or ``compile`` given with a model that is loaded already.
        TypeError: anything else.
    """
    if isinstance(model, str):
        return load(model, weights=model_path or None, precision=precision, device=device, compile=compile)
    if model_path or precision != "fp32" or device is not None or compile is not None:
        raise ValueError("model_path, precision, device and compile apply to a model given by name; this one is loaded "
                         "already")
    if isinstance(model, EmbeddingModel):
        return model
    if isinstance(model, ModelSpec):
        return model.load()
    if isinstance(model, torch.nn.Module):
        warnings.warn("passing a model of load_model() is deprecated and will stop working in 0.3: pass "
                      "hear_gear_embed.load(...) or EmbeddingModel.from_embedder(model)", DeprecationWarning, stacklevel=3)
        return EmbeddingModel.from_embedder(cast(Embedder, model))
    raise TypeError(f"expected an EmbeddingModel (hear_gear_embed.load), a ModelSpec or a name, got {type(model).__name__}")
