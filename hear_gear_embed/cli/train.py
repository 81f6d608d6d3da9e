"""``hear-gear train``: fine-tune a variant's network with a new task head on HEAR scene task folders, with Patchout,
BECR and mixup, on one process or many (``torchrun``); ``best.pt`` then works wherever a checkpoint does."""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
from pathlib import Path

from ..diverse.config import DiverseConfig
from ..embedding.config import VariantConfig
from ..training.config import AUDIOSET_HEADS, SCHEDULES, Becr, TrainConfig, default_patchout
from ..util.precision import FLOAT_PRECISIONS

EXIT_USAGE = 2
"""Exit status when nothing could start: bad option or task folder, missing weights or extra."""
EXIT_FAILED = 1
"""Exit status when a run failed after starting (a non-finite loss); the other tasks still train."""
EXIT_INTERRUPTED = 130
_TRAIN_EXTRA = ("sklearn", "soundfile", "matplotlib", "tqdm")
"""The modules of the ``train`` extra that training imports."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``train`` on the subcommand parser ``sub``."""
    parser = sub.add_parser(
        "train", help="fine-tune a variant on HEAR scene task folders (Patchout, BECR, torchrun)",
        description="Fine-tune a variant's network with a new linear head on its scene embedding, on each HEAR scene "
        "task folder (hear-gear task make makes one from a CSV of labelled audio), validating each epoch with the "
        "task's first metric. Writes best.pt and last.pt (this package's checkpoint format: load_model(path), "
        "hear-gear embed|evaluate|validate --model), train-log.jsonl, train-curves.png and report.md into --out "
        "(one sub-folder per task). Ctrl-C or SIGTERM writes a resumable last.pt; --resume continues it. Under "
        "torchrun the processes split each batch. Exit status 1 when a run failed, 2 when nothing could start, 130 "
        "when interrupted.",
    )
    parser.add_argument("variant", help="a variant with a network (e.g. passt_base, passt_cqt, tiny_test) or a diverse "
                        "model (diverse: seed 001's streams, each with its own transformer)")
    parser.add_argument("task_dirs", nargs="+", metavar="TASK_DIR", help="HEAR scene task folders")
    parser.add_argument("--out", required=True, help="output folder; each task trains into OUT/<task name>")
    parser.add_argument("--init", metavar="official|random|PATH",
                        help="starting weights: the official checkpoint (for passt_cqt, the Mel transformer behind the "
                        "CQT frontend), seeded random weights, or a checkpoint file (default: official for a variant, "
                        "random for a diverse model, which has no official weights)")
    parser.add_argument("--streams", metavar="LIST",
                        help="diverse models: train these streams only, comma-separated (e.g. pitch,timbre; default all)")
    parser.add_argument("--neuralogram", metavar="MODULE",
                        help="diverse models: the network whose timestamp embeddings form the neuralogram stream, a "
                        "variant or any HEAR module (default: the model's, passt_base for diverse)")
    parser.add_argument("--neuralogram-weights", metavar="PATH", default="",
                        help="diverse models: the weights of --neuralogram (default: its own default)")
    parser.add_argument("--fold", type=int, default=0, help="train / valid / test assignment of a k-fold task (default 0)")
    defaults = TrainConfig()
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help=f"default {defaults.epochs}")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help=f"clips per optimiser step over all processes (default {defaults.batch_size})")
    parser.add_argument("--accumulate", type=int, default=defaults.accumulate,
                        help="micro-batches per optimiser step (gradient accumulation; default 1)")
    parser.add_argument("--lr", type=float, default=defaults.lr, help=f"network's peak learning rate (default {defaults.lr})")
    parser.add_argument("--head-lr", type=float, default=defaults.head_lr,
                        help=f"task head's peak learning rate (default {defaults.head_lr})")
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay,
                        help=f"AdamW weight decay (default {defaults.weight_decay})")
    parser.add_argument("--warmup", type=float, default=defaults.warmup,
                        help=f"share of the steps with a rising learning rate (default {defaults.warmup})")
    parser.add_argument("--schedule", choices=SCHEDULES, default=defaults.schedule, help="after warm-up (default cosine)")
    parser.add_argument("--grad-clip", type=float, default=defaults.grad_clip,
                        help=f"largest gradient norm (default {defaults.grad_clip}; 0: no clipping)")
    parser.add_argument("--becr", type=float, nargs=2, metavar=("LAMBDA", "EPSILON"),
                        help="BECR regulariser (seed 000's best: 0.05 0.7); default off")
    parser.add_argument("--becr-form", choices=("trace", "eig"), default="trace",
                        help="Gini index from traces (default) or an eigendecomposition")
    parser.add_argument("--patchout", nargs="*", metavar="N",
                        help="structured Patchout: FREQ_ROWS TIME_COLUMNS removed (of a full-length input); without "
                        "numbers, seed 003's defaults for the variant's STFT hop (10 ms: 4 40, 5 ms: 6 100, 3.125 ms: "
                        "6 150); default off")
    parser.add_argument("--patchout-unstructured", type=float, default=0.0, metavar="SHARE",
                        help="also remove this share of the remaining patch tokens at random (default 0)")
    parser.add_argument("--mixup", type=float, metavar="ALPHA", help="mixup with Beta(ALPHA, ALPHA); default off")
    parser.add_argument("--freeze-blocks", type=int, default=0,
                        help="freeze the patch embedding and the first N transformer blocks (default 0)")
    parser.add_argument("--audioset-head", choices=AUDIOSET_HEADS, default=defaults.audioset_head,
                        help="keep level H as AudioSet's logits (default) or train the AudioSet head too")
    parser.add_argument("--clip-seconds", type=float,
                        help="crop (at random) or pad training clips to this length (default: the task's duration)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of every random draw (default 0)")
    parser.add_argument("--precision", default="fp32", choices=FLOAT_PRECISIONS,
                        help="fp32, or bf16 / fp16 autocast where the hardware computes them fast (default fp32)")
    parser.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (default: CUDA when available)")
    parser.add_argument("--resume", action="store_true", help="continue the runs whose last.pt is in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace, hop_ms: float) -> TrainConfig:
    """The :class:`TrainConfig` the options describe, for a variant whose STFT hop is ``hop_ms``.

    Raises:
        ValueError: an option out of range (named).
    """
    from ..model.config import Patchout

    patchout = None
    if args.patchout is not None:
        if len(args.patchout) not in (0, 2):
            raise ValueError(f"--patchout takes no number or two (frequency rows, time columns), got {args.patchout}")
        try:
            counts = [int(n) for n in args.patchout]
        except ValueError:
            raise ValueError(f"--patchout counts must be integers, got {args.patchout}") from None
        structured = default_patchout(hop_ms) if not counts else Patchout(counts[0], counts[1])
        patchout = Patchout(structured.freq, structured.time, args.patchout_unstructured)
    elif args.patchout_unstructured:
        patchout = Patchout(proportion=args.patchout_unstructured)
    return TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, accumulate=args.accumulate, lr=args.lr, head_lr=args.head_lr,
        weight_decay=args.weight_decay, warmup=args.warmup, schedule=args.schedule,
        grad_clip=args.grad_clip or None, becr=Becr(args.becr[0], args.becr[1], args.becr_form) if args.becr else None,
        patchout=patchout, mixup=args.mixup, freeze_blocks=args.freeze_blocks, audioset_head=args.audioset_head,
        clip_seconds=args.clip_seconds, seed=args.seed,
    )


