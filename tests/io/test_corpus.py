"""Embedding folders into ``.npz`` files (:mod:`hear_gear_embed.io.corpus`) directly: the kinds asked for and the
report. The command line around it (mixed files, resuming, batching, failures) is in ``tests/cli/test_embed.py``."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile

from hear_gear_embed import get_variant, load_embedder
from hear_gear_embed.embedding import Embedder
from hear_gear_embed.io import MANIFEST_NAME, REPORT_NAME, STATUSES, embed_files, plan_jobs, read_path_list, record

from ..conftest import tone


@pytest.fixture(scope="module")
def model() -> Embedder:
    return load_embedder(get_variant("lowlevel_mel"), device="cpu")


def test_kinds_select_the_outputs(model: Embedder, tmp_path: Path) -> None:
    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.3).numpy(), 32000)
    report = embed_files([tmp_path / "x.wav"], model, tmp_path / "t", kinds=("timestamp",))
    assert report.kinds == ("timestamp",) and report.count("embedded") == 1
    with np.load(tmp_path / "t" / "x.wav.npz") as saved:
        assert "scene" not in saved.files and saved["timestamp_embeddings"].shape == (7, model.timestamp_embedding_size)
        np.testing.assert_array_equal(saved["timestamps_ms"], 50.0 * np.arange(7, dtype=np.float32))
    saved_report = json.loads((tmp_path / "t" / REPORT_NAME).read_text())
    assert saved_report["kinds"] == ["timestamp"] and "kind" not in saved_report
    # Both, given in any order, are stored in the order of KINDS.
    assert embed_files([tmp_path / "x.wav"], model, tmp_path / "b", kinds=("timestamp", "scene")).kinds == ("scene", "timestamp")
    assert embed_files([tmp_path / "x.wav"], model, tmp_path / "d").kinds == ("scene", "timestamp")


@pytest.mark.parametrize("kinds", [(), ("frames",), "scene", ("both",)])
def test_bad_kinds_are_refused(model: Embedder, tmp_path: Path, kinds: object) -> None:
    with pytest.raises(ValueError, match="kinds must be a non-empty selection of \\('scene', 'timestamp'\\)"):
        embed_files([tmp_path], model, tmp_path / "o", kinds=kinds)  # type: ignore[arg-type]
    assert not (tmp_path / "o").exists()


def test_read_path_list_takes_paths_and_file_uris(tmp_path: Path) -> None:
    (tmp_path / "list.txt").write_text("# a comment\n\n  a/b.wav  \nfile:///data/with%20space.flac\n/abs/c.ogg\ntake:2.wav\n")
    assert read_path_list(tmp_path / "list.txt") == ["a/b.wav", "/data/with space.flac", "/abs/c.ogg", "take:2.wav"]
    (tmp_path / "bad.txt").write_text("a.wav\ngs://bucket/b.wav\n")
    with pytest.raises(ValueError, match=r"bad.txt, line 2: 'gs://bucket/b.wav' is a gs:// URI.*mount"):
        read_path_list(tmp_path / "bad.txt")


def test_plan_jobs_with_a_root_mirrors_paths_below_it(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for name in ("x/a.wav", "y/a.wav", "z.flac"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(root / name, tone(440.0, 0.1).numpy(), 32000)
    outside = tmp_path / "outside.wav"
    soundfile.write(outside, tone(440.0, 0.1).numpy(), 32000)
    out = tmp_path / "o"
    jobs, failures = plan_jobs(["x/a.wav", str(root / "y" / "a.wav"), "z.flac", "missing.wav", str(outside), "x/a.wav"], out,
                               root=root)
    assert [(j.source.relative_to(root), j.output) for j in jobs] == [
        (Path("x/a.wav"), out / "x" / "a.wav.npz"), (Path("y/a.wav"), out / "y" / "a.wav.npz"),
        (Path("z.flac"), out / "z.flac.npz")]
    assert [(Path(f.source).name, f.error) for f in failures] == [
        ("missing.wav", "no such file or folder"), ("outside.wav", f"not inside the root folder {root}")]
    # without a root, the same names from two folders collide, and the second is refused with the way out
    jobs, failures = plan_jobs([root / "x" / "a.wav", root / "y" / "a.wav"], out)
    assert len(jobs) == 1 and "--list-root" in (failures[0].error or "")


def test_manifest_holds_one_row_per_input_in_order(model: Embedder, tmp_path: Path) -> None:
    soundfile.write(tmp_path / "b.wav", tone(440.0, 0.3).numpy(), 32000)
    (tmp_path / "a.wav").write_bytes(b"not audio")
    report = embed_files([tmp_path / "b.wav", tmp_path / "a.wav", tmp_path / "gone.wav"], model, tmp_path / "o")
    lines = [json.loads(line) for line in (tmp_path / "o" / MANIFEST_NAME).read_text().splitlines()]
    assert [(Path(r["source"]).name, r["status"]) for r in lines] == [("gone.wav", "failed"), ("b.wav", "embedded"),
                                                                      ("a.wav", "failed")]
    assert lines == json.loads((tmp_path / "o" / REPORT_NAME).read_text())["results"]
    assert set(lines[1]) == {"source", "status", "output", "error", "seconds", "source_bytes", "source_mtime_ns",
                             "output_bytes"}
    assert lines[1]["output_bytes"] == (tmp_path / "o" / "b.wav.npz").stat().st_size
    assert lines[1]["source_bytes"] == (tmp_path / "b.wav").stat().st_size and lines[2]["source_bytes"] is None
    assert {r.status for r in report.results} <= set(STATUSES)


def test_outputs_get_the_permissions_of_new_files(model: Embedder, tmp_path: Path) -> None:
    """Not the owner-only mode of the temporary file they are written through: others read them on shared storage."""
    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.3).numpy(), 32000)
    embed_files([tmp_path / "x.wav"], model, tmp_path / "o")
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("x.wav.npz", REPORT_NAME, MANIFEST_NAME):
        assert stat.S_IMODE((tmp_path / "o" / name).stat().st_mode) == 0o666 & ~umask, name


def test_a_second_run_skips_what_the_last_report_lists_without_opening_outputs(
        model: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("a", "b", "c"):
        soundfile.write(tmp_path / f"{name}.wav", tone(440.0, 0.3).numpy(), 32000)
    inputs = [tmp_path / f"{name}.wav" for name in ("a", "b", "c")]
    out = tmp_path / "o"
    assert embed_files(inputs, model, out).count("embedded") == 3
    opened: list[str] = []
    original = record._saved_metadata

    def spy(output: Path) -> object:
        opened.append(output.name.removesuffix(".npz"))
        return original(output)

    monkeypatch.setattr(record, "_saved_metadata", spy)
    assert embed_files(inputs, model, out).count("skipped") == 3 and opened == []
    # the report of that second run indexes the files as well; a changed source is opened, a missing output embedded
    (out / "b.wav.npz").unlink()
    os.utime(inputs[2], ns=(inputs[2].stat().st_atime_ns, inputs[2].stat().st_mtime_ns + 10**9))
    report = embed_files(inputs, model, out)
    assert [r.status for r in report.results] == ["skipped", "embedded", "embedded"] and opened == ["c.wav"]
    # a report of more kinds is an index for fewer; one of fewer kinds, or of another model, is none
    opened.clear()
    embed_files(inputs, model, out, kinds=("scene",))
    assert opened == []
    embed_files(inputs, model, out)
    assert sorted(opened) == ["a.wav", "b.wav", "c.wav"]
    other = load_embedder(get_variant("handcrafted"), device="cpu")
    assert all(r.status == "failed" and "exists with variant 'lowlevel_mel'" in (r.error or "")
               for r in embed_files(inputs, other, out).results)
