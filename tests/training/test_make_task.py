"""``make_task``: task folders made from tables of tiny tones, read back by ``load_task`` as ``hear-gear evaluate``
reads them (each split mode, multilabel, several rates, padding and cropping), unreadable files skipped and reported,
and ``--out`` never left half written."""

from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from hear_gear_embed.evaluation.downstream.metrics import task_metrics
from hear_gear_embed.evaluation.downstream.tasks import METADATA_NAME, folds_rule, load_task
from hear_gear_embed.training.make_task import EVALUATION, SKIPPED_NAME, SOURCES_NAME, make_task, stratified_folds
from hear_gear_embed.training.table import TableError
from tests.training.audio_tables import PITCH_HZ, RATE, tone, tones_table, write_table


def test_trainvaltest_round_trip(tmp_path: Path) -> None:
    table = tones_table(tmp_path / "data", 3, ["train", "valid", "test"])
    report = make_task(table, tmp_path / "my-task")
    task = load_task(tmp_path / "my-task")
    assert task.info.name == "my-task" == report.task_name and task.split_mode == "trainvaltest"
    assert task.info.labels == ("high", "low", "mid") == report.labels
    assert task.info.prediction_type == "multiclass" and task.info.evaluation == ("top1_acc", "mAP", "d_prime", "aucroc")
    assert [s.name for s in task.splits] == ["train", "valid", "test"] and report.split_files == {"train": 3, "valid": 3,
                                                                                                   "test": 3}
    assert task.sample_rates() == (32000,) and task.sample_duration_s is None
    for split in task.splits:
        for path in task.audio_paths(split.name, 32000):
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.frames, info.subtype) == (32000, 1, 16000, "FLOAT")
    metadata = json.loads((tmp_path / "my-task" / METADATA_NAME).read_text())
    assert metadata["embedding_type"] == "scene" and metadata["version"].startswith("hear-gear task make")
    assert "nfolds" not in metadata and report.skipped == () and report.renamed == 9  # each of 0.wav, 1.wav, 2.wav is in 3 folders
    with open(tmp_path / "my-task" / SOURCES_NAME, newline="") as stream:
        sources = list(csv.DictReader(stream))
    assert len(sources) == 9 and {s["source"] for s in sources} == {f"{lab}/{i}.wav" for lab in PITCH_HZ for i in range(3)}
    assert all(json.loads((tmp_path / "my-task" / f"{s['split']}.json").read_text())[s["file"]] for s in sources)
    assert not list(tmp_path.glob(".my-task*"))  # nothing left beside the task


