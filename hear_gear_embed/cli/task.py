"""``hear-gear task make``: a HEAR 2021 task folder from a CSV table of labelled audio files, for ``hear-gear evaluate``
and ``hear-gear train``."""

from __future__ import annotations

import argparse
import sys

from .embed import positive_seconds

EXIT_SKIPPED_FILES = 1
"""Exit status when some audio files were unreadable: the task is made without them (listed in skipped.csv)."""
EXIT_USAGE = 2
"""Exit status when no task was made: bad option or table, an --out that would be lost, no readable file, a split left
without readable files, or a missing extra."""
EXIT_INTERRUPTED = 130


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``task`` and its action ``make`` on the subcommand parser ``sub``."""
    parser = sub.add_parser("task", help="make HEAR 2021 task folders from your own labelled audio",
                            description="Make HEAR 2021 task folders, which hear-gear evaluate, hear-gear train and "
                            "heareval 2021.1.3 read.")
    actions = parser.add_subparsers(dest="task_action", required=True, metavar="ACTION")
    make = actions.add_parser(
        "make", help="a scene task folder from a CSV table of audio files and labels",
        description="Make a scene task folder from TABLE, a CSV file with a header and the columns path (relative to "
        "the table's folder, or absolute), label (or labels: several separated by ';' make a multilabel task) and, "
        "optionally, split (exactly train, valid and test, or at least 3 fold names). Without a split column the "
        "files are dealt into --folds folds fold00, fold01, ..., stratified by label. Every file is decoded, mixed "
        "to mono, resampled to each --sample-rate with soxr, padded or cropped to --duration when given, and written "
        "as float32 WAV. Unreadable files are left out and listed in <out>/skipped.csv; sources.csv maps every "
        "task file to its source. The task is built beside --out and moved into place when complete. Exit status 1 "
        "when some files were skipped (the task is made without them), 2 when no task was made.",
    )
    make.add_argument("table", metavar="TABLE", help="CSV table: path, label (or labels), optional split")
    make.add_argument("--out", required=True, metavar="DIR", help="the task folder to make (must not exist or be empty, "
                      "unless --overwrite)")
    make.add_argument("--name", help="task_name of the metadata (default: the --out folder's name)")
    make.add_argument("--sample-rate", type=_positive_int, action="append", dest="sample_rates", metavar="HZ",
                      help="sample rate (Hz) to write the audio at, one folder each; repeat for several (default 32000, "
                      "this package's variants' rate)")
    make.add_argument("--duration", type=positive_seconds, metavar="SECONDS",
                      help="pad with silence or crop every file to this length, the task's sample_duration (default: "
                      "files keep their lengths)")
    make.add_argument("--folds", type=int, metavar="K",
                      help="folds to deal a table without a split column into, at least 3 (default 5)")
    make.add_argument("--seed", type=int, default=0, help="seed of the deal into folds (default 0)")
    kind = make.add_mutually_exclusive_group()
    kind.add_argument("--multilabel", action="store_const", const="multilabel", dest="prediction_type",
                      help="make a multilabel task even if every file has one label")
    kind.add_argument("--prediction-type", metavar="TYPE",
                      help="multiclass or multilabel (default: multilabel when some row has several labels)")
    make.add_argument("--workers", type=_positive_int, metavar="N",
                      help="files decoded at once (default: the CPUs, at most 8)")
    make.add_argument("--overwrite", action="store_true",
                      help="replace an existing task folder --out, once the new one is complete")
    make.set_defaults(func=run_make)


def run_make(args: argparse.Namespace) -> int:
    """Make the task of ``args``; exit status 0 when every file is in it, 1 when some were skipped, 2 when no task was
    made."""
    from ..io.audio import require_backends

    try:
        require_backends()
    except ModuleNotFoundError as err:
        return _usage_error(str(err))

    from ..training.make_task import DEFAULT_SAMPLE_RATES, SKIPPED_NAME, make_task

    try:
        report = make_task(args.table, args.out, name=args.name, sample_rates=args.sample_rates or DEFAULT_SAMPLE_RATES,
                           duration_s=args.duration, folds=args.folds, seed=args.seed,
                           prediction_type=args.prediction_type, overwrite=args.overwrite, workers=args.workers)
    except (ValueError, OSError) as err:  # TableError included
        return _usage_error(str(err))
    except KeyboardInterrupt:
        print(f"interrupted: {args.out} is as it was", file=sys.stderr)
        return EXIT_INTERRUPTED
    splits = ", ".join(f"{split} {n}" for split, n in report.split_files.items())
    print(f"made task {report.task_name} in {report.path}: {report.files} files, {len(report.labels)} labels, "
          f"{report.prediction_type}, {report.split_mode} ({splits}), audio at "
          f"{', '.join(str(rate) for rate in report.sample_rates)} Hz")
    if report.unused_labels:
        print(f"labels left out (only unreadable files had them): {', '.join(report.unused_labels)}", file=sys.stderr)
    if report.skipped:
        print(f"skipped {len(report.skipped)} unreadable file(s), listed in {report.path / SKIPPED_NAME}", file=sys.stderr)
        return EXIT_SKIPPED_FILES
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE
