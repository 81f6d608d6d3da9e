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
_EVAL_EXTRA = ("sklearn", "soundfile", "matplotlib")
"""The modules of the ``eval`` extra that evaluation imports (matplotlib only for the figures)."""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``evaluate`` and ``evaluate-compare`` on the subcommand parser ``sub``."""
    parser = sub.add_parser(
        "evaluate", help="score a HEAR module on HEAR 2021 tasks (kNN, linear probe, heareval's MLP)",
        description="Score a HEAR module on HEAR 2021 task folders, read as heareval 2021.1.3 reads them (scene and "
        "event tasks, train/valid/test and k-fold splits, audio at the model's sample rate): embed every split "
        "(cached on disk), fit each protocol and score its test splits with the task's metrics. Writes scores.json "
        "(task -> protocol -> metric -> score, the dispersion of each split's embeddings) and scores.md into --out, a "
        "projection figure per task into --out/figures, and prints the table. A --cache that cannot be "
        "written is read, and nothing new is kept in it. Exit status 1 when a task or protocol failed (the others are "
        "scored), 2 when nothing could start (--out not writable included).",
    )
    parser.add_argument(
        "module", help="a variant of this package (e.g. handcrafted), a variant spec (passt[levels=L+M,rf=160+640,hop=5]) "
        "or any importable HEAR module (e.g. hearbaseline); a grid of specs (alternatives joined by |, e.g. "
        "'passt[levels=M|M+H,rf=160|640]') evaluates each into --out/<spec> and compares them in --out"
    )
    parser.add_argument("task_dirs", nargs="+", metavar="TASK_DIR",
                        help="HEAR task folders (task_metadata.json, labelvocabulary.csv, <split>.json, "
                        "<sample rate>/<split>/*.wav)")
    parser.add_argument("--model", help="checkpoint passed to load_model (default: the module's own default)")
    parser.add_argument("--protocol", metavar="LIST",
                        help="comma-separated protocols, e.g. knn,linear (default: every protocol)")
    parser.add_argument("--out", help="output folder (default: evaluate/<module>, evaluate/grid for a grid)")
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
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="worker processes fitting the protocols and drawing the figures while the next task is "
                        "embedded, each on its share of the cores; with --device cuda, they take the GPUs in turn "
                        "(default 1: everything in this process; the scores do not depend on it beyond float rounding)")
    parser.add_argument("--no-figures", action="store_true",
                        help="no projection figure per task (t-SNE takes seconds per task)")
    parser.set_defaults(func=run)
    compare = sub.add_parser(
        "evaluate-compare", help="put several evaluate runs side by side (raw and normalised scores, a figure)",
        description="Read the scores.json of several hear-gear evaluate runs and write comparison.json, comparison.md "
        "and comparison.png (plus comparison_normalised.png) into --out: each task's primary test score per run and "
        "protocol, raw and divided by the best HEAR 2021 score of the task, and the normalised means per category "
        "(speech, music, general). Exit status 2 when a folder is not an evaluate run.",
    )
    compare.add_argument("runs", nargs="+", metavar="RUN", help="hear-gear evaluate output folders (their names "
                         "label the runs)")
    compare.add_argument("--out", default="evaluate-compare", help="output folder (default: evaluate-compare)")
    compare.set_defaults(func=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    """Compare evaluate runs; exit status 2 when one is not a run folder or the output cannot be written."""
    missing = [name for name in ("matplotlib",) if importlib.util.find_spec(name) is None]
    if missing:
        return _usage_error(f"the comparison's figure needs the eval extra ({', '.join(missing)} missing): "
                            'pip install "hear_gear_embed[eval]"')
    from ..evaluation.downstream.compare import COMPARISON_MD, compare_evaluations, comparison_markdown

    try:
        summary = compare_evaluations(args.runs, args.out)
    except (ValueError, OSError) as err:
        return _usage_error(str(err))
    print(comparison_markdown(summary), end="")
    print(f"comparison of {len(args.runs)} runs: {Path(args.out) / COMPARISON_MD}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Evaluate ``args.module`` on ``args.task_dirs``; exit status 0 when every task and protocol was scored, 1 when
    some failed, 2 when nothing could start."""
    needed = [name for name in _EVAL_EXTRA if not (args.no_figures and name == "matplotlib")]
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        return _usage_error(f"evaluation needs the eval extra ({', '.join(missing)} missing): "
                            'pip install "hear_gear_embed[eval]"' + (" (or --no-figures)" if missing == ["matplotlib"]
                                                                     else ""))
    protocols = [p.strip() for p in args.protocol.split(",")] if args.protocol is not None else None
    if protocols is not None and not all(protocols):
        return _usage_error(f"--protocol {args.protocol!r}: give protocol names separated by commas")
    if any(n is not None and n < 1 for n in (args.batch_samples, args.batch_size, args.jobs)):
        return _usage_error("--batch-samples, --batch-size and --jobs must be at least 1")
    from ..registry import get_variant, is_variant
    from ..variant_spec import expand_spec_grid, is_spec_grid

    grid = is_spec_grid(args.module)
    try:
        if grid:
            expand_spec_grid(args.module)  # a bad grid is a usage error before --out is made
        default = "grid" if grid else get_variant(args.module).name if is_variant(args.module) else \
            args.module.rsplit(".", 1)[-1]
    except (ValueError, KeyError) as err:
        return _usage_error(str(err).strip("'\""))
    out = Path(args.out or Path("evaluate") / default)
    if out.exists() and not out.is_dir():
        return _usage_error(f"--out {out} exists and is not a folder")
    cache = None if args.no_cache else Path(args.cache or out / "embeddings")

    from ..util.files import check_writable

    try:
        check_writable(out)  # before the module is loaded (its weights may be downloaded): no work that cannot be written
    except OSError as err:
        return _usage_error(f"--out: {err}")
    if not grid:
        return _evaluate_one(args, args.module, out, cache, protocols)
    return _evaluate_grid(args, out, cache, protocols)


