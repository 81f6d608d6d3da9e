"""Evaluate a model on HEAR tasks: embed each task (cached), fit and score each protocol on its folds, and write
``scores.json`` and ``scores.md``.

``scores.json`` holds the model's identity, the run's settings, and per task: the test scores
(``tasks``: protocol -> metric -> mean over folds), their ``details``, ``metrics``, ``folds``, the embedding time,
``failed`` stages and ``warnings`` (:func:`~.protocols.fold_warnings`); every key: docs/evaluate.md ("Outputs").
A score that is not a finite number (heareval's ``aucroc`` of a label without positives is NaN) is written as
``null``. Both files are rewritten after each task, so an interrupted run keeps the tasks done.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ...hear.handle import EmbeddingModel
from ...hear.spec import ModelSpec, as_model
from ...util.files import check_writable, write_atomic
from ...util.names import unknown_name
from .data import Fold, SplitEmbeddings
from .embeddings import DEFAULT_BATCH_SAMPLES, EmbeddingError, embed_task
from .metrics import task_metrics
from .protocols import PROTOCOLS, ProtocolResult, fold_warnings, run_protocol
from .tasks import METADATA_NAME, HearTask, TaskError, load_task

logger = logging.getLogger(__name__)

SCORES_JSON = "scores.json"
SCORES_MD = "scores.md"


def evaluate(
    model: EmbeddingModel | ModelSpec | str,
    task_dirs: Sequence[str | Path],
    *,
    out_dir: str | Path,
    protocols: Sequence[str] = PROTOCOLS,
    cache_dir: str | Path | None = None,
    seed: int = 42,
    device: str | torch.device = "cpu",
    batch_samples: int = DEFAULT_BATCH_SAMPLES,
    batch_size: int | None = None,
    chunk_seconds: float | None = None,
) -> dict[str, Any]:
    """Score ``model`` on every task of ``task_dirs`` with every protocol, writing ``scores.json`` and ``scores.md``
    into ``out_dir``.

    Every task folder is read and checked (metadata, vocabulary, splits, metric names, audio present at the model's
    sample rate), and ``out_dir`` and ``cache_dir`` are checked for writing, before anything is embedded. A cache that
    cannot be written is used read-only (one warning): embeddings found there are used, the others are embedded and not
    kept. A task or protocol that fails afterwards is recorded under ``failed`` and the others go on.

    Args:
        model: the model (:func:`~hear_gear_embed.hear.spec.load`: any variant or HEAR module) on the device it
            embeds on, a :class:`~hear_gear_embed.hear.spec.ModelSpec`, or a name (loaded with its defaults).
        task_dirs: HEAR task folders (:mod:`.tasks`).
        out_dir: where ``scores.json`` and ``scores.md`` go (created).
        protocols: names from :data:`~.protocols.PROTOCOLS`, in the order of the table's columns.
        cache_dir: the embeddings cache (:func:`~.embeddings.cache_folder`); ``None``: none.
        seed: seed of the protocols.
        device: where the protocols fit their models.
        batch_samples: most samples of audio per call of the module.
        batch_size: most files per call of the module; ``None``: bound by ``batch_samples`` only.
        chunk_seconds: seed 001's protocol for scene tasks: each file cut into chunks of this length (s), embedded as
            scenes, the protocols fitted on the chunks with their file's labels, and a file's prediction the mean of
            its chunks' (:func:`~.embeddings.embed_task`); ``None``: one embedding per file, as heareval. Event tasks
            are unaffected.

    Returns:
        The content of ``scores.json`` (its keys: docs/evaluate.md).

    Raises:
        ValueError: no protocol or an unknown or repeated one, no task, or two tasks of one name.
        TaskError: a task folder that cannot be read or scored, or without audio at the model's sample rate.
        OSError: ``out_dir`` cannot be created or written (the message names it and the operating system's error).
        ModuleNotFoundError: soundfile or scikit-learn is not installed.
    """
    protocols = _check_protocols(protocols)
    if chunk_seconds is not None and not (math.isfinite(chunk_seconds) and chunk_seconds > 0):
        raise ValueError(f"chunk_seconds must be a positive number of seconds, got {chunk_seconds}")
    model = as_model(model)
    chunk_samples = None if chunk_seconds is None else max(1, round(chunk_seconds * model.sample_rate))
    tasks = load_tasks(task_dirs, model.sample_rate)
    out = Path(out_dir)
    check_writable(out)
    cache = None if cache_dir is None else Path(cache_dir)
    cache_writable = cache is not None and _cache_writable(cache)
    identity = model.identity.to_dict()
    scores: dict[str, Any] = {
        **identity, "sample_rate": model.sample_rate, "seed": seed, "protocols": list(protocols),
        "chunk_seconds": chunk_seconds,
        "tasks": {t.info.name: {} for t in tasks}, "details": {t.info.name: {} for t in tasks},
        "metrics": {t.info.name: list(t.info.evaluation) for t in tasks},
        "folds": {t.info.name: [ds.name for ds in t.data_splits] for t in tasks},
        "embedding_seconds": {}, "embeddings_cached": {}, "failed": {}, "warnings": {},
    }
    for task in tasks:
        _evaluate_task(model, task, scores, protocols=protocols, cache_dir=cache, cache_writable=cache_writable, seed=seed,
                       device=device, batch_samples=batch_samples, batch_size=batch_size, chunk_samples=chunk_samples)
        write_atomic(out / SCORES_JSON, (json.dumps(scores, indent=2, allow_nan=False) + "\n").encode())
        write_atomic(out / SCORES_MD, scores_markdown(scores).encode())
    return scores


def _cache_writable(cache: Path) -> bool:
    """Whether the embeddings cache can be written, decided once per run; a warning when it cannot."""
    try:
        check_writable(cache)
    except OSError as err:
        logger.warning("the embeddings cache %s is not writable (%s): embeddings cached there are used, nothing new is "
                       "kept", cache, err)
        return False
    return True


def load_tasks(task_dirs: Sequence[str | Path], sample_rate: int) -> list[HearTask]:
    """Read and check every task folder, its metric names and its audio folders at ``sample_rate`` (Hz).

    Raises:
        ValueError: no task, or two tasks of one name.
        TaskError: the first folder at fault.
    """
    if not task_dirs:
        raise ValueError("no task folder given")
    tasks = [load_task(path) for path in task_dirs]
    names = [t.info.name for t in tasks]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"task name(s) {', '.join(twice)} given more than once (scores are keyed by task name)")
    for task in tasks:
        try:
            task_metrics(task.info.evaluation, task.info.embedding_type)
        except ValueError as err:
            raise TaskError(f"{task.path / METADATA_NAME}: evaluation: {err}") from err
        for split in task.used_splits:
            task.audio_paths(split, sample_rate)
    return tasks


def build_folds(task: HearTask, splits: Mapping[str, SplitEmbeddings]) -> list[Fold]:
    """The task's folds (heareval's ``data_splits``), each split's rows from ``splits``; splits put together in the
    order of the fold's list (k-fold training sets: the folds in sorted order)."""

    def rows(names: tuple[str, ...]) -> SplitEmbeddings:
        return splits[names[0]] if len(names) == 1 else SplitEmbeddings.concatenate([splits[n] for n in names])

    return [Fold(ds.name, rows(ds.train), rows(ds.valid), rows(ds.test)) for ds in task.data_splits]


