"""What the corpus engines embed with: a :class:`ModelSpec` (plain data, small enough to send to every Ray
worker, which loads its own copy) and the :class:`CorpusModel` it loads, one interface over this package's
variants and any other HEAR 2021 module (``hearbaseline``, ``my_package.my_module``).

A :class:`CorpusModel` turns a batch of equal-length clips into the arrays of the output files and says what
every output records about it (:attr:`CorpusModel.identity`), which is also what decides whether an earlier
output may be kept when a run resumes.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..embedding.config import Kind
from ..embedding.embedder import Embedder, load_embedder, random_embedder
from ..hear.loading import HearModel, load_hear_module, module_version
from ..model.hub import sha256_of
from ..registry import get_variant, is_variant
from ..util.device import resolve_device
from ..util.precision import Precision, check_precision_name

logger = logging.getLogger(__name__)

_PACKAGE_MODULE = "hear_gear_embed.hear."

IDENTITY_KEYS = ("variant", "module", "module_version", "weights", "weights_sha256", "precision")
"""What every output file records about the model (strings), in this order.

* ``variant``: the registry variant, or the import name of another HEAR module;
* ``module``: the HEAR module's import name (``hear_gear_embed.hear.<variant>`` for this package's variants);
* ``module_version``: which code the module runs: the version of the distribution that provides it, with a hash
  of its source for an editable install or a module no distribution provides
  (:func:`~hear_gear_embed.hear.loading.module_version`, the same for this package's variants and other modules);
* ``weights``: checkpoint path, ``"random (seed N)"``, ``"none"`` (weight-free variant) or, for another module,
  the ``model_file_path`` given to its ``load_model`` (``"module default"`` when none);
* ``weights_sha256``: SHA-256 of that checkpoint file (``""`` when there is no file);
* ``precision``: format of the network's matrix products (``fp32`` for other modules, which run as they are).
"""


def module_variant(name: str) -> str | None:
    """The registry variant that ``name`` designates (a variant name or ``hear_gear_embed.hear.<variant>``), or
    ``None`` for another module."""
    short = name.removeprefix(_PACKAGE_MODULE)
    return short if is_variant(short) else None


@dataclass(frozen=True)
class ModelSpec:
    """How to load the model: a registry variant or any importable HEAR module, and its options.

    Attributes:
        name: a registry variant (``passt_2lvlmel``), ``hear_gear_embed.hear.<variant>``, or the import name of
            another HEAR module (``hearbaseline``).
        model_path: checkpoint file (``""``: the variant's official weights, or the module's default).
        random_seed: seeded random weights instead of a checkpoint (variants with a network only).
        device: torch device (``None``: CUDA when available); another module's model is moved there.
        precision: ``fp32``, ``bf16`` or ``fp16`` (this package's variants only).
        memory_budget_mb: working memory per chunk of windows, MiB (this package's variants only).
    """

    name: str = "passt_base"
    model_path: str = ""
    random_seed: int | None = None
    device: str | None = None
    precision: Precision = "fp32"
    memory_budget_mb: float | None = None

    def __post_init__(self) -> None:
        check_precision_name(self.precision)
        if not self.name:
            raise ValueError("a model name is needed: a variant (hear-gear list) or a HEAR module's import name")
        if self.random_seed is not None and self.model_path:
            raise ValueError("model_path and random_seed exclude each other")
        if module_variant(self.name) is None:
            ignored = {"random_seed": self.random_seed is not None, "memory_budget_mb": self.memory_budget_mb is not None,
                       "precision": self.precision != "fp32"}
            given = [option for option, set_ in ignored.items() if set_]
            if given:
                raise ValueError(f"{', '.join(given)} apply to this package's variants only, not to HEAR module {self.name!r}")

    @property
    def variant(self) -> str | None:
        """The registry variant this spec loads, or ``None`` for another HEAR module."""
        return module_variant(self.name)

    def with_device(self, device: str | None) -> ModelSpec:
        """This spec on another device."""
        return dataclasses.replace(self, device=device)

    def load(self) -> CorpusModel:
        """Load the model.

        Raises:
            ValueError: unknown variant or module, a module that is not a HEAR module, a bad checkpoint, or a
                precision the device cannot compute (:class:`~hear_gear_embed.util.precision.PrecisionUnsupportedError`).
            WeightsUnavailableError: the official weights are neither cached nor downloadable.
        """
        if self.variant is not None:
            variant = get_variant(self.variant)
            if self.random_seed is not None:
                embedder = random_embedder(variant, self.random_seed, device=self.device,
                                           memory_budget_mb=self.memory_budget_mb, precision=self.precision)
            else:
                embedder = load_embedder(variant, self.model_path, device=self.device,
                                         memory_budget_mb=self.memory_budget_mb, precision=self.precision)
            return VariantModel(embedder)
        hear = load_hear_module(self.name, self.model_path)
        hear.model.to(resolve_device(self.device))
        return HearModuleModel(hear)


class CorpusModel(ABC):
    """A loaded model, as the corpus engines use it. Subclasses: :class:`VariantModel`, :class:`HearModuleModel`."""

    name: str
    """Variant name, or the other module's import name (what reports and messages call the model)."""
    sample_rate: int
    """Hz."""
    identity: dict[str, str]
    """What every output records about the model: :data:`IDENTITY_KEYS`."""

    @property
    @abstractmethod
    def device(self) -> torch.device:
        """Where the model computes."""

    @abstractmethod
    def embed(self, audio: np.ndarray, kinds: tuple[Kind, ...]) -> list[dict[str, np.ndarray]]:
        """Embeddings of equal-length clips.

        Args:
            audio: ``(n_clips, n_samples)`` float32 at :attr:`sample_rate`.
            kinds: ``"scene"`` and/or ``"timestamp"``.

        Returns:
            A dict per clip, holding ``scene`` ``(scene_size,)``, or ``timestamp_embeddings`` ``(n_timestamps,
            timestamp_size)`` and ``timestamps_ms`` ``(n_timestamps,)``, or all three; float32.
        """


class VariantModel(CorpusModel):
    """One of this package's variants, through its :class:`~hear_gear_embed.embedding.embedder.Embedder`."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.name = embedder.variant.name
        self.sample_rate = embedder.sample_rate
        source = embedder.weights_source
        sha = sha256_of(source) if embedder.net is not None and Path(source).is_file() else ""
        module = _PACKAGE_MODULE + self.name
        self.identity = {"variant": self.name, "module": module,
                         "module_version": module_version(importlib.import_module(module)),
                         "weights": source, "weights_sha256": sha, "precision": embedder.precision}

    @property
    def device(self) -> torch.device:
        return self.embedder.device

    def embed(self, audio: np.ndarray, kinds: tuple[Kind, ...]) -> list[dict[str, np.ndarray]]:
        out: list[dict[str, np.ndarray]] = [{} for _ in range(audio.shape[0])]
        if "scene" in kinds:
            for row, scene in zip(out, self.embedder.scene_embeddings(audio).cpu().numpy(), strict=True):
                row["scene"] = scene
        if "timestamp" in kinds:
            emb, stamps = self.embedder.timestamp_embeddings(audio)
            for row, e, t in zip(out, emb.cpu().numpy(), stamps.cpu().numpy(), strict=True):
                row["timestamp_embeddings"], row["timestamps_ms"] = e, t
        return out


class HearModuleModel(CorpusModel):
    """Any other HEAR 2021 module, called through its API on the model's device; outputs are checked."""

    def __init__(self, hear: HearModel) -> None:
        self.hear = hear
        self.name = hear.name
        self.sample_rate = hear.sample_rate
        self.identity = {"variant": hear.name, **hear.identity}

    @property
    def device(self) -> torch.device:
        return self.hear.device

    def embed(self, audio: np.ndarray, kinds: tuple[Kind, ...]) -> list[dict[str, np.ndarray]]:
        out: list[dict[str, np.ndarray]] = [{} for _ in range(audio.shape[0])]
        with torch.no_grad():
            batch = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).to(self.device)
            if "scene" in kinds:
                for row, scene in zip(out, self.hear.scene_embeddings(batch).float().cpu().numpy(), strict=True):
                    row["scene"] = scene
            if "timestamp" in kinds:
                emb, stamps = self.hear.timestamp_embeddings(batch)
                for row, e, t in zip(out, emb.float().cpu().numpy(), stamps.float().cpu().numpy(), strict=True):
                    row["timestamp_embeddings"], row["timestamps_ms"] = e, t
        return out
