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


def assert_same_outputs(local: Path, remote: Path) -> None:
    a, b = outputs(local), outputs(remote)
    assert a.keys() == b.keys() and a
    for name in a:
        assert a[name].keys() == b[name].keys()
        for key in a[name]:
            np.testing.assert_array_equal(a[name][key], b[name][key], err_msg=f"{name}: {key}")
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
            np.testing.assert_array_equal(row[key], value, err_msg=f"{path.name}: {key}")
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
    ({"cpus_per_worker": 0.0}, "cpus_per_worker"), ({"batch_size": 32, "rows_per_call": 16}, "rows_per_call"),
])
def test_ray_options_refuse_impossible_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RayOptions(**kwargs)  # type: ignore[arg-type]
