"""The HEAR 2021 API over the registry: ``load_model``, ``get_scene_embeddings``, ``get_timestamp_embeddings``.

Each published variant is importable as ``hear_gear_embed.hear.<name>``, a two-line module built by
:func:`hear_functions`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import Tensor

from ..embedding.embedder import Embedder, load_embedder
from ..registry import get_variant


def load_model(model_file_path: str = "", variant: str = "passt_base", **options: object) -> Embedder:
    """Load a variant as a HEAR model (a ``torch.nn.Module`` in eval mode).

    Args:
        model_file_path: checkpoint file (official raw state dict, a dict wrapping one under
            ``state_dict``/``model`` with or without a ``net.``-style prefix, or a file saved by
            this package); ``""`` uses the variant's official checkpoint from the cache
            (``$HEAR_GEAR_EMBED_HOME``, else torch hub's ``checkpoints``), downloading it if needed.
        variant: registry name.
        **options: ``device`` (default CUDA when available), ``download`` (default True) and
            ``memory_budget_mb`` (working memory per chunk of windows).

    Returns:
        The model, with ``sample_rate``, ``scene_embedding_size`` and ``timestamp_embedding_size``.
    """
    allowed = {"device", "download", "memory_budget_mb"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(f"unknown load_model options {unknown}; allowed: {sorted(allowed)}")
    return load_embedder(get_variant(variant), model_file_path, **options)  # type: ignore[arg-type]


def _check_model(model: object) -> Embedder:
    if not isinstance(model, Embedder):
        raise TypeError(f"model must come from load_model() of this package, got {type(model).__name__}")
    return model


def get_scene_embeddings(audio: Tensor, model: Embedder) -> Tensor:
    """Scene embeddings ``(n_sounds, model.scene_embedding_size)`` float32 of ``audio``
    ``(n_sounds, n_samples)`` float32 in [-1, 1] at ``model.sample_rate`` (NumPy arrays accepted)."""
    return _check_model(model).scene_embeddings(audio)


def get_timestamp_embeddings(audio: Tensor, model: Embedder) -> tuple[Tensor, Tensor]:
    """Timestamp embeddings ``(n_sounds, n_timestamps, model.timestamp_embedding_size)`` float32 and
    centred timestamps ``(n_sounds, n_timestamps)`` in milliseconds, every ``timestamp_hop_ms``."""
    return _check_model(model).timestamp_embeddings(audio)


def hear_functions(variant: str) -> tuple[Callable[..., Embedder], Callable[..., Tensor], Callable[..., tuple[Tensor, Tensor]]]:
    """The three HEAR functions for ``variant``: ``load_model`` bound to it, and the two embedding functions."""
    config = get_variant(variant)

    def load(model_file_path: str = "", **options: object) -> Embedder:
        return load_model(model_file_path, variant=config.name, **options)

    shared = inspect.cleandoc(load_model.__doc__ or "").replace("    variant: registry name.\n", "")  # bound here
    load.__doc__ = f"HEAR ``load_model`` for variant ``{config.name}``: {config.description}.\n\n{shared}"
    load.__name__ = load.__qualname__ = "load_model"
    return load, get_scene_embeddings, get_timestamp_embeddings