def _evaluate_grid(args: argparse.Namespace, out: Path, cache: Path | None, protocols: list[str] | None) -> int:
    """Each spec of a grid evaluated into ``out/<spec>`` (one embeddings cache for all), then compared into ``out``."""
    from ..evaluation.downstream.compare import COMPARISON_MD, comparison_markdown
    from ..evaluation.downstream.embeddings import DEFAULT_BATCH_SAMPLES
    from ..evaluation.downstream.grid import evaluate_grid
    from ..evaluation.downstream.protocols import PROTOCOLS
    from ..util.device import DeviceUnavailableError, resolve_device

    try:
        device = resolve_device(args.device)
        result = evaluate_grid(args.module, args.task_dirs, out_dir=out, weights=args.model or None,
                               precision=args.precision, device=device, compile=compile_choice(args),
                               protocols=protocols or PROTOCOLS, cache_dir=cache, seed=args.seed,
                               batch_samples=args.batch_samples or DEFAULT_BATCH_SAMPLES, batch_size=args.batch_size,
                               chunk_seconds=args.chunks, jobs=args.jobs, figures=not args.no_figures)
    except ModuleNotFoundError as err:
        hint = ': pip install "hear_gear_embed[eval]"' if (err.name or "").split(".")[0] in _EVAL_EXTRA else ""
        return _usage_error(f"{err}{hint}")
    except (ValueError, DeviceUnavailableError) as err:
        return _usage_error(str(err))
    except KeyboardInterrupt:
        print(f"interrupted: the scores of the finished variants are in {out}/<variant>/", file=sys.stderr)
        return EXIT_INTERRUPTED
    for spec, error in result["failed"].items():
        print(f"failed: {spec}: {error}", file=sys.stderr)
    if result["comparison"] is None:
        return _usage_error(f"no variant of the grid could be evaluated (their errors above; runs in {out})")
    print(comparison_markdown(result["comparison"]), end="")
    print(f"grid of {len(result['specs'])} variants: {out / COMPARISON_MD}; each variant's scores in {out}/<variant>/")
    return EXIT_FAILED_TASKS if result["failed"] else 0


def _evaluate_one(args: argparse.Namespace, module: str, out: Path, cache: Path | None,
                  protocols: list[str] | None) -> int:
    """Evaluate ``module`` into ``out`` and print the scores; the exit status."""
    from ..evaluation.downstream.embeddings import DEFAULT_BATCH_SAMPLES
    from ..evaluation.downstream.protocols import PROTOCOLS
    from ..evaluation.downstream.runner import SCORES_JSON, SCORES_MD, evaluate, scores_markdown
    from ..hear.spec import load
    from ..model.hub import WeightsUnavailableError
    from ..util.device import DeviceUnavailableError, resolve_device

    try:
        device = resolve_device(args.device)
        model = load(module, weights=args.model or None, precision=args.precision, device=device,
                     compile=compile_choice(args))
        scores = evaluate(model, args.task_dirs, out_dir=out, protocols=protocols or PROTOCOLS, cache_dir=cache,
                          seed=args.seed, device=device, batch_samples=args.batch_samples or DEFAULT_BATCH_SAMPLES,
                          batch_size=args.batch_size, chunk_seconds=args.chunks, jobs=args.jobs,
                          figures=not args.no_figures)
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
