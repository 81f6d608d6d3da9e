"""Collects the worst parity error per variant and output, printed at the end of the run."""

from __future__ import annotations

import json
import os
from collections import defaultdict

import pytest

_REPORT: dict[str, dict[str, object]] = defaultdict(dict)


@pytest.fixture(scope="session")
def parity_report() -> dict[str, dict[str, object]]:
    """``{variant: {output: worst relative error, or a note}}`` filled by the tests."""
    return _REPORT


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _REPORT:
        return
    terminalreporter.section("parity with hear21passt 0.0.26 (max |ours - ref| / max |ref|)")
    for variant, rows in sorted(_REPORT.items()):
        for output, value in sorted(rows.items()):
            shown = f"{value:.2e}" if isinstance(value, float) else value
            terminalreporter.write_line(f"{variant:<15} {output:<34} {shown}")
    target = os.environ.get("PARITY_REPORT")
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump(_REPORT, handle, indent=2, sort_keys=True)
