"""Speed and memory of this package's PaSST embeddings against the authors' ``hear21passt``, in one run.

What is measured, on one machine in one run, with the same seeded random weights on both sides
(the reference's own network state dict is saved and loaded strictly into ours, as in the parity
tests; speed does not depend on the weight values):

1. **Throughput** for each variant and case (``timestamp:1x10`` = timestamp embeddings of 1 clip of
   10 s, ``scene:8x10`` = scene embeddings of 8 clips of 10 s, ...): wall-clock seconds of one
   ``timestamp_embeddings`` / ``scene_embeddings`` call (``time.perf_counter``, after one warm-up call
   on 1 s of audio per variant and side; the median of ``--repeats`` calls, or one call when a call
   takes longer than ``--single-above`` seconds), as audio-seconds per second for ours and for the
   reference, and their ratio. The reference is hear21passt 0.0.26's module function for the variant
   (``base``, ``base2levelmel``; ``passt_lm2rf_hop5`` has no module there and is timed against the
   ``hop160base2lvlmel`` wrapper's own methods computing the same windows, the oracle of the parity
   tests). Both outputs are compared: ``max |ours - ref| / max |ref|`` must stay below 1e-4.
2. **Achieved GFLOP/s** of the network: the FLOPs of every forward pass of the call, counted with the
   actual sequence lengths (:meth:`hear_gear_embed.embedding.Embedder.network_flops`, equal to
   torch's ``FlopCounterMode``), divided by our wall-clock time (which also includes the frontend and
   pooling). It is compared with the ``torch.matmul`` peak at width 768 measured in the same run, at
   its start and at its end: the best median over the four matrix shapes of the network's linear
   layers ((rows x 768) @ (768 x 768 | 2304 | 3072) and (rows x 3072) @ (3072 x 768), rows = 2816,
   about one chunk of 160 ms windows). The higher of the two peaks is used, so the ratio is not
   flattered by a slow moment.
3. **Peak memory** of timestamp embeddings of one long clip (``--memory-minutes``) per
   ``--memory-variants`` entry, each in a fresh subprocess: peak RSS on CPU (``VmHWM``, reset to the
   current RSS just before the call, so the peak is the call's; read from ``/proc``), or
   ``torch.cuda.max_memory_allocated`` on GPU, next to the memory held before the call (interpreter,
   weights and the input audio) and the size of the output. Growth with length beyond the output
   shows up by comparing the lengths.

The load average before and after is recorded: other processes on the machine distort the timings.
Thread count: torch's default (the number of cores) unless ``--threads`` sets it; it is recorded.

Usage::

    python benchmarks/bench_passt.py                     # everything (about 2 h on 2 CPU cores)
    python benchmarks/bench_passt.py --variants passt_base --cases timestamp:1x10 --memory-minutes
    python benchmarks/bench_passt.py --no-reference      # ours only (no hear21passt needed)

Needs ``hear21passt==0.0.26`` (with ``torchaudio`` installed without dependencies; ``nox -s bench``
sets this up) unless ``--no-reference``. Writes JSON (``--out``, default
``benchmarks/results/passt-<hostname>.json``) after every case, and a Markdown table next to it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hear_gear_embed import get_variant, load_embedder  # noqa: E402
from hear_gear_embed.embedding import Embedder, random_embedder  # noqa: E402
from hear_gear_embed.util.device import resolve_device  # noqa: E402

RATE = 32000
WIDTH = 768
PEAK_ROWS = 2816
DEFAULT_VARIANTS = ("passt_base", "passt_2lvlmel", "passt_lm2rf_hop5")
DEFAULT_CASES = ("timestamp:1x10", "timestamp:8x10", "timestamp:1x120", "scene:8x10", "scene:1x60")
PARITY_TOLERANCE = 1e-4


def parse_case(text: str) -> tuple[str, int, float]:
    """``"timestamp:8x10"`` -> ``("timestamp", 8, 10.0)``."""
    try:
        kind, shape = text.split(":")
        n_sounds, seconds = shape.split("x")
        parsed = (kind, int(n_sounds), float(seconds))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a case looks like timestamp:8x10 or scene:1x60, got {text!r}") from None
    if kind not in ("timestamp", "scene") or parsed[1] < 1 or parsed[2] <= 0:
        raise argparse.ArgumentTypeError(f"bad case {text!r}: kind timestamp|scene, at least 1 sound, positive seconds")
    return parsed


def test_audio(n_sounds: int, seconds: float, seed: int = 0) -> torch.Tensor:
    """Noise plus a different tone per sound, ``(n_sounds, n_samples)`` float32, built in 10 s blocks."""
    n = int(round(seconds * RATE))
    generator = torch.Generator().manual_seed(seed)
    audio = torch.empty(n_sounds, n)
    block = 10 * RATE
    for start in range(0, n, block):
        stop = min(n, start + block)
        t = torch.arange(start, stop, dtype=torch.float64) / RATE
        freqs = 220.0 * torch.arange(1, n_sounds + 1, dtype=torch.float64)[:, None]
        audio[:, start:stop] = (0.3 * torch.sin(2 * torch.pi * freqs * t)).float()
        audio[:, start:stop] += 0.3 * (torch.rand(n_sounds, stop - start, generator=generator) * 2 - 1)
    return audio


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], repeats: int, single_above: float, device: torch.device) -> tuple[float, int, object]:
    """``(median seconds, calls timed, last output)``; stops after one call longer than ``single_above`` s."""
    times: list[float] = []
    out = None
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        out = fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
        if times[0] > single_above:
            break
    return statistics.median(times), len(times), out


def matmul_peak(device: torch.device, repeats: int) -> dict[str, float]:
    """GFLOP/s of ``torch.matmul`` at width 768 for the network's four linear shapes, and the best."""
    shapes = {"768x768": (WIDTH, WIDTH), "768x2304": (WIDTH, 3 * WIDTH), "768x3072": (WIDTH, 4 * WIDTH),
              "3072x768": (4 * WIDTH, WIDTH)}
    generator = torch.Generator().manual_seed(0)
    result: dict[str, float] = {}
    with torch.inference_mode():
        for name, (inner, outer) in shapes.items():
            a = torch.randn(PEAK_ROWS, inner, generator=generator).to(device)
            b = torch.randn(inner, outer, generator=generator).to(device)
            for _ in range(3):
                torch.matmul(a, b)
            seconds, _, _ = timed(lambda a=a, b=b: torch.matmul(a, b), repeats, float("inf"), device)
            result[name] = 2 * PEAK_ROWS * inner * outer / seconds / 1e9
    result["peak"] = max(result.values())
    return result


