"""What a corpus run reports (:mod:`hear_gear_embed.io.report`): the report and manifest a :class:`CorpusReport`
saves (the same rows, the identity's keys, the permissions of new files, the manifest written when the report cannot
be), its counts and summary, and the one-line description of a failure."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from hear_gear_embed.hear.identity import IDENTITY_KEYS, ModelIdentity
from hear_gear_embed.io import MANIFEST_NAME, REPORT_NAME, STATUSES, AudioReadError, CorpusReport, FileResult
from hear_gear_embed.io.report import describe_error, failed

from .spies import report_disk_full

IDENTITY = ModelIdentity("hear_gear_embed.hear.lowlevel_mel", "0.2.0", "none", "", "bf16")


def sample_report() -> CorpusReport:
    return CorpusReport(IDENTITY, ("scene",), "ray", [
        FileResult("a.wav", "embedded", "o/a.wav.npz", seconds=1.5, source_bytes=10, source_mtime_ns=20, output_bytes=30),
        FileResult("b.wav", "failed", error="not readable as audio"),
        FileResult("c.wav", "skipped", "o/c.wav.npz", seconds=2.0, source_bytes=11, source_mtime_ns=21, output_bytes=31),
        FileResult("d.wav", "kept", "o/d.wav.npz", seconds=0.5, source_bytes=12, source_mtime_ns=22, output_bytes=32),
    ], wall_seconds=3.0)


def test_report_and_manifest_hold_the_same_rows_and_the_identity(tmp_path: Path) -> None:
    sample_report().save(tmp_path)
    saved = json.loads((tmp_path / REPORT_NAME).read_text())
    manifest = [json.loads(line) for line in (tmp_path / MANIFEST_NAME).read_text().splitlines()]
    assert manifest == saved["results"] and [r["source"] for r in manifest] == ["a.wav", "b.wav", "c.wav", "d.wav"]
    assert set(manifest[0]) == {"source", "status", "output", "error", "seconds", "source_bytes", "source_mtime_ns",
                                "output_bytes"}
    assert manifest[1]["source_bytes"] is None and manifest[1]["error"] == "not readable as audio"
    assert {k: saved[k] for k in IDENTITY_KEYS} == IDENTITY.to_dict() and saved["precision"] == "bf16"
    assert saved["variant"] == "lowlevel_mel" and saved["kinds"] == ["scene"] and "kind" not in saved
    assert saved["engine"] == "ray" and saved["wall_seconds"] == 3.0
    assert {r["status"] for r in manifest} <= set(STATUSES)


def test_counts_and_summary() -> None:
    run = sample_report()
    assert run.variant == "lowlevel_mel" and run.count("embedded") == 1 and [r.source for r in run.failed] == ["b.wav"]
    assert run.summary() == ("1 embedded (1.5 s of audio in 3.0 s), 1 already done, 1 failed, 1 kept from earlier runs")
    assert [r.done for r in run.results] == [True, False, True, True]
    assert "kept" not in CorpusReport(IDENTITY, ("scene",)).summary()


def test_report_and_manifest_get_the_permissions_of_new_files(tmp_path: Path) -> None:
    """Not the owner-only mode of the temporary file they are written through: others read them on shared storage."""
    sample_report().save(tmp_path)
    umask = os.umask(0o022)
    os.umask(umask)
    for name in (REPORT_NAME, MANIFEST_NAME):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name


def test_a_report_that_cannot_be_written_is_named_and_the_manifest_written_all_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report_disk_full(monkeypatch)
    with pytest.raises(OSError, match=f"^cannot write {tmp_path / REPORT_NAME}: No space left on device$"):
        sample_report().save(tmp_path)
    assert len((tmp_path / MANIFEST_NAME).read_text().splitlines()) == 4 and not (tmp_path / REPORT_NAME).exists()


def test_a_failure_is_described_in_one_line_without_the_file_name() -> None:
    source = Path("/data/x.wav")
    assert describe_error(RuntimeError(f"{source}: simulated failure"), source) == "RuntimeError: simulated failure"
    assert describe_error(AudioReadError(f"{source}: not readable as audio"), source) == "not readable as audio"
    assert describe_error(FileNotFoundError(f"{source}: no such file or folder"), source) == "no such file or folder"
    row = failed(source, RuntimeError("boom"), 1.5)
    assert (row.source, row.status, row.error, row.seconds, row.output, row.done) == (
        str(source), "failed", "RuntimeError: boom", 1.5, None, False)
