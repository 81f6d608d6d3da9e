"""``hear-gear`` command line: list variants, embed audio files, run and compare GEAR evaluations."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from .registry import get_variant, list_variants

logger = logging.getLogger("hear_gear_embed.cli")


def _cmd_list(args: argparse.Namespace) -> int:
    rows = [get_variant(name).describe() for name in list_variants()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'variant':<24} {'rate':>6} {'scene':>6} {'stamp':>6}  blocks  [weights]")
    for row in rows:
        blocks = " + ".join(_block_label(b) for b in row["timestamp_blocks"])  # type: ignore[attr-defined]
        weights = row["checkpoint"] or ("none needed" if not row["needs_weights"] else "bring your own")
        print(
            f"{row['name']:<24} {row['sample_rate']:>6} {row['scene_embedding_size']:>6} "
            f"{row['timestamp_embedding_size']:>6}  {blocks}  [{weights}]"
        )
    return 0


def _block_label(block: dict[str, object]) -> str:
    """``H+M@160ms`` for network levels, ``cqt:frames@60ms`` / ``mfcc,chroma:meanstd@160ms`` for features."""
    if "levels" in block:
        return f"{'+'.join(block['levels'])}@{block['window_ms']:g}ms"  # type: ignore[arg-type]
    names = ",".join(block["features"])  # type: ignore[arg-type]
    if len(names) > 24:
        names = f"{len(block['features'])} features"  # type: ignore[arg-type]
    return f"{names}:{block['pooling']}@{block['window_ms']:g}ms"


def _read_audio(path: Path, sample_rate: int) -> np.ndarray:
    import soundfile  # optional dependency: pip install "hear_gear_embed[cli]"

    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    if rate != sample_rate:
        raise ValueError(f"{path} is sampled at {rate} Hz; this variant needs {sample_rate} Hz (resample it first)")
    if data.shape[0] == 0:
        raise ValueError(f"{path} holds no samples")
    return data.mean(axis=1)


def _cmd_embed(args: argparse.Namespace) -> int:
    from .embedding.embedder import load_embedder, random_embedder

    variant = get_variant(args.variant)
    if args.random_weights is not None:
        logger.warning("RANDOM WEIGHTS (seed %d): these embeddings test the pipeline and mean nothing", args.random_weights)
        model = random_embedder(variant, args.random_weights)
    else:
        model = load_embedder(variant, args.model or "")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in map(Path, args.paths):
        try:
            audio = _read_audio(path, model.sample_rate)[None]
            result: dict[str, object] = {"variant": variant.name}
            if not args.timestamps:
                result["scene"] = model.scene_embeddings(audio).cpu().numpy()[0]
            if not args.scene:
                emb, stamps = model.timestamp_embeddings(audio)
                result["timestamp_embeddings"] = emb.cpu().numpy()[0]
                result["timestamps_ms"] = stamps.cpu().numpy()[0]
            target = out_dir / (path.stem + ".npz")
            np.savez(target, **result)
            print(f"{path} -> {target}")
        except (OSError, ValueError, RuntimeError) as err:
            failures += 1
            print(f"error: {path}: {err}", file=sys.stderr)
    return 1 if failures else 0


_GEAR_EXTRA = {"sklearn", "matplotlib", "mpl_toolkits", "tqdm"}


def _missing_gear_extra(err: ModuleNotFoundError) -> int:
    if (err.name or "").split(".")[0] not in _GEAR_EXTRA:
        raise err
    print(f"error: GEAR needs the gear extra ({err.name} is missing): pip install \"hear_gear_embed[gear]\"", file=sys.stderr)
    return 2


def _cmd_gear(args: argparse.Namespace) -> int:
    from .evaluation.gear import GearSettings, run_gear

    settings = GearSettings(isomap_neighbors=args.isomap_neighbors, knn_neighbors=args.knn_neighbors, seed=args.seed)
    overrides: dict[str, object] = {"seed": args.seed}
    if args.n_alpha is not None:
        overrides["n_alpha"] = args.n_alpha
    if args.n_r is not None:
        overrides["n_r"] = args.n_r
    if args.duration is not None:
        if args.preset != "perceptual":
            print("error: --duration applies to the perceptual preset only (the paper's tones are 1024 samples)", file=sys.stderr)
            return 2
        overrides["duration_s"] = args.duration
    out = Path(args.out or Path("gear") / args.module.rsplit(".", 1)[-1])
    try:
        record = run_gear(
            args.module, out, args.model or "", args.preset, overrides, settings=settings, kind=args.embedding,
            batch_size=args.batch_size, progress=not args.no_progress, save_embeddings=args.save_embeddings,
        )
    except ModuleNotFoundError as err:
        return _missing_gear_extra(err)
    except (ValueError, OSError) as err:  # bad settings or module; missing weights or unwritable output
        print(f"error: {err}", file=sys.stderr)
        return 2
    r2 = record["metrics"]["ridge_r2"]  # type: ignore[index]
    print(f"{record['module']}: ridge R^2 " + ", ".join(f"{k} {v:.3f}" for k, v in r2.items()) + f"; report: {out / 'report.md'}")
    return 0


def _cmd_gear_compare(args: argparse.Namespace) -> int:
    from .evaluation.gear import compare_runs

    try:
        compare_runs(args.runs, args.out)
    except ModuleNotFoundError as err:
        return _missing_gear_extra(err)
    except (ValueError, OSError) as err:  # not a run folder, or unreadable / unwritable files
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"comparison of {len(args.runs)} runs: {Path(args.out) / 'comparison.md'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``hear-gear`` and ``python -m hear_gear_embed``."""
    parser = argparse.ArgumentParser(prog="hear-gear", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="published variants and their embedding sizes")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    p_list.set_defaults(func=_cmd_list)
    p_embed = sub.add_parser("embed", help="embed audio files into .npz files")
    p_embed.add_argument("paths", nargs="+", help="audio files (wav/flac/ogg) at the variant's sample rate")
    p_embed.add_argument("--variant", default="passt_base", choices=list_variants(include_unpublished=True))
    p_embed.add_argument("--model", help="checkpoint file (default: the variant's official weights)")
    p_embed.add_argument("--random-weights", type=int, metavar="SEED",
                         help="use seeded random weights instead of a checkpoint (pipeline test only)")
    p_embed.add_argument("--out", default="embeddings", help="output folder")
    kind = p_embed.add_mutually_exclusive_group()
    kind.add_argument("--scene", action="store_true", help="scene embeddings only")
    kind.add_argument("--timestamps", action="store_true", help="timestamp embeddings only")
    p_embed.set_defaults(func=_cmd_embed)
    p_gear = sub.add_parser(
        "gear", help="GEAR: synthetic tones through a HEAR module; figures, metrics.json and report.md",
        description="Generative evaluation (GEAR) of a HEAR module: synthesise the tone dataset at the model's "
        "sample rate, embed it, and write Isomap figures, k-NN log-ratios, ridge R^2 and dispersion metrics.",
    )
    p_gear.add_argument(
        "module", help="a variant of this package (e.g. handcrafted) or any importable HEAR module (e.g. hearbaseline)"
    )
    p_gear.add_argument("--model", help="checkpoint passed to load_model (default: the module's own default)")
    p_gear.add_argument("--preset", default="paper", choices=["paper", "perceptual"], help="tone dataset (default: paper)")
    p_gear.add_argument("--out", help="output folder (default: gear/<module>)")
    p_gear.add_argument("--seed", type=int, default=0, help="seed of the f1 draw, K-fold split and K-means")
    p_gear.add_argument("--n-alpha", type=int, help="number of alpha values (default 50)")
    p_gear.add_argument("--n-r", type=int, help="number of r values (default 50)")
    p_gear.add_argument("--duration", type=float, help="tone duration in seconds (perceptual preset; default 1.0)")
    p_gear.add_argument("--isomap-neighbors", type=int, default=100, help="K of the Isomap graph (default 100)")
    p_gear.add_argument("--knn-neighbors", type=int, default=40, help="K of the k-NN regression (default 40)")
    p_gear.add_argument("--embedding", default="scene", choices=["scene", "timestamp_mean"],
                        help="scene embeddings, or timestamp embeddings averaged over time")
    p_gear.add_argument("--batch-size", type=int, default=32, help="sounds per HEAR call")
    p_gear.add_argument("--save-embeddings", action="store_true", help="also store the embeddings in gear.npz")
    p_gear.add_argument("--no-progress", action="store_true", help="no progress bar")
    p_gear.set_defaults(func=_cmd_gear)
    p_cmp = sub.add_parser("gear-compare", help="put several GEAR runs side by side (table and figures)")
    p_cmp.add_argument("runs", nargs="+", help="GEAR run folders (their names label the runs)")
    p_cmp.add_argument("--out", default="gear-compare", help="output folder")
    p_cmp.set_defaults(func=_cmd_gear_compare)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args))
