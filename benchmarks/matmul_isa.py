"""What each precision's matrix product costs on this CPU, and on the CPUs it would be without its newest units.

For each ``ONEDNN_MAX_CPU_ISA`` cap (oneDNN then uses no instruction beyond it; ``DEFAULT`` is the machine as
it is), a fresh process times ``torch.matmul`` of (2816 x 768) @ (768 x 3072) (one chunk of 160 ms windows
through ``fc1``) in float32, bfloat16 and float16: the median of ``--repeats`` products after two warm-ups
(one product after one warm-up when a product takes over a second: those are the emulated formats), as
GFLOP/s. Caps above what the CPU has behave like ``DEFAULT``. This is the measurement behind the precision
rule of :mod:`hear_gear_embed.util.precision` (bf16 only with bf16 units; fp16 never on a CPU).

Usage::

    python benchmarks/matmul_isa.py [--repeats 5] [--out benchmarks/results/matmul-isa-<host>.json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CAPS = ("DEFAULT", "AVX512_CORE_AMX", "AVX512_CORE_BF16", "AVX512_CORE", "AVX2")
"""oneDNN ISA caps, newest first; ``DEFAULT`` sets none."""

DTYPES = ("float32", "bfloat16", "float16")
ROWS, WIDTH, HIDDEN = 2816, 768, 3072

CHILD = """
import json, sys, time, torch
rows, width, hidden, repeats = {rows}, {width}, {hidden}, {repeats}
result = {{}}
for name in {dtypes!r}:
    dtype = getattr(torch, name)
    a, b = torch.randn(rows, width).to(dtype), torch.randn(width, hidden).to(dtype)
    start = time.perf_counter()
    a @ b
    slow = time.perf_counter() - start > 1.0
    if not slow:
        a @ b
    times = []
    for _ in range(1 if slow else repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    times.sort()
    result[name] = 2 * rows * width * hidden / times[len(times) // 2] / 1e9
json.dump(result, sys.stdout)
"""


def measure(cap: str, repeats: int) -> dict[str, float]:
    """GFLOP/s per dtype in a fresh process under the oneDNN ISA ``cap``."""
    env = dict(os.environ)
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    if cap != "DEFAULT":
        env["ONEDNN_MAX_CPU_ISA"] = cap
    code = CHILD.format(rows=ROWS, width=WIDTH, hidden=HIDDEN, repeats=repeats, dtypes=DTYPES)
    done = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    from benchmarks.machine import cpu_model
    from hear_gear_embed.util.precision import cpu_bf16_units

    gflops = {cap: measure(cap, args.repeats) for cap in CAPS}
    results: dict[str, object] = {"cpu": cpu_model(), "bf16_units": cpu_bf16_units(), "shape": [ROWS, WIDTH, HIDDEN],
                                  "gflops": gflops}
    out = args.out or Path(__file__).parent / "results" / f"matmul-isa-{socket.gethostname()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"{results['cpu']}; bf16 units: {results['bf16_units']}")
    print("| oneDNN ISA cap | " + " | ".join(f"{d} GFLOP/s" for d in DTYPES) + " | bf16 / fp32 |")
    print("|---|" + "---|" * (len(DTYPES) + 1))
    for cap, row in gflops.items():
        cells = " | ".join(f"{row[d]:.1f}" for d in DTYPES)
        print(f"| {cap} | {cells} | {row['bfloat16'] / row['float32']:.2f}x |")
    return results


if __name__ == "__main__":
    main()
