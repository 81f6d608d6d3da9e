"""``training.trainer`` on the tiny geometry: a loss that falls under every regulariser at once; a run stopped on request
(mid-epoch, or at an epoch's last batch) and resumed ends bit-identical to one that never stopped, and SIGTERM stops it
the same way; unreadable audio is left out, listed, and the run goes on; a non-finite loss stops the run naming the step
and the last good checkpoint; ``best.pt`` works wherever a checkpoint does; and the refusals (a folder that holds a run,
a resume with other settings)."""

from __future__ import annotations

import importlib
import json
import math
import os
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hear_gear_embed.cli import main
from hear_gear_embed.io.audio import read_audio
from hear_gear_embed.model.config import Patchout
from hear_gear_embed.training.config import Becr, TrainConfig
from hear_gear_embed.training.trainer import (
    BEST,
    LAST,
    LOG,
    SKIPPED,
    NonFiniteLossError,
    StepRecord,
    Trainer,
    TrainingInterrupted,
    TrainResult,
    step_seed,
)
from hear_gear_embed.util.files import FolderBusyError, folder_lock
from hear_gear_embed.util.precision import PrecisionUnsupportedError, cpu_bf16_units

RATE = 32000
CONFIG = TrainConfig(epochs=2, batch_size=20, accumulate=2, lr=1e-3, head_lr=1e-2, warmup=0.2, becr=Becr(0.1, 0.9),
                     patchout=Patchout(2, 30, 0.2), mixup=0.4, clip_seconds=0.5, seed=5)
"""Every random draw at once (order, crops of 0.5 s from 1 s clips, Patchout, mixup), BECR and two micro-batches per step:
60 training clips make 3 steps per epoch, 6 in all."""


def trainer(task: Path, out: Path, config: TrainConfig = CONFIG, **options: Any) -> Trainer:
    return Trainer("tiny_test", task, out, config, init="random", device="cpu", progress=False, **options)


@dataclass
class Run:
    out: Path
    result: TrainResult
    steps: list[StepRecord]


@pytest.fixture(scope="module")
def baseline(synthetic_tasks: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The uninterrupted run of :data:`CONFIG` on tones-multiclass."""
    out = tmp_path_factory.mktemp("baseline") / "run"
    run = trainer(synthetic_tasks / "tones-multiclass", out)
    steps: list[StepRecord] = []
    run.on_step = steps.append
    return Run(out, run.run(), steps)


def test_the_loss_falls(baseline: Run) -> None:
    losses = [r.task_loss for r in baseline.steps]
    assert [r.step for r in baseline.steps] == list(range(1, 7)) and [r.epoch for r in baseline.steps] == [1] * 3 + [2] * 3
    assert np.mean(losses[3:]) < 0.8 * np.mean(losses[:3]) and losses[-1] < losses[0]
    assert all(r.becr is not None and 0 < r.gini < 1 and r.samples_per_s > 0 for r in baseline.steps)
    for r in baseline.steps:
        assert r.loss == pytest.approx(0.9 * r.task_loss + 0.1 * r.becr)  # type: ignore[operator]
    # The rate each step used: warm-up over round(0.2 * 6) = 1 step, then a cosine to zero.
    expected = [1 / 2] + [0.5 * (1 + math.cos(math.pi * k / 5)) for k in range(5)]
    assert [r.lr for r in baseline.steps] == pytest.approx([1e-3 * f for f in expected])
    result = baseline.result
    assert (result.steps, result.best, result.last) == (6, baseline.out / BEST, baseline.out / LAST)
    assert set(result.valid) == set(result.test) == {"top1_acc"} and result.valid["top1_acc"] > 0.5
    assert result.skipped == [] and json.loads((baseline.out / SKIPPED).read_text()) == []


def same(a: object, b: object, where: str = "") -> None:
    """``a`` and ``b`` equal to the bit: tensors by ``torch.equal`` (and dtype), containers item by item."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            same(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}/{i}")
    else:
        assert a == b, where


def log_rows(out: Path) -> list[dict[str, Any]]:
    """``train-log.jsonl`` without the timings."""
    rows = [json.loads(line) for line in (out / LOG).read_text().splitlines()]
    return [{k: v for k, v in row.items() if k not in ("seconds", "samples_per_s")} for row in rows]


def assert_same_run(out: Path, reference: Run) -> None:
    for name in (LAST, BEST):
        got = torch.load(out / name, weights_only=True)
        want = torch.load(reference.out / name, weights_only=True)
        same(got["state_dict"], want["state_dict"], f"{name} state_dict")
        same(got["training"]["head"], want["training"]["head"], f"{name} head")
        same(got["training"]["best"], want["training"]["best"], f"{name} best")
        assert (got["training"]["epoch"], got["training"]["step"]) == (want["training"]["epoch"], want["training"]["step"])
    got, want = (torch.load(o / LAST, weights_only=True)["resume"] for o in (out, reference.out))
    same(got["optimizer"], want["optimizer"], "optimizer")
    same(got["scheduler"], want["scheduler"], "scheduler")
    assert (got["epoch"], got["batch"], got["step"]) == (2, 0, 6)
    assert log_rows(out) == log_rows(reference.out)


def interrupt(task: Path, out: Path, at_step: Callable[[Trainer, StepRecord], None]) -> TrainingInterrupted:
    run = trainer(task, out)
    run.on_step = lambda record: at_step(run, record)
    with pytest.raises(TrainingInterrupted) as caught:
        run.run()
    return caught.value


@pytest.mark.parametrize(("stop_at", "epoch", "batch"), [(5, 1, 2), (3, 0, 3)],
                         ids=["mid-epoch", "last-batch-of-an-epoch"])
def test_a_stopped_and_resumed_run_ends_bit_identical(baseline: Run, synthetic_tasks: Path, tmp_path: Path, stop_at: int,
                                                      epoch: int, batch: int) -> None:
    task, out = synthetic_tasks / "tones-multiclass", tmp_path / "run"

    def stop(run: Trainer, record: StepRecord) -> None:
        if record.step == stop_at:
            run.request_stop()

    stopped = interrupt(task, out, stop)
    assert stopped.checkpoint == out / LAST and f"training stopped at step {stop_at}" in str(stopped)
    saved = torch.load(out / LAST, weights_only=True)["resume"]
    assert (saved["epoch"], saved["batch"], saved["step"]) == (epoch, batch, stop_at)
    assert (out / BEST).is_file() == (stop_at > 3)
    result = trainer(task, out, resume=True).run()
    assert_same_run(out, baseline)
    assert (result.best_epoch, result.valid, result.test, result.steps) == (
        baseline.result.best_epoch, baseline.result.valid, baseline.result.test, 6)


def test_sigterm_writes_a_resumable_checkpoint(synthetic_tasks: Path, tmp_path: Path) -> None:
    """SIGTERM sets the flag that :meth:`Trainer.request_stop` sets (whose checkpoint resumes bit-identically, above)."""
    task, out = synthetic_tasks / "tones-multiclass", tmp_path / "run"
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)

    def terminate(run: Trainer, record: StepRecord) -> None:
        if record.step == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    stopped = interrupt(task, out, terminate)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before  # handlers given back
    assert stopped.checkpoint == out / LAST and "training stopped at step 1" in str(stopped)
    resumed = trainer(task, out, resume=True)
    assert (resumed.epoch, resumed.batch, resumed.step) == (0, 1, 1)
    assert [row["step"] for row in log_rows(out)] == [1]


def test_unreadable_audio_is_listed_and_the_run_goes_on(synthetic_tasks: Path, tmp_path: Path) -> None:
    task = Path(shutil.copytree(synthetic_tasks / "timbre-multilabel", tmp_path / "timbre-multilabel"))
    bad = {task / "32000" / "train" / "train-000.wav": b"", task / "32000" / "train" / "train-007.wav": b"RIFF junk" * 30,
           task / "32000" / "valid" / "valid-002.wav": b""}
    for path, content in bad.items():
        path.write_bytes(content)
    out = tmp_path / "run"
    config = TrainConfig(epochs=1, batch_size=19, lr=1e-3, clip_seconds=0.5, seed=2)
    result = trainer(task, out, config).run()  # 38 clips left: 2 steps
    assert result.steps == 2 and (out / BEST).is_file() and set(result.test) >= {"mAP"}
    listed = json.loads((out / SKIPPED).read_text())
    assert [s["path"] for s in listed] == [str(p) for p in bad] and result.skipped == listed
    assert "empty file (0 bytes)" in listed[0]["reason"] and "not readable as audio" in listed[1]["reason"]
    report = (out / "report.md").read_text()
    assert "## Audio left out" in report
    for entry in listed:
        assert f"- `{entry['path']}`: {entry['reason']}" in report