def trainable_from_args(args: argparse.Namespace) -> VariantConfig | DiverseConfig:
    """The variant or diverse model ``args.variant`` names, with the streams and neuralogram the options choose.

    Raises:
        KeyError: an unknown name. ValueError: a diverse option for a variant, Patchout for a diverse model, an unknown
            stream, a neuralogram for streams without one.
    """
    from ..diverse.config import get_diverse, is_diverse
    from ..registry import get_variant

    if not is_diverse(args.variant):
        given = [flag for flag, value in (("--streams", args.streams), ("--neuralogram", args.neuralogram),
                                          ("--neuralogram-weights", args.neuralogram_weights)) if value]
        if given:
            raise ValueError(f"{', '.join(given)} apply to diverse models only, not to variant {args.variant}")
        return get_variant(args.variant)
    model = get_diverse(args.variant)
    if args.neuralogram_weights and not args.neuralogram:
        raise ValueError("--neuralogram-weights needs --neuralogram (the network they belong to)")
    if args.patchout is not None or args.patchout_unstructured:
        raise ValueError(f"--patchout drops PaSST's patch tokens; diverse model {args.variant} has none")
    if args.streams:
        model = model.with_streams([name.strip() for name in args.streams.split(",") if name.strip()])
    if args.neuralogram:  # after the streams: a choice without a neuralogram stream is refused, not ignored
        model = model.with_source(args.neuralogram, args.neuralogram_weights)
    return model


