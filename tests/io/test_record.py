"""The record of an output folder (:mod:`hear_gear_embed.io.record`): outputs trusted only as verified, one run at a
time, finished files of earlier runs kept in the report, outputs written before an interruption found, a report that
cannot be written, and the resume rule for other HEAR modules. Exercised through the local engine; the Ray engine
shares every piece (``tests/io/test_ray_engine.py``)."""

from __future__ import annotations

import errno
import json
import logging
from pathlib import Path

import pytest
import soundfile

from hear_gear_embed import get_variant, load_embedder
from hear_gear_embed.cli import main
from hear_gear_embed.embedding import Embedder
from hear_gear_embed.io import MANIFEST_NAME, REPORT_NAME, Job, ReportWriteError, corpus, embed_files, is_up_to_date, record
from hear_gear_embed.util.files import FolderBusyError, folder_lock

from ..conftest import tone


@pytest.fixture(scope="module")
def model() -> Embedder:
    return load_embedder(get_variant("lowlevel_mel"), device="cpu")


def clips(folder: Path, *names: str, seconds: float = 0.3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        soundfile.write(folder / name, tone(440.0, seconds).numpy(), 32000)
    return [folder / name for name in names]


def statuses(out: Path) -> dict[str, str]:
    return {Path(r["source"]).name: r["status"] for r in json.loads((out / REPORT_NAME).read_text())["results"]}


def test_an_output_damaged_after_the_report_is_embedded_again(model: Embedder, tmp_path: Path) -> None:
    """The report indexes the last run's outputs with their sizes: a truncated or emptied output is not taken for a
    finished one. An output rewritten to the same size is opened when the report does not record sizes (older
    reports), and an unreadable one embedded again."""
    inputs = clips(tmp_path / "in", "a.wav", "b.wav", "c.wav")
    out = tmp_path / "o"
    embed_files(inputs, model, out)
    data = (out / "a.wav.npz").read_bytes()
    (out / "a.wav.npz").write_bytes(data[: len(data) // 2])
    (out / "b.wav.npz").write_bytes(b"")
    report = embed_files(inputs, model, out)
    assert [r.status for r in report.results] == ["embedded", "embedded", "skipped"]
    # a report without sizes: every output is opened, and a corrupt one is embedded again
    saved = json.loads((out / REPORT_NAME).read_text())
    for row in saved["results"]:
        del row["output_bytes"]
    (out / REPORT_NAME).write_text(json.dumps(saved))
    size = (out / "c.wav.npz").stat().st_size
    (out / "c.wav.npz").write_bytes(b"\0" * size)
    report = embed_files(inputs, model, out)
    assert [r.status for r in report.results] == ["skipped", "skipped", "embedded"]
    assert all(r.output_bytes == Path(str(r.output)).stat().st_size for r in report.results)


def test_a_second_run_into_a_busy_folder_is_refused(model: Embedder, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    inputs = clips(tmp_path / "in", "a.wav")
    out = tmp_path / "o"
    with folder_lock(out, record.LOCK_NAME, "hear-gear embed run"):
        with pytest.raises(FolderBusyError, match=r"in use by another hear-gear embed run \(hear-gear embed run, pid \d+"):
            embed_files(inputs, model, out)
        assert main(["embed", str(inputs[0]), "--variant", "lowlevel_mel", "--out", str(out), "--no-progress"]) == 2
        assert "in use by another hear-gear embed run" in capsys.readouterr().err
        assert not list(out.glob("*.npz")) and not (out / REPORT_NAME).exists()
    assert embed_files(inputs, model, out).count("embedded") == 1  # the lock dies with its holder


def test_runs_of_other_inputs_keep_each_others_finished_files_in_the_record(model: Embedder, tmp_path: Path,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    first = clips(tmp_path / "in", "a.wav", "b.wav")
    second = clips(tmp_path / "in", "c.wav")
    out = tmp_path / "o"
    embed_files(first, model, out)
    report = embed_files(second, model, out)
    assert statuses(out) == {"c.wav": "embedded", "a.wav": "kept", "b.wav": "kept"}
    assert report.count("kept") == 2 and "2 kept from earlier runs" in report.summary() and not report.failed
    manifest = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert [Path(r["source"]).name for r in manifest] == ["c.wav", "a.wav", "b.wav"]
    # an output gone since is no longer listed; the rows carry over from run to run
    (out / "a.wav.npz").unlink()
    embed_files(second, model, out)
    assert statuses(out) == {"c.wav": "skipped", "b.wav": "kept"}
    # another model's run does not list the first model's outputs, and says so
    other = load_embedder(get_variant("handcrafted"), device="cpu")
    with caplog.at_level(logging.WARNING):
        embed_files(clips(tmp_path / "in", "d.wav"), other, out)
    assert statuses(out) == {"d.wav": "embedded"}
    assert "listed 2 finished outputs of another model or other kinds" in caplog.text


def test_outputs_written_before_an_interruption_are_reported_as_embedded(model: Embedder, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The local engine records results per batch: an interruption inside a batch would leave files it wrote listed
    as not processed."""
    inputs = clips(tmp_path / "in", "a.wav", "b.wav", "c.wav")
    original, calls = corpus.save_output, []

    def interrupted(*args: object) -> record.FileResult:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(corpus, "save_output", interrupted)
    out = tmp_path / "o"
    with pytest.raises(KeyboardInterrupt):
        embed_files(inputs, model, out, batch_size=3)
    rows = json.loads((out / REPORT_NAME).read_text())["results"]
    assert [r["status"] for r in rows] == ["embedded", "embedded", "failed"]
    assert rows[2]["error"] == record.NOT_PROCESSED
    assert rows[0]["seconds"] == pytest.approx(0.3) and rows[0]["output_bytes"] == (out / "a.wav.npz").stat().st_size


def test_a_report_that_cannot_be_written_is_an_error_after_the_outputs(model: Embedder, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    inputs = clips(tmp_path / "in", "a.wav")
    original = record.write_atomic

    def disk_full(path: Path, data: object) -> None:
        if path.name == REPORT_NAME:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(path, data)  # type: ignore[arg-type]

    monkeypatch.setattr(record, "write_atomic", disk_full)
    out = tmp_path / "o"
    with pytest.raises(ReportWriteError, match=f"cannot write {out / REPORT_NAME}: No space left on device") as caught:
        embed_files(inputs, model, out)
    assert caught.value.report.count("embedded") == 1 and (out / "a.wav.npz").is_file()
    assert len((out / MANIFEST_NAME).read_text().splitlines()) == 1  # the manifest is written all the same
    assert main(["embed", str(inputs[0]), "--variant", "lowlevel_mel", "--out", str(out), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "0 embedded" in captured.out and "1 already done" in captured.out
    assert "No space left on device" in captured.err and "run the same command again" in captured.err


def test_a_module_from_elsewhere_is_recognised_by_its_version_and_code(tmp_path: Path) -> None:
    """For a HEAR module from outside this package, the version (which holds a hash of its code when no release names
    it) is part of the resume rule; this package's variants are recognised by variant, weights and precision."""
    from hear_gear_embed.io import ModelSpec

    source = clips(tmp_path / "in", "a.wav")[0]
    out = tmp_path / "o"
    for name in ("tests.gear_fake_module", "lowlevel_mel"):
        spec = ModelSpec(name, device="cpu")
        model = spec.load()
        embed_files([source], model, out / name)
        job = Job(source, out / name / "a.wav.npz")
        assert is_up_to_date(job, model.identity, ("scene",))
        changed = {**model.identity, "module_version": model.identity["module_version"] + " edited"}
        if name == "lowlevel_mel":
            assert is_up_to_date(job, changed, ("scene",))
        else:
            with pytest.raises(ValueError, match="exists with module_version"):
                is_up_to_date(job, changed, ("scene",))
