"""``hear-gear embed``: audio files and folders to one ``.npz`` of embeddings per file."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..embedding.config import KINDS
from ..registry import get_variant, list_variants
from ..util.precision import PRECISIONS

logger = logging.getLogger(__name__)

EXIT_FAILED_FILES = 1
"""Exit status when some inputs failed (the others' outputs are written)."""
EXIT_USAGE = 2
"""Exit status when nothing could start: bad option, missing weights or missing extra."""
EXIT_INTERRUPTED = 130
GPU_BATCH_SIZE = 16
"""Default files per batch on a GPU. On CPU the default is 1: with 2 cores, batches of 16 ran at 0.72-1.18x
the speed of one file at a time (lowlevel_mel slower, handcrafted slightly faster, passt_base equal)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``embed`` on the subcommand parser ``sub``."""
    parser = sub.add_parser(
        "embed", help="embed audio files and folders into one .npz per file",
        description="Embed audio files, and folders searched recursively (wav, flac, ogg, opus, aiff, mp3), into "
        "one .npz per file under --out (<path relative to the folder>/<file name>.npz): scene and/or timestamp "
        "embeddings, timestamps in ms, and the variant and weights used. Any sample rate (resampled with soxr), "
        "any number of channels (averaged to mono). Files already embedded by the same variant and weights are "
        "skipped unless --overwrite. Unreadable or failing files are reported (also in embed-report.json) and "
        "the exit status is then 1; the other files' outputs are kept.",
    )
    parser.add_argument("paths", nargs="+", help="audio files and folders")
    parser.add_argument("--variant", default="passt_base", metavar="NAME",
                        help=f"model variant: {', '.join(list_variants())} (default passt_base; `hear-gear list` "
                        "describes them)")
    parser.add_argument("--model", help="checkpoint file (default: the variant's official weights, downloaded once)")
    parser.add_argument("--random-weights", type=int, metavar="SEED",
                        help="seeded random weights instead of a checkpoint (tests the pipeline; meaningless embeddings)")
    parser.add_argument("--out", default="embeddings", help="output folder (default: embeddings)")
    parser.add_argument("--kind", action="append", choices=KINDS, dest="kinds",
                        help="embedding kind to compute; repeat for both (default: both)")
    parser.add_argument("--overwrite", action="store_true", help="re-embed files whose outputs exist")
    parser.add_argument("--batch-size", type=int,
                        help=f"most files of equal length per batch (default {GPU_BATCH_SIZE} on a GPU, 1 on CPU, where "
                        "batching measured no faster: benchmarks/bench_cli.py)")
    parser.add_argument("--batch-seconds", type=float, default=600.0,
                        help="most seconds of audio per batch (default 600; bounds memory on long files)")
    parser.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (default: CUDA when available)")
    parser.add_argument("--memory-budget-mb", type=float, help="working memory per chunk of windows (MiB)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="format of the network's matrix products (default fp32): bf16 on GPUs and on CPUs with "
                        "bf16 units (AVX512-BF16, AMX), fp16 on GPUs; outputs are float32, and a run never mixes "
                        "precisions in one output folder (docs/fidelity.md has the error of each)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[tuple[Callable[[int], None] | None, Callable[[int], None] | None]]:
    """``(update, set_total)`` callbacks of a tqdm bar on stderr (shown on a terminal only), or
    ``(None, None)`` when disabled. The bar starts when the number of files is known."""
    if not enabled:
        yield None, None
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    bars: list[tqdm] = []

    def set_total(total: int) -> None:
        bars.append(tqdm(total=total, unit="file", desc="embedding", file=sys.stderr, dynamic_ncols=True, disable=None))

    def update(n: int) -> None:
        bars[-1].update(n)

    try:
        with logging_redirect_tqdm():
            yield update, set_total
    finally:
        for bar in bars:
            bar.close()


def run(args: argparse.Namespace) -> int:
    """Embed ``args.paths``; exit status 0 when every file is done, 1 when some failed, 2 when nothing could start."""
    from ..embedding.embedder import load_embedder, random_embedder
    from ..io import embed_files
    from ..model.hub import WeightsUnavailableError

    try:
        variant = get_variant(args.variant)
    except KeyError as err:
        return _usage_error(str(err.args[0]))
    if Path(args.out).exists() and not Path(args.out).is_dir():
        return _usage_error(f"--out {args.out} exists and is not a folder; outputs go into a folder, one .npz per input")
    if args.random_weights is not None and args.model:
        return _usage_error("--model and --random-weights exclude each other")
    if (args.batch_size is not None and args.batch_size < 1) or args.batch_seconds <= 0:
        return _usage_error("--batch-size must be at least 1 and --batch-seconds positive")
    try:
        if args.random_weights is not None:
            logger.warning("RANDOM WEIGHTS (seed %d): these embeddings test the pipeline and mean nothing",
                           args.random_weights)
            model = random_embedder(variant, args.random_weights, device=args.device,
                                    memory_budget_mb=args.memory_budget_mb, precision=args.precision)
        else:
            model = load_embedder(variant, args.model or "", device=args.device, memory_budget_mb=args.memory_budget_mb,
                                  precision=args.precision)
    except WeightsUnavailableError as err:
        return _usage_error(f"{err}\n(offline, `--random-weights 0` runs the pipeline, or pick a weight-free variant: "
                            "lowlevel_mel, lowlevel_cqt, handcrafted)")
    except (ValueError, OSError, RuntimeError) as err:  # bad checkpoint, option or device
        return _usage_error(str(err))
    kinds = tuple(args.kinds) if args.kinds else KINDS
    batch_size = args.batch_size or (GPU_BATCH_SIZE if model.device.type == "cuda" else 1)
    try:
        with _progress_bar(not args.no_progress) as (update, set_total):
            report = embed_files(args.paths, model, args.out, kinds=kinds, overwrite=args.overwrite,
                                 batch_size=batch_size, batch_seconds=args.batch_seconds,
                                 progress=update, on_total=set_total)
    except ModuleNotFoundError as err:  # the cli extra is not installed
        hint = "" if "pip install" in str(err) else ': pip install "hear_gear_embed[cli]"'
        return _usage_error(f"{err}{hint}")
    except KeyboardInterrupt:
        print(f"interrupted: finished outputs are kept in {args.out}; run the same command again to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    for failure in report.failed:
        print(f"failed: {failure.source}: {failure.error}", file=sys.stderr)
    print(f"{variant.name}: {report.summary()}; outputs and embed-report.json in {Path(args.out)}")
    return EXIT_FAILED_FILES if report.failed else 0


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE
