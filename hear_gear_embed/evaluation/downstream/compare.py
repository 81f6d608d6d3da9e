"""Several ``hear-gear evaluate`` runs side by side (:func:`compare_evaluations`): each run folder's ``scores.json``
read back and checked, then one series per run and protocol: each task's primary test score, and as the run
normalised them (:func:`~.runner.normalised_to_hear2021`), each HEAR 2021 task's score divided by its best HEAR 2021
score and the means per category; written as ``comparison.json``, ``comparison.md`` and ``comparison.png`` (and
``comparison_normalised.png``).

Used by ``hear-gear evaluate-compare`` and by ``hear-gear evaluate`` over a grid of variants (seed 003's ablation).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...util.files import write_atomic
from .figures import plot_scores
from .runner import SCORES_JSON

logger = logging.getLogger(__name__)

COMPARISON_JSON = "comparison.json"
COMPARISON_MD = "comparison.md"
COMPARISON_PNG = "comparison.png"
COMPARISON_NORMALISED_PNG = "comparison_normalised.png"
_REQUIRED = ("module", "protocols", "tasks", "metrics")


@dataclass(frozen=True)
class _Run:
    label: str
    folder: Path
    scores: Mapping[str, Any]


def _load(folder: Path, label: str) -> _Run:
    path = folder / SCORES_JSON
    try:
        scores = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{folder}: not an evaluate run ({SCORES_JSON} is missing)") from None
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot be read: {err}") from err
    if not isinstance(scores, dict) or any(key not in scores for key in _REQUIRED):
        raise ValueError(f"{path}: not a scores.json of hear-gear evaluate (it needs the keys {', '.join(_REQUIRED)})")
    return _Run(label, folder, scores)


def compare_evaluations(folders: Sequence[str | Path], out_dir: str | Path, *,
                        labels: Sequence[str] | None = None) -> dict[str, Any]:
    """Put the ``hear-gear evaluate`` runs in ``folders`` side by side, writing ``comparison.json``, ``comparison.md``
    and the figures into ``out_dir`` (created).

    A series is a run's protocol (``<label> / <protocol>``); a task's score is its primary metric (the first of the
    task's ``evaluation``), ``None`` where the run did not score it. Tasks are taken in the order they first appear.
    Normalised scores and category means are each run's own (``normalised`` and ``category_means`` in its
    ``scores.json``), listed by HEAR 2021 task title; a task that is no HEAR 2021 task is reported raw only.

    Args:
        folders: ``hear-gear evaluate`` output folders (each with ``scores.json``).
        out_dir: where the comparison goes.
        labels: a label per run (default: each folder's name).

    Returns:
        The content of ``comparison.json``.

    Raises:
        ValueError: no folder, labels not one per folder or repeated, a folder without a readable ``scores.json``, or
            two runs that give one task different primary metrics (checked before anything is written).
    """
    if not folders:
        raise ValueError("give at least one evaluate run folder")
    paths = [Path(f) for f in folders]
    names = list(labels) if labels is not None else [p.resolve().name for p in paths]
    if len(names) != len(paths):
        raise ValueError(f"{len(names)} labels for {len(paths)} run folders")
    if len(set(names)) != len(names):
        raise ValueError(f"runs need distinct labels (folder names by default), got {names}")
    runs = [_load(path, name) for path, name in zip(paths, names, strict=True)]
    tasks, primary = _tasks(runs)
    references: dict[str, dict[str, Any]] = {}
    for run in runs:
        for title, record in (run.scores.get("hear2021") or {}).items():
            references.setdefault(title, dict(record))
    series, raw, normalised, means = [], {}, {}, {}
    for run in runs:
        for protocol in run.scores["protocols"]:
            name = f"{run.label} / {protocol}"
            series.append(name)
            raw[name] = {t: _score(run.scores, t, protocol, primary[t]) for t in tasks}
            given = (run.scores.get("normalised") or {}).get(protocol, {})
            normalised[name] = {title: given.get(title) for title in references}
            means[name] = (run.scores.get("category_means") or {}).get(protocol, {})
    summary: dict[str, Any] = {
        "runs": [{"label": r.label, "folder": _shown(r.folder, Path(out_dir)), "module": r.scores["module"],
                  "weights": r.scores.get("weights"), "precision": r.scores.get("precision"),
                  "protocols": list(r.scores["protocols"])} for r in runs],
        "tasks": tasks, "primary_metric": primary, "hear2021": references,
        "scores": raw, "normalised": normalised, "category_means": means,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / COMPARISON_JSON, (json.dumps(summary, indent=2, allow_nan=False) + "\n").encode())
    plot_scores(tasks, [(n, [raw[n][t] for t in tasks]) for n in series], out / COMPARISON_PNG,
                ylabel="primary test score", title="Test scores (each task's primary metric)")
    if references:
        titles = list(references)
        plot_scores(titles, [(n, [normalised[n][t] for t in titles]) for n in series],
                    out / COMPARISON_NORMALISED_PNG, ylabel="score / best HEAR 2021 score",
                    title="Normalised to the best HEAR 2021 score", reference=1.0)
    write_atomic(out / COMPARISON_MD, comparison_markdown(summary).encode())
    return summary


def _tasks(runs: Sequence[_Run]) -> tuple[list[str], dict[str, str]]:
    tasks: list[str] = []
    primary: dict[str, str] = {}
    for run in runs:
        for task, metrics in run.scores["metrics"].items():
            if not metrics:
                raise ValueError(f"{run.folder / SCORES_JSON}: task {task} has no metric")
            if task not in primary:
                tasks.append(task)
                primary[task] = metrics[0]
            elif primary[task] != metrics[0]:
                raise ValueError(f"task {task}: run {run.label} scores it by {metrics[0]}, an earlier run by "
                                 f"{primary[task]}; these are different tasks under one name")
    return tasks, primary


def _shown(folder: Path, out: Path) -> str:
    """``folder`` relative to ``out`` when inside it (a grid's runs), else as given."""
    try:
        return folder.resolve().relative_to(out.resolve()).as_posix()
    except ValueError:
        return str(folder)


def _score(scores: Mapping[str, Any], task: str, protocol: str, metric: str) -> float | None:
    value = scores["tasks"].get(task, {}).get(protocol, {}).get(metric)
    return None if value is None else float(value)


def _cell(value: float | None, decimals: int | None = None) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if decimals is None else f"{value:.{decimals}f}"


def comparison_markdown(summary: Mapping[str, Any]) -> str:
    """``comparison.md`` from the content of ``comparison.json``, laid out as the HEAR leaderboard is (a row per run
    and protocol, a column per task): the runs, their primary test scores, then their scores normalised to the best
    HEAR 2021 score with the means per category, and the best scores used."""
    series = list(summary["scores"])
    tasks = summary["tasks"]
    lines = ["# Evaluation runs compared", "",
             *[f"- **{r['label']}**: `{r['module']}`, weights `{r['weights']}`, {r['precision']}, protocols "
               f"{', '.join(r['protocols'])} ({r['folder']})" for r in summary["runs"]],
             "", "## Test scores (each task's primary metric)", "",
             "| run / protocol | " + " | ".join(f"{t} ({summary['primary_metric'][t]})" for t in tasks) + " |",
             "|---|" + "---:|" * len(tasks)]
    lines += [f"| {s} | " + " | ".join(_cell(summary["scores"][s][t]) for t in tasks) + " |" for s in series]
    references = summary["hear2021"]
    if not references:
        return "\n".join(lines) + "\n"
    categories = list(dict.fromkeys(c for s in series for c in summary["category_means"][s]))
    lines += ["", "## Normalised to the best HEAR 2021 score", "",
              "Each HEAR 2021 task's score divided by the best score a HEAR 2021 submission reached on it (1.0: as good "
              "as the best; the leaderboard's scores are heareval's MLP, so the `mlp` rows are the comparable ones); a "
              "category's mean averages its tasks that were scored (how many, of the category's HEAR 2021 tasks).", "",
              "| run / protocol | " + " | ".join([*references, *(f"mean: {c}" for c in categories)]) + " |",
              "|---|" + "---:|" * (len(references) + len(categories))]
    for s in series:
        means = summary["category_means"][s]
        cells = [_cell(summary["normalised"][s][title], 3) for title in references]
        cells += ["–" if c not in means else f"{means[c]['mean']:.3f} ({len(means[c]['tasks'])} of "
                  f"{means[c]['n_category']})" for c in categories]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += ["", "| HEAR 2021 task | best | submission(s) |", "|---|---:|---|",
              *[f"| {title} | {r['best']:.4g} | {', '.join(r['submissions'])} |" for title, r in references.items()]]
    return "\n".join(lines) + "\n"
