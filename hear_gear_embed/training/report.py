"""What a run leaves to read: ``train-log.jsonl`` (:class:`TrainLog`), ``train-curves.png`` (the losses, BECR's
term, the Gini index of the batch and of the held-out embeddings, the learning rate and the validation score, as seed
000's Figs 5-6 plot them) and ``report.md`` (the model, where its weights came from, what trained and what was kept,
the settings, the scores, the speed)."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..diverse.config import DiverseConfig
from ..embedding.config import VariantConfig
from ..util.files import write_atomic

logger = logging.getLogger(__name__)


class TrainLog:
    """``train-log.jsonl`` open for appending, one JSON object per line, flushed per row. Opened at ``step`` (a resumed
    run's saved step), it first drops the rows after that step: the run that stopped wrote them after the state it
    saved, and the resumed run writes them again."""

    def __init__(self, path: Path, step: int) -> None:
        rows = [row for row in read_log(path) if row["step"] <= step]
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        self.handle = path.open("a", encoding="utf-8")

    def __enter__(self) -> TrainLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()

    def write(self, row: dict[str, Any]) -> None:
        self.handle.write(json.dumps(row) + "\n")
        self.handle.flush()


def read_log(path: Path) -> list[dict[str, Any]]:
    """The rows of ``train-log.jsonl`` (none when it does not exist)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_curves(rows: Sequence[dict[str, Any]], path: Path, *, metric: str) -> None:
    """Plot ``train-log.jsonl``'s rows into ``path`` (PNG): loss and task loss, BECR's term, the Gini index per step
    (batch) and per epoch (validation), the learning rate, and the validation ``metric`` per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r for r in rows if r["kind"] == "step"]
    epochs = [r for r in rows if r["kind"] == "epoch"]
    x = [r["step"] for r in steps]
    figure, axes = plt.subplots(2, 2, figsize=(10, 6.5), constrained_layout=True)
    ax = axes[0, 0]
    ax.plot(x, [r["loss"] for r in steps], label="loss")
    if any(r["becr"] is not None for r in steps):
        ax.plot(x, [r["task_loss"] for r in steps], label="task loss", alpha=0.7)
        ax.plot(x, [r["becr"] for r in steps], label="BECR term")
    ax.set(xlabel="step", ylabel="loss", title="Losses")
    ax.legend()
    ax = axes[0, 1]
    ax.plot(x, [math.nan if r["gini"] is None else r["gini"] for r in steps], label="batch embeddings", alpha=0.8)
    ax.plot([r["step"] for r in epochs if r["valid_gini"] is not None],
            [r["valid_gini"] for r in epochs if r["valid_gini"] is not None], "o-", label="validation embeddings")
    ax.set(xlabel="step", ylabel="Gini index", title="Dispersion (Gini index of the covariance spectrum)", ylim=(0, 1))
    ax.legend()
    ax = axes[1, 0]
    ax.plot(x, [r["lr"] for r in steps])
    ax.set(xlabel="step", ylabel="learning rate (network)", title="Schedule")
    ax = axes[1, 1]
    ax.plot([r["epoch"] for r in epochs], [r["valid"].get(metric) for r in epochs], "o-")
    ax.set(xlabel="epoch", ylabel=metric, title=f"Validation {metric}")
    write_atomic(path, lambda stream: figure.savefig(stream, format="png", dpi=110))
    plt.close(figure)


def _kept_summary(kept: Sequence[str]) -> list[str]:
    """Kept parameters grouped by reason: ``reason: n tensors``."""
    reasons = Counter(item.split(" (", 1)[1].removesuffix(")") if " (" in item else "kept" for item in kept)
    return [f"{reason}: {count} tensor(s)" for reason, count in reasons.items()]


def write_report(path: Path, *, record: dict[str, Any], test: dict[str, float], test_gini: float | None,
                 rows: Sequence[dict[str, Any]], skipped: Sequence[dict[str, str]],
                 variant: VariantConfig | DiverseConfig) -> None:
    """Write ``report.md`` for a finished run from its record (what the checkpoints store) and its log rows."""
    task, best, config = record["task"], record["best"] or {}, record["config"]
    steps = [r for r in rows if r["kind"] == "step"]
    speed = sum(r["samples_per_s"] for r in steps) / len(steps) if steps else float("nan")
    trained = record["parameters"]["trained"]
    is_diverse = isinstance(variant, DiverseConfig)
    size = variant.embedding_size if isinstance(variant, DiverseConfig) else variant.scene_embedding_size
    module = "diverse" if is_diverse else variant.name
    lines = [
        f"# Training {variant.name} on {task['name']}",
        "",
        f"- {'diverse model' if is_diverse else 'variant'}: `{variant.name}` ({variant.description}); scene embedding of "
        f"{size} values",
        f"- weights started from: {record['init']['kind']} {record['init']['source'] or ''} {record['init']['note']}".rstrip()
        + (f" (SHA-256 {record['init']['sha256']})" if record["init"].get("sha256") else ""),
        f"- task: `{task['path']}` (fold {task['fold']}: train {', '.join(task['splits']['train'])}, valid "
        f"{', '.join(task['splits']['valid'])}, test {', '.join(task['splits']['test'])}), {task['prediction_type']}, "
        f"{len(task['labels'])} labels; model selection on validation `{task['metric']}`",
        f"- precision {record['precision']}, {record['processes']} process(es), {record['step']} optimiser steps, "
        f"{record['epoch']} epochs, {speed:.2f} training clips/s on average",
        "",
        "## Scores of best.pt",
        "",
        "| split | " + " | ".join(test) + " | Gini index of the embeddings |",
        "|---|" + "---|" * (len(test) + 1),
        f"| valid (epoch {best.get('epoch')}) | " + " | ".join(f"{best.get('valid', {}).get(k, float('nan')):.4f}" for k in test)
        + f" | {_fmt(best.get('valid_gini'))} |",
        "| test | " + " | ".join(f"{v:.4f}" for v in test.values()) + f" | {_fmt(test_gini)} |",
        "",
        "## What trained and what was kept",
        "",
        f"- trained: {len(trained)} tensors (the network's, and the new task head `task_head.weight`, `task_head.bias`)",
        *[f"- kept: {line}" for line in _kept_summary(record["parameters"]["kept"])],
        "",
        "`best.pt` and `last.pt` hold the network in this package's checkpoint format: "
        f"`hear_gear_embed.hear.{module}.load_model(\"best.pt\")`, `hear-gear embed|evaluate|validate "
        + ("--module hear_gear_embed.hear.diverse " if is_diverse else "") + "--model best.pt`. "
        "The task head is stored beside it under `training`.",
        "",
        "## Settings",
        "",
        *[f"- {key}: {value}" for key, value in config.items()],
        "",
    ]
    if skipped:
        lines += ["## Audio left out", "", *[f"- `{s['path']}`: {s['reason']}" for s in skipped], ""]
    write_atomic(path, "\n".join(lines).encode())


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
