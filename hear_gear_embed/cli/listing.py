"""``hear-gear list``: the published variants, from the registry, then the diverse models one trains."""

from __future__ import annotations

import argparse
import json
from typing import TypedDict, final

from ..diverse.config import get_diverse, list_diverse
from ..embedding.config import Level, Pooling, VariantConfig, WindowBlock
from ..frontends.config import CqtConfig
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


# final: no other keys, so that `"levels" in block` tells the two kinds of block apart
@final
class WindowBlockSummary(TypedDict):
    """A :class:`~hear_gear_embed.embedding.config.WindowBlock` in a listing."""

    window_ms: float
    levels: list[Level]


@final
class FeatureBlockSummary(TypedDict):
    """A :class:`~hear_gear_embed.embedding.config.FeatureBlock` in a listing."""

    window_ms: float
    features: list[str]
    pooling: Pooling


class VariantSummary(TypedDict):
    """One variant in ``hear-gear list --json``."""

    name: str
    description: str
    sample_rate: int
    scene_embedding_size: int
    timestamp_embedding_size: int
    frontend: str
    scene_levels: list[Level]
    scene_features: list[str]
    timestamp_blocks: list[WindowBlockSummary | FeatureBlockSummary]
    timestamp_hop_ms: float
    frontend_hop_ms: float
    weights: str | None
    needs_weights: bool
    reference: str | None


def variant_summary(variant: VariantConfig) -> VariantSummary:
    """A JSON-ready summary of ``variant`` for listings."""
    blocks: list[WindowBlockSummary | FeatureBlockSummary] = []
    for b in variant.timestamp_blocks:
        if isinstance(b, WindowBlock):
            blocks.append({"window_ms": b.window_ms, "levels": list(b.levels)})
        else:
            blocks.append({"window_ms": b.window_ms, "features": list(b.features), "pooling": b.pooling})
    return {
        "name": variant.name,
        "description": variant.description,
        "sample_rate": variant.sample_rate,
        "scene_embedding_size": variant.scene_embedding_size,
        "timestamp_embedding_size": variant.timestamp_embedding_size,
        "frontend": "cqt" if isinstance(variant.frontend, CqtConfig) else "mel",
        "scene_levels": list(variant.scene_levels),
        "scene_features": list(variant.scene_features),
        "timestamp_blocks": blocks,
        "timestamp_hop_ms": variant.timestamp_hop_ms,
        "frontend_hop_ms": variant.frontend.hop_ms,
        "weights": None if variant.weights is None else variant.weights.name,
        "needs_weights": variant.needs_network,
        "reference": variant.reference,
    }


def block_label(block: WindowBlockSummary | FeatureBlockSummary) -> str:
    """``H+M@160ms`` for network levels, ``cqt:frames@60ms`` / ``mfcc,chroma:meanstd@160ms`` for features."""
    if "levels" in block:
        return f"{'+'.join(block['levels'])}@{block['window_ms']:g}ms"
    names = ",".join(block["features"])
    if len(names) > 24:
        names = f"{len(block['features'])} features"
    return f"{names}:{block['pooling']}@{block['window_ms']:g}ms"


def run(args: argparse.Namespace) -> int:
    """Print the variants as a table, or as JSON with ``--json``."""
    rows = [variant_summary(get_variant(name)) for name in list_variants()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'variant':<24} {'rate':>6} {'scene':>6} {'stamp':>6} {'hop':>5}  timestamp blocks  [weights]")
    for row in rows:
        blocks = " + ".join(block_label(b) for b in row["timestamp_blocks"])
        weights = row["weights"] or ("none needed" if not row["needs_weights"] else "bring your own")
        print(
            f"{row['name']:<24} {row['sample_rate']:>6} {row['scene_embedding_size']:>6} "
            f"{row['timestamp_embedding_size']:>6} {row['frontend_hop_ms']:>3g}ms  {blocks}  [{weights}]"
        )
    print("\ndiverse models (seed 001; hear-gear train NAME TASK_DIR, then the HEAR module diverse with --model best.pt):")
    for name in list_diverse():
        config = get_diverse(name)
        streams = ", ".join(s.name for s in config.streams)
        print(f"{name:<24} {config.sample_rate:>6} {config.embedding_size:>6} {config.embedding_size:>6} "
              f"{1000 * config.features.hop_length / config.sample_rate:>3g}ms  {streams}, {config.window_ms:g} ms windows  "
              "[train it]")
    return 0
