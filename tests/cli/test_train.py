"""``hear-gear train``: what the command line owns (its options and their checks, exit statuses and messages, one
output folder per task, ``--patchout`` without numbers, ``--resume``); the training itself is tested in
``tests/training/``."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch

from hear_gear_embed.cli import build_parser, main
from hear_gear_embed.cli.train import config_from_args
from hear_gear_embed.model.config import Patchout
from hear_gear_embed.model.hub import WeightsUnavailableError
from hear_gear_embed.training.config import Becr
from hear_gear_embed.training.trainer import NonFiniteLossError, Trainer, TrainingInterrupted


def train(*argv: str) -> int:
    return main(["train", *argv, "--no-progress"])


def parse(*argv: str) -> object:
    return build_parser().parse_args(["train", "tiny_test", "TASK", "--out", "OUT", *argv])


@pytest.mark.parametrize(("hop_ms", "freq", "time"), [(10.0, 4, 40), (5.0, 6, 100), (3.125, 6, 150)])
def test_patchout_without_numbers_takes_seed003s_for_the_hop(hop_ms: float, freq: int, time: int) -> None:
    assert config_from_args(parse("--patchout"), hop_ms).patchout == Patchout(freq, time)  # type: ignore[arg-type]


def test_options_make_the_config() -> None:
    config = config_from_args(parse("--patchout", "2", "7", "--patchout-unstructured", "0.3", "--grad-clip", "0",  # type: ignore[arg-type]
                                    "--becr", "0.1", "0.8", "--becr-form", "eig", "--mixup", "0.2", "--batch-size", "12",
                                    "--accumulate", "3", "--freeze-blocks", "1", "--audioset-head", "train",
                                    "--clip-seconds", "0.5", "--schedule", "linear", "--seed", "4"), 10.0)
    assert config.patchout == Patchout(2, 7, 0.3) and config.grad_clip is None and config.becr == Becr(0.1, 0.8, "eig")
    assert (config.mixup, config.batch_size, config.micro_batch, config.freeze_blocks) == (0.2, 12, 4, 1)
    assert (config.audioset_head, config.clip_seconds, config.schedule, config.seed) == ("train", 0.5, "linear", 4)
    assert config_from_args(parse("--patchout-unstructured", "0.25"), 10.0).patchout == Patchout(proportion=0.25)  # type: ignore[arg-type]
    assert config_from_args(parse(), 10.0).patchout is None  # type: ignore[arg-type]


@pytest.mark.parametrize(("argv", "message"), [
    (["--patchout", "3"], r"--patchout takes no number or two \(frequency rows, time columns\), got \['3'\]"),
    (["--patchout", "a", "b"], r"--patchout counts must be integers, got \['a', 'b'\]"),
    (["--patchout", "-1", "2"], "Patchout counts must be non-negative integers"),
    (["--patchout-unstructured", "1"], r"the unstructured Patchout proportion must lie in \[0, 1\)"),
    (["--becr", "1.5", "0.7"], r"BECR lambda must lie in \[0, 1\], got 1.5"),
    (["--batch-size", "10", "--accumulate", "3"], "batch_size 10 is not a multiple of accumulate 3"),
    (["--epochs", "0"], "epochs must be a positive integer, got 0"),
    (["--lr", "nan"], "lr must be a positive number, got nan"),
    (["--mixup", "0"], "mixup's alpha must be a positive number or None"),
    (["--warmup", "1"], r"warmup is a share of the steps in \[0, 1\)"),
])
def test_bad_options_exit_2_with_the_option_named(synthetic_tasks: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert train("tiny_test", str(synthetic_tasks / "tones-multiclass"), "--out", str(tmp_path / "o"), *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and re.search(message, err), err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("variant", "task", "argv", "message"), [
    ("tiny_tset", "tones-multiclass", [], "unknown variant 'tiny_tset'"),
    ("tiny_test", "events", [], "events is an event task; training supports scene tasks"),
    ("tiny_test", "nowhere", [], "not a task folder"),
    ("tiny_test", "tones-multiclass", ["--fold", "3"], "tones-multiclass: .*fold 3 does not exist"),
    ("tiny_test", "tones-multiclass", ["--batch-size", "64"], "fewer than one batch of 64; lower --batch-size"),
    ("tiny_test", "tones-multiclass", ["--init", "official"], "tiny_test has no official weights"),
    ("tiny_test", "tones-multiclass", ["--freeze-blocks", "2"], "freeze_blocks=2 freezes every block tiny_test runs"),
    ("handcrafted", "tones-multiclass", [], "handcrafted has no network to train"),
    ("tiny_test", "tones-multiclass", ["--precision", "fp16"], "tones-multiclass: fp16 on a CPU is no faster than fp32"),
    ("tiny_test", "tones-multiclass", ["--resume"], "nothing to resume: no task folder under .* holds a last.pt"),
])
def test_runs_that_cannot_start_exit_2(synthetic_tasks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       variant: str, task: str, argv: list[str], message: str) -> None:
    argv = [*argv, "--init", "random"] if "--init" not in argv else argv
    assert train(variant, str(synthetic_tasks / task), "--out", str(tmp_path / "o"), "--device", "cpu", *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and re.search(message, err), err


def test_two_folders_of_one_task_exit_2(synthetic_tasks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = str(synthetic_tasks / "tones-multiclass")
    assert train("tiny_test", task, task, "--out", str(tmp_path / "o"), "--init", "random") == 2
    assert "two task folders share a task name (tones-multiclass, tones-multiclass)" in capsys.readouterr().err


def test_choices_are_argparse_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--schedule", "step"], ["--audioset-head", "drop"], ["--precision", "fp8"]):
        with pytest.raises(SystemExit) as caught:
            train("tiny_test", "TASK", "--out", "OUT", *argv)
        assert caught.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train("tiny_test", "TASK")  # --out is required
    assert "--out" in capsys.readouterr().err


def test_missing_weights_and_missing_extra_exit_2(synthetic_tasks: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def unavailable(record: object, *, download_missing: bool = True) -> Path:
        raise WeightsUnavailableError("checkpoint passt_s_swa_p16_128_ap476 is not cached")

    monkeypatch.setattr("hear_gear_embed.training.model.resolve", unavailable)
    task = str(synthetic_tasks / "tones-multiclass")
    assert train("passt_base", task, "--out", str(tmp_path / "o"), "--device", "cpu") == 2
    err = capsys.readouterr().err
    assert "is not cached" in err and "(offline, --init random trains from seeded random weights)" in err
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else find_spec(name, *a))
    assert train("tiny_test", task, "--out", str(tmp_path / "o"), "--init", "random") == 2
    assert 'needs the train extra (matplotlib missing): pip install "hear_gear_embed[train]"' in capsys.readouterr().err


def test_a_failed_run_exits_1_after_the_other_tasks_and_an_interrupted_one_130(
        synthetic_tasks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ran: list[str] = []

    def run(self: Trainer) -> object:
        ran.append(self.data.task.info.name)
        if len(ran) == 1:
            raise NonFiniteLossError("the loss (nan) is not finite at step 3")
        raise TrainingInterrupted(self.out_dir / "last.pt", 4)

    monkeypatch.setattr(Trainer, "run", run)
    tasks = [str(synthetic_tasks / name) for name in ("tones-multiclass", "timbre-multilabel")]
    assert train("tiny_test", *tasks, "--out", str(tmp_path / "o"), "--init", "random", "--device", "cpu") == 130
    err = capsys.readouterr().err
    assert ran == ["tones-multiclass", "timbre-multilabel"]
    assert "failed: tones-multiclass: the loss (nan) is not finite at step 3" in err
    last = tmp_path / "o" / "timbre-multilabel" / "last.pt"
    assert f"interrupted: training stopped at step 4; resume with the same options and --resume (from {last})" in err
    monkeypatch.setattr(Trainer, "run", lambda self: (_ for _ in ()).throw(NonFiniteLossError("nan")))
    assert train("tiny_test", tasks[0], "--out", str(tmp_path / "p"), "--init", "random", "--device", "cpu") == 1


def test_each_task_trains_into_its_own_folder_and_resumes_only_when_asked(
        synthetic_tasks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run of two tasks stopped after the first: the second holds nothing to resume and starts afresh."""
    tasks = [str(synthetic_tasks / name) for name in ("tones-multiclass", "timbre-multilabel")]
    out = tmp_path / "out"
    options = ["--out", str(out), "--init", "random", "--device", "cpu", "--epochs", "1", "--batch-size", "20",
               "--accumulate", "2", "--mixup", "0.4", "--clip-seconds", "0.5", "--lr", "1e-3"]
    assert train("tiny_test", tasks[0], *options) == 0
    assert capsys.readouterr().out.startswith("tones-multiclass: best epoch 1, test top1_acc ")
    log = (out / "tones-multiclass" / "train-log.jsonl").read_text()
    assert [json.loads(line)["kind"] for line in log.splitlines()] == ["step", "step", "step", "epoch"]
    assert train("tiny_test", *tasks, *options) == 2
    assert f"error: tones-multiclass: {out / 'tones-multiclass'} holds a training run (last.pt); pass resume=True " \
           "(--resume)" in capsys.readouterr().err
    assert train("tiny_test", *tasks, *options[:-1], "2e-3", "--resume") == 2
    assert "belongs to another run: settings lr=0.001 (now 0.002)" in capsys.readouterr().err
    assert not (out / "timbre-multilabel").exists()
    assert train("tiny_test", *tasks, *options, "--resume") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("tones-multiclass: best epoch 1, test top1_acc ")
    assert lines[1].startswith("timbre-multilabel: best epoch 1, test mAP ")
    assert (out / "tones-multiclass" / "train-log.jsonl").read_text() == log  # finished: scored again, not trained
    for name in ("tones-multiclass", "timbre-multilabel"):
        files = {p.name for p in (out / name).iterdir()}
        assert {"best.pt", "last.pt", "train-log.jsonl", "train-curves.png", "report.md", "skipped.json"} <= files
        saved = torch.load(out / name / "last.pt", weights_only=True)["training"]
        assert saved["task"]["name"] == name and (saved["config"]["accumulate"], saved["config"]["mixup"]) == (2, 0.4)
        assert saved["step"] == (60 if name == "tones-multiclass" else 40) // 20
