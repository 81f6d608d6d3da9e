"""The table a task folder is made from (``hear-gear task make``): a CSV of audio files, labels and optional splits,
read and checked before any audio is opened (:func:`read_table`).

The table (UTF-8, a header required; other columns are ignored)::

    path,label,split
    dogs/rex.wav,dog,train
    birds/tit.flac,bird;dog,test

* ``path``: an audio file, relative to the table's folder or absolute;
* ``label`` (or ``labels``): one label, or several separated by ``;`` (a multilabel task);
* ``split`` (optional): ``train``, ``valid`` and ``test`` (``trainvaltest``), or at least 3 other names, the folds of
  ``presplit_kfold``; without it, :func:`~.make_task.make_task` deals the files into folds.

Labels that heareval's pandas would read back as another text (``01``, ``NA``) are refused here.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..evaluation.downstream.tasks import METADATA_NAME, TRAINVALTEST, VOCABULARY_NAME, folds_rule

LABEL_SEPARATOR = ";"
"""Separates the labels of a multilabel row in the table's label column."""
PATH_COLUMN = "path"
LABEL_COLUMNS = ("label", "labels")
"""Either name is accepted for the label column (not both)."""
SPLIT_COLUMN = "split"
_PANDAS_NA = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                        "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
"""The texts that pandas' ``read_csv`` (heareval's reader of ``labelvocabulary.csv``) reads as a missing value."""
_PANDAS_INT = re.compile(r"[+-]?[0-9]+")
_PANDAS_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|infinity)", re.IGNORECASE)
_PANDAS_BOOL = {"True": "True", "TRUE": "True", "true": "True", "False": "False", "FALSE": "False", "false": "False"}


class TableError(ValueError):
    """A table that cannot make a task: the message names the table, the line where known, and the problem."""


@dataclass(frozen=True)
class TableRow:
    """One file of the table.

    Attributes:
        line: the row's line in the table (the header is line 1).
        source: the path as the table writes it.
        path: the file, absolute.
        labels: its labels, in the table's order, without repeats.
        split: its split, ``None`` when the table has no split column.
    """

    line: int
    source: str
    path: Path
    labels: tuple[str, ...]
    split: str | None


@dataclass(frozen=True)
class Table:
    """A table, read and checked.

    Attributes:
        path: the table file.
        rows: its files, in its order.
        split_mode: ``trainvaltest`` or ``presplit_kfold`` from the split column; ``None`` without one.
        splits: the split names in ``task_metadata.json``'s order (``train``, ``valid``, ``test``, or the folds
            sorted); empty without a split column.
    """

    path: Path
    rows: tuple[TableRow, ...]
    split_mode: str | None
    splits: tuple[str, ...]

    @property
    def multilabel(self) -> bool:
        """Whether some row has more than one label."""
        return any(len(row.labels) > 1 for row in self.rows)


def read_table(table: str | os.PathLike[str]) -> Table:
    """Read and check the table ``table`` (the format: this module's docstring); the audio is not opened.

    Raises:
        TableError: the table cannot be read, or lacks the path or label column (or has both label and labels); a row
            with an empty path or label; a file that does not exist (all such rows counted in one message); a file
            listed twice; a split column filled on some rows only; split names that are neither exactly train, valid
            and test nor at least 3 other names; a split name that cannot name a file; a label that heareval would read
            back as another (pandas reads ``01`` as ``1`` and ``NA`` as missing).
    """
    path = Path(table)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as err:
        raise TableError(f"{path}: cannot read the table: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise TableError(f"{path}: not UTF-8 text ({err}); save the table as UTF-8 CSV") from err
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader, [])]
        records = [(reader.line_num, record) for record in reader if any(cell.strip() for cell in record)]
    except csv.Error as err:
        raise TableError(f"{path}, line {reader.line_num}: not valid CSV: {err}") from err
    columns = _columns(header, path)
    base = path.resolve().parent
    rows: list[TableRow] = []
    missing: list[str] = []
    first_line: dict[Path, int] = {}
    for line, record in records:
        cells = {name: (record[i].strip() if i < len(record) else "") for name, i in columns.items()}
        where = f"{path}, line {line}"
        source = cells[PATH_COLUMN]
        if not source:
            raise TableError(f"{where}: empty {PATH_COLUMN}")
        labels = tuple(dict.fromkeys(label.strip() for label in cells["label"].split(LABEL_SEPARATOR)))
        if not all(labels):
            within = f" in {cells['label']!r} (labels are separated by {LABEL_SEPARATOR!r})" if cells["label"] else ""
            raise TableError(f"{where}: empty label{within}")
        file = Path(os.path.abspath(base / Path(source).expanduser()))
        if not file.is_file():
            missing.append(f"line {line}: {source} ({file}) " + ("is not a file" if file.exists() else "does not exist"))
            continue
        real = Path(os.path.realpath(file))
        if real in first_line:
            raise TableError(f"{where}: {source} is listed twice (first on line {first_line[real]})")
        first_line[real] = line
        rows.append(TableRow(line, source, file, labels, cells.get(SPLIT_COLUMN)))
    if missing:
        more = f" (and {len(missing) - 5} more rows whose file is missing)" if len(missing) > 5 else ""
        raise TableError(f"{path}: audio file not found: " + "; ".join(missing[:5]) + more)
    if not rows:
        raise TableError(f"{path}: the table lists no files")
    _check_labels(rows, path)
    split_mode, splits = _split_mode(rows, path) if SPLIT_COLUMN in columns else (None, ())
    if split_mode is None:
        rows = [TableRow(r.line, r.source, r.path, r.labels, None) for r in rows]
    return Table(path, tuple(rows), split_mode, splits)


