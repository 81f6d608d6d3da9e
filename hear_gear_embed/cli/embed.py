"""``hear-gear embed``: audio files and folders to one ``.npz`` of embeddings per file."""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..embedding.config import KINDS, Kind, check_kinds
from ..registry import get_variant, list_variants
from ..util.precision import PRECISIONS
from .options import add_compile_option, compile_choice

if TYPE_CHECKING:
    from ..hear.spec import ModelSpec
    from ..io.ray_cluster import RayOptions
    from ..io.report import CorpusReport

logger = logging.getLogger(__name__)

EXIT_FAILED_FILES = 1
"""Exit status when some inputs failed (the others' outputs are written)."""
EXIT_USAGE = 2
"""Exit status when nothing could start: bad option, missing weights or missing extra."""
EXIT_INTERRUPTED = 130
PROGRESS_LOG_SECONDS = 30.0
"""Where stderr is not a terminal (a batch job's log), progress is logged at most this often instead of drawn."""
ENGINES = ("local", "ray")
"""Where ``hear-gear embed`` runs: this process, or a Ray cluster."""
GPU_BATCH_SIZE = 16
"""Default files per batch on a GPU; on a CPU the default is 1, which measured as fast as batching
(``benchmarks/bench_cli.py``, docs/performance.md)."""
DEPRECATED_KIND_FLAGS = {"--scene": "scene", "--timestamps": "timestamp"}
"""The kind flags of 0.1, accepted until 0.3 with a warning naming ``--kind``."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``embed`` on the subcommand parser ``sub``."""
    parser = sub.add_parser(
        "embed", help="embed audio files and folders into one .npz per file, here or on a Ray cluster",
        description="Embed audio files, and folders searched recursively (wav, flac, ogg, opus, aiff, mp3), into "
        "one .npz per file under --out (<path relative to the folder>/<file name>.npz): scene and/or timestamp "
        "embeddings, timestamps in ms, and the model and weights used. Any sample rate (resampled with soxr), "
        "any number of channels (averaged to mono). Files already embedded by the same model and weights are "
        "skipped unless --overwrite. Unreadable or failing files are reported (in embed-report.json and "
        "embed-manifest.jsonl) and the exit status is then 1; the other files' outputs are kept. "
        "--engine ray runs the same job on a Ray cluster (docs/cluster.md).",
    )
    parser.add_argument("paths", nargs="*", help="audio files and folders")
    parser.add_argument("--from-list", metavar="FILE",
                        help="also embed the files listed in FILE, one path or file:// URI per line (no folder walk for "
                        "millions of inputs; blank lines and lines starting with # are ignored)")
    parser.add_argument("--list-root", metavar="DIR",
                        help="outputs mirror each input's path below DIR (<out>/<path relative to DIR>.npz), and relative "
                        "inputs are taken relative to DIR; without it, a listed file's output is <out>/<file name>.npz")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--variant", metavar="NAME",
                       help=f"model variant: {', '.join(list_variants())} (default passt_base; `hear-gear list` "
                       "describes them), or a spec such as 'passt[levels=L+M,rf=160+640,hop=5]' (docs/variants.md)")
    model.add_argument("--module", metavar="NAME",
                       help="any importable HEAR 2021 module instead of a variant, e.g. hearbaseline (its load_model "
                       "gets --model when given)")
    parser.add_argument("--model", help="checkpoint file (default: the variant's official weights, downloaded once; "
                        "for --module, the model file passed to its load_model)")
    parser.add_argument("--random-weights", type=int, metavar="SEED",
                        help="seeded random weights instead of a checkpoint (tests the pipeline; meaningless embeddings)")
    parser.add_argument("--out", default="embeddings", help="output folder (default: embeddings)")
    parser.add_argument("--kind", action="append", choices=KINDS, dest="kinds",
                        help="embedding kind to compute; repeat for both (default: both)")
    for flag, kind in DEPRECATED_KIND_FLAGS.items():  # 0.1's spelling, not shown in --help
        parser.add_argument(flag, action="append_const", const=kind, dest="deprecated_kinds", help=argparse.SUPPRESS)
    parser.add_argument("--overwrite", action="store_true", help="re-embed files whose outputs exist")
    parser.add_argument("--batch-size", type=int,
                        help=f"most files of equal length per batch (default {GPU_BATCH_SIZE} on a GPU, 1 on CPU, where "
                        "batching measured no faster: benchmarks/bench_cli.py)")
    parser.add_argument("--batch-seconds", type=positive_seconds, default=600.0,
                        help="most seconds of audio per batch (default 600; bounds memory on long files)")
    parser.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (default: CUDA when available; local engine)")
    parser.add_argument("--memory-budget-mb", type=positive_number, help="working memory per chunk of windows (MiB)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="format of the network's matrix products (default fp32): bf16 on GPUs and on CPUs with "
                        "bf16 units (AVX512-BF16, AMX), fp16 on GPUs; outputs are float32, and a run never mixes "
                        "precisions in one output folder (docs/fidelity.md has the error of each); int8 on CPUs with "
                        "int8 units (VNNI, AMX; pip install \"hear_gear_embed[int8]\")")
    add_compile_option(parser)
    engine = parser.add_argument_group("engine", "where the work runs (docs/cluster.md)")
    engine.add_argument("--engine", choices=ENGINES, default="local",
                        help="local: this process; ray: a Ray cluster, decoding in CPU tasks ahead of a pool of model "
                        "actors (pip install \"hear_gear_embed[ray]\")")
    engine.add_argument("--address", help="Ray cluster to join: auto (the cluster this node belongs to) or "
                        "ray://HOST:PORT (default: start Ray on this machine)")
    engine.add_argument("--workers", default="1:1", metavar="MIN:MAX",
                        help="model actors, scaled between MIN and MAX (default 1:1; N means N:N)")
    engine.add_argument("--gpus-per-worker", type=non_negative_number, default=0.0, metavar="F",
                        help="GPUs per model actor (default 0: CPU; 0.5 puts two actors on each GPU)")
    engine.add_argument("--cpus-per-worker", type=positive_number, default=1.0, metavar="F",
                        help="CPUs per model actor, also its torch threads (default 1)")
    engine.add_argument("--stall-timeout", type=positive_seconds, default=1800.0, metavar="S",
                        help="stop the job when no file finishes for S seconds, the actors' start included (default "
                        "1800); files not finished are reported and a second run resumes")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (on a terminal) or progress lines (in a log, every 30 s)")
    parser.set_defaults(func=run)


