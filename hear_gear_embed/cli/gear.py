"""``hear-gear gear`` and ``hear-gear gear-compare``: GEAR runs on HEAR modules, side by side."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..embedding.config import KINDS
from ..registry import get_variant, is_variant
from ..util.precision import PRECISIONS
from .options import add_compile_option, compile_choice

_GEAR_EXTRA = {"sklearn", "matplotlib", "mpl_toolkits", "tqdm"}


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``gear`` and ``gear-compare`` on the subcommand parser ``sub``."""
    p_gear = sub.add_parser(
        "gear", help="GEAR: synthetic tones through a HEAR module; figures, metrics.json and report.md",
        description="Generative evaluation (GEAR) of a HEAR module: synthesise the tone dataset at the model's "
        "sample rate, embed it, and write sensitivity indices, Isomap figures, k-NN log-ratios, ridge R^2 and dispersion "
        "metrics.",
    )
    p_gear.add_argument(
        "module", help="a variant of this package (e.g. handcrafted, or a spec such as 'passt[levels=M,rf=160,hop=5]') or "
        "any importable HEAR module (e.g. hearbaseline)"
    )
    p_gear.add_argument("--model", help="checkpoint passed to load_model (default: the module's own default)")
    p_gear.add_argument("--preset", default="paper", choices=["paper", "perceptual"], help="tone dataset (default: paper)")
    p_gear.add_argument("--out", help="output folder (default: gear/<module>; a spec's canonical name)")
    p_gear.add_argument("--seed", type=int, default=0, help="seed of the f1 draw, K-fold split, K-means and bootstrap")
    p_gear.add_argument("--n-alpha", type=int, help="number of alpha values (default 50)")
    p_gear.add_argument("--n-r", type=int, help="number of r values (default 50)")
    p_gear.add_argument("--duration", type=float, help="tone duration in seconds (perceptual preset; default 1.0)")
    p_gear.add_argument("--isomap-neighbors", type=int, default=100, help="K of the Isomap graph (default 100)")
    p_gear.add_argument("--knn-neighbors", type=int, default=40, help="K of the k-NN regression (default 40)")
    p_gear.add_argument("--embedding", default="scene", choices=KINDS,
                        help="scene embeddings, or timestamp embeddings averaged over time (default: scene)")
    p_gear.add_argument("--batch-size", type=int, default=32, help="sounds per HEAR call")
    p_gear.add_argument("--precision", default="fp32", choices=PRECISIONS,
                        help="format of the network's matrix products, passed to load_model (default: fp32; bf16 on "
                        "GPUs and CPUs with bf16 units, fp16 on GPUs, int8 on CPUs with int8 units)")
    add_compile_option(p_gear)
    p_gear.add_argument("--save-embeddings", action="store_true", help="also store the embeddings in gear.npz")
    p_gear.add_argument("--no-progress", action="store_true", help="no progress bar")
    p_gear.set_defaults(func=run_gear_command)
    p_cmp = sub.add_parser("gear-compare", help="put several GEAR runs side by side (table and figures)")
    p_cmp.add_argument("runs", nargs="+", help="GEAR run folders (their names label the runs)")
    p_cmp.add_argument("--out", default="gear-compare", help="output folder")
    p_cmp.set_defaults(func=run_compare_command)


def _missing_gear_extra(err: ModuleNotFoundError) -> int:
    if (err.name or "").split(".")[0] not in _GEAR_EXTRA:
        raise err
    print(f"error: GEAR needs the gear extra ({err.name} is missing): pip install \"hear_gear_embed[gear]\"", file=sys.stderr)
    return 2


def _folder_name(module: str) -> str:
    """The default output folder's name for ``module``: a variant's name (a spec's canonical one, which may hold a dot),
    else the last part of the module's import name.

    Raises:
        ValueError: a variant spec with a bad key or value.
    """
    return get_variant(module).name if is_variant(module) else module.rsplit(".", 1)[-1]


def run_gear_command(args: argparse.Namespace) -> int:
    """One GEAR run; exit status 2 on bad settings, a missing extra or missing weights."""
    from ..evaluation.gear import GearSettings, run_gear

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
    try:
        out = Path(args.out or Path("gear") / _folder_name(args.module))
        record = run_gear(
            args.module, out, args.model or "", args.preset, overrides, settings=settings, kind=args.embedding,
            batch_size=args.batch_size, progress=not args.no_progress, save_embeddings=args.save_embeddings,
            precision=args.precision, compile=compile_choice(args),
        )
    except ModuleNotFoundError as err:
        return _missing_gear_extra(err)
    except (ValueError, OSError) as err:  # bad settings, module or precision; missing weights or unwritable output
        print(f"error: {err}", file=sys.stderr)
        return 2
    metrics = record["metrics"]
    print(
        f"{record['module']}: sensitivity " + ", ".join(f"{k} {v:.3f}" for k, v in metrics["sensitivity"].items())
        + "; ridge R^2 " + ", ".join(f"{k} {v:.3f}" for k, v in metrics["ridge_r2"].items()) + f"; report: {out / 'report.md'}"
    )
    return 0


def run_compare_command(args: argparse.Namespace) -> int:
    """Compare GEAR run folders; exit status 2 when one is not a run folder."""
    from ..evaluation.gear import compare_runs

    try:
        compare_runs(args.runs, args.out)
    except ModuleNotFoundError as err:
        return _missing_gear_extra(err)
    except (ValueError, OSError) as err:  # not a run folder, or unreadable / unwritable files
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"comparison of {len(args.runs)} runs: {Path(args.out) / 'comparison.md'}")
    return 0
