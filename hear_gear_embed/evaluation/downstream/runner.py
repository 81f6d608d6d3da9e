"""Evaluate a model on HEAR tasks: embed each task (cached), fit and score each protocol on its folds, describe the
embeddings (dispersion per split, a projection figure per task), and write ``scores.json`` and ``scores.md``.

``scores.json`` holds the model's identity, the run's settings, and per task: the test scores
(``tasks``: protocol -> metric -> mean over folds), their ``details``, ``metrics``, ``folds``, the embedding time,
``dispersion`` per split, ``figures``, ``failed`` stages and ``warnings`` (:func:`~.protocols.fold_warnings`); every
key: docs/evaluate.md ("Outputs"). A score that is not a finite number (heareval's ``aucroc`` of a label without
positives is NaN) is written as ``null``. Both files are rewritten after each task and each protocol, so an interrupted
run keeps the work done. Tasks are embedded one after another in this process; protocols and figures run in it too, or
spread over ``jobs`` worker processes (:mod:`.workers`) while the next task is embedded.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from pathlib import Path
from typing import Any

import torch

from ...hear.handle import EmbeddingModel
from ...hear.spec import ModelSpec, as_model
from ...util.files import check_writable, write_atomic
from ...util.names import unknown_name
from .data import Fold, SplitEmbeddings
from .embeddings import DEFAULT_BATCH_SAMPLES, EmbeddingError, embed_task
from .explain import split_dispersion, tested_rows
from .metrics import task_metrics
from .protocols import PROTOCOLS, ProtocolResult, fold_warnings
from .reference import Hear2021Best, category_means, hear2021_best, normalised_scores
from .tasks import METADATA_NAME, HearTask, TaskError, load_task
from .workers import executor, figure_job, job_devices, protocol_job

logger = logging.getLogger(__name__)

SCORES_JSON = "scores.json"
SCORES_MD = "scores.md"
FIGURES_DIR = "figures"
"""The folder of ``out_dir`` that holds one projection figure per task (``<task>.png``)."""
FIGURE_STAGE = "figure"
"""The stage name of a task's figure in ``failed``."""


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
    jobs: int = 1,
    figures: bool = True,
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
        jobs: worker processes for the protocols and figures (:mod:`.workers`; the scores of ``1``, which runs them
            in this process, to the rounding of a smaller thread count); on a CUDA ``device`` without an index, jobs
            take the visible GPUs in turn.
        figures: draw each task's projection figure (``figures/<task>.png``; t-SNE takes seconds per task).

    Returns:
        The content of ``scores.json`` (its keys: docs/evaluate.md).

    Raises:
        ValueError: no protocol or an unknown or repeated one, no task, two tasks of one name, or ``jobs`` below 1.
        TaskError: a task folder that cannot be read or scored, or without audio at the model's sample rate.
        OSError: ``out_dir`` cannot be created or written (the message names it and the operating system's error).
        ModuleNotFoundError: soundfile or scikit-learn is not installed, or matplotlib when ``figures``.
    """
    protocols = _check_protocols(protocols)
    if chunk_seconds is not None and not (math.isfinite(chunk_seconds) and chunk_seconds > 0):
        raise ValueError(f"chunk_seconds must be a positive number of seconds, got {chunk_seconds}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if figures and importlib.util.find_spec("matplotlib") is None:
        raise ModuleNotFoundError("the figures need matplotlib (the eval extra), or pass figures=False",
                                  name="matplotlib")
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
        "embedding_seconds": {}, "embeddings_cached": {}, "dispersion": {}, "figures": {}, "failed": {},
        "warnings": {},
    }
    metadata = {t.info.name: t.metadata for t in tasks}
    run = _Run(scores, out, protocols, job_devices(device), metadata, hear2021_records(metadata))

    with executor(jobs) as pool:
        try:
            for task in tasks:
                _embed_and_submit(model, task, run, cache_dir=cache, cache_writable=cache_writable,
                                  batch_samples=batch_samples, batch_size=batch_size, chunk_samples=chunk_samples,
                                  seed=seed, figures=figures, pool=pool)
                run.collect(block=False)
                run.write()
            run.collect(block=True)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            run.write()
    return scores


class _Run:
    """The jobs of a run in flight, and where their results go (``scores``, written to ``out``)."""

    def __init__(self, scores: dict[str, Any], out: Path, protocols: Sequence[str], devices: list[torch.device],
                 metadata: Mapping[str, Mapping[str, Any]], records: Mapping[str, Hear2021Best]) -> None:
        self.scores, self.out, self.protocols, self.devices = scores, out, protocols, devices
        self.metadata, self.records = metadata, records
        self.pending: dict[Future[Any], tuple[str, str]] = {}
        self.submitted = 0

    def next_device(self) -> str:
        """The device of the next protocol job (the GPUs in turn)."""
        self.submitted += 1
        return str(self.devices[(self.submitted - 1) % len(self.devices)])

    def collect(self, *, block: bool) -> None:
        """Record the jobs that are done (``block``: wait for every job)."""
        while self.pending:
            done, _ = wait(self.pending, timeout=None if block else 0, return_when=FIRST_COMPLETED)
            if not done:
                return
            for future in done:
                task, stage = self.pending.pop(future)
                self._record(task, stage, future)
            if block:
                self.write()

    def _record(self, task: str, stage: str, future: Future[Any]) -> None:
        err = future.exception()
        if isinstance(err, ModuleNotFoundError) or (err is not None and not isinstance(err, Exception)):
            raise err
        if err is not None:  # one job's failure must not lose the others' results
            _record_failure(self.scores, task, stage, err)
            return
        if stage == FIGURE_STAGE:
            figures = {**self.scores["figures"], task: future.result().relative_to(self.out).as_posix()}
            self.scores["figures"] = {t: figures[t] for t in self.scores["tasks"] if t in figures}  # in task order
            return
        result: ProtocolResult = future.result()
        tasks, details = self.scores["tasks"][task], self.scores["details"][task]
        tasks[stage] = _finite(result.scores, f"{task}/{stage}")
        details[stage] = _details(result, f"{task}/{stage}")
        # In protocol order, whichever job finished first.
        self.scores["tasks"][task] = {p: tasks[p] for p in self.protocols if p in tasks}
        self.scores["details"][task] = {p: details[p] for p in self.protocols if p in details}
        primary = self.scores["metrics"][task][0]
        value = result.scores.get(primary, math.nan)
        logger.info("%s: %s %.1f s (%s %.4g)", task, stage, result.seconds, primary, value)

    def write(self) -> None:
        self.scores.update(normalised_to_hear2021(self.scores, self.records, self.metadata))
        write_atomic(self.out / SCORES_JSON, (json.dumps(self.scores, indent=2, allow_nan=False) + "\n").encode())
        write_atomic(self.out / SCORES_MD, scores_markdown(self.scores).encode())


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
    lines += _normalised_markdown(scores, protocols)
    lines += _dispersion_markdown(scores.get("dispersion", {}))  # absent from the scores.json of versions before it
    figures = scores.get("figures", {})
    if figures:
        lines += ["", "## Figures", "", "The test embeddings of each task in 2-D (PCA, t-SNE), coloured by label:", ""]
        lines += [f"- {task}: [{path}]({path})" for task, path in figures.items()]
    warnings = scores.get("warnings", {})  # absent from the scores.json of versions before it
    if warnings:
        lines += ["", "## Warnings", ""]
        lines += [f"- {task}: {message}" for task, messages in warnings.items() for message in messages]
    failed = scores["failed"]
    if failed:
        lines += ["", "## Failures", ""]
        lines += [f"- {task} / {stage}: {error}" for task, stages in failed.items() for stage, error in stages.items()]
    return "\n".join(lines) + "\n"


def _normalised_markdown(scores: Mapping[str, Any], protocols: Sequence[str]) -> list[str]:
    hear2021 = scores.get("hear2021")  # absent from the scores.json of versions before it
    if not hear2021:
        return []
    return ["", "## Normalised to the best HEAR 2021 score", "",
            "Each HEAR 2021 task's primary test score divided by the best score a HEAR 2021 submission reached on it "
            "(1.0: as good as the best; sources: docs/evaluate.md), and the mean per category (Koutini et al., "
            "Table 1). The best scores are heareval's MLP, so the `mlp` column is the comparable one. Other tasks are "
            "reported raw only.", "",
            *_normalised_table(hear2021, {p: scores["normalised"][p] for p in protocols},
                              {p: scores["category_means"][p] for p in protocols})]


def _normalised_table(hear2021: Mapping[str, Mapping[str, Any]], normalised: Mapping[str, Mapping[str, float | None]],
                     means: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[str]:
    """Markdown rows: one per HEAR 2021 task (its best score and submissions, then its normalised score per column),
    then one per category (the mean, and how many of the category's tasks it averages).

    Args:
        hear2021: title -> record, as in ``scores.json``'s ``hear2021``.
        normalised: column (a protocol, or a run's protocol) -> title -> normalised score (absent or ``None``: none).
        means: column -> category -> ``mean``, ``tasks``, ``n_category``.
    """
    columns = list(normalised)
    lines = ["| HEAR 2021 task | best (submission) | " + " | ".join(columns) + " |", "|---|---|" + "---:|" * len(columns)]
    for title, record in hear2021.items():
        cells = " | ".join(_ratio(normalised[c].get(title)) for c in columns)
        lines.append(f"| {title} | {record['best']:.4g} ({', '.join(record['submissions'])}) | {cells} |")
    for category in dict.fromkeys(c for column in columns for c in means[column]):
        entries = [means[c].get(category) for c in columns]
        cells = " | ".join("–" if e is None else f"{e['mean']:.3f} ({len(e['tasks'])} of {e['n_category']})"
                           for e in entries)
        lines.append(f"| mean: {category} | | {cells} |")
    return lines


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


DISPERSION_COLUMNS = ("gini_index", "top2_ratio", "kmeans_f_test", "calinski_harabasz")
"""The dispersion metrics of ``scores.md``'s table, in its column order."""


def _dispersion_markdown(dispersion: Mapping[str, Mapping[str, Mapping[str, float] | None]]) -> list[str]:
    if not dispersion:
        return []
    lines = ["", "## Dispersion of the embeddings", "",
             "Seed 000's diagnostics per split (docs/gear.md): Gini index of the covariance spectrum (higher: more "
             "dispersed), share of the variance in the top 2 components, K-means F-test and Calinski-Harabasz score.",
             "", "| task | split | rows | dim | Gini | top-2 | F-test | CH |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for task, splits in dispersion.items():
        for split, values in splits.items():
            if values is None:
                lines.append(f"| {task} | {split} | < 3 | | | | | |")
                continue
            rows = (f"{values['n_embeddings']} of {values['n_rows']}" if values["n_embeddings"] != values["n_rows"]
                    else str(values["n_rows"]))
            cells = " | ".join(f"{values[c]:.3g}" for c in DISPERSION_COLUMNS)
            lines.append(f"| {task} | {split} | {rows} | {values['dim']} | {cells} |")
    return lines


def _check_protocols(protocols: Sequence[str]) -> tuple[str, ...]:
    if not protocols:
        raise ValueError(f"no protocol given; choose from {', '.join(PROTOCOLS)}")
    for protocol in protocols:
        if protocol not in PROTOCOLS:
            raise ValueError(unknown_name("protocol", protocol, PROTOCOLS))
    if len(set(protocols)) != len(protocols):
        raise ValueError(f"a protocol is given twice: {', '.join(protocols)}")
    return tuple(protocols)


def hear2021_records(metadata: Mapping[str, Mapping[str, Any]]) -> dict[str, Hear2021Best]:
    """The best-score record of each task of a run that is a HEAR 2021 task (:func:`~.reference.hear2021_best`, by its
    ``task_metadata.json``), by task name; a record of several task folders (Beehive States' two folds) only when the
    run has all of them, else left out with a warning."""
    records = {name: r for name, meta in metadata.items() if (r := hear2021_best(meta)) is not None}
    complete = {}
    for name, record in records.items():
        missing = [n for n in record.task_names if n not in records]
        if missing:
            logger.warning("%s: %s is the mean over %s; %s not in this run: not normalised", name, record.title,
                           ", ".join(record.task_names), ", ".join(missing))
        else:
            complete[name] = record
    return complete


def normalised_to_hear2021(scores: Mapping[str, Any], records: Mapping[str, Hear2021Best],
                           metadata: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The ``hear2021``, ``normalised`` and ``category_means`` entries of ``scores.json``: the best HEAR 2021 score of
    each of the run's HEAR 2021 tasks, keyed by the task's HEAR title; per protocol, each such task's primary test
    score divided by it (:func:`~.reference.normalised_scores`); and per protocol the mean of those per category
    (speech, music, general). A task scored by another primary metric than the record's is not normalised, nor is a
    record whose task folders are not all scored yet.

    Args:
        scores: the content of ``scores.json`` so far (``tasks``, ``metrics``, ``protocols``).
        records: :func:`hear2021_records` of the run's tasks.
        metadata: each task's ``task_metadata.json``, by task name.
    """
    matched = {name: r for name, r in records.items() if r.metric == scores["metrics"][name][0]}
    hear2021 = {r.title: {"metric": r.metric, "best": r.best, "submissions": list(r.submissions),
                          "category": r.category, "task_names": list(r.task_names)} for r in matched.values()}
    normalised: dict[str, dict[str, float]] = {}
    means: dict[str, dict[str, Any]] = {}
    for protocol in scores["protocols"]:
        values = {name: scores["tasks"].get(name, {}).get(protocol, {}).get(r.metric) for name, r in matched.items()}
        scored = {r for name, r in matched.items()
                  if all(values.get(n) is not None for n in r.task_names)}  # a record's every folder
        by_record = normalised_scores((metadata[name], value) for name, value in values.items()
                                      if matched[name] in scored and value is not None)
        normalised[protocol] = {r.title: value for r, value in by_record.items()}
        means[protocol] = {c: {"mean": m.mean, "tasks": list(m.tasks), "n_category": m.n_category}
                           for c, m in category_means(by_record).items()}
    return {"hear2021": hear2021, "normalised": normalised, "category_means": means}


def _embed_and_submit(model: EmbeddingModel, task: HearTask, run: _Run, *, cache_dir: Path | None,
                      cache_writable: bool, batch_samples: int, batch_size: int | None, chunk_samples: int | None,
                      seed: int, figures: bool, pool: Executor) -> None:
    """Embed ``task``, submit its protocols and figure to ``pool``, and measure the dispersion of each split meanwhile;
    failures and warnings go into ``run.scores``."""
    name, scores = task.info.name, run.scores
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
    logger.info("%s: embedding %.1f s%s", name, embedded.seconds, " (cached)" if embedded.cached else "")
    folds = build_folds(task, embedded.splits)
    warnings = fold_warnings(task.info, folds, run.protocols)
    for message in warnings:
        logger.warning("%s: %s", name, message)
    if warnings:
        scores["warnings"][name] = warnings
    for protocol in run.protocols:
        future = pool.submit(protocol_job, protocol, task.info, folds, seed, run.next_device())
        run.pending[future] = (name, protocol)
    try:
        scores["dispersion"][name] = {split: split_dispersion(rows, seed=seed) for split, rows in embedded.splits.items()}
    except Exception as err:  # NaN embeddings: the protocols name them; the other tasks go on
        _record_failure(scores, name, "dispersion", err)
    if figures:
        rows = tested_rows(task, embedded.splits)
        path = run.out / FIGURES_DIR / f"{_file_name(name)}.png"
        run.pending[pool.submit(figure_job, rows, task.info.labels, path, name, seed)] = (name, FIGURE_STAGE)


def _file_name(task: str) -> str:
    """``task`` as a file name (a task name is free text in ``task_metadata.json``)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in task).strip(".") or "task"


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
