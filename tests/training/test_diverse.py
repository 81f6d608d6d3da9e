"""Training a diverse model (seed 001) with the package's loop, on the tiny geometry: it overfits a tiny task, a stopped
and resumed run ends bit-identical, ``best.pt`` is a HEAR module's model, and what does not apply to it is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hear_gear_embed.cli import main
from hear_gear_embed.diverse.config import get_diverse
from hear_gear_embed.hear import diverse
from hear_gear_embed.model.config import Patchout
from hear_gear_embed.training.config import Becr, TrainConfig
from hear_gear_embed.training.trainer import BEST, LAST, StepRecord, Trainer, TrainingInterrupted

CONFIG = TrainConfig(epochs=6, batch_size=10, lr=3e-3, head_lr=3e-2, warmup=0.0, becr=Becr(0.05, 0.7), mixup=None, seed=1)
"""Six epochs of 6 steps on the 60 training clips of tones-multiclass (six tones, 1 s)."""


def trainer(task: Path, out: Path, config: TrainConfig = CONFIG, name: str = "diverse_tiny", **options: object) -> Trainer:
    return Trainer(name, task, out, config, init="random", device="cpu", progress=False, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def run(synthetic_tasks: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Trainer, list[StepRecord]]:
    out = tmp_path_factory.mktemp("diverse") / "run"
    t = trainer(synthetic_tasks / "tones-multiclass", out)
    steps: list[StepRecord] = []
    t.on_step = steps.append
    t.run()
    return t, steps


def test_a_tiny_diverse_model_overfits_a_tiny_task(run: tuple[Trainer, list[StepRecord]]) -> None:
    t, steps = run
    losses = [s.task_loss for s in steps]
    assert len(steps) == 36 and np.mean(losses[-6:]) < 0.5 * np.mean(losses[:6])
    train_scores, _ = t.score("train")
    assert train_scores["top1_acc"] >= 0.9
    record = t.trainable
    assert all(name.startswith(("net.encoders.", "task_head.")) for name in record["trained"])
    assert {name.split(".")[2] for name in record["trained"] if name.startswith("net.")} == {
        "pitch", "timbre", "waveform", "neuralogram"}
    assert record["kept"] == ["neuralogram source tiny_test (frozen, not saved with the model)"]
    assert t.model.embedder.neuralogram.hits > t.model.embedder.neuralogram.misses  # type: ignore[union-attr]


def test_best_pt_is_the_hear_modules_model(run: tuple[Trainer, list[StepRecord]], synthetic_tasks: Path) -> None:
    t = run[0]
    model = diverse.load_model(str(t.out_dir / BEST), device="cpu")
    state = torch.load(t.out_dir / BEST, weights_only=True)
    t.model.net.load_state_dict(state["state_dict"])
    t.model.head.load_state_dict(state["training"]["head"])
    embeddings, _, _ = t.predict("test")
    clips = t.data.sets["test"]
    audio = torch.from_numpy(np.stack([clips.clip(i) for i in range(len(clips))]))
    assert np.allclose(diverse.get_scene_embeddings(audio, model).numpy(), embeddings, atol=1e-5)


def test_a_stopped_and_resumed_diverse_run_ends_bit_identical(synthetic_tasks: Path, tmp_path: Path) -> None:
    config = TrainConfig(epochs=2, batch_size=20, accumulate=2, lr=1e-3, mixup=0.4, clip_seconds=0.5, seed=2)
    task = synthetic_tasks / "tones-multiclass"
    reference = trainer(task, tmp_path / "reference", config)
    reference.run()
    stopped = trainer(task, tmp_path / "run", config)
    stopped.on_step = lambda record: stopped.request_stop() if record.step == 4 else None
    with pytest.raises(TrainingInterrupted):
        stopped.run()
    trainer(task, tmp_path / "run", config, resume=True).run()
    for name in (BEST, LAST):
        a = torch.load(tmp_path / "run" / name, weights_only=True)
        b = torch.load(tmp_path / "reference" / name, weights_only=True)
        assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in b["state_dict"])
        assert a["neuralogram"] == b["neuralogram"]


def test_what_does_not_apply_to_a_diverse_model_is_refused(synthetic_tasks: Path, tmp_path: Path) -> None:
    task = synthetic_tasks / "tones-multiclass"
    with pytest.raises(ValueError, match="Patchout drops PaSST's patch tokens"):
        trainer(task, tmp_path / "a", TrainConfig(batch_size=10, patchout=Patchout(1, 1)))
    with pytest.raises(ValueError, match="freeze_blocks applies to PaSST's blocks"):
        trainer(task, tmp_path / "b", TrainConfig(batch_size=10, freeze_blocks=1))
    with pytest.raises(ValueError, match="no official weights: train it from scratch"):
        Trainer("diverse_tiny", task, tmp_path / "c", TrainConfig(batch_size=10), init="official", device="cpu")


def test_the_command_trains_chosen_streams(synthetic_tasks: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = synthetic_tasks / "tones-multiclass"
    status = main(["train", "diverse_tiny", str(task), "--out", str(tmp_path), "--streams", "timbre,pitch", "--epochs", "1",
                   "--no-progress"])
    assert status == 0, capsys.readouterr().err
    model = diverse.load_model(str(tmp_path / "tones-multiclass" / BEST))
    assert model.config == get_diverse("diverse_tiny").with_streams(["pitch", "timbre"]) and model.neuralogram is None
    for argv, message in ((["tiny_test", "--streams", "pitch"], "--streams apply to diverse models only"),
                          (["diverse_tiny", "--streams", "pich"], "pitch"),
                          (["diverse_tiny", "--neuralogram-weights", "x.pt"], "--neuralogram-weights needs --neuralogram"),
                          (["diverse_tiny", "--streams", "pitch", "--neuralogram", "passt_base"], "no neuralogram stream"),
                          (["diverse_tiny", "--patchout"], "--patchout drops PaSST's patch tokens")):
        assert main(["train", argv[0], str(task), "--out", str(tmp_path / "x"), *argv[1:], "--no-progress"]) == 2
        assert message in capsys.readouterr().err
