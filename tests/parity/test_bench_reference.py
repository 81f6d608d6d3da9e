"""The PaSST benchmark against hear21passt (smoke): it runs end to end with the reference, for both kinds of
reference (a module function of hear21passt for ``passt_base``; the oracle composed from the wrapper's methods for
``passt_lm2rf_hop5``), and the parity check it makes on every case holds. The figures it measures are not checked:
they are the benchmark's job (``nox -s bench``, docs/performance.md)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from hear_gear_embed import get_variant


def test_benchmark_against_the_reference(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    bench.main(["--variants", "passt_base", "passt_lm2rf_hop5", "--cases", "timestamp:1x1.5", "scene:1x1.5",
                "--repeats", "1", "--peak-repeats", "1", "--memory-minutes", "0.1", "--out", str(out)])
    saved = json.loads(out.read_text())
    rows = [(row["variant"], row["kind"]) for row in saved["cases"]]
    assert rows == [(v, k) for v in ("passt_base", "passt_lm2rf_hop5") for k in ("timestamp", "scene")]
    for row in saved["cases"]:
        assert row["parity_error"] <= bench.PARITY_TOLERANCE and row["ref_s"] > 0 and row["speedup"] > 0
    (memory,) = saved["memory"]
    assert memory["variant"] == "passt_base" and memory["shape"] == [1, 121, get_variant("passt_base").timestamp_embedding_size]
