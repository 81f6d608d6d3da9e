"""The model a run trains: a variant's :class:`~hear_gear_embed.embedding.embedder.Embedder` or a diverse model's
:class:`~hear_gear_embed.diverse.model.DiverseModel` (its scene embedding, the same function the HEAR module computes)
with a new linear task head on top (:class:`FineTuner`); where its weights start (:func:`initial_embedder`: the
official checkpoint, any checkpoint file, or seeded random weights; for a variant without official weights, such as
``passt_cqt``, the transformer of the official checkpoint of its geometry behind the variant's own frontend, as seed
000 trains CQT-PaSST; a diverse model from scratch, as seed 001); and which parameters train (:func:`freeze`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ..diverse.config import DiverseConfig
from ..diverse.model import NEURALOGRAM_KEY, DiverseModel
from ..diverse.network import DiverseNet
from ..embedding.config import VariantConfig
from ..embedding.embedder import Embedder
from ..embedding.factory import load_embedder, random_embedder
from ..frontends.config import CqtConfig
from ..hear import diverse as diverse_module
from ..model.hub import resolve, sha256_of
from ..model.passt import PaSST
from ..model.weights import PRETRAINED, PretrainedWeights
from .config import TrainConfig

logger = logging.getLogger(__name__)

INIT_CHOICES = ("official", "random")
"""The named initialisations; anything else is a checkpoint path."""

Trainable = VariantConfig | DiverseConfig
"""What a run trains: a variant with a network, or a diverse model."""


class FineTuner(nn.Module):
    """A model's scene embedding and a linear task head: ``audio -> (embedding, logits)``.

    Attributes:
        embedder: the variant's embedder (frontend, frame features, network) or the diverse model; trained in place.
        head: ``Linear(scene_embedding_size, n_labels)``.
    """

    def __init__(self, embedder: Embedder | DiverseModel, n_labels: int, *, seed: int = 0) -> None:
        super().__init__()
        if isinstance(embedder, Embedder) and embedder.net is None:
            raise ValueError(f"variant {embedder.variant.name} has no network to train (it is weight-free)")
        self.embedder = embedder
        self.head = nn.Linear(embedder.scene_embedding_size, n_labels, device=embedder.device)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            weight = torch.empty(self.head.weight.shape).normal_(0.0, 0.02, generator=generator)
            self.head.weight.copy_(weight)
            self.head.bias.zero_()

    @property
    def net(self) -> PaSST | DiverseNet:
        """The trained network (a PaSST, or a diverse model's encoders)."""
        assert self.embedder.net is not None  # checked in __init__
        return self.embedder.net

    def checkpoint_extra(self) -> dict[str, object]:
        """What a checkpoint of this model records besides the network (a diverse model's neuralogram source)."""
        if isinstance(self.embedder, DiverseModel):
            return {NEURALOGRAM_KEY: self.embedder.neuralogram_record()}
        return {}

    def forward(self, audio: Tensor) -> tuple[Tensor, Tensor]:
        """``(batch, n_samples)`` audio -> ``(batch, scene_embedding_size)`` embeddings and ``(batch, n_labels)`` logits."""
        embedding = self.embedder(audio, "scene")
        return embedding, self.head(embedding)


@dataclass(frozen=True)
class Initialisation:
    """Where the network's weights came from, for the record.

    Attributes:
        kind: ``official``, ``random`` or ``file``.
        source: the checkpoint file read (``None`` for random weights).
        note: how it was used (e.g. a Mel transformer behind a CQT frontend).
        sha256: hex SHA-256 of that file (``None`` for random weights): which file it was, whatever its name.
    """

    kind: str
    source: str | None
    note: str = ""
    sha256: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "source": self.source, "note": self.note, "sha256": self.sha256}


