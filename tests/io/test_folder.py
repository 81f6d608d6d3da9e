"""One run's hold on its output folder (:mod:`hear_gear_embed.io.folder`): the lock that keeps a second run out, the
record that loses nothing (finished files of earlier runs kept in the report, outputs written before a stop found, the
reason of a stop), and a report that cannot be written. Runs go through the local engine where several are needed; the
Ray engine holds its folder the same way (``tests/io/test_ray_engine.py``)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest
import soundfile

import hear_gear_embed
from hear_gear_embed.embedding.config import KINDS
from hear_gear_embed.hear.handle import EmbeddingModel
from hear_gear_embed.io import MANIFEST_NAME, REPORT_NAME, FileResult, Job, ReportWriteError, embed_files
from hear_gear_embed.io.folder import LOCK_NAME, NOT_PROCESSED, OutputFolder
from hear_gear_embed.io.outputs import decode, embed_and_save
from hear_gear_embed.util.files import FolderBusyError, folder_lock

from ..conftest import tone
from .spies import report_disk_full


@pytest.fixture(scope="module")
def model() -> EmbeddingModel:
    return hear_gear_embed.load("lowlevel_mel", device="cpu")


def clips(folder: Path, *names: str, seconds: float = 0.3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        soundfile.write(folder / name, tone(440.0, seconds).numpy(), 32000)
    return [folder / name for name in names]


def statuses(out: Path) -> dict[str, str]:
    return {Path(r["source"]).name: r["status"] for r in json.loads((out / REPORT_NAME).read_text())["results"]}


def test_a_second_run_into_a_busy_folder_is_refused(model: EmbeddingModel, tmp_path: Path) -> None:
    inputs = clips(tmp_path / "in", "a.wav")
    out = tmp_path / "o"
    with folder_lock(out, LOCK_NAME, "hear-gear embed run"):
        with pytest.raises(FolderBusyError, match=r"in use by another hear-gear embed run \(hear-gear embed run, pid \d+"):
            embed_files(inputs, model, out)
        assert not list(out.glob("*.npz")) and not (out / REPORT_NAME).exists()
    assert embed_files(inputs, model, out).count("embedded") == 1  # the lock dies with its holder


def test_runs_of_other_inputs_keep_each_others_finished_files_in_the_record(model: EmbeddingModel, tmp_path: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    first = clips(tmp_path / "in", "a.wav", "b.wav")
    second = clips(tmp_path / "in", "c.wav")
    out = tmp_path / "o"
    embed_files(first, model, out)
    run = embed_files(second, model, out)
    assert statuses(out) == {"c.wav": "embedded", "a.wav": "kept", "b.wav": "kept"}
    assert run.count("kept") == 2 and "2 kept from earlier runs" in run.summary() and not run.failed
    manifest = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert [Path(r["source"]).name for r in manifest] == ["c.wav", "a.wav", "b.wav"]
    # an output gone since is no longer listed; the rows carry over from run to run
    (out / "a.wav.npz").unlink()
    embed_files(second, model, out)
    assert statuses(out) == {"c.wav": "skipped", "b.wav": "kept"}
    # another model's run does not list the first model's outputs, and says so
    other = hear_gear_embed.load("lowlevel_cqt", device="cpu")
    with caplog.at_level(logging.WARNING):
        embed_files(clips(tmp_path / "in", "d.wav"), other, out)
    assert statuses(out) == {"d.wav": "embedded"}
    assert "listed 2 finished outputs of another model or other kinds" in caplog.text


def test_a_stopped_run_finds_what_it_wrote_and_records_why(model: EmbeddingModel, tmp_path: Path) -> None:
    """Jobs without a result when the run stops: an up-to-date output written by this run is ``embedded``, one that was
    there before ``skipped``, and the others are not processed, with the reason the engine gave."""
    a, b, c = clips(tmp_path / "in", "a.wav", "b.wav", "c.wav")
    out = tmp_path / "o"
    embed_files([a], model, out)
    todo = [Job(source, out / (source.name + ".npz")) for source in (a, b, c)]
    missing = FileResult(str(tmp_path / "gone.wav"), "failed", error="no such file or folder")
    with pytest.raises(KeyboardInterrupt), OutputFolder(out, model.identity, KINDS, "local") as folder:
        folder.plan(todo, [missing])
        assert folder.pending(False) == todo[1:]
        folder.results.clear()  # as if the run stopped before recording a's result
        embed_and_save(model, [decode(todo[1], model.sample_rate)], KINDS)  # written, not recorded
        # file times may be coarser than the clock that marks the run's start (a kernel tick): stamp it as now
        now = time.time_ns()
        os.utime(todo[1].output, ns=(now, now))
        folder.why_stopped = "the Ray job failed (simulated)"
        raise KeyboardInterrupt
    rows = json.loads((out / REPORT_NAME).read_text())["results"]
    assert [(Path(r["source"]).name, r["status"]) for r in rows] == [
        ("gone.wav", "failed"), ("a.wav", "skipped"), ("b.wav", "embedded"), ("c.wav", "failed")]
    assert rows[3]["error"] == f"{NOT_PROCESSED}: the Ray job failed (simulated)"
    assert rows[2]["seconds"] == pytest.approx(0.3) and rows[2]["output_bytes"] == (out / "b.wav.npz").stat().st_size
    assert rows[1]["source_bytes"] == a.stat().st_size
    assert folder.report.engine == "local" and folder.report.wall_seconds > 0
    assert embed_files([a], model, out).count("skipped") == 1  # the lock was released


def test_a_report_that_cannot_be_written_is_an_error_after_the_outputs(model: EmbeddingModel, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    inputs = clips(tmp_path / "in", "a.wav")
    report_disk_full(monkeypatch)
    out = tmp_path / "o"
    with pytest.raises(ReportWriteError, match=f"cannot write {out / REPORT_NAME}: No space left on device.*run the same "
                                               "command again") as caught:
        embed_files(inputs, model, out)
    assert caught.value.report.count("embedded") == 1 and (out / "a.wav.npz").is_file()
    assert len((out / MANIFEST_NAME).read_text().splitlines()) == 1  # the manifest is written all the same
    # the next run finds the output without a report; when the run itself fails, its error is the one raised
    with caplog.at_level(logging.ERROR), pytest.raises(KeyboardInterrupt), \
            OutputFolder(out, model.identity, KINDS, "local") as folder:
        folder.plan([Job(inputs[0], out / "a.wav.npz")], [])
        assert folder.pending(False) == [] and folder.results[inputs[0]].status == "skipped"
        raise KeyboardInterrupt
    assert f"cannot write {out / REPORT_NAME}: No space left on device" in caplog.text
