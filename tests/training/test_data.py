"""``training.data``: a scene task's fold read as clips and multi-hot targets (multiclass, multilabel, k-fold), cropped or
padded to one length, kept in memory within a budget, and every unreadable file left out and named before training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from hear_gear_embed.evaluation.downstream.tasks import TaskError
from hear_gear_embed.io.audio import AudioReadError, read_audio
from hear_gear_embed.training.data import load_task_data

RATE = 32000


def copy_task(synthetic_tasks: Path, name: str, into: Path) -> Path:
    """A writable copy of the synthetic task ``name``."""
    return Path(shutil.copytree(synthetic_tasks / name, into / name))


def test_multiclass_fold_as_one_hot_targets(synthetic_tasks: Path) -> None:
    data = load_task_data(synthetic_tasks / "tones-multiclass", RATE, default_samples=123)
    assert data.splits == {"train": ("train",), "valid": ("valid",), "test": ("test",)}
    assert {role: len(clips) for role, clips in data.sets.items()} == {"train": 60, "valid": 24, "test": 24}
    assert not data.multilabel and data.skipped == []
    train = data.sets["train"]
    assert train.n_samples == RATE  # the task's sample_duration (1 s), not default_samples
    labels = json.loads((synthetic_tasks / "tones-multiclass" / "train.json").read_text())
    assert [p.name for p in train.paths] == list(labels)
    for path, row in zip(train.paths, train.targets, strict=True):
        assert row.dtype == np.float32 and row.sum() == 1.0 and data.labels[int(row.argmax())] == labels[path.name][0]
    assert (train.lengths == RATE).all()
    np.testing.assert_array_equal(train.clip(3), read_audio(train.paths[3], RATE).samples)


def test_multilabel_targets_are_multi_hot(synthetic_tasks: Path) -> None:
    data = load_task_data(synthetic_tasks / "timbre-multilabel", RATE, default_samples=RATE)
    assert data.multilabel
    labels = json.loads((synthetic_tasks / "timbre-multilabel" / "valid.json").read_text())
    valid = data.sets["valid"]
    for path, row in zip(valid.paths, valid.targets, strict=True):
        assert {data.labels[i] for i in np.flatnonzero(row)} == set(labels[path.name])
    assert (valid.targets.sum(axis=1) > 1).any()


def test_kfold_fold_takes_heareval_assignment(synthetic_tasks: Path) -> None:
    data = load_task_data(synthetic_tasks / "tones-kfold", RATE, fold=1, default_samples=RATE)
    assert data.splits == {"train": ("fold00", "fold03", "fold04"), "valid": ("fold02",), "test": ("fold01",)}
    assert len(data.sets["train"]) == 3 * len(data.sets["test"])
    assert {p.parent.name for p in data.sets["train"].paths} == {"fold00", "fold03", "fold04"}
    with pytest.raises(TaskError, match=r"fold 5 does not exist; the task has 5 \(0 .. 4\)"):
        load_task_data(synthetic_tasks / "tones-kfold", RATE, fold=5, default_samples=RATE)


def test_clips_are_cropped_or_zero_padded_to_one_length(synthetic_tasks: Path) -> None:
    short = load_task_data(synthetic_tasks / "tones-multiclass", RATE, clip_samples=8000, default_samples=1)
    audio = read_audio(short.sets["train"].paths[0], RATE).samples
    assert short.sets["train"].n_samples == 8000
    np.testing.assert_array_equal(short.sets["train"].clip(0, offset=1000), audio[1000:9000])
    long = load_task_data(synthetic_tasks / "tones-multiclass", RATE, clip_samples=40000, default_samples=1)
    clip = long.sets["train"].clip(0, offset=100)
    assert clip.shape == (40000,) and clip.dtype == np.float32
    np.testing.assert_array_equal(clip[: RATE - 100], audio[100:])
    assert not clip[RATE - 100:].any()


def test_the_memory_budget_bounds_what_is_kept(synthetic_tasks: Path, tmp_path: Path) -> None:
    task = copy_task(synthetic_tasks, "tones-multiclass", tmp_path)
    kept = load_task_data(task, RATE, default_samples=RATE, budget_bytes=3 * 10 * RATE * 4)  # 10 clips per role
    assert len(kept.sets["train"]._cache) == 10
    uncached = load_task_data(task, RATE, default_samples=RATE, budget_bytes=0)
    assert uncached.sets["train"]._cache == {}
    first, last = kept.sets["train"].clip(0), kept.sets["train"].clip(59)
    np.testing.assert_array_equal(uncached.sets["train"].clip(59), last)  # read again from the file
    kept.sets["train"].paths[0].unlink()
    kept.sets["train"].paths[59].unlink()
    np.testing.assert_array_equal(kept.sets["train"].clip(0), first)  # from memory
    for clips in (kept.sets["train"], uncached.sets["train"]):
        with pytest.raises(AudioReadError):
            clips.clip(59)


def test_unreadable_files_are_left_out_and_named(synthetic_tasks: Path, tmp_path: Path) -> None:
    task = copy_task(synthetic_tasks, "tones-multiclass", tmp_path)
    folder = task / str(RATE)
    (folder / "train" / "train-002.wav").write_bytes(b"")
    (folder / "train" / "train-010.wav").write_bytes(b"RIFF not a wave file" * 20)
    sf.write(folder / "valid" / "valid-001.wav", np.zeros(0), RATE)
    sf.write(folder / "test" / "test-003.wav", np.full(RATE, np.nan, dtype=np.float32), RATE, subtype="FLOAT")
    data = load_task_data(task, RATE, default_samples=RATE)
    reasons = {s.path.name: s.reason for s in data.skipped}
    assert set(reasons) == {"train-002.wav", "train-010.wav", "valid-001.wav", "test-003.wav"}
    assert "empty file (0 bytes)" in reasons["train-002.wav"] and "not readable as audio" in reasons["train-010.wav"]
    assert "holds no samples" in reasons["valid-001.wav"] and "NaN/Inf samples" in reasons["test-003.wav"]
    assert data.skipped[0].to_dict() == {"path": str(folder / "train" / "train-002.wav"), "reason": reasons["train-002.wav"]}
    assert {role: len(c) for role, c in data.sets.items()} == {"train": 58, "valid": 23, "test": 23}
    train = data.sets["train"]
    assert len(train.targets) == len(train.lengths) == 58 and "train-002.wav" not in {p.name for p in train.paths}
    labels = json.loads((task / "train.json").read_text())
    assert all(data.labels[int(row.argmax())] == labels[p.name][0] for p, row in zip(train.paths, train.targets, strict=True))


def test_a_role_without_a_readable_file_is_refused(synthetic_tasks: Path, tmp_path: Path) -> None:
    task = copy_task(synthetic_tasks, "tones-multiclass", tmp_path)
    for path in (task / str(RATE) / "valid").iterdir():
        path.write_bytes(b"")
    with pytest.raises(TaskError, match="the valid split.s. valid hold no readable audio file"):
        load_task_data(task, RATE, default_samples=RATE)


def test_what_cannot_be_trained_on_is_refused(synthetic_tasks: Path, tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="events is an event task; training supports scene tasks"):
        load_task_data(synthetic_tasks / "events", RATE, default_samples=RATE)
    with pytest.raises(TaskError, match="no audio for split train at 16000 Hz.*the task has audio at: 32000 Hz"):
        load_task_data(synthetic_tasks / "tones-multiclass", 16000, default_samples=RATE)
    with pytest.raises(TaskError, match="not a task folder"):
        load_task_data(tmp_path / "nowhere", RATE, default_samples=RATE)