def official_weights_for(variant: VariantConfig) -> tuple[PretrainedWeights, str]:
    """The official checkpoint a variant starts from, and a note: its own, or, for a variant without one, the first
    official checkpoint of the same network geometry (its transformer then runs behind the variant's frontend).

    Raises:
        ValueError: no official checkpoint has the variant's geometry.
    """
    if variant.weights is not None:
        return variant.weights, ""
    for record in PRETRAINED.values():
        if record.net == variant.net:
            frontend = "CQT" if isinstance(variant.frontend, CqtConfig) else "log-mel"
            note = (f"the transformer of {record.name} (trained on a log-mel spectrogram) behind {variant.name}'s "
                    f"{frontend} frontend")
            return record, note
    raise ValueError(f"variant {variant.name} has no official weights and no official checkpoint has its network "
                     f"geometry; pass init='random' or a checkpoint file")


def initial_embedder(variant: Trainable, init: str | os.PathLike[str], *, seed: int, device: torch.device,
                     download: bool = True) -> tuple[Embedder | DiverseModel, Initialisation]:
    """The model with its starting weights, in float32 on ``device``.

    Args:
        variant: what to train.
        init: ``"official"`` (:func:`official_weights_for`), ``"random"`` (seeded by ``seed``) or a checkpoint file.
        seed: seed of random weights.
        device: where the model lives.
        download: allow downloading a missing official checkpoint.

    Raises:
        ValueError: a weight-free variant, no official weights for it, or ``"official"`` for a diverse model.
        FileNotFoundError, CheckpointError: a checkpoint file that is missing or does not fit.
        WeightsUnavailableError: official weights neither cached nor downloadable.
    """
    if isinstance(variant, DiverseConfig):
        return _initial_diverse(variant, init, seed=seed, device=device)
    if not variant.needs_network:
        raise ValueError(f"variant {variant.name} has no network to train (it is weight-free)")
    if init == "random":
        return random_embedder(variant, seed, device=device), Initialisation("random", None, f"seed {seed}")
    if init == "official":
        record, note = official_weights_for(variant)
        path = resolve(record, download_missing=download)
        return load_embedder(variant, path, device=device), Initialisation("official", str(path), note, sha256_of(path))
    path = Path(init)
    return load_embedder(variant, path, device=device), Initialisation("file", str(path), sha256=sha256_of(path))


def _initial_diverse(config: DiverseConfig, init: str | os.PathLike[str], *, seed: int,
                     device: torch.device) -> tuple[DiverseModel, Initialisation]:
    if init == "official":
        raise ValueError(f"{config.name} has no official weights: train it from scratch (--init random, as seed 001 "
                         "does) or from a checkpoint of the same diverse configuration")
    if init == "random":
        return diverse_module.new_model(config, seed=seed, device=device), Initialisation("random", None, f"seed {seed}")
    path = Path(init)
    model = diverse_module.load_model(os.fspath(path), device=device)
    if model.config != config:
        raise ValueError(f"{path} holds diverse model {model.config.name} of another configuration than {config.name}: "
                         "start from a checkpoint of the same streams and geometry")
    return model, Initialisation("file", str(path), sha256=sha256_of(path))


def resumed_embedder(variant: Trainable, path: Path, *, device: torch.device) -> Embedder | DiverseModel:
    """The network of a run's ``last.pt``, read strictly as its HEAR module reads it, in float32 on ``device``."""
    if isinstance(variant, DiverseConfig):
        return diverse_module.load_model(os.fspath(path), device=device)
    return load_embedder(variant, path, device=device)


