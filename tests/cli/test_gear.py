"""``hear-gear gear`` and ``hear-gear gear-compare``: runs from the command line, the embedding kind, errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from hear_gear_embed.cli import main
from hear_gear_embed.evaluation import gear
from hear_gear_embed.util import precision as precision_module

FAKE = "tests.gear_fake_module"
COMMON = ["--preset", "perceptual", "--n-alpha", "5", "--n-r", "5", "--duration", "0.2",
          "--isomap-neighbors", "10", "--knn-neighbors", "4", "--no-progress"]


def test_cli_gear_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gear", FAKE, "--out", str(tmp_path / "a"), *COMMON]) == 0
    assert main(["gear", "handcrafted", "--out", str(tmp_path / "b"), "--embedding", "timestamp", *COMMON]) == 0
    out = capsys.readouterr().out
    assert "sensitivity f1 " in out and "ridge R^2" in out
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["embedding"]["kind"] == "scene"
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["embedding"]["kind"] == "timestamp"
    assert main(["gear-compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "comparison.md").is_file()
    assert main(["gear", "no_such_hear_module", "--out", str(tmp_path / "d")]) == 2
    assert main(["gear", FAKE, "--duration", "0.5"]) == 2  # --duration needs the perceptual preset
    assert "error:" in capsys.readouterr().err


def test_cli_gear_precision(tiny_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the CPU's answer, on any machine
    monkeypatch.setattr(precision_module, "cpu_bf16_units", lambda flags=None: ("avx512_bf16",))  # any CPU: tiny model
    model = ["tiny_test", "--model", str(tiny_ckpt)]
    assert main(["gear", *model, "--precision", "bf16", "--out", str(tmp_path / "bf16"), *COMMON]) == 0
    assert json.loads((tmp_path / "bf16" / "metrics.json").read_text())["precision"] == "bf16"
    assert main(["gear", *model, "--precision", "fp16", "--out", str(tmp_path / "fp16"), *COMMON]) == 2
    assert "fp16 on a CPU" in capsys.readouterr().err


def test_old_embedding_name_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["gear", FAKE, "--embedding", "timestamp_mean"])
    assert info.value.code == 2 and "invalid choice: 'timestamp_mean'" in capsys.readouterr().err


def test_cli_names_a_missing_gear_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if scikit-learn were not installed
    assert main(["gear", FAKE, "--out", str(tmp_path), "--n-alpha", "5", "--n-r", "5", "--isomap-neighbors", "5",
                 "--knn-neighbors", "3", "--no-progress"]) == 2
    assert "gear extra" in capsys.readouterr().err


def test_an_unwritable_out_exits_2_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    def not_loaded(*args: object, **kwargs: object) -> None:
        raise AssertionError("the module was loaded before --out was checked")

    monkeypatch.setattr(gear.run, "as_model", not_loaded)
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "run"
    assert main(["gear", FAKE, "--out", str(out), *COMMON]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"cannot create or write the folder {out}: [Errno 20] Not a directory" in err


def test_compare_names_a_malformed_metrics_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_text('{"module": "x",')
    (run / "gear.npz").write_bytes(b"")
    assert main(["gear-compare", str(run), "--out", str(tmp_path / "cmp")]) == 2
    assert f"error: {run / 'metrics.json'}: not valid JSON (" in capsys.readouterr().err
    (run / "metrics.json").write_text('{"module": "x"}')
    assert main(["gear-compare", str(run), "--out", str(tmp_path / "cmp")]) == 2
    assert f"error: {run / 'metrics.json'}: not a GEAR metrics record: grid is missing" in capsys.readouterr().err