def _columns(header: list[str], path: Path) -> dict[str, int]:
    """Column name -> index of the columns used, ``label`` standing for whichever label column the table has."""
    if not header:
        raise TableError(f"{path}: the table is empty; it needs a header with the columns {PATH_COLUMN} and label")
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        raise TableError(f"{path}, line 1: column(s) named twice: {', '.join(repeated)}")
    label_columns = [name for name in LABEL_COLUMNS if name in header]
    absent = ([] if PATH_COLUMN in header else [PATH_COLUMN]) + ([] if label_columns else ["label"])
    if absent:
        raise TableError(f"{path}, line 1: missing column(s) {', '.join(absent)}; the header has "
                         f"{', '.join(repr(h) for h in header)} (needed: {PATH_COLUMN}, label or labels, optional "
                         f"{SPLIT_COLUMN})")
    if len(label_columns) > 1:
        raise TableError(f"{path}, line 1: both {' and '.join(LABEL_COLUMNS)} columns; keep one")
    columns = {PATH_COLUMN: header.index(PATH_COLUMN), "label": header.index(label_columns[0])}
    if SPLIT_COLUMN in header:
        columns[SPLIT_COLUMN] = header.index(SPLIT_COLUMN)
    return columns


def _check_labels(rows: Sequence[TableRow], path: Path) -> None:
    """Refuse labels that heareval's pandas would read back from ``labelvocabulary.csv`` as another text."""
    first: dict[str, int] = {}
    for row in rows:
        for label in row.labels:
            first.setdefault(label, row.line)
    labels = sorted(first)
    read_back: dict[str, str] = {label: "a missing value" for label in labels if label in _PANDAS_NA}
    if not read_back:
        if all(_PANDAS_INT.fullmatch(label) for label in labels):
            read_back = {label: repr(str(int(label))) for label in labels}
        elif all(_PANDAS_FLOAT.fullmatch(label) for label in labels):
            read_back = {label: repr(str(float(label))) for label in labels}
        elif all(label in _PANDAS_BOOL for label in labels):
            read_back = {label: repr(_PANDAS_BOOL[label]) for label in labels}
        read_back = {label: text for label, text in read_back.items() if text != repr(label)}
    if read_back:
        label, text = min(read_back.items(), key=lambda item: first[item[0]])
        others = f" (and {len(read_back) - 1} more such labels)" if len(read_back) > 1 else ""
        raise TableError(f"{path}, line {first[label]}: heareval reads {VOCABULARY_NAME} with pandas, which would read "
                         f"the label {label!r} as {text}{others}; rename such labels, e.g. with a letter in front")


def _split_mode(rows: Sequence[TableRow], path: Path) -> tuple[str | None, tuple[str, ...]]:
    """The split mode and split names of a table with a split column; ``(None, ())`` when the column is empty."""
    filled = [row for row in rows if row.split]
    if not filled:
        return None, ()
    if len(filled) < len(rows):
        empty = next(row for row in rows if not row.split)
        raise TableError(f"{path}, line {empty.line}: empty {SPLIT_COLUMN}, which line {filled[0].line} gives "
                         f"({filled[0].split!r}); give every row a split, or none")
    names = sorted({str(row.split) for row in filled})
    for split in names:
        if re.search(r"[/\\\x00-\x1f]", split) or split.startswith(".") or f"{split}.json" == METADATA_NAME:
            line = next(row.line for row in filled if row.split == split)
            raise TableError(f"{path}, line {line}: split {split!r} cannot name the files <split>.json and the folders "
                             "<rate>/<split>/ (no slashes, no leading dot)")
    folded = Counter(split.casefold() for split in names)
    if any(n > 1 for n in folded.values()):
        raise TableError(f"{path}: split names that differ only in case: {', '.join(names)}")
    known = [split for split in names if split in TRAINVALTEST]
    if known:
        other = [split for split in names if split not in TRAINVALTEST]
        absent = [split for split in TRAINVALTEST if split not in names]
        if other or absent:
            problem = (f"{', '.join(other)} beside {', '.join(known)}" if other else f"no {', '.join(absent)}")
            raise TableError(f"{path}: split names {', '.join(names)}: {problem}. Use exactly "
                             f"{', '.join(TRAINVALTEST)} (split mode trainvaltest), or at least 3 other names (folds, "
                             "split mode presplit_kfold)")
        return "trainvaltest", TRAINVALTEST
    try:
        folds_rule(names)
    except ValueError as err:
        raise TableError(f"{path}: split names {', '.join(names)}: {err}; use exactly {', '.join(TRAINVALTEST)}, or "
                         "at least 3 fold names") from err
    return "presplit_kfold", tuple(names)