def environment(device: torch.device) -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, object] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


class Reference:
    """hear21passt for one variant, with the weights shared with ours."""

    def __init__(self, variant: str, seed: int) -> None:
        from tests.parity.oracle import REFERENCE_MODULES, build_reference

        if variant not in REFERENCE_MODULES:
            raise SystemExit(
                f"no hear21passt reference for {variant!r} (known: {', '.join(REFERENCE_MODULES)}); use --no-reference"
            )
        self.variant = variant
        self.wrapper, _, self.timestamp_fn = build_reference(variant, seed)

    def run(self, kind: str, audio: torch.Tensor) -> torch.Tensor:
        from tests.parity.oracle import quiet

        if kind == "timestamp":
            return quiet(self.timestamp_fn, audio, self.wrapper)[0]
        with torch.no_grad():
            return quiet(self.wrapper.get_scene_embeddings, audio)

    def comparable(self, kind: str, ours: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The columns both sides compute (lm2rf's scene: our M block against the reference's M columns)."""
        if kind == "scene" and self.variant == "passt_lm2rf_hop5":
            return ours[:, :WIDTH], ref[:, 527:]
        return ours, ref


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    return float((ours.double().cpu() - ref.double().cpu()).abs().max() / ref.double().cpu().abs().max())


def build_pair(variant: str, seed: int, with_reference: bool, device: torch.device) -> tuple[Embedder, Reference | None]:
    config = get_variant(variant)
    if not with_reference:
        return random_embedder(config, seed, device=device), None
    reference = Reference(variant, seed)
    reference.wrapper.to(device)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{variant}.pt"
        torch.save(reference.wrapper.net.state_dict(), path)
        ours = load_embedder(config, path, device=device)
    return ours, reference


def run_case(
    ours: Embedder, reference: Reference | None, case: tuple[str, int, float], args: argparse.Namespace,
    peak: float, device: torch.device,
) -> dict[str, object]:
    kind, n_sounds, seconds = case
    audio = test_audio(n_sounds, seconds).to(device)
    call = ours.timestamp_embeddings if kind == "timestamp" else ours.scene_embeddings
    ours_s, ours_n, ours_out = timed(lambda: call(audio), args.repeats, args.single_above, device)
    if kind == "timestamp":
        ours_out = ours_out[0]
    flops = ours.network_flops(n_sounds, audio.shape[1], kind)
    audio_s = n_sounds * seconds
    row: dict[str, object] = {
        "variant": ours.variant.name, "kind": kind, "n_sounds": n_sounds, "seconds": seconds,
        "ours_s": ours_s, "ours_calls": ours_n, "ours_audio_s_per_s": audio_s / ours_s,
        "network_gflop": flops / 1e9, "ours_gflops": flops / ours_s / 1e9, "ours_fraction_of_peak": flops / ours_s / 1e9 / peak,
    }
    if reference is not None:
        ref_s, ref_n, ref_out = timed(lambda: reference.run(kind, audio), args.repeats, args.single_above, device)
        error = relative_error(*reference.comparable(kind, ours_out, ref_out))
        row.update({
            "ref_s": ref_s, "ref_calls": ref_n, "ref_audio_s_per_s": audio_s / ref_s, "speedup": ref_s / ours_s,
            "ref_gflops": flops / ref_s / 1e9, "ref_fraction_of_peak": flops / ref_s / 1e9 / peak,
            "parity_error": error,
        })
        if error > PARITY_TOLERANCE:
            raise AssertionError(f"{ours.variant.name} {kind} {n_sounds}x{seconds}: parity error {error:.2e} > 1e-4")
    return row


def memory_child(variant: str, minutes: float, device: torch.device) -> dict[str, object]:
    """Run in a fresh process: timestamp embeddings of one ``minutes``-long clip; memory figures in MiB."""
    model = random_embedder(get_variant(variant), device=device)
    audio = test_audio(1, minutes * 60.0).to(device)
    model.timestamp_embeddings(audio[:, :RATE])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    else:
        reset = _reset_peak_rss()
        before = _rss_bytes()
    start = time.perf_counter()
    emb, stamps = model.timestamp_embeddings(audio)
    synchronize(device)
    seconds = time.perf_counter() - start
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
        measure = "torch.cuda.max_memory_allocated"
    else:
        peak, measure = _peak_rss(reset)
    mib = 2.0**20
    return {
        "variant": variant, "minutes": minutes, "measure": measure, "peak_mib": peak / mib,
        "before_call_mib": before / mib, "input_mib": audio.numel() * 4 / mib,
        "output_mib": (emb.numel() + stamps.numel()) * 4 / mib, "seconds": seconds,
        "shape": list(emb.shape),
    }


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux ``clear_refs`` 5); whether it worked."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _peak_rss(reset: bool) -> tuple[int, str]:
    """Peak RSS of this process image in bytes, and how it was read.

    Linux: ``VmHWM`` of ``/proc/self/status``. Not ``ru_maxrss``: Linux carries the peak of the
    process image before ``execve`` into it, so a child forked from a large parent reports the
    parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    since = "reset before the call" if reset else "since the process started"
                    return int(line.split()[1]) * 1024, f"peak RSS (VmHWM, {since})"
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "peak RSS of the process (ru_maxrss)"


def measure_memory(variant: str, minutes: float, device: torch.device, threads: int) -> dict[str, object]:
    command = [sys.executable, str(Path(__file__).resolve()), "--memory-child", variant, str(minutes),
               "--device", str(device), "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory run {variant} {minutes} min failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def markdown(results: dict[str, object]) -> str:
    env = results["environment"]
    peaks = results["matmul_gflops"]
    lines = [
        f"Measured {env['date']} on {env['cpu']} ({env['cores']} cores, {env['threads']} torch threads, "
        f"{env['device']}), torch {env['torch']}. torch.matmul peak at width 768: "
        f"{peaks['start']['peak']:.1f} GFLOP/s at the start, {peaks.get('end', {}).get('peak', float('nan')):.1f} at the "
        f"end; ratios use {results['peak_gflops']:.1f}.",
        "",
        "| variant | call | audio | ours (audio-s/s) | hear21passt (audio-s/s) | speed-up | network GFLOP | ours GFLOP/s "
        "(% of matmul peak) | hear21passt GFLOP/s (% of peak) | parity error |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["cases"]:
        ref = "ref_s" in row
        lines.append(
            f"| `{row['variant']}` | {row['kind']} | {row['n_sounds']} x {row['seconds']:g} s "
            f"| {row['ours_audio_s_per_s']:.2f} | {row['ref_audio_s_per_s']:.2f} | {row['speedup']:.2f}x "
            if ref else
            f"| `{row['variant']}` | {row['kind']} | {row['n_sounds']} x {row['seconds']:g} s "
            f"| {row['ours_audio_s_per_s']:.2f} | not run | | "
        )
        lines[-1] += (
            f"| {row['network_gflop']:.0f} | {row['ours_gflops']:.0f} ({100 * row['ours_fraction_of_peak']:.0f}%) | "
            + (f"{row['ref_gflops']:.0f} ({100 * row['ref_fraction_of_peak']:.0f}%) | {row['parity_error']:.1e} |"
               if ref else " | |")
        )
    if results.get("memory"):
        lines += ["", "| variant | clip | peak memory (MiB) | held before the call (MiB) | input (MiB) | output (MiB) | time (s) |",
                  "|---|---|---|---|---|---|---|"]
        for row in results["memory"]:
            lines.append(
                f"| `{row['variant']}` | {row['minutes']:g} min | {row['peak_mib']:.0f} | {row['before_call_mib']:.0f} "
                f"| {row['input_mib']:.0f} | {row['output_mib']:.0f} | {row['seconds']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", default=list(DEFAULT_VARIANTS))
    parser.add_argument("--cases", nargs="*", type=parse_case, default=[parse_case(c) for c in DEFAULT_CASES])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--single-above", type=float, default=30.0, help="time one call only when it takes longer (s)")
    parser.add_argument("--peak-repeats", type=int, default=10)
    parser.add_argument("--no-reference", action="store_true", help="time this package only")
    parser.add_argument("--memory-minutes", nargs="*", type=float, default=[2.0, 20.0])
    parser.add_argument("--memory-variants", nargs="*", default=["passt_base"])
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when available, else CPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--memory-child", nargs=2, metavar=("VARIANT", "MINUTES"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.memory_child:
        with torch.inference_mode():
            row = memory_child(args.memory_child[0], float(args.memory_child[1]), device)
        print(json.dumps(row))
        return row

    out = args.out or ROOT / "benchmarks" / "results" / f"passt-{socket.gethostname()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {"environment": environment(device), "load_before": os.getloadavg(),
                                  "matmul_gflops": {"start": matmul_peak(device, args.peak_repeats)}, "cases": [], "memory": []}
    results["peak_gflops"] = results["matmul_gflops"]["start"]["peak"]

    def save() -> None:
        out.write_text(json.dumps(results, indent=2))
        out.with_suffix(".md").write_text(markdown(results))

    for variant in args.variants:
        ours, reference = build_pair(variant, args.seed, not args.no_reference, device)
        warm = test_audio(1, 1.0).to(device)
        for kind in sorted({case[0] for case in args.cases}):
            (ours.timestamp_embeddings if kind == "timestamp" else ours.scene_embeddings)(warm)
            if reference is not None:
                reference.run(kind, warm)
        for case in args.cases:
            row = run_case(ours, reference, case, args, results["peak_gflops"], device)
            results["cases"].append(row)
            print(json.dumps(row), flush=True)
            save()
        del ours, reference
    for variant in args.memory_variants:
        for minutes in args.memory_minutes:
            row = measure_memory(variant, minutes, device, torch.get_num_threads())
            results["memory"].append(row)
            print(json.dumps(row), flush=True)
            save()
    results["matmul_gflops"]["end"] = matmul_peak(device, args.peak_repeats)
    results["peak_gflops"] = max(results["matmul_gflops"]["start"]["peak"], results["matmul_gflops"]["end"]["peak"])
    for row in results["cases"]:
        row["ours_fraction_of_peak"] = row["ours_gflops"] / results["peak_gflops"]
        if "ref_gflops" in row:
            row["ref_fraction_of_peak"] = row["ref_gflops"] / results["peak_gflops"]
    results["load_after"] = os.getloadavg()
    save()
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
