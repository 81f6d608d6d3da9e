"""``hear-gear task make``: a task made from a table and scored by ``hear-gear evaluate``, the options passed through,
exit status 1 for skipped files and 2 when no task is made."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import soundfile as sf

from hear_gear_embed.cli import main
from hear_gear_embed.evaluation.downstream.tasks import load_task
from tests.training.audio_tables import tone, tones_table, write_table


def test_make_then_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tones_table(tmp_path / "data", 3)
    assert main(["task", "make", str(table), "--out", str(tmp_path / "pitch"), "--folds", "3"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"made task pitch in {tmp_path / 'pitch'}: 9 files, 3 labels, multiclass, new_split_kfold "
                              "(fold00 3, fold01 3, fold02 3), audio at 32000 Hz")
    assert main(["evaluate", "handcrafted", str(tmp_path / "pitch"), "--protocol", "knn", "--no-cache", "--out",
                 str(tmp_path / "scores"), "--device", "cpu"]) == 0
    scores = json.loads((tmp_path / "scores" / "scores.json").read_text())
    assert scores["failed"] == {} and scores["folds"]["pitch"] == ["fold00", "fold01", "fold02"]
    assert scores["tasks"]["pitch"]["knn"]["top1_acc"] == 1.0  # 220, 880 and 3000 Hz tones told apart


def test_options_reach_the_task(tmp_path: Path) -> None:
    table = tones_table(tmp_path / "data", 1, ["train", "valid", "test"])
    assert main(["task", "make", str(table), "--out", str(tmp_path / "t"), "--name", "mine", "--sample-rate", "16000",
                 "--sample-rate", "48000", "--duration", "0.25", "--multilabel", "--workers", "2"]) == 0
    task = load_task(tmp_path / "t")
    assert (task.info.name, task.info.prediction_type, task.sample_duration_s) == ("mine", "multilabel", 0.25)
    assert task.sample_rates() == (16000, 48000)
    assert sf.info(task.audio_paths("test", 48000)[0]).frames == 12000


def test_skipped_files_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        tone(tmp_path / f"{i}.wav", 300.0 * (i + 1))
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    table = write_table(tmp_path, [["0.wav", "a"], ["1.wav", "a"], ["2.wav", "b"], ["broken.wav", "c"]])
    assert main(["task", "make", str(table), "--out", str(tmp_path / "t"), "--folds", "3"]) == 1
    err = capsys.readouterr().err
    assert "labels left out (only unreadable files had them): c" in err
    assert f"skipped 1 unreadable file(s), listed in {tmp_path / 't' / 'skipped.csv'}" in err
    assert load_task(tmp_path / "t").info.labels == ("a", "b")


@pytest.mark.parametrize(("rows", "args", "message"), [
    ([["0.wav", "a"], ["nope.wav", "a"]], [], r"error: .*table\.csv: audio file not found: line 3: nope.wav"),
    ([["0.wav", "a"], ["1.wav", "a;b"]], ["--prediction-type", "multiclass"], r"line 3: 2 labels \(a;b\) in a multiclass"),
    ([["0.wav", "a"]], ["--prediction-type", "ordinal"], r"error: prediction type must be one of multiclass, multilabel"),
    ([["0.wav", "a"]], ["--folds", "2"], r"error: folds must be at least 3"),
    ([["0.wav", "a"], ["1.wav", "a"], ["2.wav", "b"]], [], r"error: .*3 readable files cannot fill 5 folds"),
    ([["broken.wav", "a"]], [], r"error: .*none of its 1 files is readable audio"),
])
def test_no_task_made_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[list[str]],
                              args: list[str], message: str) -> None:
    for i in range(3):
        tone(tmp_path / f"{i}.wav", seconds=0.05)
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    table = write_table(tmp_path, rows)
    assert main(["task", "make", str(table), "--out", str(tmp_path / "t"), *args]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "t").exists()


def test_existing_out_needs_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tones_table(tmp_path / "data", 1, ["train", "valid", "test"])
    out = str(tmp_path / "t")
    assert main(["task", "make", str(table), "--out", out]) == 0
    assert main(["task", "make", str(table), "--out", out, "--name", "again"]) == 2
    assert "is not empty; choose another folder, or replace it with --overwrite" in capsys.readouterr().err
    assert main(["task", "make", str(table), "--out", out, "--name", "again", "--overwrite"]) == 0
    assert load_task(out).info.name == "again"


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["task"])
    assert exit.value.code == 2 and "ACTION" in capsys.readouterr().err
    for bad in (["--sample-rate", "0"], ["--duration", "-1"], ["--multilabel", "--prediction-type", "multiclass"]):
        with pytest.raises(SystemExit) as exit:
            main(["task", "make", "t.csv", "--out", "o", *bad])
        assert exit.value.code == 2
