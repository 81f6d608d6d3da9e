"""``hear-gear embed`` (:mod:`hear_gear_embed.cli.embed`), what is about the command line: one end-to-end run on a
folder of mixed files (the wiring), exit statuses and messages, usage errors and option checks, ``--from-list`` errors,
one file per batch on CPU by default, the identity recorded by ``--variant`` with ``--model``, by ``--module`` and by a
full-size variant on random weights, missing weights, a busy folder, a report that cannot be written, an interrupted run
that resumes, precision and device errors, and 0.1's ``--scene`` / ``--timestamps``. What the runs write (outputs,
resuming, batching, retries) is tested on the functions: ``tests/io/``."""

from __future__ import annotations

import hashlib
import json
import logging
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
from hear_gear_embed.hear.handle import EmbeddingModel
from hear_gear_embed.hear.identity import module_version
from hear_gear_embed.hear.spec import ModelSpec
from hear_gear_embed.io import REPORT_NAME, read_audio
from hear_gear_embed.io.folder import LOCK_NAME
from hear_gear_embed.util.files import folder_lock

from ..audio_corpus import BAD_FILES, GOOD_FILES, load, tone, write_corpus
from ..io.spies import report_disk_full, scene_call_shapes


def embed(*argv: str) -> int:
    return main(["embed", *argv, "--no-progress"])


def test_embed_folder_of_mixed_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = write_corpus(tmp_path / "audio")
    out = tmp_path / "emb"
    assert embed(str(corpus), "--variant", "lowlevel_mel", "--out", str(out)) == 1  # the three bad files
    captured = capsys.readouterr()
    for name, reason in BAD_FILES.items():
        assert f"failed: {corpus / name}: " in captured.err and reason in captured.err
    assert captured.out.startswith("lowlevel_mel: 6 embedded (") and "0 already done, 3 failed" in captured.out
    assert f"outputs, embed-report.json and embed-manifest.jsonl in {out}" in captured.out
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.npz")) == sorted(name + ".npz" for name in GOOD_FILES)
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["variant"] == "lowlevel_mel" and report["kinds"] == ["scene", "timestamp"] and report["engine"] == "local"


@pytest.mark.parametrize(("flags", "kinds"), [(["--scene"], ["scene"]), (["--timestamps"], ["timestamp"]),
                                              (["--timestamps", "--scene"], ["scene", "timestamp"]),
                                              (["--timestamps", "--kind", "scene"], ["scene", "timestamp"])])
def test_the_kind_flags_of_0_1_still_select_the_kinds_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                                    flags: list[str], kinds: list[str]) -> None:
    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.3, 32000), 32000)
    out = tmp_path / "o"
    with caplog.at_level(logging.WARNING, logger="hear_gear_embed.cli.embed"):
        assert embed(str(tmp_path / "x.wav"), "--variant", "lowlevel_mel", "--out", str(out), *flags) == 0
    assert json.loads((out / REPORT_NAME).read_text())["kinds"] == kinds
    assert ("scene" in load(out / "x.wav.npz")) == ("scene" in kinds)
    assert ("timestamp_embeddings" in load(out / "x.wav.npz")) == ("timestamp" in kinds)
    warnings = sorted(r.getMessage() for r in caplog.records if "deprecated" in r.getMessage())
    expected = {"--scene": "--scene is deprecated and will be removed in 0.3: use --kind scene",
                "--timestamps": "--timestamps is deprecated and will be removed in 0.3: use --kind timestamp"}
    assert warnings == sorted(expected[flag] for flag in flags if flag in expected)


def test_the_kind_flags_of_0_1_are_left_out_of_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["embed", "--help"])
    assert stopped.value.code == 0
    shown = capsys.readouterr().out
    assert "--kind" in shown and "--scene" not in shown and "--timestamps" not in shown


def test_one_file_per_batch_on_cpu_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of equal length would be batched (``tests/io/test_corpus.py``); on a CPU, where batching measured no
    faster, the command embeds one file at a time unless ``--batch-size`` says otherwise."""
    for name, rate, seconds in [("a.wav", 16000, 1.0), ("b.wav", 44100, 1.0), ("c.flac", 48000, 1.0),
                                ("d.wav", 32000, 0.5), ("e.wav", 16000, 0.5)]:
        soundfile.write(tmp_path / name, tone(440.0, seconds, rate), rate)
    shapes = scene_call_shapes(monkeypatch)
    base = [str(tmp_path), "--variant", "lowlevel_mel", "--kind", "scene", "--device", "cpu"]
    assert embed(*base, "--out", str(tmp_path / "o1")) == 0
    assert sorted(shapes) == [(1, 16000)] * 2 + [(1, 32000)] * 3
    shapes.clear()
    assert embed(*base, "--out", str(tmp_path / "o2"), "--batch-size", "16", "--batch-seconds", "1.5") == 0
    assert sorted(shapes) == [(1, 32000)] * 3 + [(2, 16000)]


def test_network_variant_with_checkpoint_records_its_identity(tiny_ckpt: Path, tmp_path: Path) -> None:
    soundfile.write(tmp_path / "x.flac", np.stack([tone(440.0, 1.2, 44100)] * 2, axis=1), 44100)
    out = tmp_path / "o"
    assert embed(str(tmp_path / "x.flac"), "--variant", "tiny_test", "--model", str(tiny_ckpt), "--out", str(out),
                 "--device", "cpu") == 0
    saved = load(out / "x.flac.npz")
    variant = get_variant("tiny_test")
    assert str(saved["variant"]) == "tiny_test" and str(saved["weights"]) == str(tiny_ckpt)
    assert str(saved["weights_sha256"]) == hashlib.sha256(tiny_ckpt.read_bytes()).hexdigest()
    assert str(saved["precision"]) == "fp32"
    assert saved["timestamp_embeddings"].shape == (38400 // 1600 + 1, variant.timestamp_embedding_size)
    model = load_embedder(variant, tiny_ckpt, device="cpu")
    with torch.no_grad():
        expected = model.scene_embeddings(read_audio(tmp_path / "x.flac", 32000).samples[None])[0].numpy()
    np.testing.assert_allclose(saved["scene"], expected, rtol=1e-5, atol=1e-6)


def test_full_size_passt_with_random_weights(tmp_path: Path) -> None:
    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.5, 48000), 48000)
    out = tmp_path / "o"
    assert embed(str(tmp_path / "x.wav"), "--variant", "passt_base", "--random-weights", "0", "--out", str(out),
                 "--device", "cpu") == 0
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
    (["--variant", "tiny_test", "--model", "w.pt", "--random-weights", "1"], "--model and --random-weights exclude each other"),
    (["--variant", "handcrafted", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["--variant", "handcrafted", "--engine", "ray", "--device", "cpu"], "--device applies to --engine local only"),
    (["--variant", "handcrafted", "--workers", "1:2", "--gpus-per-worker", "1"], "--workers, --gpus-per-worker apply to "
     "--engine ray only"),
    (["--variant", "handcrafted", "--address", "auto", "--cpus-per-worker", "2", "--stall-timeout", "9"],
     "--address, --cpus-per-worker, --stall-timeout apply to --engine ray only"),
    (["--variant", "handcrafted", "--engine", "ray", "--workers", "2:1"], "MIN:MAX"),
    (["--module", "tests.gear_fake_module", "--random-weights", "0"],
     "weights='random' apply to this package's variants only, not to HEAR module 'tests.gear_fake_module'"),
    (["--module", "tests.gear_fake_module", "--precision", "bf16"],
     "tests.gear_fake_module.load_model takes no precision argument: it cannot run in bf16"),
    (["--module", "no_such_hear_module"], "cannot import HEAR module 'no_such_hear_module'"),
    (["--module", "json"], "'json' is not a HEAR module"),
])
def test_bad_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["embed", str(tmp_path), "--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_usage_errors_exit_2_without_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").write_text("a file where the output folder should go")
    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.2, 32000), 32000)
    assert main(["embed", str(tmp_path / "x.wav"), "--variant", "handcrafted", "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert f"error: --out {tmp_path / 'taken'} exists and is not a folder" in err and "Traceback" not in err
    assert main(["embed", str(tmp_path / "x.wav"), "--variant", "handcraftd", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "error: unknown variant 'handcraftd'; did you mean handcrafted" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as stopped:  # argparse: the two model options exclude each other
        main(["embed", str(tmp_path / "x.wav"), "--variant", "handcrafted", "--module", "json"])
    assert stopped.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
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


def test_a_list_file_that_is_not_text_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.2, 32000), 32000)
    (tmp_path / "nul.txt").write_text("a.wav\nb\0.wav\n")
    for listing, message in ((tmp_path / "x.wav", "x.wav: not a text file of paths (line 1 is not UTF-8"),
                             (tmp_path / "nul.txt", "nul.txt, line 2: holds a NUL byte")):
        assert main(["embed", "--from-list", str(listing), "--variant", "handcrafted", "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_any_hear_module_embeds_and_records_what_is_known_of_it(tmp_path: Path) -> None:
    """A HEAR module from outside the package (16 kHz band energies): inputs are resampled to its rate, outputs record
    the module; this package's own modules by import name are its variants."""
    soundfile.write(tmp_path / "x.flac", np.stack([tone(440.0, 1.0, 44100)] * 2, axis=1), 44100)
    out = tmp_path / "o"
    assert embed(str(tmp_path / "x.flac"), "--module", "tests.gear_fake_module", "--out", str(out)) == 0
    saved = load(out / "x.flac.npz")
    assert str(saved["variant"]) == str(saved["module"]) == "tests.gear_fake_module"
    assert re.fullmatch("no distribution, source sha256 [0-9a-f]{16}", str(saved["module_version"]))  # tests/ on sys.path
    assert str(saved["weights"]) == "module default"
    assert str(saved["precision"]) == "fp32" and int(saved["sample_rate"]) == 16000
    assert saved["scene"].shape == (24,)
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["module"] == "tests.gear_fake_module" and report["engine"] == "local"
    by_module = tmp_path / "m"
    assert embed(str(tmp_path / "x.flac"), "--module", "hear_gear_embed.hear.lowlevel_mel", "--out", str(by_module)) == 0
    saved = load(by_module / "x.flac.npz")
    assert str(saved["variant"]) == "lowlevel_mel" and str(saved["module"]) == "hear_gear_embed.hear.lowlevel_mel"
    assert str(saved["module_version"]) == module_version(hear_gear_embed)
    assert str(saved["package_version"]) == hear_gear_embed.__version__


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_missing_cuda_device_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["embed", str(tmp_path), "--variant", "handcrafted", "--device", "cuda", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "error: device 'cuda' was requested but CUDA is not available" in err and "Traceback" not in err


def test_a_device_that_holds_no_data_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "a.wav"
    soundfile.write(source, tone(440, 0.5, 32000), 32000)
    for argv in (["--variant", "handcrafted"], ["--variant", "tiny_test", "--random-weights", "0"]):
        assert embed(str(source), *argv, "--device", "meta", "--out", str(tmp_path / "o")) == 2
        err = capsys.readouterr().err
        assert "error: device 'meta' holds no data" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_missing_paths_and_name_clashes_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        soundfile.write(tmp_path / folder / "x.wav", tone(440.0, 0.5, 32000), 32000)
    out = tmp_path / "o"
    code = embed(str(tmp_path / "one" / "x.wav"), str(tmp_path / "two" / "x.wav"), str(tmp_path / "nope"),
                 "--variant", "lowlevel_mel", "--out", str(out))
    err = capsys.readouterr().err
    assert code == 1
    assert f"failed: {tmp_path / 'nope'}: no such file or folder" in err
    assert f"failed: {tmp_path / 'two' / 'x.wav'}: its output {out / 'x.wav.npz'} would overwrite" in err
    assert str(load(out / "x.wav.npz")["source"]) == str((tmp_path / "one" / "x.wav").resolve())


def test_a_busy_output_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    soundfile.write(tmp_path / "a.wav", tone(440.0, 0.3, 32000), 32000)
    out = tmp_path / "o"
    with folder_lock(out, LOCK_NAME, "hear-gear embed run"):
        assert embed(str(tmp_path / "a.wav"), "--variant", "lowlevel_mel", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "in use by another hear-gear embed run" in err and "Traceback" not in err
    assert not list(out.glob("*.npz")) and not (out / REPORT_NAME).exists()


def test_a_report_that_cannot_be_written_exits_1_after_the_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    soundfile.write(tmp_path / "a.wav", tone(440.0, 0.3, 32000), 32000)
    report_disk_full(monkeypatch)
    out = tmp_path / "o"
    args = [str(tmp_path / "a.wav"), "--variant", "lowlevel_mel", "--out", str(out)]
    assert embed(*args) == 1
    captured = capsys.readouterr()
    assert "1 embedded" in captured.out and (out / "a.wav.npz").is_file()
    assert "No space left on device" in captured.err and "run the same command again" in captured.err
    assert embed(*args) == 1  # the output written is found without a report
    captured = capsys.readouterr()
    assert "0 embedded" in captured.out and "1 already done" in captured.out


def test_interrupted_run_keeps_finished_outputs_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(3):
        soundfile.write(tmp_path / f"{i}.wav", tone(300.0 * (i + 1), 0.5, 32000), 32000)
    calls = []
    original = EmbeddingModel.scene_embeddings

    def interrupted(self: EmbeddingModel, audio: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, audio)

    monkeypatch.setattr(EmbeddingModel, "scene_embeddings", interrupted)
    out = tmp_path / "o"
    args = [str(tmp_path), "--variant", "lowlevel_mel", "--out", str(out), "--batch-size", "1"]
    assert embed(*args) == 130
    assert "run the same command again to resume" in capsys.readouterr().err
    assert sorted(p.name for p in out.glob("*.npz")) == ["0.wav.npz"] and not list(out.glob(".*tmp"))
    saved = json.loads((out / REPORT_NAME).read_text())
    assert [r["status"] for r in saved["results"]] == ["embedded", "failed", "failed"]
    assert saved["results"][1]["error"] == "not processed (the run stopped early)"
    monkeypatch.setattr(EmbeddingModel, "scene_embeddings", original)
    assert embed(*args) == 0
    statuses = [r["status"] for r in json.loads((out / REPORT_NAME).read_text())["results"]]
    assert statuses == ["skipped", "embedded", "embedded"]


def test_precision_errors_exit_2_and_bf16_is_recorded(tiny_ckpt: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """That outputs of one precision are never mixed with another's is the resume rule's (``tests/io/test_resume.py``)."""
    from hear_gear_embed.util.precision import cpu_bf16_units

    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.8, 32000), 32000)
    out = tmp_path / "o"
    common = [str(tmp_path / "x.wav"), "--variant", "tiny_test", "--model", str(tiny_ckpt), "--out", str(out),
              "--device", "cpu"]
    assert embed(*common, "--precision", "fp16") == 2
    assert "fp16 on a CPU is no faster than fp32" in capsys.readouterr().err and not out.exists()
    if not cpu_bf16_units():
        assert embed(*common, "--precision", "bf16") == 2
        assert "no bf16 units" in capsys.readouterr().err and not out.exists()
        return
    assert embed(*common, "--precision", "bf16") == 0
    assert str(load(out / "x.wav.npz")["precision"]) == "bf16"
    assert json.loads((out / REPORT_NAME).read_text())["precision"] == "bf16"
    assert embed(*common) == 1
    assert "exists with precision 'bf16', not 'fp32'" in capsys.readouterr().err


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
    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.2, 32000), 32000)
    (tmp_path / "file").write_text("a file, so that no folder can be made below it, whoever runs the test")

    def never(self: ModelSpec) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(ModelSpec, "load", never)
    assert main(["embed", str(tmp_path / "x.wav"), "--variant", "handcrafted", "--out", str(tmp_path / "file" / "o")]) == 2
    err = capsys.readouterr().err
    assert f"error: --out: cannot create or write the folder {tmp_path / 'file' / 'o'}" in err and "Traceback" not in err


def test_progress_is_logged_when_stderr_is_not_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    from hear_gear_embed.cli import embed as embed_command

    for i in range(3):
        soundfile.write(tmp_path / f"{i}.wav", tone(300.0 * (i + 1), 0.2, 32000), 32000)
    monkeypatch.setattr(embed_command, "PROGRESS_LOG_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger="hear_gear_embed.cli.embed"):
        assert main(["embed", str(tmp_path), "--variant", "lowlevel_mel", "--out", str(tmp_path / "o")]) == 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("embedding: ")]
    assert lines and lines[-1].startswith("embedding: 3 of 3 files (100%)")


def test_int8_is_recorded_and_compile_applies_to_variants_only(tiny_ckpt: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from hear_gear_embed.util.precision import cpu_int8_units

    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.8, 32000), 32000)
    out = tmp_path / "o"
    common = [str(tmp_path / "x.wav"), "--variant", "tiny_test", "--model", str(tiny_ckpt), "--out", str(out),
              "--device", "cpu", "--precision", "int8", "--compile", "off"]
    if not cpu_int8_units():
        assert embed(*common) == 2
        assert "no int8 dot-product units" in capsys.readouterr().err and not out.exists()
    else:
        assert embed(*common) == 0
        assert str(load(out / "x.wav.npz")["precision"]) == "int8"
    assert embed(str(tmp_path / "x.wav"), "--module", "tests.harness.control_module", "--out", str(tmp_path / "c"),
                 "--compile", "on") == 2
    assert "compile apply to this package's variants only" in capsys.readouterr().err
