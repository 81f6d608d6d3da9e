"""The resume rule of both corpus engines (:mod:`hear_gear_embed.io.resume`), on outputs written here with the
identities under test: an output is skipped only when the same model made it from the unchanged source with the arrays
wanted; another model's output (variant, weights, precision, another module's version) is neither skipped nor
replaced, and the message names the key; ``overwrite`` redoes everything; the last report indexes finished outputs,
trusted by their size without opening them."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

import hear_gear_embed
from hear_gear_embed.embedding.config import KINDS, Kind
from hear_gear_embed.hear.handle import ClipEmbeddings
from hear_gear_embed.hear.identity import ModelIdentity
from hear_gear_embed.io import REPORT_NAME, CorpusReport, FileResult, Job, is_up_to_date, pending_jobs
from hear_gear_embed.io.outputs import decode, save_output, wanted_arrays
from hear_gear_embed.io.resume import check_saved, previous_results, read_report, report_rows

from ..audio_corpus import load, tone
from .spies import opened_outputs

MEL = ModelIdentity("hear_gear_embed.hear.lowlevel_mel", "0.2.0", "none", "", "fp32")
HANDCRAFTED = dataclasses.replace(MEL, module="hear_gear_embed.hear.handcrafted")
BOTH = wanted_arrays(KINDS)


def jobs(folder: Path, *names: str) -> list[Job]:
    """Jobs for new 0.3 s tone files ``folder/in/<name>``, their outputs in ``folder/o``."""
    (folder / "in").mkdir(parents=True, exist_ok=True)
    for name in names:
        soundfile.write(folder / "in" / name, tone(440.0, 0.3, 32000), 32000)
    return [Job(folder / "in" / name, folder / "o" / (name + ".npz")) for name in names]


def write(job: Job, identity: ModelIdentity, kinds: tuple[Kind, ...] = KINDS) -> FileResult:
    """The output of ``job`` as ``identity``'s model would have written it (made-up embeddings)."""
    stamps = np.array([0.0, 50.0])
    embeddings = ClipEmbeddings(np.zeros(4, np.float32) if "scene" in kinds else None,
                                np.zeros((2, 3), np.float32) if "timestamp" in kinds else None,
                                stamps if "timestamp" in kinds else None)
    return save_output(decode(job, 32000), embeddings, identity)


def touch(path: Path) -> None:
    """A new modification time, one second later."""
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))


