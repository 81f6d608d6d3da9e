"""``hear-gear list``: the published variants, from the registry."""

from __future__ import annotations

import argparse
import json

from ..registry import get_variant, list_variants


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``list`` on the subcommand parser ``sub``."""
    parser = sub.add_parser(
        "list", help="published variants: sample rate, embedding sizes, levels, receptive fields, weights",
        description="Published variants, from the registry: sample rate, scene and timestamp embedding sizes, "
        "levels and receptive fields of each timestamp block, STFT hop, and the checkpoint they need.",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output (a list of objects)")
    parser.set_defaults(func=run)


def block_label(block: dict[str, object]) -> str:
    """``H+M@160ms`` for network levels, ``cqt:frames@60ms`` / ``mfcc,chroma:meanstd@160ms`` for features."""
    if "levels" in block:
        return f"{'+'.join(block['levels'])}@{block['window_ms']:g}ms"  # type: ignore[arg-type]
    names = ",".join(block["features"])  # type: ignore[arg-type]
    if len(names) > 24:
        names = f"{len(block['features'])} features"  # type: ignore[arg-type]
    return f"{names}:{block['pooling']}@{block['window_ms']:g}ms"


def run(args: argparse.Namespace) -> int:
    """Print the variants as a table, or as JSON with ``--json``."""
    rows = [get_variant(name).describe() for name in list_variants()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'variant':<24} {'rate':>6} {'scene':>6} {'stamp':>6} {'hop':>5}  timestamp blocks  [weights]")
    for row in rows:
        blocks = " + ".join(block_label(b) for b in row["timestamp_blocks"])  # type: ignore[attr-defined]
        weights = row["checkpoint"] or ("none needed" if not row["needs_weights"] else "bring your own")
        print(
            f"{row['name']:<24} {row['sample_rate']:>6} {row['scene_embedding_size']:>6} "
            f"{row['timestamp_embedding_size']:>6} {row['frontend_hop_ms']:>3g}ms  {blocks}  [{weights}]"
        )
    return 0
