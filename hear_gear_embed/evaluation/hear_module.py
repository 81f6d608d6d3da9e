"""Load any HEAR 2021 module and embed a :class:`~.synth.ToneGrid` with it, in batches.

Works with this package's variants (``handcrafted`` is short for ``hear_gear_embed.hear.handcrafted``)
and with any importable module that follows the HEAR API (e.g. ``hearbaseline``):
``load_model(model_file_path)`` returning a model with ``sample_rate``, ``scene_embedding_size`` and
``timestamp_embedding_size``, ``get_scene_embeddings(audio, model)`` and
``get_timestamp_embeddings(audio, model)``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import torch

from ..embedding.config import KINDS, Kind
from ..registry import is_variant
from ..util.precision import Precision, check_precision_name
from .synth import ToneGrid

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
        return _int_attribute(self.model, "sample_rate")

    @property
    def device(self) -> torch.device:
        """Where the model's parameters (or buffers) live; CPU for a model without any."""
        for tensor in (*self.model.parameters(), *self.model.buffers()):
            return tensor.device
        return torch.device("cpu")


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


def embed_grid(
    hear: HearModel, grid: ToneGrid, kind: Kind = "scene", batch_size: int = 32, progress: bool = True
) -> np.ndarray:
    """Embed every sound of ``grid`` with ``hear``, ``batch_size`` sounds per call.

    Args:
        hear: from :func:`load_hear_module`.
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
                size = _int_attribute(hear.model, "scene_embedding_size")
                emb = _check_output(
                    hear.module.get_scene_embeddings(audio, hear.model), (stop - start, size), "get_scene_embeddings", hear.name
                )
            else:
                size = _int_attribute(hear.model, "timestamp_embedding_size")
                frames, _ = hear.module.get_timestamp_embeddings(audio, hear.model)
                frames = _check_output(frames, (stop - start, -1, size), "get_timestamp_embeddings", hear.name)
                if frames.shape[1] == 0:
                    raise ValueError(f"{hear.name}.get_timestamp_embeddings returned no timestamps for {grid.duration_ms:g} ms")
                emb = frames.mean(dim=1)
            chunks.append(emb.detach().float().cpu().numpy())
            bar.update(stop - start)
    logger.info("embedded %d sounds with %s (%s, dim %d)", grid.n_sounds, hear.name, kind, chunks[0].shape[1])
    return np.concatenate(chunks)
