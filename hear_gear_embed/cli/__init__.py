"""``hear-gear`` command line: list variants, embed audio files, validate HEAR modules, run and
compare GEAR evaluations, score HEAR modules on HEAR tasks and compare the scores, make task folders from labelled audio, fine-tune
variants on them, and fetch official weights. Also ``python -m hear_gear_embed``.

Each subcommand lives in its own module with an ``add_parser`` function; this module only assembles
them. Exit status: 0 success, 1 some inputs or checks failed, 2 nothing could start (bad options,
missing weights or extras).
"""

from __future__ import annotations

import argparse
import logging

from . import embed, evaluate, gear, listing, task, train, validate, weights


def build_parser() -> argparse.ArgumentParser:
    """The ``hear-gear`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="hear-gear", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    listing.add_parser(sub)
    embed.add_parser(sub)
    validate.add_parser(sub)
    gear.add_parsers(sub)
    evaluate.add_parsers(sub)
    task.add_parser(sub)
    train.add_parser(sub)
    weights.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hear-gear`` and ``python -m hear_gear_embed``; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args))
