"""What a training run is (pure data, no torch): the optimiser, schedule and regularisers of :class:`TrainConfig`, BECR's
settings, and seed 003's Patchout defaults per STFT hop. The defaults are the seeds' own: AdamW with weight decay 1e-4
and learning rate 1e-5 (seed 003, appendix), BECR with lambda 0.05 and epsilon 0.7, batches of 10 (seed 000)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..model.config import Patchout

Schedule = Literal["cosine", "linear", "constant"]
SCHEDULES: tuple[Schedule, ...] = ("cosine", "linear", "constant")
AudiosetHead = Literal["keep", "train"]
AUDIOSET_HEADS: tuple[AudiosetHead, ...] = ("keep", "train")

SEED003_PATCHOUT: dict[float, Patchout] = {
    10.0: Patchout(freq=4, time=40),
    5.0: Patchout(freq=6, time=100),
    3.125: Patchout(freq=6, time=150),
}
"""Structured Patchout of seed 003 (appendix) by STFT hop (ms): frequency rows and time columns removed from a 10 s
input (a 128-band grid of 12 rows; 99, 199 and 319 columns)."""


def default_patchout(hop_ms: float) -> Patchout:
    """Seed 003's structured Patchout for an STFT hop of ``hop_ms`` ms; for a hop it does not list, the entry of the
    nearest listed hop (the time count still scales with the input's columns, :meth:`Patchout.kept`)."""
    if not math.isfinite(hop_ms) or hop_ms <= 0:
        raise ValueError(f"the STFT hop must be a positive number of ms, got {hop_ms}")
    return SEED003_PATCHOUT[min(SEED003_PATCHOUT, key=lambda hop: abs(math.log(hop / hop_ms)))]


@dataclass(frozen=True)
class Becr:
    """The Batch Embedding Covariance Regulariser of seed 000: loss ``(1 - lam) * task + lam * max(0, epsilon - G)^2``
    with ``G`` the Gini index of the batch's embeddings (:func:`~hear_gear_embed.evaluation.dispersion.becr_objective`).

    Attributes:
        lam: weight of the regulariser, in ``[0, 1]``.
        epsilon: target Gini index, in ``[0, 1]``.
        form: ``"trace"`` (the paper's optimised form) or ``"eig"`` (through an eigendecomposition).
    """

    lam: float = 0.05
    epsilon: float = 0.7
    form: Literal["trace", "eig"] = "trace"

    def __post_init__(self) -> None:
        if not 0.0 <= self.lam <= 1.0:
            raise ValueError(f"BECR lambda must lie in [0, 1], got {self.lam}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"BECR epsilon must lie in [0, 1], got {self.epsilon}")
        if self.form not in ("trace", "eig"):
            raise ValueError(f"BECR form must be 'trace' or 'eig', got {self.form!r}")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: every choice of a run but the model, the data and the device.

    Attributes:
        epochs: passes over the training split.
        batch_size: clips per optimiser step, over all processes (``accumulate`` micro-batches of
            ``batch_size / accumulate`` clips each, split between the processes of a distributed run).
        lr: peak learning rate of the network (AdamW).
        head_lr: peak learning rate of the new task head (trained from zero, so faster).
        weight_decay: AdamW's decoupled weight decay (not applied to biases, norms, tokens and encodings).
        warmup: share of the optimiser steps over which the learning rate rises linearly from zero.
        schedule: the learning rate after warm-up: ``cosine`` or ``linear`` decay to zero, or ``constant``.
        grad_clip: largest global L2 norm of the gradients (``None``: no clipping).
        accumulate: micro-batches per optimiser step.
        becr: BECR's settings (``None``: plain task loss).
        patchout: Patchout while training (``None``: none); :func:`default_patchout` gives seed 003's.
        mixup: Beta parameter ``alpha`` of mixup on the audio and targets (``None``: no mixup).
        freeze_blocks: the patch embedding, the encodings and the first ``freeze_blocks`` transformer blocks are frozen
            when positive.
        audioset_head: ``keep`` the AudioSet head (level ``"H"``) as it is, or ``train`` it with the rest.
        clip_seconds: training clips cropped (at random) or zero-padded to this length (s); ``None``: the task's
            ``sample_duration``, else the variant's scene window.
        seed: seed of the head's initialisation, the data order, Patchout and mixup.
    """

    epochs: int = 10
    batch_size: int = 10
    lr: float = 1e-5
    head_lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: float = 0.05
    schedule: Schedule = "cosine"
    grad_clip: float | None = 1.0
    accumulate: int = 1
    becr: Becr | None = None
    patchout: Patchout | None = None
    mixup: float | None = None
    freeze_blocks: int = 0
    audioset_head: AudiosetHead = "keep"
    clip_seconds: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "accumulate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.batch_size % self.accumulate:
            raise ValueError(f"batch_size {self.batch_size} is not a multiple of accumulate {self.accumulate}")
        for name in ("lr", "head_lr"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value}")
        if not math.isfinite(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(f"weight_decay must be a non-negative number, got {self.weight_decay}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup is a share of the steps in [0, 1), got {self.warmup}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.grad_clip is not None and (not math.isfinite(self.grad_clip) or self.grad_clip <= 0):
            raise ValueError(f"grad_clip must be a positive number or None, got {self.grad_clip}")
        if self.mixup is not None and (not math.isfinite(self.mixup) or self.mixup <= 0):
            raise ValueError(f"mixup's alpha must be a positive number or None, got {self.mixup}")
        if isinstance(self.freeze_blocks, bool) or self.freeze_blocks < 0:
            raise ValueError(f"freeze_blocks must be a non-negative integer, got {self.freeze_blocks!r}")
        if self.audioset_head not in AUDIOSET_HEADS:
            raise ValueError(f"audioset_head must be one of {AUDIOSET_HEADS}, got {self.audioset_head!r}")
        if self.clip_seconds is not None and (not math.isfinite(self.clip_seconds) or self.clip_seconds <= 0):
            raise ValueError(f"clip_seconds must be a positive number of seconds or None, got {self.clip_seconds}")
        if self.becr is not None and self.batch_size // self.accumulate < 2:
            raise ValueError("BECR needs at least 2 clips per micro-batch (a covariance); raise batch_size")

    @property
    def micro_batch(self) -> int:
        """Clips per forward pass, over all processes."""
        return self.batch_size // self.accumulate

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record of the configuration (what ``report.md`` and the checkpoints store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> TrainConfig:
        """The inverse of :meth:`to_dict`."""
        record = dict(record)
        if record.get("becr") is not None:
            record["becr"] = Becr(**record["becr"])
        if record.get("patchout") is not None:
            record["patchout"] = Patchout(**record["patchout"])
        return cls(**record)