def scores_markdown(scores: Mapping[str, Any]) -> str:
    """``scores.md`` from the content of ``scores.json``: the module, a table of each task's primary metric (one
    column per protocol, ``mean ± std`` over folds for k-fold tasks), a table of every metric, the warnings and the
    failures."""
    protocols = list(scores["protocols"])
    lines = [
        f"# Downstream evaluation of {scores['module']}", "",
        f"Module `{scores['module']}` {scores['module_version'] or '(no distribution)'}, weights "
        f"`{scores['weights']}`, precision {scores['precision']}, {scores['sample_rate']} Hz, seed {scores['seed']}"
        + (f"; scene tasks scored as the mean of {scores['chunk_seconds']:g} s chunk predictions (seed 001)."
           if scores.get("chunk_seconds") else "."),
        "", "| task | metric | " + " | ".join(protocols) + " |", "|---|---|" + "---:|" * len(protocols),
    ]
    every = []
    for name, metrics in scores["metrics"].items():
        folds = len(scores["folds"][name])
        label = f"{name} ({folds} folds)" if folds > 1 else name
        for i, metric in enumerate(metrics):
            cells = [_cell(scores, name, p, metric) for p in protocols]
            row = f"| {label} | {metric} | " + " | ".join(cells) + " |"
            if i == 0:
                lines.append(row)
            every.append(row)
    lines += ["", "## Every metric", "", "| task | metric | " + " | ".join(protocols) + " |",
              "|---|---|" + "---:|" * len(protocols), *every]
    warnings = scores.get("warnings", {})  # absent from the scores.json of versions before it
    if warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- {task}: {message}" for task, messages in warnings.items() for message in messages]
    failed = scores["failed"]
    if failed:
        lines += ["", "## Failures", ""]
        lines += [f"- {task} / {stage}: {error}" for task, stages in failed.items() for stage, error in stages.items()]
    return "\n".join(lines) + "\n"


