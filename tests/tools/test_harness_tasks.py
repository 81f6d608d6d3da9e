"""The synthetic HEAR tasks of ``tests.harness.tasks``: format as heareval reads it, content, reproducibility."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.harness.tasks import (
    CONTENT_MAX_HZ,
    PEAK_LIMIT,
    TONE_CLASSES,
    describe_tasks,
    make_tasks,
    midi_to_hz,
    render_clip,
    write_task,
)

SR = 16000
TASKS = ("tones-multiclass", "timbre-multilabel", "events", "tones-kfold")
SCORES = {"top1_acc", "pitch_acc", "chroma_acc", "mAP", "d_prime", "aucroc", "event_onset_200ms_fms", "event_onset_50ms_fms",
          "event_onset_offset_50ms_20perc_fms", "segment_1s_er"}


@pytest.fixture(scope="module")
def tasks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tasks")
    assert make_tasks(root, sample_rates=(SR,), seed=0) == list(TASKS)
    return root


def _metadata(task_dir: Path) -> dict:
    return json.loads((task_dir / "task_metadata.json").read_text())


def _vocabulary(task_dir: Path) -> list[str]:
    with (task_dir / "labelvocabulary.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["idx", "label"]
    assert [int(r[0]) for r in rows[1:]] == list(range(len(rows) - 1))
    return [r[1] for r in rows[1:]]


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_only_task_folders_at_root(tasks_dir: Path) -> None:
    # heareval.embeddings.runner takes every entry of --tasks-dir as a task
    assert sorted(p.name for p in tasks_dir.iterdir()) == sorted(TASKS)
    assert all(p.is_dir() for p in tasks_dir.iterdir())


@pytest.mark.parametrize("task", TASKS)
def test_metadata(tasks_dir: Path, task: str) -> None:
    meta = _metadata(tasks_dir / task)
    for key in ("task_name", "version", "mode", "embedding_type", "prediction_type", "split_mode", "splits", "sample_duration",
                "evaluation"):
        assert key in meta, key
    assert meta["task_name"] == task
    assert meta["embedding_type"] in ("scene", "event")
    assert meta["prediction_type"] in ("multiclass", "multilabel")
    assert set(meta["evaluation"]) <= SCORES and meta["evaluation"]
    if meta["split_mode"] == "trainvaltest":
        assert meta["splits"] == ["train", "valid", "test"]
    else:
        assert meta["split_mode"] == "new_split_kfold"
        assert meta["splits"] == [f"fold{i:02d}" for i in range(meta["nfolds"])]
    if meta["embedding_type"] == "event":
        assert meta["prediction_type"] == "multilabel"  # frames outside events carry no label


@pytest.mark.parametrize("task", TASKS)
def test_labels_and_audio(tasks_dir: Path, task: str) -> None:
    task_dir = tasks_dir / task
    meta = _metadata(task_dir)
    vocab = _vocabulary(task_dir)
    assert len(set(vocab)) == len(vocab)
    n_samples = int(round(meta["sample_duration"] * SR))
    assert sorted(p.name for p in (task_dir / str(SR)).iterdir()) == sorted(meta["splits"])
    seen_files: set[str] = set()
    for split in meta["splits"]:
        data = json.loads((task_dir / f"{split}.json").read_text())
        assert not seen_files & set(data), "file names must be unique across splits"
        seen_files |= set(data)
        used: set[str] = set()
        for name, target in data.items():
            if meta["embedding_type"] == "scene":
                labels = target
                assert len(labels) == 1 if meta["prediction_type"] == "multiclass" else len(labels) >= 1
            else:
                labels = [e["label"] for e in target]
                assert 1 <= len(target) <= 3
                spans = sorted((e["start"], e["end"]) for e in target)
                for start, end in spans:
                    assert 0.0 <= start < end <= 1000.0 * meta["sample_duration"]
                assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False)), "events overlap"
            assert set(labels) <= set(vocab)
            used |= set(labels)
            audio, sr = sf.read(str(task_dir / str(SR) / split / name), dtype="float64")
            assert sr == SR and audio.ndim == 1 and audio.shape[0] == n_samples
            assert sf.info(str(task_dir / str(SR) / split / name)).subtype == "PCM_16"
            assert 0.01 < np.max(np.abs(audio)) < 0.9
        assert used == set(vocab), f"{split}: every label must occur in every split"
        assert len(list((task_dir / str(SR) / split).iterdir())) == len(data)
        if meta["prediction_type"] == "multilabel" and meta["embedding_type"] == "scene":
            for label in vocab:
                assert 0 < sum(label in t for t in data.values()) < len(data), "roc_auc_score needs positives and negatives"


def test_tone_spectral_peak_at_labelled_harmonic(tasks_dir: Path) -> None:
    task_dir = tasks_dir / "tones-multiclass"
    data = json.loads((task_dir / "test.json").read_text())
    for name, (label,) in data.items():
        audio, _ = sf.read(str(task_dir / str(SR) / "test" / name), dtype="float64")
        spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.shape[0]), 4 * audio.shape[0]))
        peak_hz = np.argmax(spectrum) * SR / (4 * audio.shape[0])
        f0 = midi_to_hz(TONE_CLASSES[label])
        k = max(1, round(peak_hz / f0))
        assert abs(peak_hz / (k * f0) - 1.0) < 0.015, (name, label, peak_hz, f0)  # +-20 cents is 1.2 %
        assert peak_hz < CONTENT_MAX_HZ


def test_same_content_at_every_sample_rate() -> None:
    task = describe_tasks(0)[1]  # timbre-multilabel: tones, noise and clicks
    for clip in task.splits["valid"][:3]:
        low, high = render_clip(clip, 16000), render_clip(clip, 48000)
        assert np.max(np.abs(high[::3] - low)) < 1e-9
        assert np.max(np.abs(render_clip(clip, 32000)[::2] - low)) < 1e-9
        assert np.max(np.abs(high)) < PEAK_LIMIT


def test_reproducible(tasks_dir: Path, tmp_path: Path) -> None:
    task = describe_tasks(0)[1]  # timbre-multilabel: every kind of source
    assert task == describe_tasks(0)[1]
    write_task(task, tmp_path, (SR,))
    assert _digests(tmp_path / task.name) == _digests(tasks_dir / task.name)
    other = describe_tasks(1)[0].splits["train"][0]
    assert not np.array_equal(render_clip(other, SR), render_clip(describe_tasks(0)[0].splits["train"][0], SR))


def test_rejects_low_sample_rate(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make_tasks(tmp_path, sample_rates=(8000,))
