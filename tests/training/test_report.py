"""``training.report``: ``report.md`` from a run's record and log rows (scores, what trained and what was kept, settings,
the audio left out) and ``train-curves.png`` with and without BECR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hear_gear_embed import get_variant
from hear_gear_embed.training.config import Becr, TrainConfig
from hear_gear_embed.training.report import write_curves, write_report

PNG = b"\x89PNG\r\n\x1a\n"


def record(**change: Any) -> dict[str, Any]:
    return {
        "task": {"name": "tones", "path": "/data/tones", "sha256": "ab", "fold": 1,
                 "splits": {"train": ["fold00", "fold03"], "valid": ["fold02"], "test": ["fold01"]},
                 "labels": ["a", "b", "c"], "prediction_type": "multiclass", "metric": "top1_acc"},
        "config": TrainConfig(epochs=2, becr=Becr()).to_dict(),
        "init": {"kind": "random", "source": None, "note": "seed 0"},
        "precision": "fp32", "processes": 2,
        "parameters": {"trained": ["net.blocks.0.attn.qkv.weight", "task_head.weight", "task_head.bias"],
                       "kept": ["net.head_dist.weight (the distillation head, never read)",
                                "net.head_dist.bias (the distillation head, never read)",
                                "net.blocks.0.norm1.weight (frozen early block (freeze_blocks))"]},
        "epoch": 2, "step": 6,
        "best": {"epoch": 2, "step": 6, "valid": {"top1_acc": 0.75}, "valid_gini": 0.5},
        **change,
    }


def rows(becr: bool = True) -> list[dict[str, Any]]:
    steps = [{"kind": "step", "step": s, "epoch": 1 + (s > 3), "loss": 2.0 - 0.1 * s, "task_loss": 2.1 - 0.1 * s,
              "becr": 0.01 * s if becr else None, "gini": 0.5, "lr": 1e-5, "seconds": s, "samples_per_s": 10.0 * s}
             for s in range(1, 7)]
    epochs = [{"kind": "epoch", "epoch": e, "step": 3 * e, "valid": {"top1_acc": 0.5 + 0.25 * (e - 1)},
               "valid_gini": 0.4 if e == 2 else None, "seconds": 3.0 * e} for e in (1, 2)]
    return [*steps[:3], epochs[0], *steps[3:], epochs[1]]


def test_report_names_the_run_its_scores_and_what_trained(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    write_report(path, record=record(), test={"top1_acc": 0.625}, test_gini=None, rows=rows(), skipped=[],
                 variant=get_variant("tiny_test"))
    text = path.read_text()
    assert text.startswith("# Training tiny_test on tones\n")
    assert "- weights started from: random  seed 0" in text
    assert ("- task: `/data/tones` (fold 1: train fold00, fold03, valid fold02, test fold01), multiclass, 3 labels; "
            "model selection on validation `top1_acc`") in text
    assert "- precision fp32, 2 process(es), 6 optimiser steps, 2 epochs, 35.00 training clips/s on average" in text
    assert "| valid (epoch 2) | 0.7500 | 0.5000 |" in text and "| test | 0.6250 | n/a |" in text
    assert "- trained: 3 tensors" in text
    assert "- kept: the distillation head, never read: 2 tensor(s)" in text
    assert "- kept: frozen early block (freeze_blocks): 1 tensor(s)" in text
    assert "- becr: {'lam': 0.05, 'epsilon': 0.7, 'form': 'trace'}" in text and "- epochs: 2" in text
    assert "Audio left out" not in text


def test_report_lists_the_audio_left_out(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    skipped = [{"path": "/data/tones/32000/train/x.wav", "reason": "x.wav: empty file (0 bytes)"}]
    write_report(path, record=record(best=None), test={"top1_acc": 0.5}, test_gini=0.25, rows=[], skipped=skipped,
                 variant=get_variant("tiny_test"))
    text = path.read_text()
    assert "## Audio left out\n\n- `/data/tones/32000/train/x.wav`: x.wav: empty file (0 bytes)\n" in text
    assert "| valid (epoch None) | nan | n/a |" in text and "| test | 0.5000 | 0.2500 |" in text
    assert "nan training clips/s" in text


@pytest.mark.parametrize("becr", [True, False])
def test_curves_are_a_png(tmp_path: Path, becr: bool) -> None:
    path = tmp_path / "curves.png"
    write_curves(rows(becr), path, metric="top1_acc")
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]  # written atomically: nothing else left behind
