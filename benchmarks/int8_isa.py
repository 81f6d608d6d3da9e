"""What int8 costs and how close it stays to fp32 on this CPU, and on the CPUs it would be without int8 units.

For each ``ONEDNN_MAX_CPU_ISA`` cap (oneDNN then uses no instruction beyond it; ``DEFAULT`` is the machine as it is;
``AVX512_CORE`` is AVX-512 without VNNI, ``AVX2`` an older CPU), a fresh process embeds the same audio (timestamps of
one 10 s clip, :func:`bench_passt.test_audio`) with ``passt_base`` (seeded random weights) in fp32 eager and in int8
compiled (the package's int8 path: :meth:`~hear_gear_embed.model.passt.PaSST.quantize_int8` and
:class:`~hear_gear_embed.model.compiled.CompiledPasst`), and records the seconds of each call (the median of
``--repeats`` after one call that compiles), the speed-up, and the minimum row cosine and relative error of int8
against fp32. This is the measurement behind the int8 rule of :mod:`hear_gear_embed.util.precision` (int8 only with
int8 units): without VNNI, oneDNN's 8-bit products lose accuracy. Caps above what the CPU has behave like ``DEFAULT``.

Usage::

    python benchmarks/int8_isa.py [--repeats 3] [--out benchmarks/results/int8-isa-<host>.json]
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

CAPS = ("DEFAULT", "AVX512_CORE_VNNI", "AVX512_CORE", "AVX2")
"""oneDNN ISA caps, newest first; ``DEFAULT`` sets none."""

CHILD = """
import json, statistics, sys, time, torch
sys.path.insert(0, {root!r}); sys.path.insert(0, {benchmarks!r})
from bench_passt import min_row_cosine, relative_error, test_audio
from hear_gear_embed import get_variant
from hear_gear_embed.embedding import random_embedder
from hear_gear_embed.util.precision import PrecisionUnsupportedError
audio = test_audio(1, 10.0)
result = {{}}
with torch.inference_mode():
    for name, precision, compiled in (("fp32", "fp32", False), ("int8", "int8", True)):
        try:
            model = random_embedder(get_variant("passt_base"), 0, device="cpu", precision=precision, compile=compiled)
        except PrecisionUnsupportedError:
            # Refused by the package on this CPU: measured anyway (the point of the cap), through the network itself.
            model = random_embedder(get_variant("passt_base"), 0, device="cpu", compile=True)
            assert model.net is not None
            model.net.quantize_int8()
        start = time.perf_counter()
        out = model.timestamp_embeddings(audio)[0]
        first = time.perf_counter() - start
        times = []
        for _ in range({repeats}):
            start = time.perf_counter()
            model.timestamp_embeddings(audio)
            times.append(time.perf_counter() - start)
        result[name] = {{"seconds": statistics.median(times), "first_call_s": first, "out": out}}
fp32, int8 = result["fp32"], result["int8"]
json.dump({{"fp32_s": fp32["seconds"], "int8_s": int8["seconds"], "int8_first_call_s": int8["first_call_s"],
           "speedup": fp32["seconds"] / int8["seconds"], "min_cosine": min_row_cosine(int8["out"], fp32["out"]),
           "error": relative_error(int8["out"], fp32["out"])}}, sys.stdout)
"""


def measure(cap: str, repeats: int) -> dict[str, float]:
    """The fp32 and int8 figures in a fresh process under the oneDNN ISA ``cap``."""
    env = dict(os.environ)
    if cap != "DEFAULT":
        env["ONEDNN_MAX_CPU_ISA"] = cap
    code = CHILD.format(root=str(ROOT), benchmarks=str(ROOT / "benchmarks"), repeats=repeats)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {cap} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, object]:
    from benchmarks.machine import environment
    from hear_gear_embed.util.precision import cpu_int8_units

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--caps", nargs="+", choices=CAPS, default=list(CAPS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / f"int8-isa-{socket.gethostname()}.json")
    args = parser.parse_args(argv)
    import torch

    rows = {}
    for cap in args.caps:
        rows[cap] = measure(cap, args.repeats)
        print(cap, json.dumps(rows[cap]), flush=True)
    results: dict[str, object] = {"environment": environment(torch.device("cpu")), "cpu_int8_units": cpu_int8_units(),
                                  "case": "passt_base timestamps of 1 x 10 s, int8 compiled vs fp32 eager", "caps": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    lines = ["| oneDNN ISA cap | fp32 (s) | int8 compiled (s) | int8 / fp32 speed-up | min cosine vs fp32 | max error |",
             "|---|---|---|---|---|---|"]
    for cap, row in rows.items():
        lines.append(f"| {cap} | {row['fp32_s']:.2f} | {row['int8_s']:.2f} | {row['speedup']:.2f}x | "
                     f"{row['min_cosine']:.4f} | {row['error']:.1e} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return results


if __name__ == "__main__":
    main()