def run(args: argparse.Namespace) -> int:
    """Train ``args.variant`` on each of ``args.task_dirs``; see the parser's description for the exit statuses."""
    missing = [name for name in _TRAIN_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        return _usage_error(f"training needs the train extra ({', '.join(missing)} missing): "
                            'pip install "hear_gear_embed[train]"')
    try:
        variant = trainable_from_args(args)
        # A diverse model has no STFT hop for Patchout's defaults, and Patchout was refused for it above.
        config = config_from_args(args, variant.frontend.hop_ms if isinstance(variant, VariantConfig) else math.nan)
    except (KeyError, ValueError) as err:
        return _usage_error(str(err.args[0]) if isinstance(err, KeyError) else str(err))

    from ..evaluation.downstream.tasks import TaskError, load_task
    from ..model.hub import WeightsUnavailableError
    from ..training.distributed import teardown
    from ..training.trainer import LAST, NonFiniteLossError, Trainer, TrainingInterrupted
    from ..util.device import DeviceUnavailableError

    try:
        names = [load_task(path).info.name for path in args.task_dirs]
    except TaskError as err:
        return _usage_error(str(err))
    if len(set(names)) != len(names):
        return _usage_error(f"two task folders share a task name ({', '.join(names)}): their outputs would collide")
    if args.resume and not any((Path(args.out) / name / LAST).is_file() for name in names):
        return _usage_error(f"nothing to resume: no task folder under {args.out} holds a {LAST}")
    status = 0
    try:
        for task_dir, name in zip(args.task_dirs, names, strict=True):
            out = Path(args.out) / name
            # A task the stopped run had not reached yet has nothing to resume: it starts from the beginning.
            resume = args.resume and (out / LAST).is_file()
            try:
                trainer = Trainer(variant, task_dir, out, config, init=args.init, fold=args.fold, device=args.device,
                                  precision=args.precision, resume=resume, progress=not args.no_progress)
            except WeightsUnavailableError as err:
                return _usage_error(f"{err}\n(offline, --init random trains from seeded random weights)")
            except (ValueError, OSError, DeviceUnavailableError) as err:
                return _usage_error(f"{name}: {err}")
            try:
                result = trainer.run()
            except TrainingInterrupted as err:
                print(f"interrupted: {err}", file=sys.stderr)
                return EXIT_INTERRUPTED
            except KeyboardInterrupt:  # a second Ctrl-C: no time to save
                print(f"aborted: {out / 'last.pt'} holds the state of the last epoch or stop, if any", file=sys.stderr)
                return EXIT_INTERRUPTED
            except NonFiniteLossError as err:
                print(f"failed: {name}: {err}", file=sys.stderr)
                status = EXIT_FAILED
                continue
            if not trainer.procs.main:
                continue
            scores = ", ".join(f"{k} {v:.4f}" for k, v in result.test.items())
            print(f"{name}: best epoch {result.best_epoch}, test {scores}; {result.best} (report: {out / 'report.md'})")
    finally:
        teardown()
    return status


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE
