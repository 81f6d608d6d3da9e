"""``hear-gear list``: the published variants from the registry, as a table and as JSON, and the diverse models."""

from __future__ import annotations

import json

import pytest

from hear_gear_embed import get_variant, list_variants
from hear_gear_embed.cli import main
from hear_gear_embed.cli.listing import variant_summary


def test_list_json_matches_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list_variants() and "tiny_test" not in [r["name"] for r in rows]
    for row in rows:
        assert row == json.loads(json.dumps(variant_summary(get_variant(row["name"]))))
    assert main(["list"]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in list_variants()) and "none needed" in table and "bring your own" in table
    assert "diverse models (seed 001" in table and "diverse_tiny" not in table
    assert "pitch, timbre, waveform, neuralogram, 1000 ms windows  [train it]" in table


def test_variant_summary() -> None:
    summary = variant_summary(get_variant("passt_2lvl_cqt"))
    assert summary["weights"] == "passt_s_swa_p16_128_ap476" and "checkpoint" not in summary
    assert (summary["scene_embedding_size"], summary["timestamp_embedding_size"]) == (1295 + 2 * 84, 2 * 1295 + 84 * 7)
    assert summary["needs_weights"] is True and summary["frontend"] == "mel" and summary["scene_features"] == ["cqt"]
    assert summary["timestamp_blocks"][-1] == {"window_ms": 60, "features": ["cqt"], "pooling": "frames"}
    weight_free = variant_summary(get_variant("lowlevel_cqt"))
    assert weight_free["weights"] is None and weight_free["needs_weights"] is False
    assert variant_summary(get_variant("passt_cqt"))["frontend"] == "cqt"
