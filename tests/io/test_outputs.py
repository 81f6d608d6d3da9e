"""The output files of both corpus engines (:mod:`hear_gear_embed.io.outputs`): the arrays each kind writes, a clip
decoded for a job with its source's size and time, the ``.npz`` layout and identity :func:`save_output` writes, and
:func:`embed_and_save`: equal lengths embedded together within the bounds, and a clip that fails costing only itself
(its batch retried clip by clip) while the others are written."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

import hear_gear_embed
from hear_gear_embed.embedding.config import KINDS
from hear_gear_embed.hear.handle import ClipEmbeddings, EmbeddingModel
from hear_gear_embed.hear.identity import ModelIdentity
from hear_gear_embed.io import OUTPUT_KEYS, AudioReadError, Job
from hear_gear_embed.io.outputs import decode, embed_and_save, output_arrays, save_output, wanted_arrays

from ..audio_corpus import load, tone
from .spies import scene_call_shapes


@pytest.fixture(scope="module")
def model() -> EmbeddingModel:
    return hear_gear_embed.load("lowlevel_mel", device="cpu")


def job(folder: Path, name: str, seconds: float = 0.5, rate: int = 32000, freq_hz: float = 440.0) -> Job:
    """A job for a new tone file ``folder/name``, its output in ``folder/o``."""
    folder.mkdir(parents=True, exist_ok=True)
    soundfile.write(folder / name, tone(freq_hz, seconds, rate), rate, subtype="FLOAT" if name.endswith(".wav") else None)
    return Job(folder / name, folder / "o" / (name + ".npz"))


def test_each_kind_writes_its_arrays() -> None:
    assert OUTPUT_KEYS == {"scene": ("scene",), "timestamp": ("timestamp_embeddings", "timestamps_ms")}
    assert wanted_arrays(("scene",)) == ("scene",)
    assert wanted_arrays(("timestamp",)) == ("timestamp_embeddings", "timestamps_ms")
    assert wanted_arrays(KINDS) == ("scene", "timestamp_embeddings", "timestamps_ms")
    stamps = np.array([0.0, 50.0])
    arrays = output_arrays(ClipEmbeddings(None, np.zeros((2, 3), np.float32), stamps))
    assert arrays.keys() == {"timestamp_embeddings", "timestamps_ms"} and arrays["timestamps_ms"].dtype == np.float32


def test_decode_reads_the_clip_at_the_model_rate_with_the_source_as_it_was(tmp_path: Path) -> None:
    item = job(tmp_path, "a.wav", seconds=0.5, rate=16000)
    decoded = decode(item, 32000)
    assert decoded.clip.samples.shape == (16000,) and decoded.clip.sample_rate == 32000 and decoded.seconds == 0.5
    assert decoded.clip.source.sample_rate == 16000 and decoded.clip.source.frames == 8000
    assert (decoded.source_bytes, decoded.source_mtime_ns) == (item.source.stat().st_size, item.source.stat().st_mtime_ns)
    # bytes read from elsewhere: their size; the file's time where a file of that name is here, else -1
    data = item.source.read_bytes()
    assert decode(item, 32000, data).source_bytes == len(data)
    assert decode(item, 32000, data).source_mtime_ns == item.source.stat().st_mtime_ns
    elsewhere = decode(Job(Path("s3-bucket/a.wav"), tmp_path / "x.npz"), 32000, data)
    assert elsewhere.source_mtime_ns == -1 and elsewhere.clip.samples.shape == (16000,)
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    with pytest.raises(AudioReadError, match="not readable as audio"):
        decode(Job(tmp_path / "bad.wav", tmp_path / "bad.wav.npz"), 32000)


def test_save_output_writes_the_arrays_the_identity_and_the_source(tmp_path: Path) -> None:
    item = job(tmp_path, "a.flac", seconds=0.5, rate=48000)
    decoded = decode(item, 32000)
    identity = ModelIdentity("hear_gear_embed.hear.tiny_test", "0.2.0", "/w/tiny.pt", "ab" * 32, "bf16")
    embeddings = ClipEmbeddings(np.arange(4, dtype=np.float32), np.ones((2, 3), np.float32), np.array([0.0, 50.0]))
    result = save_output(decoded, embeddings, identity)
    assert (result.source, result.status, result.output, result.error) == (str(item.source), "embedded", str(item.output), None)
    assert result.seconds == 0.5 and result.output_bytes == item.output.stat().st_size
    assert (result.source_bytes, result.source_mtime_ns) == (decoded.source_bytes, decoded.source_mtime_ns)
    saved = load(item.output)
    np.testing.assert_array_equal(saved["scene"], embeddings.scene)
    np.testing.assert_array_equal(saved["timestamp_embeddings"], embeddings.timestamp_embeddings)
    np.testing.assert_array_equal(saved["timestamps_ms"], np.array([0.0, 50.0], np.float32))
    assert saved["timestamps_ms"].dtype == np.float32
    assert {k: str(saved[k]) for k in identity.to_dict()} == identity.to_dict()  # precision included
    assert str(saved["variant"]) == "tiny_test" and str(saved["precision"]) == "bf16"
    assert {k: int(saved[k]) for k in ("sample_rate", "source_sample_rate", "source_channels", "source_frames")} == {
        "sample_rate": 32000, "source_sample_rate": 48000, "source_channels": 1, "source_frames": 24000}
    assert all(saved[k].dtype == np.int64 for k in ("sample_rate", "source_bytes", "source_mtime_ns"))
    assert int(saved["source_bytes"]) == item.source.stat().st_size
    assert int(saved["source_mtime_ns"]) == item.source.stat().st_mtime_ns
    assert Path(str(saved["source"])) == item.source.resolve() and str(saved["package_version"]) == hear_gear_embed.__version__
    assert not list(item.output.parent.glob("*.tmp")) and not list(item.output.parent.glob(".*tmp"))
    # only the kinds computed are written
    scene_only = save_output(decode(item, 32000), ClipEmbeddings(np.zeros(4, np.float32)), identity)
    assert set(load(Path(str(scene_only.output)))) & {"timestamp_embeddings", "timestamps_ms"} == set()


def test_outputs_get_the_permissions_of_new_files(model: EmbeddingModel, tmp_path: Path) -> None:
    """Not the owner-only mode of the temporary file they are written through: others read them on shared storage."""
    item = job(tmp_path, "x.wav")
    save_output(decode(item, 32000), ClipEmbeddings(np.zeros(4, np.float32)), model.identity)
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(item.output.stat().st_mode) == 0o666 & ~umask


def test_an_output_that_cannot_be_written_fails_its_file(model: EmbeddingModel, tmp_path: Path) -> None:
    item = job(tmp_path, "x.wav")
    (tmp_path / "taken").write_text("a file where the output's folder should go")
    blocked = dataclasses.replace(item, output=tmp_path / "taken" / "x.wav.npz")
    result = save_output(decode(blocked, 32000), ClipEmbeddings(np.zeros(4, np.float32)), model.identity)
    assert result.status == "failed" and (result.error or "").startswith(f"cannot write {blocked.output}: ")
    assert result.seconds == 0.5 and result.output is None and not result.done


def test_clips_of_equal_length_are_embedded_together_within_the_bounds(model: EmbeddingModel, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """What the Ray actors call with ``batch_size`` and ``batch_seconds``; results come back in the clips' order."""
    names = [("a.wav", 1.0), ("d.wav", 0.5), ("b.wav", 1.0), ("e.wav", 0.5), ("c.wav", 1.0)]
    clips = [decode(job(tmp_path, name, seconds), 32000) for name, seconds in names]
    shapes = scene_call_shapes(monkeypatch)
    results = embed_and_save(model, clips, ("scene",))
    assert sorted(shapes) == [(2, 16000), (3, 32000)]
    assert [Path(r.source).name for r in results] == [name for name, _ in names]
    assert all(r.status == "embedded" for r in results)
    shapes.clear()
    embed_and_save(model, clips, ("scene",), max_items=2)
    assert sorted(shapes) == [(1, 32000), (2, 16000), (2, 32000)]
    shapes.clear()
    embed_and_save(model, clips, ("scene",), max_samples=48000)
    assert sorted(shapes) == [(1, 32000)] * 3 + [(2, 16000)]  # the 1 s clips alone


def test_a_failing_clip_costs_only_itself(model: EmbeddingModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One batch of 4 fails (each clip is then retried alone, by ``EmbeddingModel.embed``): the culprit is a failed
    result, the others are written."""
    clips = [decode(job(tmp_path, f"{i}.wav", 1.0, freq_hz=300.0 * (i + 1)), 32000) for i in range(3)]
    soundfile.write(tmp_path / "poison.wav", np.full(32000, 0.125), 32000, subtype="FLOAT")
    clips.insert(1, decode(Job(tmp_path / "poison.wav", tmp_path / "o" / "poison.wav.npz"), 32000))
    shapes: list[tuple[int, ...]] = []
    original = EmbeddingModel.scene_embeddings

    def fragile(self: EmbeddingModel, audio: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(audio.shape))
        if bool(torch.any(torch.all(audio == 0.125, dim=1))):
            raise RuntimeError("simulated failure")
        return original(self, audio)

    monkeypatch.setattr(EmbeddingModel, "scene_embeddings", fragile)
    results = embed_and_save(model, clips, KINDS)
    assert shapes[0] == (4, 32000), "the four clips were not one batch: the test proves nothing"
    assert [r.status for r in results] == ["embedded", "failed", "embedded", "embedded"]
    assert results[1].error == "RuntimeError: simulated failure" and results[1].seconds == 1.0
    assert results[1].output is None and not (tmp_path / "o" / "poison.wav.npz").exists()
    assert sorted(p.name for p in (tmp_path / "o").glob("*.npz")) == ["0.wav.npz", "1.wav.npz", "2.wav.npz"]
    # the others' outputs are those of the model on each clip
    alone = model.embed([clips[0].clip.samples], ("scene",))[0].scene
    assert alone is not None
    np.testing.assert_allclose(load(tmp_path / "o" / "0.wav.npz")["scene"], alone, rtol=1e-5, atol=1e-5)


def test_a_module_that_returns_nan_fails_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import gear_fake_module as fake

    model = hear_gear_embed.load("tests.gear_fake_module")
    item = decode(job(tmp_path, "a.wav", 0.5, rate=16000), model.sample_rate)
    monkeypatch.setitem(fake.BEHAVIOUR, "mode", "nan")
    (result,) = embed_and_save(model, [item], ("scene",))
    assert result.status == "failed" and "returned NaN or Inf" in (result.error or "")
    assert not item.job.output.exists()


def test_the_weights_of_a_checkpoint_are_recorded_with_their_hash(tiny_ckpt: Path, tmp_path: Path) -> None:
    model = hear_gear_embed.load("tiny_test", weights=tiny_ckpt, device="cpu")
    item = decode(job(tmp_path, "x.wav", 0.5), model.sample_rate)
    (result,) = embed_and_save(model, [item], ("scene",))
    saved = load(Path(str(result.output)))
    assert str(saved["weights"]) == str(tiny_ckpt) and str(saved["precision"]) == "fp32"
    assert str(saved["weights_sha256"]) == hashlib.sha256(tiny_ckpt.read_bytes()).hexdigest()
