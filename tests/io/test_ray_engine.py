"""The Ray engine (:mod:`hear_gear_embed.io.ray_engine`) on a local Ray of 2 CPUs: equal outputs, report and
manifest to the local engine's on a mixed folder with broken files, resuming without scheduling finished files,
a worker killed mid-batch, ``--from-list`` with ``--list-root``, ``--module``, and the Dataset API on file bytes.
The stages' logic is also tested in process, without Ray."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import ray

from hear_gear_embed.cli import main
from hear_gear_embed.embedding.config import KINDS
from hear_gear_embed.io import MANIFEST_NAME, REPORT_NAME, ModelSpec, ray_engine, read_audio
from hear_gear_embed.io.ray_engine import (
    RESULT_COLUMNS,
    RayOptions,
    _decode_batch,
    _EmbedActor,
    driver_identity,
    embed_dataset,
    parse_workers,
)

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
    # for the cluster. A changed source alone is scheduled again.
    scheduled: list[list[str]] = []
    original = ray_engine.embed_dataset

    def spy(dataset: ray.data.Dataset, *args: object, **kwargs: object) -> ray.data.Dataset:
        scheduled.append(sorted(Path(row["path"]).name for row in dataset.take_all()))
        return original(dataset, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ray_engine, "embed_dataset", spy)
    for name in BAD_FILES:
        (corpus / name).unlink()
    before = {p: p.stat().st_mtime_ns for p in remote.rglob("*.npz")}
    assert embed(str(corpus), "--variant", "handcrafted", "--out", str(remote), "--engine", "ray") == 0
    assert scheduled == [] and "0 embedded" in capsys.readouterr().out
    assert {r[1] for r in rows(remote)} == {"skipped"} and len(rows(remote)) == len(GOOD_FILES)
    changed = corpus / "sub" / "d_48k_mono.flac"
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    assert embed(str(corpus), "--variant", "handcrafted", "--out", str(remote), "--engine", "ray") == 0
    assert scheduled == [[changed.name]]
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
    statuses = {Path(r[0]).name: r[1] for r in rows(tmp_path / "ray")}
    assert statuses == {**{Path(n).name: "embedded" for n in names}, "missing.wav": "failed"}
    saved = load(tmp_path / "ray" / (names[-1] + ".npz"))  # outputs keep the folders below the root
    assert str(saved["module"]) == "tests.ray_fault_module" and str(saved["weights"]) == "module default"
    assert int(saved["sample_rate"]) == 16000


def test_a_lost_job_fails_its_unfinished_files_with_the_reason(tmp_path: Path, ray_local: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Workers that refuse to start (they see another checkpoint than the driver planned for) end the Ray job: the
    command reports every file as not processed, with the reason, and exits 1 instead of losing them silently."""
    corpus = write_corpus(tmp_path / "audio")
    planned = ray_engine.driver_identity

    def elsewhere(spec: ModelSpec) -> tuple[dict[str, str], int]:
        identity, rate = planned(spec)
        return {**identity, "module_version": "0.0.0"}, rate

    monkeypatch.setattr(ray_engine, "driver_identity", elsewhere)
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
    results = {Path(r["path"]).name: r for r in embed_dataset(dataset, ModelSpec("lowlevel_mel")).take_all()}
    assert results.keys() == {f.name for f in files}
    model = ModelSpec("lowlevel_mel").load()
    for path in files[:-1]:
        row = results[path.name]
        assert row["status"] == "embedded" and row["error"] == "" and row["output"] == ""
        expected = model.embed(read_audio(path, model.sample_rate).samples[None], KINDS)[0]
        for key, value in expected.items():
            assert_same_array(row[key], value, key, f"{path.name}: {key}")
    bad = results["corrupt.wav"]
    assert bad["status"] == "failed" and "not readable as audio" in bad["error"] and np.isnan(bad["seconds"])
    assert bad["scene"].size == 0 and bad["timestamp_embeddings"].size == 0  # empty, never NaN


# The stages in process, without Ray


def test_stages_in_process_write_outputs_and_report_failures(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "audio")
    spec = ModelSpec("handcrafted")
    identity, rate = driver_identity(spec)
    paths = [str(corpus / "a_16k_mono.wav"), str(corpus / "empty.flac")]
    clips = _decode_batch({"path": np.asarray(paths)}, sample_rate=rate, out_dir=str(tmp_path / "o"))
    assert list(clips["output"]) == [str(tmp_path / "o" / "a_16k_mono.wav.npz"), str(tmp_path / "o" / "empty.flac.npz")]
    assert clips["error"][0] == "" and "empty file" in clips["error"][1]
    result = _EmbedActor(spec, identity, KINDS, str(tmp_path / "o"), RayOptions())(clips)
    assert list(result["status"]) == ["embedded", "failed"] and result["seconds"][0] == pytest.approx(1.3)
    assert tuple(result) == RESULT_COLUMNS and result["source_bytes"][0] == (corpus / "a_16k_mono.wav").stat().st_size
    assert str(load(tmp_path / "o" / "a_16k_mono.wav.npz")["variant"]) == "handcrafted"


