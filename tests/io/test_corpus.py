"""Embedding folders into ``.npz`` files (:mod:`hear_gear_embed.io.corpus`) directly: the kinds asked for and the
report. The command line around it (mixed files, resuming, batching, failures) is in ``tests/cli/test_embed.py``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from hear_gear_embed import get_variant, load_embedder
from hear_gear_embed.embedding import Embedder
from hear_gear_embed.io import REPORT_NAME, embed_files

from ..conftest import tone


@pytest.fixture(scope="module")
def model() -> Embedder:
    return load_embedder(get_variant("lowlevel_mel"), device="cpu")


def test_kinds_select_the_outputs(model: Embedder, tmp_path: Path) -> None:
    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.3).numpy(), 32000)
    report = embed_files([tmp_path / "x.wav"], model, tmp_path / "t", kinds=("timestamp",))
    assert report.kinds == ("timestamp",) and report.count("embedded") == 1
    with np.load(tmp_path / "t" / "x.wav.npz") as saved:
        assert "scene" not in saved.files and saved["timestamp_embeddings"].shape == (7, model.timestamp_embedding_size)
        np.testing.assert_array_equal(saved["timestamps_ms"], 50.0 * np.arange(7, dtype=np.float32))
    saved_report = json.loads((tmp_path / "t" / REPORT_NAME).read_text())
    assert saved_report["kinds"] == ["timestamp"] and "kind" not in saved_report
    # Both, given in any order, are stored in the order of KINDS.
    assert embed_files([tmp_path / "x.wav"], model, tmp_path / "b", kinds=("timestamp", "scene")).kinds == ("scene", "timestamp")
    assert embed_files([tmp_path / "x.wav"], model, tmp_path / "d").kinds == ("scene", "timestamp")


@pytest.mark.parametrize("kinds", [(), ("frames",), "scene", ("both",)])
def test_bad_kinds_are_refused(model: Embedder, tmp_path: Path, kinds: object) -> None:
    with pytest.raises(ValueError, match="kinds must be a non-empty selection of \\('scene', 'timestamp'\\)"):
        embed_files([tmp_path], model, tmp_path / "o", kinds=kinds)  # type: ignore[arg-type]
    assert not (tmp_path / "o").exists()
