"""The HEAR 2021 API over the registry: ``load_model``, ``get_scene_embeddings``, ``get_timestamp_embeddings``.

Every registered variant is importable as ``hear_gear_embed.hear.<name>``: a module holding the three functions of
:func:`hear_functions`, made on import by the finder of :mod:`hear_gear_embed.hear`. ``load_model``'s keywords are
defined once, here; the embedding functions run in inference mode (the model itself is differentiable).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..embedding.embedder import Embedder
from ..embedding.factory import load_embedder
from ..embedding.inputs import AudioInput
from ..registry import get_variant
from ..util.precision import Precision


def load_model(
    model_file_path: str = "",
    *,
    variant: str = "passt_base",
    device: str | torch.device | None = None,
    download: bool = True,
    memory_budget_mb: float | None = None,
    precision: Precision = "fp32",
    compile: bool | None = None,
) -> Embedder:
    """Load a variant as a HEAR model (a ``torch.nn.Module`` in eval mode).

    Args:
        model_file_path: checkpoint file (official raw state dict, a dict wrapping one under
            ``state_dict``/``model`` with or without a ``net.``-style prefix, or a file saved by
            this package); ``""`` uses the variant's official checkpoint from the cache
            (``$HEAR_GEAR_EMBED_HOME``, else torch hub's ``checkpoints``), downloading it if needed.
        variant: registry name.
        device: where the model runs; ``None`` picks CUDA when available, else the CPU.
        download: allow downloading missing official weights.
        memory_budget_mb: working memory per chunk of windows in MiB, a positive finite number (``None``: 512 on
            CPU, 4096 on CUDA).
        precision: format of the network's matrix products: ``"fp32"``, ``"bf16"`` (GPUs, and CPUs with
            bf16 units), ``"fp16"`` (GPUs); embeddings are float32 in every precision, and the error of
            each is measured in the documentation's fidelity page; ``"int8"`` (CPUs with int8 units, the ``int8``
            extra) quantises the transformer's linear layers.
        compile: run the network compiled (``torch.compile``, frozen weights; compiled once per input geometry and
            process); ``None``: where it pays, int8 only (docs/performance.md).

    Returns:
        The model, with ``sample_rate``, ``scene_embedding_size`` and ``timestamp_embedding_size``.

    Raises:
        KeyError: unknown variant.
        WeightsUnavailableError: official weights neither cached nor downloadable.
        CheckpointError: the file is not a checkpoint, or does not fit the network.
        DeviceUnavailableError: ``device`` names a device this machine does not have.
        PrecisionUnsupportedError: the device cannot compute ``precision`` fast.
        ValueError: ``device="meta"``, or a ``memory_budget_mb`` that is zero, negative, NaN or infinite.
    """
    return load_embedder(get_variant(variant), model_file_path, device=device, download=download,
                         memory_budget_mb=memory_budget_mb, precision=precision, compile=compile)


def _check_model(model: object) -> Embedder:
    if not isinstance(model, Embedder):
        raise TypeError(f"model must come from load_model() of this package, got {type(model).__name__}")
    return model


def get_scene_embeddings(audio: AudioInput, model: Embedder) -> Tensor:
    """Scene embeddings ``(n_sounds, model.scene_embedding_size)`` float32 of ``audio``
    ``(n_sounds, n_samples)`` float32 in [-1, 1] at ``model.sample_rate`` (NumPy arrays accepted)."""
    embedder = _check_model(model)
    with torch.inference_mode():
        return embedder.scene_embeddings(audio)


def get_timestamp_embeddings(audio: AudioInput, model: Embedder) -> tuple[Tensor, Tensor]:
    """Timestamp embeddings ``(n_sounds, n_timestamps, model.timestamp_embedding_size)`` float32 and
    centred timestamps ``(n_sounds, n_timestamps)`` in milliseconds, every ``timestamp_hop_ms``."""
    embedder = _check_model(model)
    with torch.inference_mode():
        return embedder.timestamp_embeddings(audio)


LoadModel = Callable[..., Embedder]


_PER_VARIANT = inspect.signature(load_model)
_PER_VARIANT = _PER_VARIANT.replace(parameters=[p for p in _PER_VARIANT.parameters.values() if p.name != "variant"])
"""The signature of a variant's own ``load_model``: :func:`load_model`'s, without ``variant``."""


def hear_functions(variant: str) -> tuple[LoadModel, Callable[[AudioInput, Embedder], Tensor],
                                          Callable[[AudioInput, Embedder], tuple[Tensor, Tensor]]]:
    """The three HEAR functions for ``variant``: :func:`load_model` bound to it (same keywords, same checks), and the
    two embedding functions."""
    config = get_variant(variant)

    def load(*args: Any, **kwargs: Any) -> Embedder:
        bound = _PER_VARIANT.bind(*args, **kwargs)  # Python's own TypeError for a bad argument, as a plain function
        return load_model(*bound.args, variant=config.name, **bound.kwargs)

    shared = inspect.cleandoc(load_model.__doc__ or "").replace("    variant: registry name.\n", "")
    load.__doc__ = f"HEAR ``load_model`` for variant ``{config.name}``: {config.description}.\n\n{shared}"
    load.__name__ = load.__qualname__ = "load_model"
    vars(load)["__signature__"] = _PER_VARIANT
    return load, get_scene_embeddings, get_timestamp_embeddings
