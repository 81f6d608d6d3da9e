"""``hear-gear validate``: the HEAR validator's checks, in process and without TensorFlow."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``validate`` on the subcommand parser ``sub``."""
    parser = sub.add_parser(
        "validate", help="check a HEAR module as hear-validator does (no TensorFlow needed)",
        description="Run the checks of hear-validator 2021.0.6 on a HEAR module in this process: the API functions "
        "and attributes, then timestamp embeddings of 1.07, 1.98 and 4.0 s and scene embeddings of 2.74 s of white "
        "noise. Also fails embeddings or timestamps with NaN or Inf, which hear-validator passes (this is stricter: "
        "hear-gear embed and evaluate refuse them). Prints a report; exit status 0 when it passes, 1 when a check "
        "fails, 2 when the module cannot be imported.",
    )
    parser.add_argument("module", help="a variant of this package (e.g. passt_base, or a spec such as "
                        "'passt[levels=L+M,rf=160+640,hop=5]') or any importable HEAR module")
    parser.add_argument("--model", default="", help="path passed to load_model (default: the module's default)")
    parser.add_argument("--device", help="torch device (default: CUDA when available)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Validate ``args.module`` and print the report."""
    from ..evaluation.validate import validate_module
    from ..hear import variant_module
    from ..hear.loading import resolve_module_name
    from ..registry import is_variant

    try:
        module = variant_module(args.module) if is_variant(args.module) else resolve_module_name(args.module)
    except ValueError as err:  # a variant spec with a bad key or value
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        report = validate_module(module, args.model, device=args.device)
    except ImportError as err:
        print(f"error: cannot import {module}: {err}", file=sys.stderr)
        return 2
    print(report.format())
    return 0 if report.passed else 1