def test_an_output_of_the_same_model_from_the_unchanged_source_is_up_to_date(tmp_path: Path,
                                                                            caplog: pytest.LogCaptureFixture) -> None:
    a, b, c, d = jobs(tmp_path, "a.wav", "b.wav", "c.wav", "d.wav")
    for job in (a, b, c):
        write(job, MEL)
    assert is_up_to_date(a, MEL, BOTH)
    stored = check_saved(a, MEL, BOTH)
    assert stored is not None and int(stored["source_bytes"]) == a.source.stat().st_size
    assert not is_up_to_date(d, MEL, BOTH)  # no output yet
    # a changed source is embedded again: a new modification time, or new contents
    touch(b.source)
    soundfile.write(c.source, tone(500.0, 0.6, 32000), 32000)
    with caplog.at_level(logging.INFO):
        assert not is_up_to_date(b, MEL, BOTH) and not is_up_to_date(c, MEL, BOTH)
    assert f"{b.source} changed since {b.output} was written; embedding again" in caplog.text
    # an unreadable output is embedded again
    a.output.write_bytes(a.output.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        assert not is_up_to_date(a, MEL, BOTH)
    assert f"{a.output}: unreadable earlier output" in caplog.text


def test_outputs_without_the_kinds_wanted_are_redone(tmp_path: Path) -> None:
    (job,) = jobs(tmp_path, "a.wav")
    write(job, MEL, ("scene",))
    assert set(load(job.output)) & {"timestamp_embeddings", "timestamps_ms"} == set()
    assert is_up_to_date(job, MEL, wanted_arrays(("scene",)))
    assert not is_up_to_date(job, MEL, BOTH) and not is_up_to_date(job, MEL, wanted_arrays(("timestamp",)))
    write(job, MEL)
    assert is_up_to_date(job, MEL, wanted_arrays(("scene",))) and is_up_to_date(job, MEL, BOTH)


def test_outputs_of_another_model_are_neither_skipped_nor_replaced(tmp_path: Path) -> None:
    a, b = jobs(tmp_path, "a.wav", "b.wav")
    write(a, MEL)
    write(b, MEL)
    with pytest.raises(ValueError, match=f"^{a.output} exists with variant 'lowlevel_mel', not 'handcrafted'; pass "
                                         "--overwrite to replace it, or choose another output folder$"):
        is_up_to_date(a, HANDCRAFTED, BOTH)
    before = a.output.read_bytes()
    results: dict[Path, FileResult] = {}
    assert pending_jobs([a, b], HANDCRAFTED, BOTH, False, results) == []
    assert [(r.status, r.output) for r in results.values()] == [("failed", None)] * 2
    assert (results[a.source].error or "").startswith(f"ValueError: {a.output} exists with variant 'lowlevel_mel'")
    assert a.output.read_bytes() == before
    # overwrite: every job is left to do, whatever its output
    results.clear()
    assert pending_jobs([a, b], HANDCRAFTED, BOTH, True, results) == [a, b] and results == {}
    assert pending_jobs([a, b], MEL, BOTH, True, results) == [a, b] and results == {}


def test_weights_are_compared_by_their_hash_or_seed(tmp_path: Path) -> None:
    a, b = jobs(tmp_path, "a.wav", "b.wav")
    tiny = ModelIdentity("hear_gear_embed.hear.tiny_test", "0.2.0", "/cache/tiny.pt", "ab" * 32)
    write(a, tiny)
    # the same checkpoint at another path (another node's cache) is the same model; another checkpoint is not
    assert is_up_to_date(a, dataclasses.replace(tiny, weights="/elsewhere/tiny.pt"), BOTH)
    with pytest.raises(ValueError, match=f"exists with weights_sha256 '{'ab' * 32}', not '{'cd' * 32}'"):
        is_up_to_date(a, dataclasses.replace(tiny, weights_sha256="cd" * 32), BOTH)
    seeded = dataclasses.replace(tiny, weights="random (seed 0)", weights_sha256="")
    write(b, seeded)
    assert is_up_to_date(b, seeded, BOTH)
    with pytest.raises(ValueError, match="exists with weights 'random \\(seed 0\\)', not 'random \\(seed 1\\)'"):
        is_up_to_date(b, dataclasses.replace(seeded, weights="random (seed 1)"), BOTH)


def test_precision_is_recorded_and_never_mixed_in_one_folder(tmp_path: Path) -> None:
    a, b = jobs(tmp_path, "a.wav", "b.wav")
    bf16 = dataclasses.replace(MEL, module="hear_gear_embed.hear.tiny_test", weights="/w.pt", weights_sha256="ab" * 32,
                               precision="bf16")
    fp32 = dataclasses.replace(bf16, precision="fp32")
    write(a, bf16)
    assert str(load(a.output)["precision"]) == "bf16"
    assert is_up_to_date(a, bf16, BOTH)
    with pytest.raises(ValueError, match="exists with precision 'bf16', not 'fp32'"):
        is_up_to_date(a, fp32, BOTH)
    # an output of an earlier version records no precision: it was computed in fp32
    write(b, fp32)
    arrays = {k: v for k, v in load(b.output).items() if k != "precision"}
    np.savez(b.output, **arrays)  # type: ignore[arg-type]
    assert is_up_to_date(b, fp32, BOTH)
    with pytest.raises(ValueError, match="exists with precision 'fp32', not 'bf16'"):
        is_up_to_date(b, bf16, BOTH)


def test_a_module_from_elsewhere_is_recognised_by_its_version_and_code(tmp_path: Path) -> None:
    """For a HEAR module from outside this package, the version (which holds a hash of its code when no release names
    it) is part of the resume rule; this package's variants are recognised by variant, weights and precision."""
    a, b = jobs(tmp_path, "a.wav", "b.wav")
    for job, name in ((a, "tests.gear_fake_module"), (b, "lowlevel_mel")):
        identity = hear_gear_embed.load(name, device="cpu").identity
        write(job, identity)
        assert is_up_to_date(job, identity, ("scene",))
        changed = dataclasses.replace(identity, module_version=identity.module_version + " edited")
        if name == "lowlevel_mel":
            assert is_up_to_date(job, changed, ("scene",))
        else:
            with pytest.raises(ValueError, match="exists with module_version"):
                is_up_to_date(job, changed, ("scene",))


def saved_report(out: Path, identity: ModelIdentity, kinds: tuple[Kind, ...], rows: list[FileResult]) -> dict[str, Any]:
    """The report of a run of ``rows``, saved in ``out`` and read back as the next run reads it."""
    CorpusReport(identity, kinds, "local", rows).save(out)
    report = read_report(out)
    assert report is not None
    return report


def test_the_last_report_indexes_finished_outputs_which_are_skipped_without_opening_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    todo = jobs(tmp_path, "a.wav", "b.wav", "c.wav")
    a, b, c = todo
    rows = [write(job, MEL) for job in todo]
    report = saved_report(tmp_path / "o", MEL, KINDS, [*rows, FileResult("x.wav", "failed", error="no such file")])
    previous = previous_results(report, MEL, KINDS)
    assert sorted(previous) == [str(job.output) for job in todo]  # the finished rows only
    opened = opened_outputs(monkeypatch)
    results: dict[Path, FileResult] = {}
    assert pending_jobs(todo, MEL, BOTH, False, results, previous) == [] and opened == []
    assert [dataclasses.asdict(results[job.source]) for job in todo] == [
        {**dataclasses.asdict(row), "status": "skipped"} for row in rows]
    # a missing output is embedded again, a changed source is opened (and embedded again)
    b.output.unlink()
    touch(c.source)
    results.clear()
    assert pending_jobs(todo, MEL, BOTH, False, results, previous) == [b, c] and opened == ["c.wav"]
    assert [r.status for r in results.values()] == ["skipped"]
    # a report of more kinds is an index for fewer; one of fewer kinds, or of another model, is none
    assert previous_results(report, MEL, ("scene",)) == previous
    assert previous_results(saved_report(tmp_path / "o", MEL, ("scene",), rows), MEL, KINDS) == {}
    assert previous_results(saved_report(tmp_path / "o", HANDCRAFTED, KINDS, rows), MEL, KINDS) == {}
    assert previous_results(None, MEL, KINDS) == {}


def test_an_output_damaged_after_the_report_is_embedded_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report indexes the last run's outputs with their sizes: a truncated or emptied output is not taken for a
    finished one. An output rewritten to the same size is opened when the report does not record sizes (older
    reports), and an unreadable one embedded again."""
    todo = jobs(tmp_path, "a.wav", "b.wav", "c.wav", "d.wav")
    a, b, c, d = todo
    rows = [write(job, MEL) for job in todo]
    report = saved_report(tmp_path / "o", MEL, KINDS, rows)
    data = a.output.read_bytes()
    a.output.write_bytes(data[: len(data) // 2])
    b.output.write_bytes(b"")
    results: dict[Path, FileResult] = {}
    assert pending_jobs(todo, MEL, BOTH, False, results, previous_results(report, MEL, KINDS)) == [a, b]
    # a report without sizes: every output is opened, and a corrupt one is embedded again
    for row in report["results"]:
        del row["output_bytes"]
    (tmp_path / "o" / REPORT_NAME).write_text(json.dumps(report))
    c.output.write_bytes(b"\0" * c.output.stat().st_size)
    opened = opened_outputs(monkeypatch)
    results.clear()
    previous = previous_results(read_report(tmp_path / "o"), MEL, KINDS)
    assert pending_jobs(todo, MEL, BOTH, False, results, previous) == [a, b, c]
    assert sorted(opened) == ["a.wav", "b.wav", "c.wav", "d.wav"]
    (skipped,) = results.values()
    assert skipped.source == str(d.source) and skipped.status == "skipped"
    assert skipped.output_bytes == d.output.stat().st_size and skipped.seconds == pytest.approx(0.3)


def test_rows_of_an_unknown_layout_and_unreadable_reports_are_left_out(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    (job,) = jobs(tmp_path, "a.wav")
    row = write(job, MEL)
    rows = report_rows({"results": [dataclasses.asdict(row), {"path": "elsewhere"}, "not a row",
                                    {"source": "x.wav", "status": "failed"}]})
    assert rows == [row]
    (tmp_path / "o" / REPORT_NAME).write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert read_report(tmp_path / "o") is None
    assert "unreadable earlier report" in caplog.text
    assert read_report(tmp_path / "nowhere") is None