def test_a_file_that_vanishes_while_training_costs_its_clip_only(synthetic_tasks: Path, tmp_path: Path) -> None:
    task = Path(shutil.copytree(synthetic_tasks / "tones-multiclass", tmp_path / "tones-multiclass"))
    run = trainer(task, tmp_path / "run", TrainConfig(epochs=1, batch_size=12, seed=1))
    clips = run.data.sets["train"]
    clips._cache.clear()
    clips.budget_bytes = 0  # read again per batch
    for index in (4, 6, 7):
        clips.paths[index].unlink()
    audio, targets = run._batch(clips, np.array([3, 4, 5]), epoch=0)
    assert audio.shape == (2, RATE) and torch.equal(targets, torch.from_numpy(clips.targets[[3, 5]]))
    record = run.train_step(np.array([4, 5, 3, 8]), 0)
    assert record.step == 1 and math.isfinite(record.loss)
    with pytest.raises(RuntimeError, match="step 2: a process has no readable clip left in its share of the batch"):
        run.train_step(np.array([6, 7]), 0)


def test_a_non_finite_loss_names_the_step_and_the_last_good_checkpoint(synthetic_tasks: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    task, out = synthetic_tasks / "tones-multiclass", tmp_path / "run"
    config = TrainConfig(epochs=2, batch_size=30, lr=1e-3, seed=3)  # 2 steps per epoch: last.pt at step 2
    loss = Trainer._loss

    def nan_at_step_3(self: Trainer, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        value = loss(self, logits, targets)
        return value * math.nan if self.step == 2 else value

    monkeypatch.setattr(Trainer, "_loss", nan_at_step_3)
    with pytest.raises(NonFiniteLossError) as caught:
        trainer(task, out, config).run()
    message = str(caught.value)
    assert "the loss (nan) is not finite at step 3 (epoch 2); stopped without saving that state" in message
    assert f"the last good checkpoint is {out / LAST} (step 2)" in message and "--lr" in message
    assert torch.load(out / LAST, weights_only=True)["resume"]["step"] == 2
    assert [row["step"] for row in log_rows(out)] == [1, 2, 2]  # two steps and the first epoch
    monkeypatch.setattr(Trainer, "_loss", loss)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda params, clip: torch.tensor(math.inf))
    with pytest.raises(NonFiniteLossError, match=r"the gradient norm \(inf\) is not finite at step 3 \(epoch 2\)"):
        trainer(task, out, config, resume=True).run()
    with pytest.raises(NonFiniteLossError, match="at step 1 .epoch 1.*no checkpoint was written yet"):
        trainer(task, tmp_path / "other", config).run()


def test_best_checkpoint_works_wherever_a_checkpoint_does(baseline: Run, synthetic_tasks: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    best = baseline.out / BEST
    saved = torch.load(best, weights_only=True)
    module = importlib.import_module("hear_gear_embed.hear.tiny_test")
    model = module.load_model(str(best))
    assert all(torch.equal(v.cpu(), saved["state_dict"][k]) for k, v in model.net.state_dict().items())
    # The scene embedding of load_model and the head stored beside it score the test split as the run did.
    tests = json.loads((synthetic_tasks / "tones-multiclass" / "test.json").read_text())
    folder = synthetic_tasks / "tones-multiclass" / "32000" / "test"
    audio = torch.from_numpy(np.stack([read_audio(folder / name, RATE).samples[: RATE // 2] for name in tests]))
    with torch.no_grad():
        scene = module.get_scene_embeddings(audio, model).cpu()
        logits = torch.nn.functional.linear(scene, saved["training"]["head"]["weight"], saved["training"]["head"]["bias"])
    labels = saved["training"]["task"]["labels"]
    accuracy = np.mean([labels[int(i)] == tests[name][0] for i, name in zip(logits.argmax(1), tests, strict=True)])
    assert accuracy == pytest.approx(baseline.result.test["top1_acc"])

    assert main(["validate", "tiny_test", "--model", str(best), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("verdict: PASS")
    clip = tmp_path / "clip.wav"
    shutil.copyfile(folder / next(iter(tests)), clip)
    assert main(["embed", str(clip), "--variant", "tiny_test", "--model", str(best), "--out", str(tmp_path / "emb"),
                 "--device", "cpu", "--no-progress"]) == 0
    embedded = np.load(tmp_path / "emb" / "clip.wav.npz")
    with torch.no_grad():
        expected = module.get_scene_embeddings(torch.from_numpy(read_audio(clip, RATE).samples[None]), model)
    np.testing.assert_allclose(embedded["scene"], expected[0].cpu().numpy(), rtol=1e-5, atol=1e-6)


def test_report_and_record(baseline: Run) -> None:
    record = torch.load(baseline.out / LAST, weights_only=True)["training"]
    assert record["config"] == CONFIG.to_dict()
    assert record["init"] == {"kind": "random", "source": None, "note": "seed 5", "sha256": None}
    assert record["task"]["name"] == "tones-multiclass" and record["task"]["metric"] == "top1_acc"
    assert (record["processes"], record["precision"], record["epoch"], record["step"]) == (1, "fp32", 2, 6)
    report = (baseline.out / "report.md").read_text()
    assert report.startswith("# Training tiny_test on tones-multiclass") and "## Audio left out" not in report
    assert (baseline.out / "train-curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_that_must_not_start(baseline: Run, synthetic_tasks: Path, tmp_path: Path) -> None:
    task = synthetic_tasks / "tones-multiclass"
    out = Path(shutil.copytree(baseline.out, tmp_path / "run"))
    with pytest.raises(FileExistsError, match=f"{out} holds a training run .last.pt.; pass resume=True"):
        trainer(task, out)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        trainer(task, tmp_path / "empty", resume=True)
    changed = TrainConfig(**{**CONFIG.__dict__, "lr": 2e-3, "seed": 6})
    with pytest.raises(ValueError, match=r"belongs to another run: settings lr=0.001 \(now 0.002\), seed=5 \(now 6\)\. "
                                         "Resume with the same options"):
        trainer(task, out, changed, resume=True)
    with pytest.raises(ValueError, match=r"belongs to another run: task .*tones-multiclass fold 0 \(the task files or "):
        trainer(synthetic_tasks / "tones-kfold", out, resume=True)
    with pytest.raises(ValueError, match="the training split holds 60 readable clips, fewer than one batch of 64"):
        trainer(task, tmp_path / "big", TrainConfig(batch_size=64))
    busy = trainer(task, tmp_path / "busy", TrainConfig(epochs=1, batch_size=30))
    with folder_lock(tmp_path / "busy", ".train.lock", "test"), pytest.raises(FolderBusyError):
        busy.run()


def test_bf16_autocast_trains_where_the_cpu_has_bf16_units(synthetic_tasks: Path, tmp_path: Path) -> None:
    task, out = synthetic_tasks / "tones-multiclass", tmp_path / "run"
    config = TrainConfig(epochs=1, batch_size=60, lr=1e-3, clip_seconds=0.5, becr=Becr(), patchout=Patchout(2, 30))
    with pytest.raises(PrecisionUnsupportedError, match="fp16 on a CPU is no faster than fp32"):
        trainer(task, out, config, precision="fp16")
    if not cpu_bf16_units():
        with pytest.raises(PrecisionUnsupportedError):
            trainer(task, out, config, precision="bf16")
        return
    steps: list[StepRecord] = []
    run = trainer(task, out, config, precision="bf16")
    run.on_step = steps.append
    result = run.run()
    assert len(steps) == 1 and math.isfinite(steps[0].loss) and result.best_epoch == 1
    assert torch.load(out / LAST, weights_only=True)["training"]["precision"] == "bf16"
    with pytest.raises(ValueError, match=r"belongs to another run: precision bf16 \(now fp32\)"):
        trainer(task, out, config, resume=True)


def test_every_draw_is_keyed_not_counted() -> None:
    assert step_seed(5, 1, 0) == step_seed(5, 1, 0) != step_seed(5, 1, 1)
    assert step_seed(5, 2, 0, 3) != step_seed(5, 3, 0, 3) and 0 <= step_seed(2**40, 7) < 2**63


def test_micro_batches_of_one_clip_train_and_log_no_gini(synthetic_tasks: Path, tmp_path: Path) -> None:
    config = TrainConfig(epochs=1, batch_size=2, accumulate=2, lr=1e-3, clip_seconds=0.5)
    run = trainer(synthetic_tasks / "tones-multiclass", tmp_path / "run", config)
    steps: list[StepRecord] = []
    run.on_step = steps.append
    result = run.run()
    assert steps and all(s.gini is None and math.isfinite(s.loss) for s in steps)
    assert all(row["gini"] is None for row in log_rows(tmp_path / "run") if row["kind"] == "step")
    assert result.test and (tmp_path / "run" / "train-curves.png").is_file()
