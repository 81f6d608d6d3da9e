"""Fixtures of the downstream evaluation tests: the synthetic HEAR tasks, written once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.tasks import make_tasks

from .fakes import RATE


@pytest.fixture(scope="session")
def synthetic_tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four synthetic tasks of :mod:`tests.harness.tasks` at 32 kHz, written once per session (read-only)."""
    root = tmp_path_factory.mktemp("hear-tasks")
    make_tasks(root, (RATE,))
    return root
