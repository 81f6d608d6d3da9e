"""``hear-gear embed`` end to end: a folder of mixed files (rates, channels, formats, broken files), resuming,
batching, the embedding kinds, and usage errors."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

import hear_gear_embed
from hear_gear_embed import get_variant, load_embedder
from hear_gear_embed.cli import main
from hear_gear_embed.embedding import Embedder
from hear_gear_embed.hear.loading import module_version
from hear_gear_embed.io import REPORT_NAME, read_audio

from ..audio_corpus import BAD_FILES, GOOD_FILES, load, tone, write_corpus


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A folder of mixed audio files plus a corrupt, an empty and a zero-frame file."""
    return write_corpus(tmp_path / "audio")


def test_embed_folder_of_mixed_files(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "emb"
    code = main(["embed", str(corpus), "--variant", "handcrafted", "--out", str(out), "--no-progress"])
    assert code == 1  # the three bad files
    captured = capsys.readouterr()
    for name, reason in BAD_FILES.items():
        assert f"failed: {corpus / name}: " in captured.err and reason in captured.err
    assert "6 embedded" in captured.out and "3 failed" in captured.out

    variant = get_variant("handcrafted")
    model = load_embedder(variant, device="cpu")
    for name, (rate, channels, _, _) in GOOD_FILES.items():
        source = corpus / name
        saved = load(out / (name + ".npz"))
        frames = soundfile.info(str(source)).frames
        n_samples = math.ceil(frames * 32000 / rate)
        n_stamps = n_samples // 1600 + 1
        assert saved["scene"].shape == (variant.scene_embedding_size,) and saved["scene"].dtype == np.float32
        assert saved["timestamp_embeddings"].shape == (n_stamps, variant.timestamp_embedding_size)
        np.testing.assert_array_equal(saved["timestamps_ms"], 50.0 * np.arange(n_stamps, dtype=np.float32))
        assert str(saved["variant"]) == "handcrafted" and str(saved["weights"]) == "none"
        assert str(saved["weights_sha256"]) == ""
        assert int(saved["sample_rate"]) == 32000 and int(saved["source_sample_rate"]) == rate
        assert int(saved["source_channels"]) == channels and int(saved["source_frames"]) == frames
        assert Path(str(saved["source"])) == source.resolve()
        # the stored embeddings are the model's on the mono, resampled clip
        clip = read_audio(source, 32000).samples[None]
        np.testing.assert_allclose(saved["scene"], model.scene_embeddings(clip)[0].numpy(), rtol=1e-5, atol=1e-5)
        emb, _ = model.timestamp_embeddings(clip)
        np.testing.assert_allclose(saved["timestamp_embeddings"], emb[0].numpy(), rtol=1e-5, atol=1e-5)

    report = json.loads((out / REPORT_NAME).read_text())
    status = {Path(r["source"]).name: r["status"] for r in report["results"]}
    assert status == {**{Path(n).name: "embedded" for n in GOOD_FILES}, **{n: "failed" for n in BAD_FILES}}
    assert report["variant"] == "handcrafted" and report["kinds"] == ["scene", "timestamp"]
    assert not (out / "notes.txt.npz").exists()
    assert not list(out.rglob("*.tmp"))


def test_resampled_file_embeds_like_the_same_tone_at_the_model_rate(tmp_path: Path) -> None:
    """A 44.1 kHz file, resampled on reading, gives (nearly) the embedding of the tone synthesised at 32 kHz."""
    soundfile.write(tmp_path / "t44.wav", tone(330.0, 2.0, 44100), 44100, subtype="FLOAT")
    soundfile.write(tmp_path / "t32.wav", tone(330.0, 2.0, 32000), 32000, subtype="FLOAT")
    assert main(["embed", str(tmp_path), "--variant", "lowlevel_mel", "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    a, b = load(tmp_path / "o" / "t44.wav.npz"), load(tmp_path / "o" / "t32.wav.npz")
    assert a["timestamp_embeddings"].shape == b["timestamp_embeddings"].shape
    # Timestamps whose 640 ms window stays clear of the clip edges (where the resampler's filter starts
    # and stops on an abrupt tone) agree to float rounding (measured 2.9e-6 on values of about 1).
    inner = slice(7, -7)
    np.testing.assert_allclose(a["timestamp_embeddings"][inner], b["timestamp_embeddings"][inner], atol=2e-5)
    # The scene's clip mean/std include those edges (measured 0.044).
    np.testing.assert_allclose(a["scene"], b["scene"], atol=0.1)


def test_resume_overwrite_and_changed_sources(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "emb"
    args = ["embed", str(corpus), "--variant", "handcrafted", "--out", str(out), "--no-progress", "--kind", "scene"]
    assert main(args) == 1
    first = {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")}
    assert all(set(load(p)) >= {"scene"} and "timestamp_embeddings" not in load(p) for p in first)
    assert json.loads((out / REPORT_NAME).read_text())["kinds"] == ["scene"]
    capsys.readouterr()
    assert main(args) == 1  # the bad files are reported again
    summary = capsys.readouterr().out
    assert "0 embedded" in summary and "6 already done" in summary
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")} == first
    report = json.loads((out / REPORT_NAME).read_text())
    assert sorted(r["status"] for r in report["results"]) == ["failed"] * 3 + ["skipped"] * 6

    # a changed source is embedded again, the others are not
    changed = corpus / "a_16k_mono.wav"
    soundfile.write(changed, tone(500.0, 1.0, 16000), 16000)
    assert main(args) == 1
    now = {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")}
    assert [p.name for p in first if now[p] != first[p]] == ["a_16k_mono.wav.npz"]

    # asking for timestamps as well: outputs without them are redone
    assert main([*args[:-2], "--kind", "scene", "--kind", "timestamp"]) == 1
    assert all("timestamp_embeddings" in load(p) for p in out.rglob("*.npz"))

    assert main([*args, "--overwrite"]) == 1
    assert all(p.stat().st_mtime_ns != first[p] for p in first)


def test_outputs_of_another_variant_are_neither_skipped_nor_replaced(corpus: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "emb"
    source = corpus / "sub" / "d_48k_mono.flac"
    assert main(["embed", str(source), "--variant", "lowlevel_mel", "--out", str(out), "--no-progress"]) == 0
    before = load(out / "d_48k_mono.flac.npz")
    capsys.readouterr()
    assert main(["embed", str(source), "--variant", "lowlevel_cqt", "--out", str(out), "--no-progress"]) == 1
    assert "exists with variant 'lowlevel_mel'" in capsys.readouterr().err
    np.testing.assert_array_equal(load(out / "d_48k_mono.flac.npz")["scene"], before["scene"])
    assert main(["embed", str(source), "--variant", "lowlevel_cqt", "--out", str(out), "--no-progress", "--overwrite"]) == 0
    assert str(load(out / "d_48k_mono.flac.npz")["variant"]) == "lowlevel_cqt"


def test_files_of_equal_length_are_batched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 1 s at 16, 44.1 and 48 kHz all resample to 32000 samples: one batch; 0.5 s files: another.
    for name, rate, seconds in [("a.wav", 16000, 1.0), ("b.wav", 44100, 1.0), ("c.flac", 48000, 1.0),
                                ("d.wav", 32000, 0.5), ("e.wav", 16000, 0.5)]:
        soundfile.write(tmp_path / name, tone(440.0, seconds, rate), rate)
    shapes: list[tuple[int, ...]] = []
    original = Embedder.scene_embeddings

    def spy(self: Embedder, audio: object) -> torch.Tensor:
        shapes.append(tuple(np.shape(audio)))
        return original(self, audio)

    monkeypatch.setattr(Embedder, "scene_embeddings", spy)
    base = ["embed", str(tmp_path), "--variant", "lowlevel_mel", "--kind", "scene", "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "o1"), "--batch-size", "16"]) == 0
    assert sorted(shapes) == [(2, 16000), (3, 32000)]
    shapes.clear()
    assert main([*base, "--out", str(tmp_path / "o2"), "--batch-size", "2"]) == 0
    assert sorted(shapes) == [(1, 32000), (2, 16000), (2, 32000)]
    shapes.clear()
    assert main([*base, "--out", str(tmp_path / "o3"), "--batch-size", "16", "--batch-seconds", "1.5"]) == 0
    assert sorted(shapes) == [(1, 32000)] * 3 + [(2, 16000)]  # the 1 s files alone
    shapes.clear()
    assert main([*base, "--out", str(tmp_path / "o4")]) == 0  # on CPU, one file at a time by default
    assert sorted(shapes) == [(1, 16000)] * 2 + [(1, 32000)] * 3


def test_a_failing_file_in_a_batch_costs_only_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        soundfile.write(tmp_path / f"{i}.wav", tone(300.0 * (i + 1), 1.0, 32000), 32000, subtype="FLOAT")
    poison = np.full(32000, 0.125)
    soundfile.write(tmp_path / "poison.wav", poison, 32000, subtype="FLOAT")
    original = Embedder.scene_embeddings

    def fragile(self: Embedder, audio: object) -> torch.Tensor:
        if np.any(np.all(np.asarray(audio) == np.float32(0.125), axis=1)):
            raise RuntimeError("simulated failure")
        return original(self, audio)

    monkeypatch.setattr(Embedder, "scene_embeddings", fragile)
    out = tmp_path / "o"
    assert main(["embed", str(tmp_path), "--variant", "handcrafted", "--out", str(out), "--no-progress",
                 "--batch-size", "4"]) == 1  # one batch of 4 fails; each file is retried alone
    assert sorted(p.name for p in out.glob("*.npz")) == ["0.wav.npz", "1.wav.npz", "2.wav.npz"]
    assert f"failed: {tmp_path / 'poison.wav'}: RuntimeError: simulated failure" in capsys.readouterr().err


def test_network_variant_with_checkpoint_records_its_identity(tiny_ckpt: Path, tmp_path: Path) -> None:
    soundfile.write(tmp_path / "x.flac", np.stack([tone(440.0, 1.2, 44100)] * 2, axis=1), 44100)
    out = tmp_path / "o"
    assert main(["embed", str(tmp_path / "x.flac"), "--variant", "tiny_test", "--model", str(tiny_ckpt),
                 "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    saved = load(out / "x.flac.npz")
    variant = get_variant("tiny_test")
    assert str(saved["weights"]) == str(tiny_ckpt)
    assert str(saved["weights_sha256"]) == hashlib.sha256(tiny_ckpt.read_bytes()).hexdigest()
    assert saved["timestamp_embeddings"].shape == (38400 // 1600 + 1, variant.timestamp_embedding_size)
    model = load_embedder(variant, tiny_ckpt, device="cpu")
    expected = model.scene_embeddings(read_audio(tmp_path / "x.flac", 32000).samples[None])[0].numpy()
    np.testing.assert_allclose(saved["scene"], expected, rtol=1e-5, atol=1e-6)


def test_full_size_passt_with_random_weights(tmp_path: Path) -> None:
    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.5, 48000), 48000)
    out = tmp_path / "o"
    assert main(["embed", str(tmp_path / "x.wav"), "--variant", "passt_base", "--random-weights", "0", "--out",
                 str(out), "--no-progress", "--device", "cpu"]) == 0
    saved = load(out / "x.wav.npz")
    assert saved["scene"].shape == (1295,) and saved["timestamp_embeddings"].shape == (11, 1295)
    assert np.isfinite(saved["timestamp_embeddings"]).all()
    assert str(saved["weights"]) == "random (seed 0)"


def test_missing_weights_stop_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    def offline(url: str, dst: str, progress: bool = True) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("HEAR_GEAR_EMBED_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.5, 32000), 32000)
    assert main(["embed", str(tmp_path / "x.wav"), "--variant", "passt_base", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "could not download passt_s_swa_p16_128_ap476 from" in err and "--random-weights" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("argv,message", [
    (["--variant", "handcrafted", "--model", "w.pt"], "uses no network weights"),
    (["--variant", "tiny_test", "--model", "w.pt", "--random-weights", "1"], "exclude each other"),
    (["--variant", "handcrafted", "--batch-size", "0"], "--batch-size"),
    (["--variant", "handcrafted", "--engine", "ray", "--device", "cpu"], "--device applies to --engine local only"),
    (["--variant", "handcrafted", "--workers", "1:2", "--gpus-per-worker", "1"], "--workers, --gpus-per-worker apply to "
     "--engine ray only"),
    (["--variant", "handcrafted", "--engine", "ray", "--workers", "2:1"], "MIN:MAX"),
    (["--module", "tests.gear_fake_module", "--random-weights", "0"], "random_seed apply to this package's variants only"),
    (["--module", "tests.gear_fake_module", "--precision", "bf16"], "precision apply to this package's variants only"),
    (["--module", "no_such_hear_module"], "cannot import HEAR module 'no_such_hear_module'"),
    (["--module", "json"], "'json' is not a HEAR module"),
])
def test_bad_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["embed", str(tmp_path), "--out", str(tmp_path / "o"), *argv]) == 2
    assert message in capsys.readouterr().err


def test_usage_errors_exit_2_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").write_text("a file where the output folder should go")
    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.2, 32000), 32000)
    assert main(["embed", str(tmp_path / "x.wav"), "--variant", "handcrafted", "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert f"error: --out {tmp_path / 'taken'} exists and is not a folder" in err and "Traceback" not in err
    assert main(["embed", str(tmp_path / "x.wav"), "--variant", "handcraftd", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "error: unknown variant 'handcraftd'; did you mean handcrafted" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_nothing_to_embed_and_unsupported_list_entries_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["embed", "--variant", "handcrafted", "--out", str(tmp_path / "o")]) == 2
    assert "nothing to embed" in capsys.readouterr().err
    (tmp_path / "list.txt").write_text("a.wav\ns3://bucket/b.wav\n")
    assert main(["embed", "--from-list", str(tmp_path / "list.txt"), "--variant", "handcrafted", "--out", str(tmp_path / "o")]) == 2
    assert "line 2: 's3://bucket/b.wav' is a s3:// URI" in capsys.readouterr().err
    assert main(["embed", "--from-list", str(tmp_path / "none.txt"), "--variant", "handcrafted", "--out", str(tmp_path / "o")]) == 2
    assert "none.txt" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_any_hear_module_embeds_and_records_what_is_known_of_it(corpus: Path, tmp_path: Path) -> None:
    """A HEAR module from outside the package (16 kHz band energies): inputs are resampled to its rate, outputs
    record the module; this package's own modules by import name are its variants."""
    out = tmp_path / "o"
    assert main(["embed", str(corpus / "b_44k_stereo.flac"), "--module", "tests.gear_fake_module", "--out", str(out),
                 "--no-progress"]) == 0
    saved = load(out / "b_44k_stereo.flac.npz")
    assert str(saved["variant"]) == str(saved["module"]) == "tests.gear_fake_module"
    assert re.fullmatch("no distribution, source sha256 [0-9a-f]{16}", str(saved["module_version"]))  # tests/ on sys.path
    assert str(saved["weights"]) == "module default"
    assert str(saved["precision"]) == "fp32" and int(saved["sample_rate"]) == 16000
    from tests import gear_fake_module as fake

    model = fake.load_model()
    audio = torch.from_numpy(read_audio(corpus / "b_44k_stereo.flac", 16000).samples[None])
    np.testing.assert_array_equal(saved["scene"], fake.get_scene_embeddings(audio, model)[0].numpy())
    emb, stamps = fake.get_timestamp_embeddings(audio, model)
    np.testing.assert_array_equal(saved["timestamp_embeddings"], emb[0].numpy())
    np.testing.assert_array_equal(saved["timestamps_ms"], stamps[0].numpy())
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["module"] == "tests.gear_fake_module" and report["engine"] == "local"

    by_module, by_variant = tmp_path / "m", tmp_path / "v"
    source = str(corpus / "a_16k_mono.wav")
    assert main(["embed", source, "--module", "hear_gear_embed.hear.handcrafted", "--out", str(by_module), "--no-progress"]) == 0
    assert main(["embed", source, "--variant", "handcrafted", "--out", str(by_variant), "--no-progress"]) == 0
    a, b = load(by_module / "a_16k_mono.wav.npz"), load(by_variant / "a_16k_mono.wav.npz")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert str(a["module"]) == "hear_gear_embed.hear.handcrafted"
    assert str(a["module_version"]) == module_version(hear_gear_embed) and str(a["package_version"]) == hear_gear_embed.__version__


def test_a_module_that_returns_nan_fails_the_file_not_the_run(corpus: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from tests import gear_fake_module as fake

    monkeypatch.setitem(fake.BEHAVIOUR, "mode", "nan")
    out = tmp_path / "o"
    assert main(["embed", str(corpus / "a_16k_mono.wav"), "--module", "tests.gear_fake_module", "--out", str(out),
                 "--kind", "scene", "--no-progress"]) == 1
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["results"][0]["status"] == "failed" and "returned NaN or Inf" in report["results"][0]["error"]
    assert not list(out.rglob("*.npz"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_missing_cuda_device_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["embed", str(tmp_path), "--variant", "handcrafted", "--device", "cuda", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "error: device 'cuda' was requested but CUDA is not available" in err and "Traceback" not in err


def test_a_device_that_holds_no_data_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "a.wav"
    soundfile.write(source, tone(440, 0.5, 32000), 32000)
    for argv in (["--variant", "handcrafted"], ["--variant", "tiny_test", "--random-weights", "0"]):
        assert main(["embed", str(source), *argv, "--device", "meta", "--out", str(tmp_path / "o"), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "error: device 'meta' holds no data" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_missing_paths_and_name_clashes_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        soundfile.write(tmp_path / folder / "x.wav", tone(440.0, 0.5, 32000), 32000)
    out = tmp_path / "o"
    code = main(["embed", str(tmp_path / "one" / "x.wav"), str(tmp_path / "two" / "x.wav"), str(tmp_path / "nope"),
                 "--variant", "handcrafted", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"failed: {tmp_path / 'nope'}: no such file or folder" in err
    assert f"failed: {tmp_path / 'two' / 'x.wav'}: its output {out / 'x.wav.npz'} would overwrite" in err
    assert str(load(out / "x.wav.npz")["source"]) == str((tmp_path / "one" / "x.wav").resolve())


def test_interrupted_run_keeps_finished_outputs_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        soundfile.write(tmp_path / f"{i}.wav", tone(300.0 * (i + 1), 0.5, 32000), 32000)
    calls = []
    original = Embedder.scene_embeddings

    def interrupted(self: Embedder, audio: object) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, audio)

    monkeypatch.setattr(Embedder, "scene_embeddings", interrupted)
    out = tmp_path / "o"
    args = ["embed", str(tmp_path), "--variant", "handcrafted", "--out", str(out), "--no-progress", "--batch-size", "1"]
    assert main(args) == 130
    assert "run the same command again to resume" in capsys.readouterr().err
    assert sorted(p.name for p in out.glob("*.npz")) == ["0.wav.npz"] and not list(out.glob(".*tmp"))
    report = json.loads((out / REPORT_NAME).read_text())
    assert [r["status"] for r in report["results"]] == ["embedded", "failed", "failed"]
    assert report["results"][1]["error"] == "not processed (the run stopped early)"
    monkeypatch.setattr(Embedder, "scene_embeddings", original)
    assert main(args) == 0
    statuses = [r["status"] for r in json.loads((out / REPORT_NAME).read_text())["results"]]
    assert statuses == ["skipped", "embedded", "embedded"]


def test_precision_is_recorded_and_never_mixed_in_one_folder(tiny_ckpt: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from hear_gear_embed.util.precision import cpu_bf16_units

    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.8, 32000), 32000)
    out = tmp_path / "o"
    common = ["embed", str(tmp_path / "x.wav"), "--variant", "tiny_test", "--model", str(tiny_ckpt), "--out", str(out),
              "--no-progress", "--device", "cpu"]
    assert main([*common, "--precision", "fp16"]) == 2
    assert "fp16 on a CPU is no faster than fp32" in capsys.readouterr().err and not out.exists()
    if not cpu_bf16_units():
        assert main([*common, "--precision", "bf16"]) == 2
        assert "no bf16 units" in capsys.readouterr().err
        return
    assert main([*common, "--precision", "bf16"]) == 0
    assert str(load(out / "x.wav.npz")["precision"]) == "bf16"
    assert json.loads((out / REPORT_NAME).read_text())["precision"] == "bf16"
    assert main(common) == 1
    assert "exists with precision 'bf16', not 'fp32'" in capsys.readouterr().err
    assert main([*common, "--overwrite"]) == 0
    assert str(load(out / "x.wav.npz")["precision"]) == "fp32"
    assert main(common) == 0 and "1 already done" in capsys.readouterr().out


def test_a_list_file_that_is_not_text_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.2, 32000), 32000)
    (tmp_path / "nul.txt").write_text("a.wav\nb\0.wav\n")
    for listing, message in ((tmp_path / "x.wav", "x.wav: not a text file of paths (line 1 is not UTF-8"),
                             (tmp_path / "nul.txt", "nul.txt, line 2: holds a NUL byte")):
        assert main(["embed", "--from-list", str(listing), "--variant", "handcrafted", "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("option", "value"), [("--batch-seconds", "nan"), ("--batch-seconds", "inf"),
                                               ("--batch-seconds", "0"), ("--memory-budget-mb", "nan"),
                                               ("--memory-budget-mb", "-1"), ("--cpus-per-worker", "nan"),
                                               ("--gpus-per-worker", "inf"), ("--stall-timeout", "nan")])
def test_non_finite_or_out_of_range_numbers_are_refused_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                option: str, value: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["embed", str(tmp_path), "--variant", "handcrafted", option, value])
    assert stopped.value.code == 2
    assert f"argument {option}: {value!r} is not a finite number" in capsys.readouterr().err


def test_an_unwritable_output_folder_stops_before_the_model_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from hear_gear_embed.io import ModelSpec

    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.2, 32000), 32000)
    (tmp_path / "file").write_text("a file, so that no folder can be made below it, whoever runs the test")

    def never(self: ModelSpec) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(ModelSpec, "load", never)
    assert main(["embed", str(tmp_path / "x.wav"), "--variant", "handcrafted", "--out", str(tmp_path / "file" / "o")]) == 2
    err = capsys.readouterr().err
    assert f"error: --out: cannot create or write the folder {tmp_path / 'file' / 'o'}" in err and "Traceback" not in err


def test_folders_reached_through_links_are_embedded_once_and_loops_are_left(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    soundfile.write(outside / "linked.wav", tone(440.0, 0.2, 32000), 32000)
    root = tmp_path / "audio"
    (root / "sub").mkdir(parents=True)
    soundfile.write(root / "sub" / "own.wav", tone(330.0, 0.2, 32000), 32000)
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "sub" / "loop").symlink_to(root, target_is_directory=True)
    (root / "twice").symlink_to(outside, target_is_directory=True)
    out = tmp_path / "o"
    assert main(["embed", str(root), "--variant", "handcrafted", "--out", str(out), "--no-progress"]) == 0
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.npz")) == ["link/linked.wav.npz", "sub/own.wav.npz"]
    assert f"{root / 'sub' / 'loop'}: not searched, a link to {root}" in caplog.text
    assert f"{root / 'twice'}: not searched, a link to {root / 'link'}" in caplog.text


def test_progress_is_logged_when_stderr_is_not_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    from hear_gear_embed.cli import embed as embed_command

    for i in range(3):
        soundfile.write(tmp_path / f"{i}.wav", tone(300.0 * (i + 1), 0.2, 32000), 32000)
    monkeypatch.setattr(embed_command, "PROGRESS_LOG_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger="hear_gear_embed.cli.embed"):
        assert main(["embed", str(tmp_path), "--variant", "handcrafted", "--out", str(tmp_path / "o")]) == 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("embedding: ")]
    assert lines and lines[-1].startswith("embedding: 3 of 3 files (100%)")
