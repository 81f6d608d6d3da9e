"""The in-process HEAR validator on tiny broken modules: the verdict the real hear-validator gives (checked by
``tests/harness/run_harness.py``), the reason, and the printed report."""

from __future__ import annotations

import importlib
import re
import sys
import types

import pytest
import torch

from hear_gear_embed.evaluation.validate import ValidationReport, validate_module

from ..harness.broken_modules import CASES, IMPORT_FAILS
from ..harness.broken_modules import _base as base

PACKAGE = "tests.harness.broken_modules"


def _module(name: str, **functions: object) -> types.ModuleType:
    """A HEAR module built in the test: the correct tiny one with ``functions`` replaced."""
    module = types.ModuleType(name)
    module.load_model = base.load_model
    module.get_timestamp_embeddings = base.get_timestamp_embeddings
    module.get_scene_embeddings = base.get_scene_embeddings
    for key, value in functions.items():
        setattr(module, key, value)
    return module


@pytest.mark.parametrize("name", list(CASES))
def test_verdict_and_reason(name: str) -> None:
    case = CASES[name]
    report = validate_module(f"{PACKAGE}.{name}", device="cpu")
    assert report.passed == case.passes, report.format()
    assert report.format().splitlines()[-1].startswith(f"verdict: {'PASS' if case.passes else 'FAIL'} (")
    named = report.errors if not case.passes else report.warnings
    if case.real_verdict != case.passes:  # a documented difference: the report says so
        assert any("stricter than hear-validator" in line for line in report.errors), report.format()
    if case.reason:
        assert any(re.search(case.reason, line) for line in named), report.format()
    else:
        assert report.warnings == [], report.format()
    if case.passes:
        assert report.errors == []


def test_import_failure_raises() -> None:
    with pytest.raises(ImportError, match="RuntimeError: set-up at import failed") as info:
        validate_module(f"{PACKAGE}.{IMPORT_FAILS}")
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(ModuleNotFoundError):
        validate_module(f"{PACKAGE}.no_such_module")


def test_report_of_a_correct_module() -> None:
    report = validate_module(f"{PACKAGE}.correct", device="cpu")
    text = report.format()
    assert str(report) == text
    lines = text.splitlines()
    assert lines[0] == f"HEAR 2021 validation of {PACKAGE}.correct (load_model(), device cpu)"
    assert lines[-1] == "verdict: PASS (0 error(s), 0 warning(s))"
    steps = [line for line in lines if not line.startswith((" ", "HEAR", "note", "verdict"))]
    assert steps == [
        "PASS  module API", "PASS  load_model()", "PASS  sample_rate", "PASS  embedding sizes",
        "PASS  get_timestamp_embeddings, 2 x 1.07 s", "PASS  get_timestamp_embeddings, 2 x 1.98 s",
        "PASS  get_timestamp_embeddings, 2 x 4.0 s", "PASS  get_scene_embeddings, 4 x 2.74 s",
    ]
    for seen in ("16000 Hz", "audio (2, 17120)", "embeddings (2, 22, 8) float32", "timestamps (2, 22) float32",
                 "timestamps 0 to 1050 ms for 1070 ms of audio", "timestamps 0 to 4000 ms for 4000 ms of audio",
                 "audio (4, 43840)", "embeddings (4, 8) float32", "timestamp_embedding_size = 8"):
        assert f"        {seen}\n" in text
    assert "note: as hear-validator warns" in text
    assert "get_timestamp_embeddings, 2 x 1.07 s: embeddings (2, 22, 8) float32" in report.info


def test_report_of_failures_and_warnings() -> None:
    text = validate_module(f"{PACKAGE}.timestamps_raise", device="cpu").format()
    assert "PASS  get_timestamp_embeddings, 2 x 1.98 s\n" in text
    assert re.search(r"FAIL  get_timestamp_embeddings, 2 x 4\.0 s\n        audio \(2, 64000\)\n"
                     r"        error: raised ValueError: clips of at most 3 s, got 4\.0 s \(at timestamps_raise\.py:\d+\)\n", text)
    assert "PASS  get_scene_embeddings, 4 x 2.74 s\n" in text
    assert text.endswith("verdict: FAIL (1 error(s), 0 warning(s))")

    text = validate_module(f"{PACKAGE}.load_model_raises", device="cpu").format()
    assert "FAIL  load_model()\n        error: raised FileNotFoundError: no weights file given" in text
    assert text.count("SKIP  ") == 6 and "SKIP  sample_rate\n        not run: no model\n" in text

    text = validate_module(f"{PACKAGE}.sparse_timestamps", device="cpu").format()
    assert "WARN  get_timestamp_embeddings, 2 x 1.07 s\n" in text
    assert "        warning: timestamps end at 1000 ms: no embedding for events at the end of the 1070 ms\n" in text
    assert text.endswith("verdict: PASS (0 error(s), 5 warning(s))")


