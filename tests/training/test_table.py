"""``read_table``: the table of ``hear-gear task make``, every error named with file, line and problem, and labels
that heareval's pandas would misread refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from hear_gear_embed.evaluation.downstream.tasks import VOCABULARY_NAME
from hear_gear_embed.training.make_task import make_task
from hear_gear_embed.training.table import TableError, read_table
from tests.training.audio_tables import tone, write_table


@pytest.mark.parametrize(("header", "rows", "message"), [
    (("path", "category"), [["a.wav", "x"]], r"table\.csv, line 1: missing column\(s\) label"),
    (("file", "label"), [["a.wav", "x"]], r"table\.csv, line 1: missing column\(s\) path"),
    (("path", "label", "labels"), [["a.wav", "x", "x"]], r"line 1: both label and labels columns"),
    (("path", "label"), [["a.wav", "x"], ["", "x"]], r"table\.csv, line 3: empty path"),
    (("path", "label"), [["a.wav", "x"], ["b.wav", " "]], r"table\.csv, line 3: empty label$"),
    (("path", "label"), [["a.wav", "x;;y"]], r"line 2: empty label in 'x;;y'"),
    (("path", "label"), [["a.wav", "x"], ["missing.wav", "x"]],
     r"table\.csv: audio file not found: line 3: missing.wav \(.*missing\.wav\) does not exist"),
    (("path", "label"), [["a.wav", "x"], ["sub/../a.wav", "y"]], r"line 3: sub/../a.wav is listed twice \(first on line 2\)"),
    (("path", "label", "split"), [["a.wav", "x", "train"], ["b.wav", "x", "valid"]],
     r"split names train, valid: no test\. Use exactly train, valid, test"),
    (("path", "label", "split"), [["a.wav", "x", "train"], ["b.wav", "x", "valid"], ["c.wav", "x", "test"],
                                  ["d.wav", "x", "extra"]], r"split names extra, test, train, valid: extra beside"),
    (("path", "label", "split"), [["a.wav", "x", "one"], ["b.wav", "x", "two"]], r"k-fold needs at least 3 folds"),
    (("path", "label", "split"), [["a.wav", "x", "train"], ["b.wav", "x", ""]],
     r"table\.csv, line 3: empty split, which line 2 gives \('train'\)"),
    (("path", "label", "split"), [["a.wav", "x", "a/b"], ["b.wav", "x", "c"], ["c.wav", "x", "d"]],
     r"line 2: split 'a/b' cannot name the files"),
    (("path", "label"), [["a.wav", "01"], ["b.wav", "2"]], r"line 2: heareval reads labelvocabulary\.csv with pandas, "
     r"which would read the label '01' as '1'"),
    (("path", "label"), [["a.wav", "NA"], ["b.wav", "dog"]], r"line 2: .* the label 'NA' as a missing value"),
    (("path", "label"), [["a.wav", "1"], ["b.wav", "2.5"]], r"line 2: .* the label '1' as '1.0'"),
])
def test_table_errors_name_file_line_and_problem(tmp_path: Path, header: tuple[str, ...], rows: list[list[str]],
                                                 message: str) -> None:
    for name in ("a", "b", "c", "d"):
        tone(tmp_path / f"{name}.wav", seconds=0.05)
    (tmp_path / "sub").mkdir()
    table = write_table(tmp_path, rows, header)
    with pytest.raises(TableError, match=message):
        read_table(table)


def test_many_missing_files_are_counted_in_one_message(tmp_path: Path) -> None:
    table = write_table(tmp_path, [[f"{i}.wav", "x"] for i in range(8)])
    with pytest.raises(TableError, match=r"line 2: 0\.wav .* line 6: 4\.wav .*\(and 3 more rows whose file is missing\)"):
        read_table(table)


def test_labels_heareval_reads_back_unchanged(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    rows = [[f"{i}.wav", label] for i, label in enumerate(["1", "2", "10"])]
    for path, _ in rows:
        tone(tmp_path / path, seconds=0.05)
    make_task(write_table(tmp_path, rows), tmp_path / "task", folds=3)
    vocabulary = pandas.read_csv(tmp_path / "task" / VOCABULARY_NAME)  # as heareval reads it, labels as str
    assert sorted(vocabulary["label"].astype(str)) == ["1", "10", "2"]
