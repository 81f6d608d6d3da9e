"""What a corpus run reports: :class:`FileResult` (one input's outcome), :class:`CorpusReport` (a run's results,
saved as ``embed-report.json`` and ``embed-manifest.jsonl``), and the one-line description of a file's failure."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..embedding.config import Kind
from ..hear.identity import ModelIdentity
from ..util.files import write_atomic
from .audio import AudioReadError

REPORT_NAME = "embed-report.json"
"""Name of the run report written in the output folder."""
MANIFEST_NAME = "embed-manifest.jsonl"
"""Name of the manifest written beside the report: one JSON object per line, the fields of :class:`FileResult`, in
the report's order."""
STATUSES = ("embedded", "skipped", "kept", "failed")
"""The status of every row of a report: an input embedded, or skipped (its output was up to date), or failed; or
``kept``: the finished output of an earlier run that was not an input of this one."""


class ReportWriteError(OSError):
    """The report or manifest of a finished run could not be written; its ``report`` attribute holds the run's results
    (the outputs themselves are written)."""

    def __init__(self, message: str, report: CorpusReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(slots=True)
class FileResult:
    """Outcome for one input.

    Attributes:
        source: the input path as given or found.
        status: one of :data:`STATUSES`.
        output: the ``.npz`` file (``None`` when there is none).
        error: why it failed (``None`` otherwise).
        seconds: audio duration in seconds (when read).
        source_bytes: size of the source file its output was made from (``embedded``, ``skipped``, ``kept``), bytes.
        source_mtime_ns: its modification time then, ns (``-1`` for bytes read from elsewhere).
        output_bytes: size of the output file, bytes: a later run trusts the row only while the file has this size.
    """

    source: str
    status: str
    output: str | None = None
    error: str | None = None
    seconds: float | None = None
    source_bytes: int | None = None
    source_mtime_ns: int | None = None
    output_bytes: int | None = None

    @property
    def done(self) -> bool:
        """Whether the row stands for a finished output."""
        return self.status in ("embedded", "skipped", "kept") and self.output is not None and self.source_bytes is not None


@dataclass
class CorpusReport:
    """Outcome of a corpus run: one :class:`FileResult` per input, in input order, then the finished outputs of earlier
    runs into the same folder that were not inputs of this one (``kept``); saved in the output folder as JSON
    (:data:`REPORT_NAME`, the identity's keys, ``kinds``, ``engine``, ``wall_seconds`` and ``results``) and as a
    manifest (:data:`MANIFEST_NAME`).

    Attributes:
        identity: the model, as every output records it.
        kinds: the embedding kinds computed.
        engine: ``"local"`` or ``"ray"``.
        results: the rows.
        wall_seconds: the run's duration.
    """

    identity: ModelIdentity
    kinds: tuple[Kind, ...]
    engine: str = "local"
    results: list[FileResult] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def variant(self) -> str:
        """The identity's variant (what the summary and messages name)."""
        return self.identity.variant

    def count(self, status: str) -> int:
        """Number of rows with ``status``."""
        return sum(r.status == status for r in self.results)

    @property
    def failed(self) -> list[FileResult]:
        """Inputs that failed, in input order."""
        return [r for r in self.results if r.status == "failed"]

    def summary(self) -> str:
        """One line: counts per status and the audio time embedded."""
        audio = sum(r.seconds or 0.0 for r in self.results if r.status == "embedded")
        kept = f", {self.count('kept')} kept from earlier runs" if self.count("kept") else ""
        return (f"{self.count('embedded')} embedded ({audio:.1f} s of audio in {self.wall_seconds:.1f} s), "
                f"{self.count('skipped')} already done, {self.count('failed')} failed{kept}")

    def save(self, out_dir: Path) -> None:
        """Write the report (:data:`REPORT_NAME`) and the manifest (:data:`MANIFEST_NAME`) into ``out_dir``, each
        through a temporary file; the manifest is attempted even when the report cannot be written.

        Raises:
            OSError: either could not be written (the first error; the message names the file).
        """
        rows = [asdict(r) for r in self.results]
        header = {**self.identity.to_dict(), "kinds": list(self.kinds), "engine": self.engine,
                  "wall_seconds": self.wall_seconds}
        errors = []
        for name, text in ((REPORT_NAME, json.dumps({**header, "results": rows}, indent=2) + "\n"),
                           (MANIFEST_NAME, "".join(json.dumps(row) + "\n" for row in rows))):
            try:
                write_atomic(out_dir / name, text.encode("utf-8"))
            except OSError as err:
                errors.append(f"cannot write {out_dir / name}: {err.strerror or err}")
        if errors:
            raise OSError("; ".join(errors))


def describe_error(err: BaseException, source: Path | None = None) -> str:
    """``err`` as one readable line: the message without a leading ``"<source>: "`` (the report names the file
    already), and with the exception type unless the message explains itself (an unreadable or missing file)."""
    message = str(err).strip() or type(err).__name__
    if source is not None:
        message = message.removeprefix(f"{source}: ")
    return message if isinstance(err, (AudioReadError, FileNotFoundError)) else f"{type(err).__name__}: {message}"


def failed(source: Path, err: BaseException, seconds: float | None = None) -> FileResult:
    """The failed :class:`FileResult` of ``source`` for ``err``, described in one line."""
    return FileResult(str(source), "failed", error=describe_error(err, source), seconds=seconds)