def test_model_file_path_and_module_object() -> None:
    report = validate_module(importlib.import_module(f"{PACKAGE}.load_model_raises"), "weights.pt", device="cpu")
    assert report.passed, report.format()
    assert report.format().startswith(f"HEAR 2021 validation of {PACKAGE}.load_model_raises (load_model('weights.pt'), device cpu)")
    assert "PASS  load_model('weights.pt')" in report.format()


def _single_frame(audio: torch.Tensor, model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(audio.shape[0], 1, model.timestamp_embedding_size), torch.zeros(audio.shape[0], 1)


def _bfloat16_timestamps(audio: torch.Tensor, model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    embeddings, timestamps = base.get_timestamp_embeddings(audio, model)
    return embeddings, timestamps.bfloat16()


def _inf_scene(audio: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    embeddings = base.get_scene_embeddings(audio, model)
    embeddings[:, 0] = torch.inf
    return embeddings


def _nan_timestamps(audio: torch.Tensor, model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    embeddings, timestamps = base.get_timestamp_embeddings(audio, model)
    return embeddings, torch.where(timestamps > 500, torch.nan, timestamps)


def _nan_and_inf(audio: torch.Tensor, model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    embeddings, timestamps = base.get_timestamp_embeddings(audio, model)
    embeddings[0, 0, :3], embeddings[1, -1, 0] = torch.nan, -torch.inf
    return embeddings, timestamps


STRICTER = r": this check is stricter than hear-validator 2021\.0\.6, which passes them; hear-gear embed and evaluate refuse"


@pytest.mark.parametrize(("functions", "passes", "reason"), [
    # Non-finite outputs: hear-validator passes them, this validator fails them (a documented difference).
    ({"get_scene_embeddings": _inf_scene}, False, r"^get_scene_embeddings, 4 x 2\.74 s: embeddings contain 4 Inf of 32 "
                                                  r"values" + STRICTER),
    ({"get_timestamp_embeddings": _nan_timestamps}, False, r"^get_timestamp_embeddings, 2 x 1\.07 s: timestamps contain "
                                                           r"22 NaN of 44 values" + STRICTER),
    ({"get_timestamp_embeddings": _nan_and_inf}, False, r"2 x 1\.98 s: embeddings contain 3 NaN and 1 Inf of 640 values"),
    # One timestamp per sound: no interval to check, as in the real validator.
    ({"get_timestamp_embeddings": _single_frame}, True, ""),
    # The real validator unpacks the result into two: the embeddings alone, of 2 sounds, unpack into 2 tensors.
    ({"get_timestamp_embeddings": lambda audio, model: base.get_timestamp_embeddings(audio, model)[0]}, False,
     r"2 x 1\.07 s: embeddings must have 3 dimensions \(sounds, timestamps, size\), got shape \(22, 8\)"),
    ({"get_timestamp_embeddings": lambda audio, model: None}, False, r"must return \(embeddings, timestamps\), got NoneType"),
    ({"get_timestamp_embeddings": _bfloat16_timestamps}, False, r"timestamps of dtype torch\.bfloat16 cannot be converted"),
    ({"get_timestamp_embeddings": None}, False, r"2 x 1\.07 s: raised TypeError: 'NoneType' object is not callable"),
    ({"load_model": lambda: torch.nn.Linear(1, 1)}, False, r"^sample_rate: the model must have a sample_rate attribute"),
])
def test_edge_cases(functions: dict[str, object], passes: bool, reason: str) -> None:
    report = validate_module(_module("edge", **functions), device="cpu")
    assert report.passed == passes, report.format()
    if reason:
        assert any(re.search(reason, line) for line in report.errors), report.format()


def test_tensorflow_model_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tf = types.ModuleType("tensorflow")
    fake_tf.Module = type("Module", (), {})
    monkeypatch.setitem(sys.modules, "tensorflow", fake_tf)
    report = validate_module(_module("tf_module", load_model=lambda: fake_tf.Module()), device="cpu")
    assert not report.passed
    assert any("TensorFlow model" in line and "run hear-validator" in line for line in report.errors)


def test_report_built_by_hand_formats() -> None:
    report = ValidationReport("m", errors=["x: broken"])
    assert not report.passed
    assert report.format().splitlines() == [
        "HEAR 2021 validation of m (load_model(), device default)", "verdict: FAIL (1 error(s), 0 warning(s))",
    ]
