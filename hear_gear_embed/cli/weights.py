"""``hear-gear weights list|download|verify``: the official checkpoints, fetched ahead of time for offline machines."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TypedDict

from ..model.weights import PRETRAINED, PretrainedWeights, get_weights
from ..registry import get_variant, variants_by_weights


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``weights`` and its actions on the subcommand parser ``sub``."""
    parser = sub.add_parser(
        "weights", help="official checkpoints: list, download into the cache, verify checksums",
        description="The official PaSST checkpoints: where they come from, which variants use them, and the local "
        "cache ($HEAR_GEAR_EMBED_HOME, else torch hub's checkpoints folder). Download them on a machine with internet "
        "access and copy the cache folder to offline machines (or point $HEAR_GEAR_EMBED_HOME at a shared copy).",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    p_list = actions.add_parser("list", help="every official checkpoint, its variants, checksum and cache status")
    p_list.add_argument("--json", action="store_true", help="machine-readable output (a list of objects)")
    p_list.set_defaults(func=run_list)
    for name, helptext in (("download", "download checkpoints into the cache (and check the checksum where one is known)"),
                           ("verify", "compute the SHA-256 of cached checkpoints and compare with the known checksum")):
        p = actions.add_parser(name, help=helptext)
        p.add_argument("names", nargs="*", metavar="NAME",
                       help="checkpoint or variant names (default: the checkpoints of every published variant)")
        if name == "download":
            p.add_argument("--force", action="store_true", help="download again even when cached")
            p.set_defaults(func=run_download)
        else:
            p.set_defaults(func=run_verify)


class _WeightsRow(TypedDict):
    """One checkpoint in ``hear-gear weights list --json``."""

    name: str
    url: str
    description: str
    sha256: str | None
    sha256_source: str
    licence: str
    stft_hop: int
    max_frames: int
    patch_stride: int
    variants: list[str]
    cache_path: str
    cached: bool


def _selected(names: list[str]) -> list[PretrainedWeights] | None:
    """Checkpoints named directly or through a variant (default: those of the published variants); ``None``
    after reporting an unknown name on stderr."""
    try:
        return _lookup(names)
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return None


def _lookup(names: list[str]) -> list[PretrainedWeights]:
    if not names:
        return [PRETRAINED[name] for name in variants_by_weights()]
    chosen: dict[str, PretrainedWeights] = {}
    for name in names:
        if name in PRETRAINED:
            chosen[name] = PRETRAINED[name]
            continue
        try:
            weights = get_variant(name).weights
        except KeyError:
            weights = get_weights(name)  # raises with the closest checkpoint names
        if weights is None:
            raise KeyError(f"variant {name!r} has no official weights")
        chosen[weights.name] = weights
    return list(chosen.values())


def run_list(args: argparse.Namespace) -> int:
    """Print the records and whether each file is cached."""
    from ..model.hub import cached_path

    users = variants_by_weights()
    rows: list[_WeightsRow] = [
        {"name": w.name, "url": w.url, "description": w.description, "sha256": w.sha256, "sha256_source": w.sha256_source,
         "licence": w.licence, "stft_hop": w.frontend.hop_length, "max_frames": w.net.max_frames,
         "patch_stride": w.net.time_stride, "variants": users.get(w.name, []), "cache_path": str(cached_path(w)),
         "cached": cached_path(w).is_file()}
        for w in PRETRAINED.values()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        state = "cached" if row["cached"] else "not cached"
        checksum = row["sha256"] or "none published"
        print(f"{row['name']}  [{state}]  variants: {', '.join(row['variants']) or '-'}")
        print(f"    {row['description']}\n    {row['url']}\n    sha256: {checksum}\n    file: {row['cache_path']}")
    return 0


def run_download(args: argparse.Namespace) -> int:
    """Download the selected checkpoints; exit status 1 when one failed or is not a checkpoint, 2 on an unknown name or
    a cache folder that cannot be created or written (no download can start)."""
    from ..model.checkpoint import CheckpointError
    from ..model.hub import CacheUnavailableError, ChecksumMismatchError, WeightsUnavailableError, download

    selected = _selected(args.names)
    if selected is None:
        return 2
    failed = 0
    for weights in selected:
        try:
            path = download(weights, force=args.force)
        except CacheUnavailableError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except (WeightsUnavailableError, ChecksumMismatchError, CheckpointError) as err:
            print(f"failed: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"{weights.name}: {path}")
    return 1 if failed else 0


def run_verify(args: argparse.Namespace) -> int:
    """Check the cached files; exit status 1 when one is missing, mismatches or is not a checkpoint, 2 on an unknown name."""
    from ..model.hub import verify

    selected = _selected(args.names)
    if selected is None:
        return 2
    results = [verify(w) for w in selected]
    for result in results:
        print(result.explain())
    return 1 if any(r.verdict in ("missing", "mismatch", "not a checkpoint") for r in results) else 0