def freeze(model: FineTuner, config: TrainConfig) -> dict[str, list[str]]:
    """Set which parameters train; return the names of those ``trained`` and ``kept`` (frozen), and why.

    Kept: the patch embedding, the tokens, the encodings and the first ``config.freeze_blocks`` blocks (when positive);
    blocks after the last one the variant's levels read; the AudioSet head unless ``config.audioset_head == "train"``
    or when no level reads it; the distillation head (never read). Everything else trains, the task head included.

    A diverse model trains its encoders and the head; its frame features have no parameters and its neuralogram's
    source stays frozen (it is no parameter of the model).

    Raises:
        ValueError: ``freeze_blocks`` reaches past the blocks the variant runs, leaving no network parameter to train;
            ``freeze_blocks`` or ``audioset_head="train"`` for a diverse model.
    """
    if isinstance(model.embedder, DiverseModel):
        return _freeze_diverse(model, model.embedder, config)
    embedder = model.embedder
    net, variant = embedder.net, embedder.variant
    assert net is not None
    levels = variant.window_levels
    blocks_run = net.blocks_run(variant.mid_layer, "M" in levels, "H" in levels)
    if config.freeze_blocks >= blocks_run:
        raise ValueError(f"freeze_blocks={config.freeze_blocks} freezes every block {variant.name} runs ({blocks_run}); "
                         "nothing of the network would train")
    reasons: dict[str, str] = {"head_dist": "the distillation head, never read"}
    if config.freeze_blocks:
        for name in ("patch_embed", "cls_token", "dist_token", "new_pos_embed", "freq_new_pos_embed",
                     "time_new_pos_embed"):
            reasons[name] = "frozen with the early blocks (freeze_blocks)"
        for index in range(config.freeze_blocks):
            reasons[f"blocks.{index}"] = "frozen early block (freeze_blocks)"
    for index in range(blocks_run, net.config.depth):
        reasons[f"blocks.{index}"] = f"after the last block {variant.name} reads"
    if "H" not in levels:
        reasons["head"] = f"{variant.name} reads no level H"
    elif config.audioset_head == "keep":
        reasons["head"] = "the AudioSet head, kept so that level H stays AudioSet's logits"
    record: dict[str, list[str]] = {"trained": [], "kept": []}
    for name, parameter in net.named_parameters():
        reason = next((r for prefix, r in reasons.items() if name == prefix or name.startswith(prefix + ".")), None)
        parameter.requires_grad_(reason is None)
        record["trained" if reason is None else "kept"].append(f"net.{name}" + (f" ({reason})" if reason else ""))
    for name, parameter in model.head.named_parameters():
        parameter.requires_grad_(True)
        record["trained"].append(f"task_head.{name}")
    for name, parameter in model.embedder.named_parameters():
        if not name.startswith("net."):
            parameter.requires_grad_(False)
            record["kept"].append(f"{name} (frontend)")
    return record


def _freeze_diverse(model: FineTuner, embedder: DiverseModel, config: TrainConfig) -> dict[str, list[str]]:
    name = embedder.config.name
    if config.freeze_blocks:
        raise ValueError(f"freeze_blocks applies to PaSST's blocks; {name} trains its stream encoders from scratch")
    if config.audioset_head != "keep":
        raise ValueError(f"audioset_head applies to PaSST's AudioSet head; {name} has none")
    record: dict[str, list[str]] = {"trained": [], "kept": []}
    for parameter_name, parameter in embedder.net.named_parameters():
        parameter.requires_grad_(True)
        record["trained"].append(f"net.{parameter_name}")
    for parameter_name, parameter in model.head.named_parameters():
        parameter.requires_grad_(True)
        record["trained"].append(f"task_head.{parameter_name}")
    if embedder.neuralogram is not None:
        record["kept"].append(f"neuralogram source {embedder.neuralogram.name} (frozen, not saved with the model)")
    return record


def parameter_groups(model: FineTuner, config: TrainConfig) -> list[dict[str, object]]:
    """AdamW's groups: the network's matrices (decayed), its biases, norms, tokens and encodings (not decayed), and the
    task head (``config.head_lr``, its weight decayed); frozen parameters are left out."""
    decay: list[nn.Parameter] = []
    plain: list[nn.Parameter] = []
    for name, parameter in _trainable(model.net):
        (decay if parameter.ndim >= 2 and "pos_embed" not in name and not name.endswith("_token") else plain).append(parameter)
    groups: list[dict[str, object]] = [
        {"params": decay, "lr": config.lr, "weight_decay": config.weight_decay, "name": "network"},
        {"params": plain, "lr": config.lr, "weight_decay": 0.0, "name": "network (no decay)"},
        {"params": [model.head.weight], "lr": config.head_lr, "weight_decay": config.weight_decay, "name": "task head"},
        {"params": [model.head.bias], "lr": config.head_lr, "weight_decay": 0.0, "name": "task head (bias)"},
    ]
    return [group for group in groups if group["params"]]


def _trainable(module: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    return ((name, p) for name, p in module.named_parameters() if p.requires_grad)
