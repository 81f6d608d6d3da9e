"""The Ray engine (:mod:`hear_gear_embed.io.ray_engine`) on a local Ray of 2 CPUs: equal outputs, report and
manifest to the local engine's on a mixed folder with broken files, resuming without scheduling finished files,
a worker killed mid-batch, ``--from-list`` with ``--list-root``, ``--module``, a job lost to workers that refuse to
start, an interruption, placements the cluster cannot hold, and the Dataset API on file bytes. The stages in process
are tested in ``test_ray_stages.py``, the cluster checks without Ray in ``test_ray_cluster.py``."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import ray

import hear_gear_embed
from hear_gear_embed.cli import main
from hear_gear_embed.embedding.config import KINDS
from hear_gear_embed.hear.handle import EmbeddingModel
from hear_gear_embed.hear.spec import ModelSpec
from hear_gear_embed.io import MANIFEST_NAME, REPORT_NAME, ray_engine, read_audio
from hear_gear_embed.io.outputs import output_arrays
from hear_gear_embed.io.ray_engine import embed_dataset, embed_files_ray

from ..audio_corpus import BAD_FILES, GOOD_FILES, load, write_corpus

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local Ray of 2 CPUs for the module's tests; yields the kill marker of :mod:`tests.ray_fault_module`.

    Ray's temporary folder is short (its socket paths must stay under 108 characters) and removed afterwards;
    token auth is off, so that nothing is written to the home folder."""
    marker = tmp_path_factory.mktemp("fault") / "killed"
    temp = tempfile.mkdtemp(prefix="hge-ray-", dir="/tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp, object_store_memory=512 * 2**20,
                 logging_level="WARNING", configure_logging=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "HGE_TEST_KILL_MARKER": str(marker)}})
        try:
            yield marker
        finally:
            ray.shutdown()
            shutil.rmtree(temp, ignore_errors=True)


def embed(*args: str) -> int:
    return main(["embed", *args, "--no-progress"])


