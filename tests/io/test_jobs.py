"""The inputs of a corpus run (:mod:`hear_gear_embed.io.jobs`): lists of paths (:func:`read_path_list`) and the planning
of one job per audio file (:func:`plan_jobs`): outputs mirroring folders or a root, missing inputs, name clashes, and
folders reached through links."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import soundfile

from hear_gear_embed.io import plan_jobs, read_path_list

from ..conftest import tone


def wav(path: Path, seconds: float = 0.1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, tone(440.0, seconds).numpy(), 32000)
    return path


def test_read_path_list_takes_paths_and_file_uris(tmp_path: Path) -> None:
    (tmp_path / "list.txt").write_text("# a comment\n\n  a/b.wav  \nfile:///data/with%20space.flac\n/abs/c.ogg\ntake:2.wav\n")
    assert read_path_list(tmp_path / "list.txt") == ["a/b.wav", "/data/with space.flac", "/abs/c.ogg", "take:2.wav"]
    (tmp_path / "bad.txt").write_text("a.wav\ngs://bucket/b.wav\n")
    with pytest.raises(ValueError, match=r"bad.txt, line 2: 'gs://bucket/b.wav' is a gs:// URI.*mount"):
        read_path_list(tmp_path / "bad.txt")


def test_plan_jobs_with_a_root_mirrors_paths_below_it(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for name in ("x/a.wav", "y/a.wav", "z.flac"):
        wav(root / name)
    outside = wav(tmp_path / "outside.wav")
    out = tmp_path / "o"
    jobs, failures = plan_jobs(["x/a.wav", str(root / "y" / "a.wav"), "z.flac", "missing.wav", str(outside), "x/a.wav"], out,
                               root=root)
    assert [(j.source.relative_to(root), j.output) for j in jobs] == [
        (Path("x/a.wav"), out / "x" / "a.wav.npz"), (Path("y/a.wav"), out / "y" / "a.wav.npz"),
        (Path("z.flac"), out / "z.flac.npz")]
    assert [(Path(f.source).name, f.error) for f in failures] == [
        ("missing.wav", "no such file or folder"), ("outside.wav", f"not inside the root folder {root}")]
    assert all(f.status == "failed" for f in failures)
    # without a root, the same names from two folders collide, and the second is refused with the way out
    jobs, failures = plan_jobs([root / "x" / "a.wav", root / "y" / "a.wav"], out)
    assert len(jobs) == 1 and "--list-root" in (failures[0].error or "")


def test_folders_reached_through_links_are_planned_once_and_loops_are_left(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Outputs of a folder given keep the paths below it, the links' names included."""
    outside = tmp_path / "elsewhere"
    wav(outside / "linked.wav")
    root = tmp_path / "audio"
    wav(root / "sub" / "own.wav")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "twice").symlink_to(outside, target_is_directory=True)
    out = tmp_path / "o"
    with caplog.at_level(logging.WARNING):
        jobs, failures = plan_jobs([root], out)
    assert not failures
    assert sorted(str(j.output.relative_to(out)) for j in jobs) == ["link/linked.wav.npz", "sub/own.wav.npz"]
    assert f"{root / 'sub' / 'loop'}: not searched, a link to {root}" in caplog.text
    assert f"{root / 'twice'}: not searched, a link to {root / 'link'}" in caplog.text
