"""The reduced-precision error script (``benchmarks/precision_error.py``) on the tiny model: its structure, and
that only the transformer's levels move (L exact, M and H within bf16 rounding)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import pytest
import torch

from hear_gear_embed import get_variant, list_variants
from hear_gear_embed.util import precision as precision_module
from tests.tools.scripts import import_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "precision_error.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    """``benchmarks/precision_error.py`` imported as a module."""
    return import_script("precision_error")


def test_tiny_model_in_bf16_and_fp16(script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # bf16 is refused on a CPU without bf16 units; the tiny model is cheap enough to emulate it anywhere.
    monkeypatch.setattr(precision_module, "cpu_bf16_units", lambda flags=None: ("avx512_bf16",))
    out = tmp_path / "precision.json"
    results = script.main(["--variants", "tiny_test", "--precisions", "bf16", "fp16", "--device", "cpu",
                           "--noise-clips", "1", "--noise-seconds", "1", "--task-clips", "1",
                           "--checkpoints", str(tmp_path / "ckpt"), "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["variants"] == json.loads(json.dumps(results["variants"]))
    (variant,) = saved["variants"]
    assert variant["variant"] == "tiny_test"
    assert "no faster than fp32" in variant["precisions"]["fp16"]["refused"]
    rows = variant["precisions"]["bf16"]["rows"]
    assert [(r["data"], r["kind"]) for r in rows] == [
        ("noise", "timestamp"), ("noise", "scene"), ("task:tones-multiclass", "scene"),
        ("task:timbre-multilabel", "scene"), ("task:events", "timestamp"), ("task:tones-kfold", "scene"),
    ]
    parts = {"timestamp": {"160 ms H", "160 ms M", "640 ms M", "60 ms L"}, "scene": {"scene H", "scene M", "scene L"}}
    for row in rows:
        assert set(row["parts"]) == parts[row["kind"]]
        levels = row["levels"]
        assert set(levels) == {"L", "M", "H"}
        low = levels["L"]
        assert low["max_rel_error"] == low["spread_error"] == 0.0 and low["min_cosine"] == pytest.approx(1.0, abs=1e-12)
        for level in ("M", "H"):
            errors = levels[level]
            assert 0.0 < errors["max_rel_error"] < 0.05 and errors["min_cosine"] > 0.99, (row["data"], level)
            assert errors["spread_error"] > errors["max_rel_error"] or errors["spread_error"] == math.inf, (row["data"], level)
    table = out.with_suffix(".md").read_text()
    assert "| `tiny_test` | noise | timestamp | exact |" in table and "| `tiny_test` | tasks | scene | exact |" in table
    assert "| `tiny_test` | refused: fp16 on a CPU" in table


@pytest.mark.parametrize("name", [*list_variants(), "tiny_test"])
def test_parts_cover_every_column(script: ModuleType, name: str) -> None:
    variant = get_variant(name)
    for parts, size in ((script.timestamp_parts(variant), variant.timestamp_embedding_size),
                        (script.scene_parts(variant), variant.scene_embedding_size)):
        assert [p.start for p in parts] == [0, *(p.stop for p in parts[:-1])] and parts[-1].stop == size


def test_errors_of_zero_rows(script: ModuleType) -> None:
    ref = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    got = torch.tensor([[0.0, 0.0], [0.0, 1.0], [0.0, 2.5]])
    assert script.relative_error(got, ref) == pytest.approx(0.5)
    assert script.min_cosine(got, ref) == 0.0  # orthogonal rows
    assert script.min_cosine(ref[:1], ref[:1]) == 1.0  # two zero rows agree
    assert script.relative_error(torch.zeros(2, 2), torch.zeros(2, 2)) == 0.0
    assert script.spread_error(got, ref) == pytest.approx(math.sqrt(2.25) / math.sqrt(2 / 3 + 8 / 3))
    assert script.spread_error(ref[1:2], ref[1:2]) == 0.0 and script.spread_error(got[1:2], ref[1:2]) == math.inf