def outputs(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    return {str(p.relative_to(folder)): load(p) for p in sorted(folder.rglob("*.npz"))}


def rows(folder: Path) -> list[tuple[object, ...]]:
    """The report's rows, with outputs relative to ``folder``, as the manifest holds them too."""
    report = json.loads((folder / REPORT_NAME).read_text())
    manifest = [json.loads(line) for line in (folder / MANIFEST_NAME).read_text().splitlines()]
    assert manifest == report["results"]
    return [(r["source"], r["status"], r["output"] and str(Path(r["output"]).relative_to(folder)), r["error"], r["seconds"])
            for r in manifest]


EMBEDDING_KEYS = ("scene", "timestamp_embeddings")
"""The arrays a network computes; every other array of an output (timestamps, metadata) is exact arithmetic or text."""
ENGINE_TOLERANCE = 1e-5
"""How far the two engines' embeddings may differ, relative to each array's largest magnitude. A Ray actor computes
with --cpus-per-worker torch threads, the local engine with every core, and on some CPUs (Intel's MKL paths) the
reduction order follows the thread count: differences up to 3e-9 were measured for ``handcrafted`` on an Intel Xeon,
5e-7 of the largest magnitude for ``passt_base`` with 1 against 2 threads on MKL's Intel code path (docs/cluster.md).
A wrong result is off by orders of magnitude more."""


def assert_same_array(actual: np.ndarray, expected: np.ndarray, key: str, what: str) -> None:
    """Embeddings within :data:`ENGINE_TOLERANCE` of ``expected``'s largest magnitude, of the same dtype and shape; any
    other array exactly equal."""
    if key not in EMBEDDING_KEYS:
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    assert actual.dtype == expected.dtype and actual.shape == expected.shape, what
    scale = float(np.abs(expected).max(initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=ENGINE_TOLERANCE * scale, err_msg=what)


def assert_same_outputs(local: Path, remote: Path) -> None:
    a, b = outputs(local), outputs(remote)
    assert a.keys() == b.keys() and a
    for name in a:
        assert a[name].keys() == b[name].keys()
        for key in a[name]:
            assert_same_array(b[name][key], a[name][key], key, f"{name}: {key}")
    assert rows(local) == rows(remote)
    assert not list(remote.rglob("*.tmp"))


def test_ray_engine_equals_local_engine_and_resumes(tmp_path: Path, ray_local: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    corpus = write_corpus(tmp_path / "audio")
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert embed(str(corpus), "--variant", "handcrafted", "--out", str(local)) == 1
    assert embed(str(corpus), "--variant", "handcrafted", "--out", str(remote), "--engine", "ray", "--workers", "1:2") == 1
    err = capsys.readouterr().err
    for name, reason in BAD_FILES.items():
        assert f"failed: {corpus / name}: " in err and reason in err
    assert_same_outputs(local, remote)
    assert json.loads((remote / REPORT_NAME).read_text())["engine"] == "ray"

    # A second run checks every output before scheduling anything: with the broken files gone, nothing is left
    # for the cluster. A changed source alone is scheduled again. (The model as a handle, then by name.)
    scheduled: list[list[str]] = []
    original = ray_engine._embed_dataset

    def spy(dataset: ray.data.Dataset, *args: object) -> ray.data.Dataset:
        scheduled.append(sorted(Path(row["path"]).name for row in dataset.take_all()))
        return original(dataset, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ray_engine, "_embed_dataset", spy)
    for name in BAD_FILES:
        (corpus / name).unlink()
    before = {p: p.stat().st_mtime_ns for p in remote.rglob("*.npz")}
    report = embed_files_ray([corpus], hear_gear_embed.load("handcrafted", device="cpu"), remote)
    assert scheduled == [] and report.count("embedded") == 0 and not report.failed and report.engine == "ray"
    assert {r[1] for r in rows(remote)} == {"skipped"} and len(rows(remote)) == len(GOOD_FILES)
    changed = corpus / "sub" / "d_48k_mono.flac"
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    report = embed_files_ray([corpus], "handcrafted", remote)
    assert scheduled == [[changed.name]] and report.count("embedded") == 1 and not report.failed
    after = {p: p.stat().st_mtime_ns for p in remote.rglob("*.npz")}
    assert [p.name for p in before if before[p] != after[p]] == [changed.name + ".npz"]


def test_killed_worker_is_retried_and_leaves_no_partial_file(tmp_path: Path, ray_local: Path) -> None:
    """A HEAR module from outside the package whose process dies in the middle of its first batch; the inputs come
    from a list (relative paths below --list-root, a file:// URI, a comment, a missing file)."""
    corpus = write_corpus(tmp_path / "audio")
    names = [name for name in GOOD_FILES]
    listing = ["# inputs", names[0], "", f"file://{corpus / names[1]}", *names[2:], "missing.wav"]
    (tmp_path / "inputs.txt").write_text("\n".join(listing) + "\n")
    common = ["--from-list", str(tmp_path / "inputs.txt"), "--list-root", str(corpus), "--module", "tests.ray_fault_module"]
    assert embed(*common, "--out", str(tmp_path / "local")) == 1
    assert not ray_local.exists()
    assert embed(*common, "--out", str(tmp_path / "ray"), "--engine", "ray") == 1
    assert ray_local.exists(), "the worker was not killed: the test proves nothing"
    assert_same_outputs(tmp_path / "local", tmp_path / "ray")
    statuses = {Path(str(r[0])).name: r[1] for r in rows(tmp_path / "ray")}
    assert statuses == {**{Path(n).name: "embedded" for n in names}, "missing.wav": "failed"}
    saved = load(tmp_path / "ray" / (names[-1] + ".npz"))  # outputs keep the folders below the root
    assert str(saved["module"]) == "tests.ray_fault_module" and str(saved["weights"]) == "module default"
    assert int(saved["sample_rate"]) == 16000


def test_a_lost_job_fails_its_unfinished_files_with_the_reason(tmp_path: Path, ray_local: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Workers that refuse to start (they see other weights than the driver planned for) end the Ray job: the
    command reports every file as not processed, with the reason, and exits 1 instead of losing them silently."""
    corpus = write_corpus(tmp_path / "audio")
    planned = ray_engine.planned_model

    def elsewhere(model: EmbeddingModel | ModelSpec | str) -> ray_engine.Planned:
        source, identity, rate = planned(model)
        return source, dataclasses.replace(identity, weights="elsewhere.pt"), rate

    monkeypatch.setattr(ray_engine, "planned_model", elsewhere)
    out = tmp_path / "ray"
    assert embed(str(corpus / "a_16k_mono.wav"), "--variant", "handcrafted", "--out", str(out), "--engine", "ray") == 1
    (row,) = json.loads((out / REPORT_NAME).read_text())["results"]
    assert row["status"] == "failed" and row["error"].startswith("not processed (the run stopped early): the Ray job failed")
    assert "another model than the driver planned for" in capsys.readouterr().err
    assert not list(out.rglob("*.npz"))


def test_dataset_api_on_file_bytes_returns_the_embeddings(tmp_path: Path, ray_local: Path) -> None:
    corpus = write_corpus(tmp_path / "audio")
    files = [corpus / name for name in GOOD_FILES] + [corpus / "corrupt.wav"]
    dataset = ray.data.read_binary_files([str(f) for f in files], include_paths=True)
    results = {Path(r["path"]).name: r for r in embed_dataset(dataset, "lowlevel_mel").take_all()}
    assert results.keys() == {f.name for f in files}
    model = hear_gear_embed.load("lowlevel_mel", device="cpu")
    for path in files[:-1]:
        row = results[path.name]
        assert row["status"] == "embedded" and row["error"] == "" and row["output"] == ""
        expected = output_arrays(model.embed([read_audio(path, model.sample_rate).samples], KINDS)[0])
        for key, value in expected.items():
            assert_same_array(row[key], value, key, f"{path.name}: {key}")
    bad = results["corrupt.wav"]
    assert bad["status"] == "failed" and "not readable as audio" in bad["error"] and np.isnan(bad["seconds"])
    assert bad["scene"].size == 0 and bad["timestamp_embeddings"].size == 0  # empty, never NaN


def test_files_written_before_an_interruption_are_reported_as_embedded(tmp_path: Path, ray_local: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Results reach the driver 16 rows at a time, after the actors wrote the outputs: an interruption in between must
    not report written files as not processed. Here every output is written, then the run is interrupted before the
    driver sees a row."""
    corpus = write_corpus(tmp_path / "audio")
    original = ray_engine._batches

    def interrupted(rows: ray.data.Dataset, stall_timeout_s: float) -> Iterator[dict[str, np.ndarray]]:
        for _ in original(rows, stall_timeout_s):
            pass
        raise KeyboardInterrupt
        yield {}

    monkeypatch.setattr(ray_engine, "_batches", interrupted)
    out = tmp_path / "ray"
    assert embed(str(corpus), "--variant", "handcrafted", "--out", str(out), "--engine", "ray") == 130
    report = {Path(r["source"]).name: r for r in json.loads((out / REPORT_NAME).read_text())["results"]}
    assert {name: r["status"] for name, r in report.items() if name in BAD_FILES} == dict.fromkeys(BAD_FILES, "failed")
    assert {Path(name).name: report[Path(name).name]["status"] for name in GOOD_FILES} == {
        Path(name).name: "embedded" for name in GOOD_FILES}
    assert report["a_16k_mono.wav"]["seconds"] == pytest.approx(1.3)


@pytest.mark.parametrize(("option", "message"), [
    (["--gpus-per-worker", "1"], "no node of the Ray cluster can hold one model actor: 1 CPUs and 1 GPUs per model actor"),
    (["--cpus-per-worker", "3"], "no node of the Ray cluster can hold one model actor: 3 CPUs per model actor"),
    (["--workers", "3:3"], "can hold 2 model actors of 1 CPUs per model actor at once, fewer than --workers asks"),
    (["--workers", "2:2"], "2 model actors of 1 CPUs take all 2 CPUs of the Ray cluster, and decoding needs at least one"),
])
def test_placements_the_cluster_cannot_hold_fail_before_scheduling(tmp_path: Path, ray_local: Path, option: list[str],
                                                                  message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Ray would wait for these actors without end."""
    corpus = write_corpus(tmp_path / "audio")
    out = tmp_path / "ray"
    assert embed(str(corpus / "a_16k_mono.wav"), "--variant", "handcrafted", "--out", str(out), "--engine", "ray",
                 *option) == 2
    assert message in capsys.readouterr().err
    assert not list(out.rglob("*.npz"))
