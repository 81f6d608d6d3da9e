"""The training loop (:class:`Trainer`, :func:`train`): AdamW with warm-up and a schedule, gradient accumulation and
clipping, Patchout, BECR and mixup, bf16 or fp16 autocast, validation each epoch with the task's own metric, and
``best.pt`` / ``last.pt`` written atomically in this package's checkpoint format.

Nothing is lost and everything is reproducible: every random draw (the epoch's order, crops, Patchout, mixup) is keyed
by the seed and the step, not drawn from a running generator, so a run stopped by Ctrl-C or SIGTERM (which write a
resumable ``last.pt`` at the next step) and resumed ends bit-identical to one that never stopped; a non-finite loss
stops the run with an error naming the step and the last good checkpoint; unreadable audio is left out before the
first step and listed. Under ``torchrun`` the processes split each global batch (:mod:`.distributed`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..diverse.config import DiverseConfig, get_diverse, is_diverse
from ..embedding.config import VariantConfig
from ..embedding.embedder import Embedder
from ..evaluation.dispersion import becr_loss, gini_index
from ..evaluation.downstream.metrics import task_metrics
from ..model.checkpoint import CheckpointError, save_checkpoint
from ..model.passt import PaSST
from ..registry import get_variant
from ..util.device import resolve_device
from ..util.files import folder_lock, write_atomic
from ..util.precision import Precision, check_precision_name, compute_dtype
from .config import TrainConfig
from .data import ClipSet, TaskData, load_task_data
from .distributed import setup
from .model import FineTuner, Initialisation, Trainable, freeze, initial_embedder, parameter_groups, resumed_embedder
from .report import TrainLog, read_log, write_curves, write_report

logger = logging.getLogger(__name__)

BEST, LAST, LOG, SKIPPED = "best.pt", "last.pt", "train-log.jsonl", "skipped.json"
"""The files of an output folder (with ``report.md`` and ``train-curves.png``, :mod:`hear_gear_embed.training.report`)."""
RECORD_KEY, RESUME_KEY = "training", "resume"
"""Where a checkpoint keeps the run's record (both files) and its resumable state (``last.pt`` only)."""


class TrainingInterrupted(RuntimeError):
    """The run stopped on request (Ctrl-C, SIGTERM) after writing a resumable ``last.pt``.

    Attributes:
        checkpoint: the ``last.pt`` to resume from.
    """

    def __init__(self, checkpoint: Path, step: int) -> None:
        super().__init__(f"training stopped at step {step}; resume with the same options and --resume "
                         f"(from {checkpoint})")
        self.checkpoint = checkpoint


class NonFiniteLossError(FloatingPointError):
    """The loss or the gradients became NaN or Inf; the run stopped without saving that state."""


@dataclass(frozen=True)
class StepRecord:
    """One optimiser step, as ``train-log.jsonl`` records it (losses averaged over the global batch)."""

    step: int
    epoch: int
    loss: float
    task_loss: float
    becr: float | None
    gini: float | None
    lr: float
    seconds: float
    samples_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "step", **self.__dict__}


@dataclass
class TrainResult:
    """What a finished run produced.

    Attributes:
        out_dir: the output folder. best: ``best.pt``. last: ``last.pt``.
        best_epoch: the epoch (from 1) whose validation score was best.
        valid: its validation scores (metric -> value). test: the test split's scores of ``best.pt``.
        test_gini: the Gini index of ``best.pt``'s scene embeddings of the test split (``None`` below 2 clips).
        steps: optimiser steps taken. seconds: wall time of the run (over every resume).
        skipped: audio files left out, with the reason.
    """

    out_dir: Path
    best: Path
    last: Path
    best_epoch: int
    valid: dict[str, float]
    test: dict[str, float]
    test_gini: float | None
    steps: int
    seconds: float
    skipped: list[dict[str, str]] = field(default_factory=list)


