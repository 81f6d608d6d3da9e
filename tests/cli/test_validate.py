"""``hear-gear validate``: the in-process HEAR validator's report, and the exit status by verdict."""

from __future__ import annotations

import pytest

from hear_gear_embed.cli import main


@pytest.mark.parametrize("module,code,verdict", [
    ("handcrafted", 0, "verdict: PASS"),  # a variant name resolves to hear_gear_embed.hear.<name>
    ("tests.harness.broken_modules.correct", 0, "verdict: PASS"),
    ("tests.harness.broken_modules.wrong_timestamp_size", 1, "verdict: FAIL"),
])
def test_validate_prints_a_report_and_exits_by_verdict(capsys: pytest.CaptureFixture[str], module: str, code: int,
                                                        verdict: str) -> None:
    assert main(["validate", module, "--device", "cpu"]) == code
    out = capsys.readouterr().out
    assert out.startswith("HEAR 2021 validation of ") and verdict in out.splitlines()[-1]


def test_validate_module_that_does_not_import_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "tests.harness.broken_modules.import_fails"]) == 2
    assert "error: cannot import tests.harness.broken_modules.import_fails" in capsys.readouterr().err
    assert main(["validate", "no_such_module_anywhere"]) == 2


def test_validate_fails_nan_embeddings_and_says_it_is_stricter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "tests.harness.broken_modules.nan_embeddings", "--device", "cpu"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  get_timestamp_embeddings, 2 x 4.0 s\n" in out and "stricter than hear-validator 2021.0.6" in out