def test_shared_names_get_a_deterministic_hash(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        tone(tmp_path / folder / "dog.wav")
    tone(tmp_path / "c" / "Dog.flac")  # same name on a case-insensitive file system
    tone(tmp_path / "cat.wav")
    rows = [["a/dog.wav", "x"], ["b/dog.wav", "x"], ["c/Dog.flac", "y"], ["cat.wav", "y"]]
    split = {"train": ["a/dog.wav", "cat.wav"], "valid": ["b/dog.wav"], "test": ["c/Dog.flac"]}
    table = write_table(tmp_path, [[p, lab, next(s for s, ps in split.items() if p in ps)] for p, lab in rows],
                        ("path", "label", "split"))
    first = make_task(table, tmp_path / "one")
    make_task(table, tmp_path / "two")
    sources = (tmp_path / "one" / SOURCES_NAME).read_text().splitlines()
    names = {s["source"]: s["file"] for s in csv.DictReader(sources)}
    assert names["cat.wav"] == "cat.wav" and first.renamed == 3
    assert len({n.casefold() for n in names.values()}) == 4
    assert names["a/dog.wav"].startswith("dog-") and names["c/Dog.flac"].startswith("Dog-")
    assert (tmp_path / "one" / SOURCES_NAME).read_bytes() == (tmp_path / "two" / SOURCES_NAME).read_bytes()


def test_presplit_kfold(tmp_path: Path) -> None:
    table = tones_table(tmp_path / "data", 3, ["f1", "f2", "f3"])
    report = make_task(table, tmp_path / "task")
    task = load_task(tmp_path / "task")
    assert task.split_mode == "presplit_kfold" == report.split_mode
    assert [s.name for s in task.splits] == ["f1", "f2", "f3"] and task.metadata["nfolds"] == 3
    assert task.data_splits == folds_rule(["f1", "f2", "f3"])
    assert all(set((task.split(f).labels or {}).values()) == {("high",), ("low",), ("mid",)} for f in ("f1", "f2", "f3"))


def test_new_kfold_is_stratified_and_seeded(tmp_path: Path) -> None:
    table = tones_table(tmp_path / "data", 3)
    report = make_task(table, tmp_path / "task", folds=3, seed=7)
    task = load_task(tmp_path / "task")
    assert task.split_mode == "new_split_kfold" and [s.name for s in task.splits] == ["fold00", "fold01", "fold02"]
    assert task.metadata["nfolds"] == 3 and task.metadata["fold_seed"] == 7 and report.split_files == dict.fromkeys(
        ["fold00", "fold01", "fold02"], 3)
    for split in task.splits:  # every fold has every class
        assert sorted(labels for (labels,) in (split.labels or {}).values()) == ["high", "low", "mid"]
    again = make_task(table, tmp_path / "again", folds=3, seed=7)
    assert again.split_files == report.split_files
    assert all((tmp_path / "task" / f"{s}.json").read_bytes() == (tmp_path / "again" / f"{s}.json").read_bytes()
               for s in report.split_files)


def test_stratified_folds() -> None:
    labels = [["a"]] * 10 + [["b"]] * 7 + [["c"]] * 2
    folds = stratified_folds(labels, folds=5, seed=0)
    sizes = Counter(folds)
    assert max(sizes.values()) - min(sizes.values()) <= 1 and set(sizes) == set(range(5))
    for label in ("a", "b"):
        per_fold = Counter(f for f, ls in zip(folds, labels, strict=True) if ls == [label])
        assert set(per_fold) == set(range(5)) and max(per_fold.values()) - min(per_fold.values()) <= 1
    assert stratified_folds(labels, folds=5, seed=0) == folds != stratified_folds(labels, folds=5, seed=1)
    # multilabel: grouped by the rarest label, so the rare "r" is spread over every fold
    multi = [["common", "r"]] * 5 + [["common"]] * 20
    folds = stratified_folds(multi, folds=5, seed=0)
    assert sorted(f for f, ls in zip(folds, multi, strict=True) if "r" in ls) == [0, 1, 2, 3, 4]


def test_multilabel_inferred_and_forced(tmp_path: Path) -> None:
    rows = []
    for i, labels in enumerate(["low;high", "low", "high", "mid;low", "mid", "high;mid"]):
        tone(tmp_path / f"{i}.wav", 300.0 + 100 * i)
        rows.append([f"{i}.wav", labels])
    table = write_table(tmp_path, rows, ("path", "labels"))
    report = make_task(table, tmp_path / "multi", folds=3)
    task = load_task(tmp_path / "multi")
    assert report.prediction_type == "multilabel" == task.info.prediction_type
    assert task.info.evaluation == EVALUATION["multilabel"] and task.info.evaluation[0] == "mAP"
    assert {f: lab for s in task.splits for f, lab in (s.labels or {}).items()}["0.wav"] == ("low", "high")
    with pytest.raises(TableError, match=r"table\.csv, line 2: 2 labels \(low;high\) in a multiclass task"):
        make_task(table, tmp_path / "no", folds=3, prediction_type="multiclass")
    single = write_table(tmp_path, [[f"{i}.wav", "low"] for i in range(3)], name="single.csv")
    assert make_task(single, tmp_path / "forced", folds=3, prediction_type="multilabel").prediction_type == "multilabel"


def test_evaluation_lists_are_known_label_metrics() -> None:
    for names in EVALUATION.values():
        assert [m.name for m in task_metrics(names, "scene")] == list(names)


def test_two_rates_and_any_source_rate(tmp_path: Path) -> None:
    tone(tmp_path / "a.wav", rate=44100, channels=2)
    tone(tmp_path / "b.wav", rate=8000)
    tone(tmp_path / "c.wav", rate=16000)
    table = write_table(tmp_path, [["a.wav", "x", "train"], ["b.wav", "x", "valid"], ["c.wav", "y", "test"]],
                        ("path", "label", "split"))
    report = make_task(table, tmp_path / "task", sample_rates=[48000, 16000])
    task = load_task(tmp_path / "task")
    assert report.sample_rates == (16000, 48000) == task.sample_rates()
    for rate in (16000, 48000):
        for split in ("train", "valid", "test"):
            (path,) = task.audio_paths(split, rate)
            samples, sr = sf.read(path, dtype="float32")
            assert sr == rate and samples.shape == (rate // 2,)
            assert 0.2 < np.max(np.abs(samples)) < 0.35  # the tone, mixed to mono (both channels alike)


def test_duration_pads_and_crops(tmp_path: Path) -> None:
    tone(tmp_path / "long.wav", seconds=0.5)
    tone(tmp_path / "short.wav", seconds=0.25)
    tone(tmp_path / "other.wav", seconds=0.3)
    table = write_table(tmp_path, [["long.wav", "x", "train"], ["short.wav", "x", "valid"], ["other.wav", "y", "test"]],
                        ("path", "label", "split"))
    report = make_task(table, tmp_path / "task", duration_s=0.4)
    task = load_task(tmp_path / "task")
    assert report.sample_duration_s == 0.4 == task.sample_duration_s
    long, short, other = (sf.read(task.audio_paths(s, 32000)[0])[0] for s in ("train", "valid", "test"))
    assert long.shape == short.shape == other.shape == (12800,)
    assert np.max(np.abs(long[-100:])) > 0.2  # cropped: the tone runs to the end
    assert np.all(short[8000:] == 0) and np.max(np.abs(short[7000:7900])) > 0.2  # padded with silence after 0.25 s


def test_unreadable_files_are_skipped_and_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    table = tones_table(tmp_path / "data", 3, ["train", "valid", "test"])
    (tmp_path / "data" / "broken.wav").write_bytes(b"RIFF not really")
    (tmp_path / "data" / "empty.wav").write_bytes(b"")
    nan = tmp_path / "data" / "nan.wav"
    sf.write(nan, np.full(800, np.nan, dtype=np.float32), RATE, subtype="FLOAT")
    with open(table, "a", newline="") as stream:
        csv.writer(stream).writerows([["broken.wav", "gone", "train"], ["empty.wav", "low", "valid"],
                                      ["nan.wav", "low", "test"]])
    with caplog.at_level(logging.WARNING):
        report = make_task(table, tmp_path / "task")
    assert [(s.line, s.source) for s in report.skipped] == [(11, "broken.wav"), (12, "empty.wav"), (13, "nan.wav")]
    assert "NaN" in report.skipped[2].reason and "empty" in report.skipped[1].reason
    assert report.unused_labels == ("gone",) and report.files == 9
    task = load_task(tmp_path / "task")
    assert task.info.labels == ("high", "low", "mid")  # "gone" had no readable file
    assert "broken.wav" not in task.split("train").files
    with open(tmp_path / "task" / SKIPPED_NAME, newline="") as stream:
        skipped = list(csv.DictReader(stream))
    assert [(s["line"], s["source"]) for s in skipped] == [("11", "broken.wav"), ("12", "empty.wav"), ("13", "nan.wav")]
    assert "line 11: broken.wav skipped" in caplog.text and "label(s) gone left out of the vocabulary" in caplog.text


def test_nothing_readable_or_an_empty_split_makes_no_task(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.wav").write_bytes(b"no audio here")
    table = write_table(tmp_path, [["a.wav", "x"], ["b.wav", "x"], ["c.wav", "y"]])
    with pytest.raises(ValueError, match=r"table\.csv: none of its 3 files is readable audio \(line 2: "):
        make_task(table, tmp_path / "task", folds=3)
    assert not (tmp_path / "task").exists() and not list(tmp_path.glob(".task*"))
    tone(tmp_path / "d.wav")
    tone(tmp_path / "e.wav")
    split = write_table(tmp_path, [["a.wav", "x", "train"], ["d.wav", "x", "valid"], ["e.wav", "y", "test"]],
                        ("path", "label", "split"), name="split.csv")
    with pytest.raises(ValueError, match="split.csv: split\\(s\\) train have no readable file left"):
        make_task(split, tmp_path / "task")
    few = write_table(tmp_path, [["a.wav", "x"], ["d.wav", "x"], ["e.wav", "y"]], name="few.csv")
    with pytest.raises(ValueError, match="2 readable files cannot fill 3 folds"):
        make_task(few, tmp_path / "task", folds=3)
    assert not list(tmp_path.glob(".task*"))


def test_options_are_checked(tmp_path: Path) -> None:
    table = tones_table(tmp_path / "data", 1, ["train", "valid", "test"])
    no_split = tones_table(tmp_path / "flat", 1)
    for kwargs, message in (({"folds": 3}, "has a split column, which sets the splits"),
                            ({"sample_rates": []}, "sample rates must be one or more positive integers"),
                            ({"sample_rates": [0]}, "sample rates must be one or more positive integers"),
                            ({"duration_s": 0.0}, "duration must be a positive number of seconds"),
                            ({"duration_s": float("nan")}, "duration must be a positive number of seconds"),
                            ({"prediction_type": "regression"}, "prediction type must be one of multiclass, multilabel"),
                            ({"name": " "}, "the task name is empty")):
        with pytest.raises(ValueError, match=message):
            make_task(table, tmp_path / "task", **kwargs)
    with pytest.raises(ValueError, match="folds must be at least 3"):
        make_task(no_split, tmp_path / "task", folds=2)
    assert make_task(table, tmp_path / "task", name="custom").task_name == "custom"


def test_existing_out_is_kept_unless_overwrite_of_a_task(tmp_path: Path) -> None:
    table = tones_table(tmp_path / "data", 1, ["train", "valid", "test"])
    (tmp_path / "empty").mkdir()
    assert make_task(table, tmp_path / "empty").files == 3
    make_task(table, tmp_path / "task")
    before = (tmp_path / "task" / METADATA_NAME).read_bytes()
    with pytest.raises(FileExistsError, match=r"task exists and is not empty; .* --overwrite"):
        make_task(table, tmp_path / "task", name="other")
    assert (tmp_path / "task" / METADATA_NAME).read_bytes() == before
    report = make_task(table, tmp_path / "task", name="other", overwrite=True)
    assert load_task(tmp_path / "task").info.name == "other" == report.task_name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "empty", "task"]  # nothing left aside

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no task_metadata.json: not a task folder, so not replaced"):
        make_task(table, tmp_path / "notes", overwrite=True)
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="exists and is not a folder"):
        make_task(table, tmp_path / "file")

    inside = tones_table(tmp_path / "task" / "inputs", 1, ["train", "valid", "test"])
    with pytest.raises(ValueError, match="lies in .*task, which overwrite would delete"):
        make_task(inside, tmp_path / "task", overwrite=True)
    assert (tmp_path / "task" / METADATA_NAME).is_file()
