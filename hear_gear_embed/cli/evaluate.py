"""``hear-gear evaluate``: score a HEAR module on HEAR 2021 tasks with kNN, a linear probe and heareval's MLP."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from ..util.precision import PRECISIONS
from .options import add_compile_option, compile_choice

EXIT_FAILED_TASKS = 1
"""Exit status when some task or protocol failed (the others' scores are written)."""
EXIT_USAGE = 2
"""Exit status when nothing could start: bad option or task folder, an output folder that cannot be written, missing
weights or missing extra."""
EXIT_INTERRUPTED = 130
_EVAL_EXTRA = ("sklearn", "soundfile")
"""The modules of the ``eval`` extra that evaluation imports."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``evaluate`` on the subcommand parser ``sub``."""
    parser = sub.add_parser(
        "evaluate", help="score a HEAR module on HEAR 2021 tasks (kNN, linear probe, heareval's MLP)",
        description="Score a HEAR module on HEAR 2021 task folders, read as heareval 2021.1.3 reads them (scene and "
        "event tasks, train/valid/test and k-fold splits, audio at the model's sample rate): embed every split "
        "(cached on disk), fit each protocol and score its test splits with the task's metrics. Writes scores.json "
        "(task -> protocol -> metric -> score) and scores.md into --out and prints the table. A --cache that cannot be "
        "written is read, and nothing new is kept in it. Exit status 1 when a task or protocol failed (the others are "
        "scored), 2 when nothing could start (--out not writable included).",
    )
    parser.add_argument(
        "module", help="a variant of this package (e.g. handcrafted) or any importable HEAR module (e.g. hearbaseline)"
    )
    parser.add_argument("task_dirs", nargs="+", metavar="TASK_DIR",
                        help="HEAR task folders (task_metadata.json, labelvocabulary.csv, <split>.json, "
                        "<sample rate>/<split>/*.wav)")
    parser.add_argument("--model", help="checkpoint passed to load_model (default: the module's own default)")
    parser.add_argument("--protocol", metavar="LIST",
                        help="comma-separated protocols, e.g. knn,linear (default: every protocol)")
    parser.add_argument("--out", help="output folder (default: evaluate/<module>)")
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--cache", metavar="DIR", help="embeddings cache, shareable between runs; one that cannot be "
                       "written is only read (default: <out>/embeddings)")
    cache.add_argument("--no-cache", action="store_true", help="embed every task, keeping nothing on disk")
    parser.add_argument("--device", help="torch device of the module and the protocols, e.g. cpu or cuda:0 (default: CUDA "
                        "when available)")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS,
                        help="format of the network's matrix products, passed to load_model (default: fp32; bf16 on "
                        "GPUs and CPUs with bf16 units, fp16 on GPUs, int8 on CPUs with int8 units)")
    add_compile_option(parser)
    parser.add_argument("--seed", type=int, default=42, help="seed of the protocols (default 42, heareval's)")
    parser.add_argument("--batch-samples", type=int, metavar="N",
                        help="most samples of audio per call of the module (default: heareval's batch size estimate)")
    parser.add_argument("--chunks", type=float, metavar="SECONDS",
                        help="seed 001's protocol for scene tasks: cut each file into chunks of SECONDS, embed each as a "
                        "scene, fit on the chunks and score each file by the mean of its chunks' predictions (default: "
                        "one embedding per file, as heareval)")
    parser.add_argument("--batch-size", type=int, metavar="N",
                        help="most files per call of the module (default: bound by --batch-samples only)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate ``args.module`` on ``args.task_dirs``; exit status 0 when every task and protocol was scored, 1 when
    some failed, 2 when nothing could start."""
    missing = [name for name in _EVAL_EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        return _usage_error(f"evaluation needs the eval extra ({', '.join(missing)} missing): "
                            'pip install "hear_gear_embed[eval]"')
    protocols = [p.strip() for p in args.protocol.split(",")] if args.protocol is not None else None
    if protocols is not None and not all(protocols):
        return _usage_error(f"--protocol {args.protocol!r}: give protocol names separated by commas")
    if any(n is not None and n < 1 for n in (args.batch_samples, args.batch_size)):
        return _usage_error("--batch-samples and --batch-size must be at least 1")
    out = Path(args.out or Path("evaluate") / args.module.rsplit(".", 1)[-1])
    if out.exists() and not out.is_dir():
        return _usage_error(f"--out {out} exists and is not a folder")
    cache = None if args.no_cache else Path(args.cache or out / "embeddings")

    from ..util.files import check_writable

    try:
        check_writable(out)  # before the module is loaded (its weights may be downloaded): no work that cannot be written
    except OSError as err:
        return _usage_error(f"--out: {err}")

    from ..evaluation.downstream.embeddings import DEFAULT_BATCH_SAMPLES
    from ..evaluation.downstream.protocols import PROTOCOLS
    from ..evaluation.downstream.runner import SCORES_JSON, SCORES_MD, evaluate, scores_markdown
    from ..hear.spec import load
    from ..model.hub import WeightsUnavailableError
    from ..util.device import DeviceUnavailableError, resolve_device

    try:
        device = resolve_device(args.device)
        model = load(args.module, weights=args.model or None, precision=args.precision, device=device,
                     compile=compile_choice(args))
        scores = evaluate(model, args.task_dirs, out_dir=out, protocols=protocols or PROTOCOLS, cache_dir=cache,
                          seed=args.seed, device=device, batch_samples=args.batch_samples or DEFAULT_BATCH_SAMPLES,
                          batch_size=args.batch_size, chunk_seconds=args.chunks)
    except ModuleNotFoundError as err:  # a module that find_spec saw but that cannot be imported
        hint = ': pip install "hear_gear_embed[eval]"' if (err.name or "").split(".")[0] in _EVAL_EXTRA else ""
        return _usage_error(f"{err}{hint}")
    except WeightsUnavailableError as err:
        return _usage_error(f"{err}\n(offline, pick a weight-free variant: lowlevel_mel, lowlevel_cqt, handcrafted)")
    except (ValueError, OSError, DeviceUnavailableError) as err:  # bad module, checkpoint, option or task folder
        return _usage_error(str(err))
    except KeyboardInterrupt:
        print(f"interrupted: the scores of the finished tasks are in {out / SCORES_JSON}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(scores_markdown(scores), end="")
    print(f"scores: {out / SCORES_JSON} and {out / SCORES_MD}")
    for task, stages in scores["failed"].items():
        for stage, error in stages.items():
            print(f"failed: {task} / {stage}: {error}", file=sys.stderr)
    return EXIT_FAILED_TASKS if scores["failed"] else 0


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE
