"""The local corpus engine (:func:`hear_gear_embed.io.corpus.embed_files`), whole runs: a folder of mixed files with
broken ones (outputs, identity and report), the kinds asked for, the manifest's rows, resampling, files of equal length
batched within ``batch_size`` and ``batch_seconds``, the resume rule applied run after run, an interruption, and the
models it takes (a name, a spec, a handle; an ``Embedder``, deprecated). The rules themselves are tested on their
functions: ``test_resume.py``, ``test_outputs.py``, ``test_folder.py``."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

import hear_gear_embed
from hear_gear_embed import get_variant, load_embedder
from hear_gear_embed.hear.handle import EmbeddingModel
from hear_gear_embed.hear.spec import ModelSpec
from hear_gear_embed.io import MANIFEST_NAME, REPORT_NAME, STATUSES, FileResult, embed_files, outputs, read_audio
from hear_gear_embed.io.folder import NOT_PROCESSED

from ..audio_corpus import BAD_FILES, GOOD_FILES, load, tone, write_corpus
from .spies import opened_outputs, scene_call_shapes


@pytest.fixture(scope="module")
def model() -> EmbeddingModel:
    return hear_gear_embed.load("lowlevel_mel", device="cpu")


def wav(path: Path, seconds: float = 0.3, rate: int = 32000, freq_hz: float = 440.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, tone(freq_hz, seconds, rate), rate)
    return path


def mtimes(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")}


def test_a_folder_of_mixed_files(tmp_path: Path) -> None:
    """Rates, channels and formats, read as mono at the model's rate; the broken files fail with the reason and cost the
    others nothing; each output holds the model's embeddings of its clip, its identity and its source."""
    corpus = write_corpus(tmp_path / "audio")
    model = hear_gear_embed.load("lowlevel_mel", device="cpu")
    out = tmp_path / "emb"
    run = embed_files([corpus], model, out)
    assert {Path(r.source).name: r.status for r in run.results} == {
        **{Path(n).name: "embedded" for n in GOOD_FILES}, **dict.fromkeys(BAD_FILES, "failed")}
    errors = {Path(r.source).name: r.error or "" for r in run.failed}
    assert all(reason in errors[name] for name, reason in BAD_FILES.items())

    variant = get_variant("lowlevel_mel")
    for name, (rate, channels, _, _) in GOOD_FILES.items():
        source = corpus / name
        saved = load(out / (name + ".npz"))
        frames = soundfile.info(str(source)).frames
        n_samples = math.ceil(frames * 32000 / rate)
        n_stamps = n_samples // 1600 + 1
        assert saved["scene"].shape == (variant.scene_embedding_size,) and saved["scene"].dtype == np.float32
        assert saved["timestamp_embeddings"].shape == (n_stamps, variant.timestamp_embedding_size)
        np.testing.assert_array_equal(saved["timestamps_ms"], 50.0 * np.arange(n_stamps, dtype=np.float32))
        assert str(saved["variant"]) == "lowlevel_mel" and str(saved["weights"]) == "none"
        assert str(saved["weights_sha256"]) == ""
        assert int(saved["sample_rate"]) == 32000 and int(saved["source_sample_rate"]) == rate
        assert int(saved["source_channels"]) == channels and int(saved["source_frames"]) == frames
        assert Path(str(saved["source"])) == source.resolve()
        # the stored embeddings are the model's on the mono, resampled clip
        clip = torch.from_numpy(read_audio(source, 32000).samples[None])
        np.testing.assert_allclose(saved["scene"], model.scene_embeddings(clip)[0].numpy(), rtol=1e-5, atol=1e-5)
        emb, _ = model.timestamp_embeddings(clip)
        np.testing.assert_allclose(saved["timestamp_embeddings"], emb[0].numpy(), rtol=1e-5, atol=1e-5)

    report = json.loads((out / REPORT_NAME).read_text())
    assert report["variant"] == "lowlevel_mel" and report["kinds"] == ["scene", "timestamp"] and report["engine"] == "local"
    assert not (out / "notes.txt.npz").exists()
    assert not list(out.rglob("*.tmp"))


def test_kinds_select_the_outputs(model: EmbeddingModel, tmp_path: Path) -> None:
    source = wav(tmp_path / "x.wav")
    run = embed_files([source], model, tmp_path / "t", kinds=("timestamp",))
    assert run.kinds == ("timestamp",) and run.count("embedded") == 1
    with np.load(tmp_path / "t" / "x.wav.npz") as saved:
        assert "scene" not in saved.files and saved["timestamp_embeddings"].shape == (7, model.timestamp_embedding_size)
        np.testing.assert_array_equal(saved["timestamps_ms"], 50.0 * np.arange(7, dtype=np.float32))
    saved_report = json.loads((tmp_path / "t" / REPORT_NAME).read_text())
    assert saved_report["kinds"] == ["timestamp"] and "kind" not in saved_report
    # Both, given in any order, are stored in the order of KINDS.
    assert embed_files([source], model, tmp_path / "b", kinds=("timestamp", "scene")).kinds == ("scene", "timestamp")
    assert embed_files([source], model, tmp_path / "d").kinds == ("scene", "timestamp")


@pytest.mark.parametrize(("options", "message"), [
    ({"kinds": ()}, "kinds must be a non-empty selection of \\('scene', 'timestamp'\\)"),
    ({"kinds": ("frames",)}, "kinds must be a non-empty selection of \\('scene', 'timestamp'\\)"),
    ({"kinds": "scene"}, "kinds must be a non-empty selection of \\('scene', 'timestamp'\\)"),
    ({"kinds": ("both",)}, "kinds must be a non-empty selection of \\('scene', 'timestamp'\\)"),
    ({"batch_size": 0}, "batch_size must be >= 1"), ({"batch_seconds": float("nan")}, "batch_seconds a positive"),
    ({"batch_seconds": 0.0}, "batch_seconds a positive"),
])
def test_bad_kinds_and_batching_are_refused_before_anything_is_written(model: EmbeddingModel, tmp_path: Path,
                                                                       options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        embed_files([tmp_path], model, tmp_path / "o", **options)  # type: ignore[arg-type]
    assert not (tmp_path / "o").exists()


def test_manifest_holds_one_row_per_input_in_order(model: EmbeddingModel, tmp_path: Path) -> None:
    wav(tmp_path / "b.wav")
    (tmp_path / "a.wav").write_bytes(b"not audio")
    run = embed_files([tmp_path / "b.wav", tmp_path / "a.wav", tmp_path / "gone.wav"], model, tmp_path / "o")
    lines = [json.loads(line) for line in (tmp_path / "o" / MANIFEST_NAME).read_text().splitlines()]
    assert [(Path(r["source"]).name, r["status"]) for r in lines] == [("gone.wav", "failed"), ("b.wav", "embedded"),
                                                                      ("a.wav", "failed")]
    assert lines == json.loads((tmp_path / "o" / REPORT_NAME).read_text())["results"]
    assert lines[1]["output_bytes"] == (tmp_path / "o" / "b.wav.npz").stat().st_size
    assert lines[1]["source_bytes"] == (tmp_path / "b.wav").stat().st_size and lines[2]["source_bytes"] is None
    assert {r.status for r in run.results} <= set(STATUSES)


def test_resampled_file_embeds_like_the_same_tone_at_the_model_rate(model: EmbeddingModel, tmp_path: Path) -> None:
    """A 44.1 kHz file, resampled on reading, gives (nearly) the embedding of the tone synthesised at 32 kHz."""
    soundfile.write(tmp_path / "t44.wav", tone(330.0, 2.0, 44100), 44100, subtype="FLOAT")
    soundfile.write(tmp_path / "t32.wav", tone(330.0, 2.0, 32000), 32000, subtype="FLOAT")
    assert not embed_files([tmp_path], model, tmp_path / "o").failed
    a, b = load(tmp_path / "o" / "t44.wav.npz"), load(tmp_path / "o" / "t32.wav.npz")
    assert a["timestamp_embeddings"].shape == b["timestamp_embeddings"].shape
    # Timestamps whose 640 ms window stays clear of the clip edges (where the resampler's filter starts
    # and stops on an abrupt tone) agree to float rounding (measured 2.9e-6 on values of about 1).
    inner = slice(7, -7)
    np.testing.assert_allclose(a["timestamp_embeddings"][inner], b["timestamp_embeddings"][inner], atol=2e-5)
    # The scene's clip mean/std include those edges (measured 0.044).
    np.testing.assert_allclose(a["scene"], b["scene"], atol=0.1)


def test_files_of_equal_length_are_batched_within_the_bounds(model: EmbeddingModel, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # 1 s at 16, 44.1 and 48 kHz all resample to 32000 samples: one batch; 0.5 s files: another.
    for name, rate, seconds in [("a.wav", 16000, 1.0), ("b.wav", 44100, 1.0), ("c.flac", 48000, 1.0),
                                ("d.wav", 32000, 0.5), ("e.wav", 16000, 0.5)]:
        wav(tmp_path / "in" / name, seconds, rate)
    shapes = scene_call_shapes(monkeypatch)
    inputs = [tmp_path / "in"]
    assert embed_files(inputs, model, tmp_path / "o1", kinds=("scene",)).count("embedded") == 5  # batch_size 16
    assert sorted(shapes) == [(2, 16000), (3, 32000)]
    shapes.clear()
    embed_files(inputs, model, tmp_path / "o2", kinds=("scene",), batch_size=2)
    assert sorted(shapes) == [(1, 32000), (2, 16000), (2, 32000)]
    shapes.clear()
    embed_files(inputs, model, tmp_path / "o3", kinds=("scene",), batch_seconds=1.5)
    assert sorted(shapes) == [(1, 32000)] * 3 + [(2, 16000)]  # the 1 s files alone


def test_runs_resume_by_the_rule(model: EmbeddingModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run after run on one folder: finished files are skipped without opening their outputs (the last report, of a
    run that skipped them too, is the index), failures are tried again, a changed source is embedded again, outputs
    without the kinds now asked for are redone, ``overwrite`` redoes everything, and another model's outputs are neither
    skipped nor replaced until ``overwrite``."""
    folder = tmp_path / "in"
    for i, name in enumerate(("a.wav", "b.wav", "sub/c.wav")):
        wav(folder / name, freq_hz=300.0 * (i + 1))
    (folder / "broken.wav").write_bytes(b"not audio")
    out = tmp_path / "o"
    run = embed_files([folder], model, out, kinds=("scene",))
    first = mtimes(out)
    assert run.count("embedded") == 3 and run.count("failed") == 1 and len(first) == 3
    assert all("timestamp_embeddings" not in load(p) for p in first)
    opened = opened_outputs(monkeypatch)
    for _ in range(2):  # the second time, the index is the report of a run that skipped every file
        run = embed_files([folder], model, out, kinds=("scene",))
        assert [r.status for r in run.results] == ["skipped", "skipped", "failed", "skipped"]
        assert "0 embedded" in run.summary() and "3 already done" in run.summary() and opened == []
        assert mtimes(out) == first
    # a changed source is embedded again (its output opened), the others are not
    soundfile.write(folder / "a.wav", tone(500.0, 1.0, 16000), 16000)
    embed_files([folder], model, out, kinds=("scene",))
    assert opened == ["a.wav"] and [p.name for p in first if mtimes(out)[p] != first[p]] == ["a.wav.npz"]
    # asking for timestamps as well: outputs without them are redone
    run = embed_files([folder], model, out)
    assert run.count("embedded") == 3 and all("timestamp_embeddings" in load(p) for p in out.rglob("*.npz"))
    second = mtimes(out)
    run = embed_files([folder], model, out, kinds=("scene",), overwrite=True)
    assert run.count("embedded") == 3 and all(second[p] != t for p, t in mtimes(out).items())
    # another model: refused, file by file, naming the key; replaced with overwrite
    other = hear_gear_embed.load("lowlevel_cqt", device="cpu")
    before = mtimes(out)
    run = embed_files([folder], other, out, kinds=("scene",))
    refused = [r for r in run.failed if Path(r.source).name != "broken.wav"]
    assert len(refused) == 3 and mtimes(out) == before
    assert all("exists with variant 'lowlevel_mel', not 'lowlevel_cqt'" in (r.error or "") for r in refused)
    assert embed_files([folder], other, out, kinds=("scene",), overwrite=True).count("embedded") == 3
    assert {str(load(p)["variant"]) for p in out.rglob("*.npz")} == {"lowlevel_cqt"}


def test_outputs_written_before_an_interruption_are_reported_as_embedded(model: EmbeddingModel, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The local engine records results per batch: an interruption inside a batch would leave files it wrote listed
    as not processed."""
    inputs = [wav(tmp_path / "in" / name) for name in ("a.wav", "b.wav", "c.wav")]
    original, calls = outputs.save_output, []

    def interrupted(*args: object) -> FileResult:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(outputs, "save_output", interrupted)
    out = tmp_path / "o"
    with pytest.raises(KeyboardInterrupt):
        embed_files(inputs, model, out, batch_size=3)
    assert len(calls) == 3, "the three files were not one batch: the test proves nothing"
    rows = json.loads((out / REPORT_NAME).read_text())["results"]
    assert [r["status"] for r in rows] == ["embedded", "embedded", "failed"]
    assert rows[2]["error"] == NOT_PROCESSED
    assert rows[0]["seconds"] == pytest.approx(0.3) and rows[0]["output_bytes"] == (out / "a.wav.npz").stat().st_size


def test_a_model_by_name_spec_or_handle(tmp_path: Path) -> None:
    """A name is a variant or a HEAR module (``hear_gear_embed.hear.<variant>`` is the variant); a module from elsewhere
    embeds at its own rate, as its own functions do."""
    source = wav(tmp_path / "x.wav", 0.5, 44100)
    by_module = embed_files([source], "hear_gear_embed.hear.lowlevel_mel", tmp_path / "m")
    by_spec = embed_files([source], ModelSpec("lowlevel_mel", device="cpu"), tmp_path / "s")
    assert by_module.identity.same_model(by_spec.identity) and by_module.variant == "lowlevel_mel"
    a, b = load(tmp_path / "m" / "x.wav.npz"), load(tmp_path / "s" / "x.wav.npz")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)

    from tests import gear_fake_module as fake

    run = embed_files([source], "tests.gear_fake_module", tmp_path / "f")
    assert run.identity.module == "tests.gear_fake_module" and run.identity.weights == "module default"
    saved = load(tmp_path / "f" / "x.wav.npz")
    assert int(saved["sample_rate"]) == 16000
    audio = torch.from_numpy(read_audio(source, 16000).samples[None])
    np.testing.assert_array_equal(saved["scene"], fake.get_scene_embeddings(audio, fake.load_model())[0].numpy())
    emb, stamps = fake.get_timestamp_embeddings(audio, fake.load_model())
    np.testing.assert_array_equal(saved["timestamp_embeddings"], emb[0].numpy())
    np.testing.assert_array_equal(saved["timestamps_ms"], stamps[0].numpy())


def test_an_embedder_is_deprecated_but_still_embeds(model: EmbeddingModel, tmp_path: Path) -> None:
    """0.1 passed the model of ``load_model()`` / ``load_embedder()``; it works, with a warning, until 0.3."""
    embedder = load_embedder(get_variant("lowlevel_mel"), device="cpu")
    source = wav(tmp_path / "x.wav")
    with pytest.warns(DeprecationWarning, match=r"passing a model of load_model\(\) is deprecated"):
        run = embed_files([source], embedder, tmp_path / "o")  # type: ignore[arg-type]
    assert run.count("embedded") == 1 and run.identity.same_model(model.identity)
    assert os.path.isfile(tmp_path / "o" / "x.wav.npz")