def _number(text: str, *, low: float, inclusive: bool, unit: str = "") -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < low or (value == low and not inclusive):
        bound = f">= {low:g}" if inclusive else f"> {low:g}"
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number {bound}{unit}")
    return value


def positive_number(text: str) -> float:
    """An argparse type: a finite number above 0 (NaN and inf are refused, with the value named)."""
    return _number(text, low=0.0, inclusive=False)


def non_negative_number(text: str) -> float:
    """An argparse type: a finite number of at least 0."""
    return _number(text, low=0.0, inclusive=True)


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above 0."""
    return _number(text, low=0.0, inclusive=False, unit=" (seconds)")


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[tuple[Callable[[int], None] | None, Callable[[int], None] | None]]:
    """``(update, set_total)`` callbacks of a tqdm bar on stderr where it is a terminal, of progress lines logged at
    most every :data:`PROGRESS_LOG_SECONDS` elsewhere (a batch job's log), or ``(None, None)`` when disabled. The bar
    starts when the number of files is known."""
    if not enabled:
        yield None, None
        return
    if not sys.stderr.isatty():
        log = _ProgressLog()
        try:
            yield log.update, log.set_total
        finally:
            log.close()
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


class _ProgressLog:
    """Progress as log lines: files done of the total, the rate and the time left, at most every
    :data:`PROGRESS_LOG_SECONDS`, and once at the end."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.start = self.last = time.monotonic()

    def set_total(self, total: int) -> None:
        self.total = total
        self.start = self.last = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= PROGRESS_LOG_SECONDS:
            self.last = now
            self._log(now)

    def close(self) -> None:
        if self.total and self.done:
            self._log(time.monotonic())

    def _log(self, now: float) -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        left = f", about {(self.total - self.done) / rate:.0f} s left" if rate > 0 and self.done < self.total else ""
        logger.info("embedding: %d of %d files (%.0f%%) in %.0f s, %.2f files/s%s", self.done, self.total,
                    100.0 * self.done / max(self.total, 1), elapsed, rate, left)


def run(args: argparse.Namespace) -> int:
    """Embed ``args.paths``; exit status 0 when every file is done, 1 when some failed or the report could not be
    written, 2 when nothing could start."""
    from ..io.jobs import read_path_list
    from ..io.report import ReportWriteError
    from ..model.hub import WeightsUnavailableError
    from ..util.files import check_writable

    try:
        spec, options = _spec_and_options(args)
        paths = [*args.paths, *(read_path_list(args.from_list) if args.from_list else [])]
    except (ValueError, KeyError, OSError) as err:
        return _usage_error(str(err.args[0]) if isinstance(err, KeyError) else str(err))
    if not paths:
        return _usage_error("nothing to embed: give files or folders, or --from-list FILE")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        return _usage_error(f"--out {args.out} exists and is not a folder; outputs go into a folder, one .npz per input")
    try:
        check_writable(Path(args.out))  # before the model is loaded: a read-only --out would cost nothing else
    except OSError as err:
        return _usage_error(f"--out: {err}")
    if spec.seed is not None:
        logger.warning("RANDOM WEIGHTS (seed %d): these embeddings test the pipeline and mean nothing", spec.seed)
    kinds = _kinds(args)
    try:
        with _progress_bar(not args.no_progress) as (update, set_total):
            if args.engine == "ray":
                from ..io.ray_engine import embed_files_ray

                report = embed_files_ray(paths, spec, args.out, kinds=kinds, overwrite=args.overwrite, options=options,
                                         root=args.list_root, address=args.address, progress=update, on_total=set_total)
            else:
                from ..io import embed_files

                model = spec.load()
                batch_size = args.batch_size or (GPU_BATCH_SIZE if model.device.type == "cuda" else 1)
                report = embed_files(paths, model, args.out, kinds=kinds, overwrite=args.overwrite,
                                     batch_size=batch_size, batch_seconds=args.batch_seconds, root=args.list_root,
                                     progress=update, on_total=set_total)
    except ModuleNotFoundError as err:  # the cli or ray extra is not installed, or no such HEAR module
        hint = "" if "pip install" in str(err) else ': pip install "hear_gear_embed[cli]"'
        return _usage_error(f"{err}{hint}")
    except WeightsUnavailableError as err:
        return _usage_error(f"{err}\n(offline, `--random-weights 0` runs the pipeline, or pick a weight-free variant: "
                            "lowlevel_mel, lowlevel_cqt, handcrafted)")
    except KeyboardInterrupt:
        print(f"interrupted: finished outputs are kept in {args.out}; run the same command again to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except ReportWriteError as err:  # before the other OSErrors: the run itself is done
        _print_outcome(err.report, Path(args.out))
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED_FILES
    except (ValueError, OSError, RuntimeError) as err:  # bad checkpoint, module, option, device, cluster or busy folder
        return _usage_error(str(err))
    _print_outcome(report, Path(args.out))
    return EXIT_FAILED_FILES if report.failed else 0


def _kinds(args: argparse.Namespace) -> tuple[Kind, ...]:
    """The kinds asked for, with 0.1's ``--scene`` / ``--timestamps`` read as ``--kind`` and warned about."""
    chosen = list(args.kinds or [])
    for kind in args.deprecated_kinds or []:
        flag = next(f for f, k in DEPRECATED_KIND_FLAGS.items() if k == kind)
        logger.warning("%s is deprecated and will be removed in 0.3: use --kind %s", flag, kind)
        chosen.append(kind)
    return check_kinds(chosen) if chosen else KINDS


def _print_outcome(report: CorpusReport, out: Path) -> None:
    for failure in report.failed:
        print(f"failed: {failure.source}: {failure.error}", file=sys.stderr)
    print(f"{report.variant}: {report.summary()}; outputs, embed-report.json and embed-manifest.jsonl in {out}")


def _spec_and_options(args: argparse.Namespace) -> tuple[ModelSpec, RayOptions]:
    """The model and the Ray engine's options from the command line.

    Raises:
        ValueError: options that contradict each other or do not apply to the chosen model or engine; a bad variant spec.
        KeyError: unknown variant.
    """
    from ..hear.spec import ModelSpec
    from ..io.ray_cluster import RayOptions, parse_workers

    if args.random_weights is not None and args.model:
        raise ValueError("--model and --random-weights exclude each other")
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    if args.variant is not None:
        get_variant(args.variant)
    ray_only = {"--address": args.address is not None, "--workers": args.workers != "1:1",
                "--gpus-per-worker": args.gpus_per_worker != 0.0, "--cpus-per-worker": args.cpus_per_worker != 1.0,
                "--stall-timeout": args.stall_timeout != 1800.0}
    if args.engine == "local" and any(ray_only.values()):
        raise ValueError(f"{', '.join(k for k, v in ray_only.items() if v)} apply to --engine ray only")
    if args.engine == "ray" and args.device:
        raise ValueError("--device applies to --engine local only: Ray actors compute on their GPU with "
                         "--gpus-per-worker, on CPU otherwise")
    weights = "random" if args.random_weights is not None else (args.model or "")
    spec = ModelSpec(args.module or args.variant or "passt_base", weights, args.random_weights, args.device,
                     args.precision, args.memory_budget_mb, compile=compile_choice(args))
    gpus = args.gpus_per_worker
    batch_size = args.batch_size or (GPU_BATCH_SIZE if gpus > 0 else 1)
    options = RayOptions(parse_workers(args.workers), gpus, args.cpus_per_worker, batch_size, args.batch_seconds,
                         max(16, 4 * batch_size), args.stall_timeout)
    return spec, options


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE
