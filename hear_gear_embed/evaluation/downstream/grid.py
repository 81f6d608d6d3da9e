"""A grid of variant specs evaluated and compared in one call (:func:`evaluate_grid`): seed 003's ablation, e.g.
``passt[levels=M|H|M+H|L+M|L+M+H,rf=160|640|160+640,hop=10|5|3.125]``.

Each variant of the grid (:func:`~hear_gear_embed.variant_spec.expand_spec_grid`) is loaded in turn, evaluated into
``out_dir/<spec>`` (:func:`~.runner.evaluate`, one embeddings cache for all), and released before the next; then the
runs are compared into ``out_dir`` (:func:`~.compare.compare_evaluations`). A variant that cannot be loaded or
evaluated is recorded and the others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ...hear.spec import load
from ...registry import get_variant
from ...util.files import check_writable
from ...util.precision import Precision
from ...variant_spec import expand_spec_grid
from .compare import compare_evaluations
from .runner import evaluate, load_tasks

logger = logging.getLogger(__name__)


def evaluate_grid(
    grid: str,
    task_dirs: Sequence[str | Path],
    *,
    out_dir: str | Path,
    weights: str | None = None,
    precision: Precision = "fp32",
    device: str | torch.device = "cpu",
    compile: bool | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Evaluate every variant of ``grid`` on ``task_dirs`` and compare them.

    Args:
        grid: variant specs with alternatives joined by ``|`` (a plain spec is a grid of one).
        task_dirs: HEAR task folders.
        out_dir: each variant's run goes to ``out_dir/<canonical spec>``, the comparison to ``out_dir``.
        weights: the checkpoint every variant loads (``None``: each variant's official one); variants of other
            geometries than the checkpoint's fail, and are recorded.
        precision, device, compile: as :func:`~hear_gear_embed.hear.spec.load` takes them.
        **options: :func:`~.runner.evaluate`'s keyword arguments (``protocols``, ``cache_dir``, ``jobs``, ...);
            ``cache_dir`` defaults to ``out_dir/embeddings``, shared by the variants.

    Returns:
        ``specs`` (the grid's variants, in order), ``failed`` (spec -> error, for the variants without scores or with
        a failed task), and ``comparison``: the content of ``comparison.json`` (``None`` when no variant was scored).

    Raises:
        ValueError: a bad grid (named by :func:`~hear_gear_embed.variant_spec.expand_spec_grid`), or a task folder that
            cannot be read (:class:`~.tasks.TaskError`); both before any variant is loaded.
        OSError: ``out_dir`` cannot be created or written.
    """
    specs = expand_spec_grid(grid)
    logger.info("evaluating a grid of %d variants into %s", len(specs), out_dir)
    for rate in sorted({get_variant(spec).sample_rate for spec in specs}):
        load_tasks(task_dirs, rate)  # a bad task folder stops the grid before any variant is loaded
    out = Path(out_dir)
    check_writable(out)
    options.setdefault("cache_dir", out / "embeddings")
    done: list[str] = []
    failed: dict[str, str] = {}
    for i, spec in enumerate(specs, 1):
        logger.info("variant %d of %d: %s", i, len(specs), spec)
        try:
            # The model lives in this call only: released before the next variant is loaded.
            scores = evaluate(load(spec, weights=weights, precision=precision, device=device, compile=compile),
                              task_dirs, out_dir=out / spec, device=device, **options)
        except ModuleNotFoundError:
            raise
        except Exception as err:  # one variant's failure must not lose the others
            logger.error("%s failed: %s: %s", spec, type(err).__name__, err)
            failed[spec] = f"{type(err).__name__}: {err}"
            continue
        done.append(spec)
        if scores["failed"]:
            failed[spec] = "tasks failed: " + ", ".join(f"{t} / {s}" for t, stages in scores["failed"].items()
                                                         for s in stages)
    comparison = compare_evaluations([out / spec for spec in done], out, labels=done) if done else None
    return {"specs": specs, "failed": failed, "comparison": comparison}