def step_seed(*keys: int) -> int:
    """A 63-bit seed derived from integer keys (NumPy's ``SeedSequence``): every random draw of a run is keyed by the
    run's seed and where it happens (epoch, step, micro-batch, clip), never by how many draws came before."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(2, np.uint64)[0] >> np.uint64(1))


_ORDER, _CROP, _PATCHOUT, _MIXUP = 1, 2, 3, 4
"""Stream tags of :func:`step_seed`, so that draws of different kinds never share a seed."""


class Trainer:
    """One training run of one variant on one task fold (see the module docstring).

    Args:
        variant: a registered name (a variant with a network, or a diverse model), a :class:`VariantConfig` with a
            network or a :class:`~hear_gear_embed.diverse.config.DiverseConfig`.
        task_dir: a HEAR scene task folder (``hear-gear task make`` makes one from labelled audio).
        out_dir: the output folder.
        config: the run's settings.
        init: ``"official"``, ``"random"`` or a checkpoint file (see :func:`~.model.initial_embedder`); ``None``:
            ``"official"`` for a variant, ``"random"`` for a diverse model (it has no official weights).
        fold: which train / valid / test assignment of a k-fold task.
        device: torch device (``None``: CUDA when available, else the CPU; ``cuda:LOCAL_RANK`` under torchrun).
        precision: ``fp32``, or ``bf16`` / ``fp16`` autocast on hardware that computes them fast.
        resume: continue the run whose ``last.pt`` is in ``out_dir`` (same options); without it, a folder that holds
            a run is refused.
        download: allow downloading official weights.
        progress: show a progress bar (rank 0).

    Attributes:
        on_step: called with each :class:`StepRecord` on rank 0 (e.g. to watch or stop a run from code).
    """

    def __init__(self, variant: str | Trainable, task_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                 config: TrainConfig | None = None, *, init: str | os.PathLike[str] | None = None, fold: int = 0,
                 device: str | torch.device | None = None, precision: Precision = "fp32", resume: bool = False,
                 download: bool = True, progress: bool = True) -> None:
        self.variant = trainable_by_name(variant) if isinstance(variant, str) else variant
        self.config = config or TrainConfig()
        self.out_dir = Path(out_dir)
        self.precision = check_precision_name(precision)
        self.procs = setup(resolve_device(device))
        device = self.procs.device
        self.autocast_dtype = None if self.precision == "fp32" else compute_dtype(self.precision, device)
        self.resume_from = self.out_dir / LAST if resume else None
        if resume and not (self.out_dir / LAST).is_file():
            raise FileNotFoundError(f"nothing to resume: {self.out_dir / LAST} does not exist")
        if not resume and (self.out_dir / LAST).exists():
            raise FileExistsError(f"{self.out_dir} holds a training run ({LAST}); pass resume=True (--resume) to continue "
                                  "it, or choose another output folder")
        cfg = self.config
        if cfg.micro_batch % self.procs.world:
            raise ValueError(f"a micro-batch of {cfg.micro_batch} clips does not split evenly between "
                             f"{self.procs.world} processes")
        clip_samples = None if cfg.clip_seconds is None else int(round(cfg.clip_seconds * self.variant.sample_rate))
        self.data: TaskData = load_task_data(task_dir, self.variant.sample_rate, fold=fold, clip_samples=clip_samples,
                                             default_samples=_default_samples(self.variant))
        n_train = len(self.data.sets["train"])
        if n_train < cfg.batch_size:
            raise ValueError(f"the training split holds {n_train} readable clips, fewer than one batch of "
                             f"{cfg.batch_size}; lower --batch-size")
        self.steps_per_epoch = n_train // cfg.batch_size
        self.total_steps = self.steps_per_epoch * cfg.epochs
        resume_state = self._read_resume(self.resume_from) if self.resume_from is not None else None
        if self.resume_from is not None and resume_state is not None:
            # A resumed run's network comes from its last.pt (strictly, as load_model reads it), not from init again.
            embedder = resumed_embedder(self.variant, self.resume_from, device=device)
            self.initialisation = Initialisation(**resume_state[RECORD_KEY]["init"])
        else:
            start = init if init is not None else "random" if isinstance(self.variant, DiverseConfig) else "official"
            embedder, self.initialisation = initial_embedder(self.variant, start, seed=cfg.seed, device=device,
                                                             download=download)
        self.model = FineTuner(embedder, len(self.data.labels), seed=cfg.seed)
        self.trainable = freeze(self.model, cfg)
        net = self.model.net
        if isinstance(net, PaSST):
            net.patchout = cfg.patchout
            net.patchout_generator = torch.Generator()
        elif cfg.patchout is not None:
            raise ValueError(f"Patchout drops PaSST's patch tokens; {self.variant.name} has none (leave --patchout off)")
        if isinstance(embedder, Embedder) and isinstance(self.variant, VariantConfig):
            # Training keeps every activation for the backward pass anyway: one chunk per micro-batch is fastest.
            per_clip = embedder.bytes_per_window(self.data.sets["train"].n_samples, tuple(self.variant.scene_levels))
            embedder.memory_budget_mb = max(1.0, 1.01 * per_clip * cfg.micro_batch / 2**20)
        self.optimizer = torch.optim.AdamW(parameter_groups(self.model, cfg))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.scaler = torch.amp.GradScaler(device.type) if self.precision == "fp16" else None
        self.wrapped: nn.Module = self.model
        if self.procs.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.wrapped = DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None)
        self.metrics = task_metrics(self.data.task.info.evaluation, "scene")
        self.progress = progress and self.procs.main
        self.on_step: Callable[[StepRecord], None] | None = None
        self._stop = threading.Event()
        self.epoch, self.batch, self.step, self._saved_step = 0, 0, 0, 0
        self.best: dict[str, Any] | None = None
        self.elapsed = 0.0
        if self.resume_from is not None and resume_state is not None:
            self._restore(self.resume_from, resume_state)

    # -- the schedule -------------------------------------------------------------------------------------------

    def _lr_factor(self, step: int) -> float:
        """Multiplier of each group's peak learning rate after ``step`` optimiser steps."""
        warmup = round(self.config.warmup * self.total_steps)
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if self.config.schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, self.total_steps - warmup)
        if self.config.schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    # -- stopping ---------------------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop after the current optimiser step, writing a resumable ``last.pt`` (what Ctrl-C and SIGTERM do)."""
        self._stop.set()

    @contextmanager
    def _signals(self) -> Iterator[None]:
        """Ctrl-C and SIGTERM request a stop; a second Ctrl-C interrupts at once. The previous handlers come back after."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, _frame: object) -> None:
            logger.warning("%s: stopping after this step and writing %s (Ctrl-C again to abort at once)",
                           signal.Signals(signum).name, self.out_dir / LAST)
            self.request_stop()
            signal.signal(signal.SIGINT, signal.default_int_handler)

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    # -- data ---------------------------------------------------------------------------------------------------

    def _batch(self, clips: ClipSet, indices: np.ndarray, *, epoch: int | None) -> tuple[Tensor, Tensor]:
        """Audio ``(n, n_samples)`` and targets ``(n, n_labels)`` of ``indices`` on the device, cropped at random
        offsets keyed by the epoch (training) or from the start (``epoch=None``); a file that can no longer be read is
        left out with a warning."""
        audio, targets = [], []
        for index in indices:
            spare = int(clips.lengths[index]) - clips.n_samples
            offset = 0
            if epoch is not None and spare > 0:
                offset = int(np.random.default_rng(step_seed(self.config.seed, _CROP, epoch, int(index))).integers(spare + 1))
            try:
                audio.append(clips.clip(int(index), offset))
            except (OSError, ValueError) as err:  # AudioReadError is a ValueError; a vanished file an OSError
                logger.warning("left out of this batch: %s", err)
                continue
            targets.append(clips.targets[index])
        device = self.procs.device
        if not audio:
            return torch.zeros(0, clips.n_samples, device=device), torch.zeros(0, clips.targets.shape[1], device=device)
        return torch.from_numpy(np.stack(audio)).to(device), torch.from_numpy(np.stack(targets)).to(device)

    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng(step_seed(self.config.seed, _ORDER, epoch)).permutation(len(self.data.sets["train"]))

    def _loss(self, logits: Tensor, targets: Tensor) -> Tensor:
        """The task loss: cross-entropy on a multiclass task (soft targets under mixup), binary cross-entropy on a
        multilabel one, as heareval's MLP trains; mean over the clips."""
        logits = logits.float()
        if self.data.multilabel:
            return F.binary_cross_entropy_with_logits(logits, targets)
        return F.cross_entropy(logits, targets)

    def _mixup(self, audio: Tensor, targets: Tensor, keys: tuple[int, ...]) -> tuple[Tensor, Tensor]:
        """Each clip mixed with the previous one of its micro-batch: ``l x_i + (1 - l) x_(i-1)``, ``l ~ Beta(alpha, alpha)``
        per clip (folded to ``l >= 1/2`` so that the clip's own content dominates), targets alike."""
        alpha = self.config.mixup
        if alpha is None or len(audio) < 2:
            return audio, targets
        rng = np.random.default_rng(step_seed(self.config.seed, _MIXUP, *keys))
        draw = rng.beta(alpha, alpha, size=len(audio))
        lam = torch.from_numpy(np.maximum(draw, 1 - draw).astype(np.float32)).to(audio.device)[:, None]
        return lam * audio + (1 - lam) * audio.roll(1, 0), lam * targets + (1 - lam) * targets.roll(1, 0)

    # -- one step -----------------------------------------------------------------------------------------------

    def _autocast(self) -> Any:
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.procs.device.type, dtype=self.autocast_dtype)

    def train_step(self, indices: np.ndarray, epoch: int) -> StepRecord:
        """One optimiser step on the clips ``indices`` of the training split (the global batch: every process passes the
        same indices and takes its share), as :meth:`run` takes them; for benchmarks and tests, with the model in
        training mode (``trainer.model.train()``, which :meth:`run` sets: Patchout acts in it only).

        Raises:
            NonFiniteLossError: the loss, the network's output or the gradient norm is NaN or Inf.
        """
        cfg, procs, net = self.config, self.procs, self.model.net
        started = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        sums = torch.zeros(5, dtype=torch.float64)  # task loss, BECR term, Gini (weighted), clips, clips with a Gini
        for micro in range(cfg.accumulate):
            chunk = indices[micro * cfg.micro_batch: (micro + 1) * cfg.micro_batch]
            audio, targets = self._batch(self.data.sets["train"], chunk[procs.rank:: procs.world], epoch=epoch)
            if not procs.all_agree(len(audio) > 0):
                raise RuntimeError(f"step {self.step + 1}: a process has no readable clip left in its share of the "
                                   "batch; the task's audio changed while training (see the warnings above)")
            audio, targets = self._mixup(audio, targets, (self.step, micro, procs.rank))
            if isinstance(net, PaSST):
                net.patchout_generator.manual_seed(step_seed(cfg.seed, _PATCHOUT, self.step, micro))  # type: ignore[union-attr]
            sync = (self.wrapped.no_sync() if procs.world > 1 and micro < cfg.accumulate - 1  # type: ignore[operator]
                    else nullcontext())
            with sync:
                try:
                    with self._autocast():
                        embedding, logits = self.wrapped(audio)
                except FloatingPointError as err:  # the network's own check of its outputs
                    raise self._non_finite(f"the network's output ({err})", epoch) from err
                task = self._loss(logits, targets)
                batch_embeddings = procs.gather(embedding.float())  # BECR's covariance is over the global micro-batch
                becr = None
                if cfg.becr is not None:
                    becr = becr_loss(batch_embeddings, cfg.becr.epsilon, form=cfg.becr.form)
                    loss = (1 - cfg.becr.lam) * task + cfg.becr.lam * becr
                else:
                    loss = task
                if not procs.all_agree(bool(torch.isfinite(loss.detach()))):
                    raise self._non_finite(f"the loss ({float(loss.detach())})", epoch)
                scaled = loss / cfg.accumulate
                (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            weight = len(audio)
            # A Gini index needs 2 embeddings: a micro-batch of one clip (with accumulation) has none.
            gini_weight = weight if len(batch_embeddings) > 1 else 0
            gini = float(gini_index(batch_embeddings.detach())) if gini_weight else 0.0
            sums += torch.tensor([float(task.detach()) * weight, float(becr.detach()) * weight if becr is not None else 0.0,
                                  gini * gini_weight, weight, gini_weight], dtype=torch.float64)
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        clip = cfg.grad_clip if cfg.grad_clip is not None else math.inf
        norm = torch.nn.utils.clip_grad_norm_(params, clip)
        if self.scaler is None and not bool(torch.isfinite(norm)):
            raise self._non_finite(f"the gradient norm ({float(norm)})", epoch)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        lr = self.optimizer.param_groups[0]["lr"]  # the rate this step used, before the schedule moves on
        self.scheduler.step()
        self.step += 1
        if procs.world > 1:
            import torch.distributed as dist

            dist.all_reduce(sums)
        task_loss, becr_term = (float(v) for v in sums[:2] / sums[3])
        batch_gini = float(sums[2] / sums[4]) if sums[4] else None
        loss_value = task_loss if cfg.becr is None else (1 - cfg.becr.lam) * task_loss + cfg.becr.lam * becr_term
        seconds = time.perf_counter() - started
        return StepRecord(self.step, epoch + 1, loss_value, task_loss, becr_term if cfg.becr is not None else None,
                          batch_gini, lr, round(self.elapsed + seconds, 3),
                          float(sums[3]) / seconds)

    def _non_finite(self, what: str, epoch: int) -> NonFiniteLossError:
        last = self.out_dir / LAST
        good = f"the last good checkpoint is {last} (step {self._saved_step})" if last.is_file() else \
            "no checkpoint was written yet"
        hint = "" if self.precision == "fp32" else f"; or train in fp32 instead of {self.precision}"
        return NonFiniteLossError(f"{what} is not finite at step {self.step + 1} (epoch {epoch + 1}); stopped without "
                                  f"saving that state; {good}. Lower the learning rate (--lr) or the gradient clip (--grad-clip)"
                                  f"{hint}")

    # -- validation -----------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def predict(self, role: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Embeddings, predicted scores (softmax or sigmoid of the head) and targets of every clip of ``role``."""
        clips = self.data.sets[role]
        self.model.eval()
        embeddings, scores, targets = [], [], []
        try:
            for start in range(0, len(clips), self.config.micro_batch):
                indices = np.arange(start, min(start + self.config.micro_batch, len(clips)))
                audio, target = self._batch(clips, indices, epoch=None)
                if not len(audio):
                    continue
                with self._autocast():
                    embedding, logits = self.model(audio)
                logits = logits.float()
                scores.append((logits.sigmoid() if self.data.multilabel else logits.softmax(-1)).cpu().numpy())
                embeddings.append(embedding.float().cpu().numpy())
                targets.append(target.cpu().numpy())
        finally:
            self.model.train()
        return np.concatenate(embeddings), np.concatenate(scores), np.concatenate(targets)

    def score(self, role: str) -> tuple[dict[str, float], float | None]:
        """The task's metrics on ``role`` (the first selects the best epoch), and the Gini index of its embeddings."""
        embeddings, scores, targets = self.predict(role)
        values = {m.name: float(m.compute(scores, targets)) for m in self.metrics}
        gini = float(gini_index(embeddings)) if len(embeddings) > 1 else None
        return values, gini

    def _better(self, values: dict[str, float]) -> bool:
        if self.best is None:
            return True
        metric = self.metrics[0]
        new, old = values[metric.name], self.best["valid"][metric.name]
        return new > old if metric.higher_is_better else new < old

    # -- checkpoints ----------------------------------------------------------------------------------------------

    def _record(self) -> dict[str, Any]:
        task = self.data.task
        return {
            "task": {"name": task.info.name, "path": str(task.path), "sha256": task.sha256, "fold": self.data.fold,
                     "splits": {k: list(v) for k, v in self.data.splits.items()}, "labels": list(task.info.labels),
                     "prediction_type": task.info.prediction_type, "metric": self.metrics[0].name},
            "head": {k: v.detach().cpu() for k, v in self.model.head.state_dict().items()},
            "config": self.config.to_dict(),
            "init": self.initialisation.to_dict(),
            "precision": self.precision,
            "processes": self.procs.world,
            "parameters": self.trainable,
            "epoch": self.epoch,
            "step": self.step,
            "best": self.best,
        }

    def _save(self, name: str, *, resumable: bool) -> Path:
        """Write ``name`` atomically (rank 0): the network's weights in the package's format with the run's record, and
        for ``last.pt`` the state a resume needs (optimiser, schedule, scaler, position)."""
        path = self.out_dir / name
        if self.procs.main:
            extra: dict[str, Any] = {RECORD_KEY: self._record(), **self.model.checkpoint_extra()}
            if resumable:
                extra[RESUME_KEY] = {
                    "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                    "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                    "epoch": self.epoch, "batch": self.batch, "step": self.step, "elapsed": self.elapsed,
                }

            def write(stream: BinaryIO) -> None:
                save_checkpoint(stream, self.model.net, self.model.net.config, self.variant.name, extra=extra)

            write_atomic(path, write)
            if resumable:
                self._saved_step = self.step
        self.procs.barrier()
        return path

    def _read_resume(self, path: Path) -> dict[str, Any]:
        """``last.pt``'s contents, checked to be this run's (same variant, task files, fold, settings, precision)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        record, resume = state.get(RECORD_KEY), state.get(RESUME_KEY)
        if record is None or resume is None:
            raise CheckpointError(f"{path} is not a resumable training checkpoint (no {RECORD_KEY!r} or {RESUME_KEY!r})")
        problems = []
        if state.get("variant") != self.variant.name:
            problems.append(f"variant {state.get('variant')!r} (now {self.variant.name!r})")
        if record["task"]["sha256"] != self.data.task.sha256 or record["task"]["fold"] != self.data.fold:
            problems.append(f"task {record['task']['path']} fold {record['task']['fold']} (the task files or fold differ)")
        if record["config"] != self.config.to_dict():
            changed = sorted(k for k, v in self.config.to_dict().items() if record["config"].get(k) != v)
            problems.append("settings " + ", ".join(f"{k}={record['config'].get(k)!r} (now {self.config.to_dict()[k]!r})"
                                                    for k in changed))
        if record["precision"] != self.precision:
            problems.append(f"precision {record['precision']} (now {self.precision})")
        if problems:
            raise ValueError(f"{path} belongs to another run: " + "; ".join(problems) + ". Resume with the same options")
        return state

    def _restore(self, path: Path, state: dict[str, Any]) -> None:
        """Take up the run saved in ``state`` (read from ``path``): the network came from it already; here the head,
        the optimiser, the schedule, the scaler and the position."""
        record, resume = state[RECORD_KEY], state[RESUME_KEY]
        self.model.head.load_state_dict(record["head"])  # copies into the parameters the optimiser holds
        self.optimizer.load_state_dict(resume["optimizer"])
        self.scheduler.load_state_dict(resume["scheduler"])
        if self.scaler is not None and resume["scaler"] is not None:
            self.scaler.load_state_dict(resume["scaler"])
        self.epoch, self.batch, self.step = resume["epoch"], resume["batch"], resume["step"]
        self.elapsed, self.best, self._saved_step = resume["elapsed"], record["best"], resume["step"]
        logger.info("resuming %s at step %d (epoch %d, batch %d)", path, self.step, self.epoch + 1, self.batch)

    # -- the run --------------------------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        """Train to the last epoch (or to a requested stop), validating after each.

        Raises:
            TrainingInterrupted: stopped on request after writing a resumable ``last.pt``.
            NonFiniteLossError: the loss or the gradients became NaN or Inf.
        """
        with ExitStack() as stack:
            if self.procs.main:
                stack.enter_context(folder_lock(self.out_dir, ".train.lock", "hear-gear train run"))
            stack.enter_context(self._signals())
            log = stack.enter_context(TrainLog(self.out_dir / LOG, self.step)) if self.procs.main else None
            if self.procs.main:
                write_atomic(self.out_dir / SKIPPED, json.dumps([s.to_dict() for s in self.data.skipped], indent=1).encode())
            self.model.train()
            bar = self._bar(stack)
            while self.epoch < self.config.epochs:
                order = self._order(self.epoch)
                while self.batch < self.steps_per_epoch:
                    b = self.config.batch_size
                    record = self.train_step(order[self.batch * b: (self.batch + 1) * b], self.epoch)
                    self.batch += 1
                    self.elapsed = record.seconds
                    if log is not None:
                        log.write(record.to_dict())
                    if bar is not None:
                        bar.update(1)
                        shown = {"becr": record.becr, "gini": record.gini}
                        bar.set_postfix(epoch=record.epoch, loss=f"{record.loss:.4f}",
                                        **{k: f"{v:.4f}" for k, v in shown.items() if v is not None})
                    if self.on_step is not None and self.procs.main:
                        self.on_step(record)
                    if self.procs.any(self._stop.is_set()):
                        path = self._save(LAST, resumable=True)
                        raise TrainingInterrupted(path, self.step)
                self._end_epoch(log)
            return self._finish()

    def _bar(self, stack: ExitStack) -> Any:
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return stack.enter_context(tqdm(total=self.total_steps, initial=self.step, unit="step",
                                        desc=f"train {self.variant.name} on {self.data.task.info.name}"))

    def _end_epoch(self, log: TrainLog | None) -> None:
        """Validate (rank 0), keep ``best.pt`` when the score improved, write ``last.pt``."""
        valid: dict[str, float] = {}
        gini = None
        if self.procs.main:
            valid, gini = self.score("valid")
        self.epoch += 1
        self.batch = 0
        if self.procs.main and log is not None:
            log.write({"kind": "epoch", "epoch": self.epoch, "step": self.step, "valid": valid, "valid_gini": gini,
                       "seconds": round(self.elapsed, 3)})
            logger.info("epoch %d: %s", self.epoch, ", ".join(f"valid {k} {v:.4f}" for k, v in valid.items()))
        improved = self.procs.any(self.procs.main and self._better(valid))
        if improved and self.procs.main:
            self.best = {"epoch": self.epoch, "step": self.step, "valid": valid, "valid_gini": gini}
        if improved:
            self._save(BEST, resumable=False)
        self._save(LAST, resumable=True)

    def _finish(self) -> TrainResult:
        """Score ``best.pt`` on the test split, write the curves and ``report.md`` (rank 0)."""
        best, last = self.out_dir / BEST, self.out_dir / LAST
        test: dict[str, float] = {}
        test_gini = None
        if self.procs.main:
            state = torch.load(best, map_location="cpu", weights_only=True)
            current = {k: v.clone() for k, v in self.model.state_dict().items()}
            self.model.net.load_state_dict(state["state_dict"])  # copies: the optimiser's parameters stay the model's
            self.model.head.load_state_dict(state[RECORD_KEY]["head"])
            test, test_gini = self.score("test")
            self.model.load_state_dict(current)
            rows = read_log(self.out_dir / LOG)
            write_curves(rows, self.out_dir / "train-curves.png", metric=self.metrics[0].name)
            write_report(self.out_dir / "report.md", record=self._record(), test=test, test_gini=test_gini, rows=rows,
                         skipped=[s.to_dict() for s in self.data.skipped], variant=self.variant)
        self.procs.barrier()
        assert self.best is not None or not self.procs.main
        best_record = self.best or {"epoch": 0, "valid": {}}
        return TrainResult(self.out_dir, best, last, best_record["epoch"], best_record["valid"], test, test_gini, self.step,
                           self.elapsed, [s.to_dict() for s in self.data.skipped])


def trainable_by_name(name: str) -> Trainable:
    """The registered diverse model or variant called ``name``.

    Raises:
        KeyError: neither, with the closest variant names.
    """
    return get_diverse(name) if is_diverse(name) else get_variant(name)


def _default_samples(variant: Trainable) -> int:
    """Training clip length (samples) for a task without a ``sample_duration``: a scene window, or a diverse window."""
    return variant.window_samples if isinstance(variant, DiverseConfig) else variant.scene_window_samples


def train(variant: str | Trainable, task_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
          config: TrainConfig | None = None, **options: Any) -> TrainResult:
    """Train ``variant`` on the scene task ``task_dir`` into ``out_dir`` (:class:`Trainer`, with the same options) and
    return what the run produced. ``out_dir/best.pt`` then works wherever a checkpoint does: ``load_model(path)`` of
    the variant's HEAR module, ``hear-gear embed|evaluate|validate --model``."""
    return Trainer(variant, task_dir, out_dir, config, **options).run()