def _check_protocols(protocols: Sequence[str]) -> tuple[str, ...]:
    if not protocols:
        raise ValueError(f"no protocol given; choose from {', '.join(PROTOCOLS)}")
    for protocol in protocols:
        if protocol not in PROTOCOLS:
            raise ValueError(unknown_name("protocol", protocol, PROTOCOLS))
    if len(set(protocols)) != len(protocols):
        raise ValueError(f"a protocol is given twice: {', '.join(protocols)}")
    return tuple(protocols)


def _evaluate_task(model: EmbeddingModel, task: HearTask, scores: dict[str, Any], *, protocols: Sequence[str],
                   cache_dir: Path | None, cache_writable: bool, seed: int, device: str | torch.device,
                   batch_samples: int, batch_size: int | None, chunk_samples: int | None) -> None:
    """Embed ``task`` and run every protocol on it, recording results, warnings and failures into ``scores``."""
    name = task.info.name
    start = time.perf_counter()
    try:
        embedded = embed_task(model, task, cache_dir=cache_dir, cache_writable=cache_writable,
                              batch_samples=batch_samples, batch_size=batch_size, chunk_samples=chunk_samples)
    except ModuleNotFoundError:
        raise
    except Exception as err:  # one task's failure must not lose the other tasks' scores
        _record_failure(scores, name, "embedding", err)
        return
    scores["embedding_seconds"][name] = embedded.seconds
    scores["embeddings_cached"][name] = embedded.cached
    folds = build_folds(task, embedded.splits)
    warnings = fold_warnings(task.info, folds, protocols)
    for message in warnings:
        logger.warning("%s: %s", name, message)
    if warnings:
        scores["warnings"][name] = warnings
    times = [f"embedding {embedded.seconds:.1f} s{' (cached)' if embedded.cached else ''}"]
    for protocol in protocols:
        try:
            result = run_protocol(protocol, task.info, folds, seed=seed, device=device)
        except ModuleNotFoundError:
            raise
        except Exception as err:  # a protocol's failure must not lose the other protocols' scores
            _record_failure(scores, name, protocol, err)
            continue
        scores["tasks"][name][protocol] = _finite(result.scores, f"{name}/{protocol}")
        scores["details"][name][protocol] = _details(result, f"{name}/{protocol}")
        primary = task.info.evaluation[0]
        times.append(f"{protocol} {result.seconds:.1f} s ({primary} {result.scores.get(primary, math.nan):.4g})")
    logger.info("%s: %s; %.1f s in all", name, ", ".join(times), time.perf_counter() - start)


def _record_failure(scores: dict[str, Any], task: str, stage: str, err: Exception) -> None:
    expected = isinstance(err, (TaskError, EmbeddingError))
    logger.error("%s: %s failed: %s", task, stage, err, exc_info=None if expected else err)
    scores["failed"].setdefault(task, {})[stage] = f"{type(err).__name__}: {err}"


def _finite(values: Mapping[str, float], where: str) -> dict[str, float | None]:
    """``values`` with every non-finite one as ``None`` (JSON ``null``), logged."""
    out: dict[str, float | None] = {}
    for key, value in values.items():
        if math.isfinite(value):
            out[key] = float(value)
        else:
            logger.warning("%s: %s is %s; written as null", where, key, value)
            out[key] = None
    return out


def _details(result: ProtocolResult, where: str) -> dict[str, Any]:
    validation = result.validation_score
    return {
        "fold_scores": {fold: _finite(values, f"{where}/{fold}") for fold, values in result.fold_scores.items()},
        "std": _finite(result.std, f"{where} (std)"),
        "validation_score": float(validation) if math.isfinite(validation) else None,
        "hparams": result.hparams,
        "seconds": result.seconds,
    }


def _cell(scores: Mapping[str, Any], task: str, protocol: str, metric: str) -> str:
    if protocol in scores["failed"].get(task, {}) or "embedding" in scores["failed"].get(task, {}):
        return "failed"
    values = scores["tasks"].get(task, {}).get(protocol)
    if values is None or metric not in values:
        return "–"
    value = values[metric]
    if value is None:
        return "NaN"
    std = scores["details"][task][protocol]["std"].get(metric)
    return f"{value:.4g} ± {std:.2g}" if len(scores["folds"][task]) > 1 and std is not None else f"{value:.4g}"
