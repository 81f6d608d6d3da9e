"""Embedders with their weights, ready to embed: the official or a given checkpoint (:func:`load_embedder`) or seeded
random weights (:func:`random_embedder`), in eval mode, on a device, computing in a precision."""

from __future__ import annotations

import logging
import os

import torch

from ..model.hub import resolve
from ..model.passt import PaSST, passt_without_weights, random_passt
from ..util.device import resolve_device
from ..util.precision import Precision, check_precision_name, check_supported
from .config import VariantConfig
from .embedder import Embedder

logger = logging.getLogger(__name__)


def load_embedder(
    variant: VariantConfig,
    model_file_path: str | os.PathLike[str] = "",
    *,
    device: str | torch.device | None = None,
    download: bool = True,
    memory_budget_mb: float | None = None,
    precision: Precision = "fp32",
    compile: bool | None = None,
) -> Embedder:
    """Build an :class:`Embedder` for ``variant`` with its weights, in eval mode, on ``device``.

    Args:
        variant: the configuration.
        model_file_path: a checkpoint file; ``""`` resolves the variant's official checkpoint
            (cache, then download). A variant without network weights refuses a non-empty path
            rather than ignoring it.
        device: ``None`` picks CUDA when available, else CPU (:func:`~hear_gear_embed.util.device.resolve_device`).
        download: allow downloading a missing official checkpoint.
        memory_budget_mb: working-memory bound per chunk of windows (:attr:`~.embedder.Embedder.memory_budget_mb`).
        precision: format of the network's matrix products (:meth:`~.embedder.Embedder.set_precision`).
        compile: run inference through the compiled network; ``None``: where it pays (:meth:`~.embedder.Embedder.set_compile`).

    Raises:
        WeightsUnavailableError: official weights neither cached nor downloadable.
        CheckpointError: the file does not fit the network.
        DeviceUnavailableError: ``device`` names a device this machine does not have.
        PrecisionUnsupportedError: ``device`` cannot compute ``precision`` fast.
        ValueError: ``device="meta"``, or a bad ``memory_budget_mb`` (both checked before any weights are read).
    """
    target = resolve_device(device)
    if variant.needs_network:
        check_supported(precision, target)  # refuse before loading weights
    else:
        check_precision_name(precision)
    path = os.fspath(model_file_path)
    embedder = Embedder(variant, memory_budget_mb=memory_budget_mb, net=_network_without_weights(variant))
    if embedder.net is not None:
        if not path:
            if variant.weights is None:
                raise ValueError(f"variant {variant.name} has no official weights; pass model_file_path")
            path = os.fspath(resolve(variant.weights, download_missing=download))
        embedder.load_weights(path)
        logger.info("loaded %s weights from %s", variant.name, path)
    elif path:
        raise ValueError(f"variant {variant.name} uses no network weights, but model_file_path={path!r} was given")
    return _placed(embedder, target, precision, compile)


def random_embedder(
    variant: VariantConfig,
    seed: int = 0,
    *,
    device: str | torch.device | None = None,
    memory_budget_mb: float | None = None,
    precision: Precision = "fp32",
    compile: bool | None = None,
) -> Embedder:
    """An :class:`Embedder` for ``variant`` with seeded random network weights (:func:`random_passt`), in eval mode,
    on ``device`` (``None``: CUDA when available, else CPU, as :func:`load_embedder`), computing in ``precision``,
    compiled as ``compile`` says (as :func:`load_embedder`).

    For pipeline tests and benchmarks: the embeddings mean nothing. Weight-free variants are unaffected.

    Raises:
        DeviceUnavailableError: ``device`` names a device this machine does not have.
        ValueError: a bad ``memory_budget_mb`` or ``device`` (checked before the weights are drawn).
        PrecisionUnsupportedError: ``device`` cannot compute ``precision`` fast.
    """
    target = resolve_device(device)
    embedder = Embedder(variant, memory_budget_mb=memory_budget_mb, net=_network_without_weights(variant))
    if variant.needs_network and variant.net is not None:
        embedder.net = random_passt(variant.net, seed)
        embedder.weights_source = f"random (seed {seed})"
    return _placed(embedder, target, precision, compile)


def _network_without_weights(variant: VariantConfig) -> PaSST | None:
    """The variant's network with its parameters on ``meta`` (no storage, no initialisation), for weights about to be
    loaded or drawn; ``None`` for a variant without one."""
    if not variant.needs_network or variant.net is None:
        return None
    return passt_without_weights(variant.net)


def _placed(embedder: Embedder, device: torch.device, precision: Precision, compile: bool | None) -> Embedder:
    """``embedder`` in eval mode on ``device``, computing in ``precision`` (checked for that device), compiled as
    ``compile`` says."""
    embedder = embedder.to(device).eval()
    embedder.set_precision(precision)
    embedder.set_compile(compile)
    return embedder