def test_a_worker_with_another_model_than_planned_refuses_to_start(tiny_ckpt: Path, tmp_path: Path) -> None:
    spec = ModelSpec("tiny_test", str(tiny_ckpt), device="cpu")
    identity, _ = driver_identity(spec)
    with pytest.raises(RuntimeError, match="another model than the driver planned for.*weights_sha256"):
        _EmbedActor(spec, {**identity, "weights_sha256": "0" * 64}, KINDS, None, RayOptions())
    with pytest.raises(RuntimeError, match="another model than the driver planned for.*module_version"):
        _EmbedActor(spec, {**identity, "module_version": "0.0.1"}, KINDS, None, RayOptions())
    # the same checkpoint file elsewhere on a node (its own weights cache) is the same model
    moved = tmp_path / "cache" / tiny_ckpt.name
    moved.parent.mkdir()
    moved.write_bytes(tiny_ckpt.read_bytes())
    actor = _EmbedActor(ModelSpec("tiny_test", str(moved), device="cpu"), identity, KINDS, None, RayOptions())
    assert actor.model.identity["weights"] == str(moved) != identity["weights"]


def test_driver_identity_records_the_precision_workers_compute_in(tiny_ckpt: Path) -> None:
    identity, rate = driver_identity(ModelSpec("tiny_test", str(tiny_ckpt), precision="bf16"))
    assert identity["precision"] == "bf16" and rate == 32000 and len(identity["weights_sha256"]) == 64
    # weight-free variants compute in fp32 whatever is asked
    assert driver_identity(ModelSpec("handcrafted", precision="bf16"))[0]["precision"] == "fp32"


@pytest.mark.parametrize(("text", "expected"), [("1:4", (1, 4)), ("3", (3, 3)), ("2:2", (2, 2))])
def test_parse_workers(text: str, expected: tuple[int, int]) -> None:
    assert parse_workers(text) == expected


@pytest.mark.parametrize("text", ["0:2", "3:1", "a:b", "1:2:3", "", "-1"])
def test_parse_workers_refuses_bad_ranges(text: str) -> None:
    with pytest.raises(ValueError, match="MIN:MAX"):
        parse_workers(text)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"workers": (2, 1)}, "workers"), ({"gpus_per_worker": -1.0}, "gpus_per_worker"),
    ({"cpus_per_worker": 0.0}, "cpus_per_worker"), ({"cpus_per_worker": float("nan")}, "cpus_per_worker"),
    ({"batch_size": 32, "rows_per_call": 16}, "rows_per_call"), ({"batch_seconds": float("inf")}, "batch_seconds"),
    ({"stall_timeout_s": float("nan")}, "stall_timeout_s"), ({"stall_timeout_s": 0.0}, "stall_timeout_s"),
])
def test_ray_options_refuse_impossible_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RayOptions(**kwargs)  # type: ignore[arg-type]


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


def test_an_address_where_no_cluster_answers_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ray.init`` retries such an address for minutes: the port is probed first, and the connection has a bound."""
    import socket
    import time

    fake = type("FakeRay", (), {"is_initialized": staticmethod(lambda: False)})
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(ray_engine.ClusterError, match=f"no Ray cluster answers at 127.0.0.1:{port}: .*refused"):
            ray_engine._connect(fake, f"127.0.0.1:{port}")  # type: ignore[arg-type]
    with socket.socket() as listening:  # something answers, but never as a Ray cluster
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        fake.init = staticmethod(lambda **kwargs: time.sleep(30))  # type: ignore[attr-defined]
        monkeypatch.setattr(ray_engine, "CONNECT_TIMEOUT_S", 0.2)
        with pytest.raises(ray_engine.ClusterError, match="did not answer within 0.2 s"):
            ray_engine._connect(fake, f"ray://127.0.0.1:{listening.getsockname()[1]}")  # type: ignore[arg-type]


def test_a_job_without_progress_is_stopped_with_the_reason() -> None:
    import threading

    release = threading.Event()

    class Stuck:
        def iter_batches(self, **kwargs: object) -> Iterator[dict[str, np.ndarray]]:
            yield {"path": np.asarray(["a.wav"])}
            release.wait(30)
            yield {"path": np.asarray(["b.wav"])}

    batches = ray_engine._batches(Stuck(), 0.3)  # type: ignore[arg-type]
    assert list(next(batches)["path"]) == ["a.wav"]
    with pytest.raises(ray_engine.ClusterError, match="no file finished in 0.3 s"):
        next(batches)
    release.set()


def test_cluster_resources_are_checked_per_node() -> None:
    def cluster(*nodes: dict[str, float]) -> object:
        return type("FakeRay", (), {"nodes": staticmethod(lambda: [{"Alive": True, "Resources": n} for n in nodes]
                                                           + [{"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}])})

    two_gpu_nodes = cluster({"CPU": 8.0, "GPU": 1.0}, {"CPU": 8.0, "GPU": 1.0})
    ray_engine._check_resources(two_gpu_nodes, RayOptions((2, 2), gpus_per_worker=1.0))  # type: ignore[arg-type]
    ray_engine._check_resources(two_gpu_nodes, RayOptions((4, 4), gpus_per_worker=0.5))  # type: ignore[arg-type]
    with pytest.raises(ray_engine.ClusterError, match="can hold 2 model actors"):
        ray_engine._check_resources(two_gpu_nodes, RayOptions((3, 3), gpus_per_worker=1.0))  # type: ignore[arg-type]
    with pytest.raises(ray_engine.ClusterError, match="no node .* 2 GPUs per model actor.*8 CPUs and 1 GPUs"):
        ray_engine._check_resources(two_gpu_nodes, RayOptions(gpus_per_worker=2.0))  # type: ignore[arg-type]
    with pytest.raises(ray_engine.ClusterError, match="live nodes have none"):
        ray_engine._check_resources(cluster(), RayOptions())  # type: ignore[arg-type]
