"""Fixtures of the GEAR tests (:mod:`hear_gear_embed.evaluation.gear`): two small runs, written once for the package
(read-only; a test that changes one copies it), with a foreign HEAR module and one of this package's variants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hear_gear_embed.evaluation.gear import run_gear
from tests import gear_fake_module

from . import FAKE, GRID, SMALL


@pytest.fixture(autouse=True)
def _well_behaved_fake() -> Iterator[None]:
    gear_fake_module.BEHAVIOUR["mode"] = "ok"
    yield
    gear_fake_module.BEHAVIOUR["mode"] = "ok"


@pytest.fixture(scope="package")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gear")
    out = {"fake": root / "fake", "lowlevel_mel": root / "lowlevel_mel"}
    run_gear(FAKE, out["fake"], preset="perceptual", grid_overrides=GRID, settings=SMALL, progress=False)
    run_gear("lowlevel_mel", out["lowlevel_mel"], preset="perceptual", grid_overrides=GRID, settings=SMALL,
             kind="timestamp", progress=False, save_embeddings=True)
    return out
