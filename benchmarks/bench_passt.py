"""Speed and memory of this package's PaSST embeddings against the authors' ``hear21passt``, in one run.

What is measured, on one machine in one run, with the same seeded random weights on both sides
(the reference's own network state dict is saved and loaded strictly into ours, as in the parity
tests; speed does not depend on the weight values), for ours in every precision of ``--precision``
(``fp32`` by default; ``fp32`` is always timed too when a reduced precision is asked, so every ratio
comes from one run) and for the reference in fp32, once per case:

1. **Throughput** for each variant and case (``timestamp:1x10`` = timestamp embeddings of 1 clip of
   10 s, ``scene:8x10`` = scene embeddings of 8 clips of 10 s, ...): wall-clock seconds of one
   ``timestamp_embeddings`` / ``scene_embeddings`` call (``time.perf_counter``, after one warm-up call
   on 1 s of audio per variant, side and precision; the median of ``--repeats`` calls, or one call when a call
   takes longer than ``--single-above`` seconds), as audio-seconds per second for ours and for the
   reference, and their ratio. The reference is hear21passt 0.0.26's module function for the variant
   (``base``, ``base2levelmel``; ``passt_lm2rf_hop5`` has no module there and is timed against the
   ``hop160base2lvlmel`` wrapper's own methods computing the same windows, the oracle of the parity
   tests). Our fp32 output is compared with the reference's: ``max |ours - ref| / max |ref|`` must
   stay below 1e-4. Each reduced precision's row also gives its speed-up over our fp32 call.
2. **Error of reduced precision** (``bf16``, ``fp16``): each reduced-precision output against our fp32
   output of the same call on the same audio: ``max |a - b| / max |b|``, and the minimum over the
   embedding rows (one per sound and timestamp, or per sound for scenes) of the cosine similarity;
   that minimum must stay at or above 0.999.
3. **Achieved GFLOP/s** of the network: the FLOPs of every forward pass of the call, counted with the
   actual sequence lengths (:meth:`hear_gear_embed.embedding.Embedder.network_flops`: the FLOPs our
   network performs; the reference also computes queries, projection and MLP of every token in the
   last block, so its figure counts the same useful work), divided by the wall-clock time (which also
   includes the frontend and pooling). It is compared with the ``torch.matmul`` peak at width 768 of
   the same precision (the reference's with the fp32 one), measured in the same run, at its start and
   at its end: the best median over the four matrix shapes of the network's linear layers
   ((rows x 768) @ (768 x 768 | 2304 | 3072) and (rows x 3072) @ (3072 x 768), rows = 2816, about one
   chunk of 160 ms windows), operands in that precision's dtype. The higher of the two peaks is used,
   so the ratio is not flattered by a slow moment.
4. **Compiled and int8** (``--compiled PRECISION...``, ``--precision int8``): the named precisions are also timed
   through the compiled network (:class:`~hear_gear_embed.model.compiled.CompiledPasst`), after an untimed call that
   compiles the graphs the case needs; the row records their number and seconds (``compile_graphs``,
   ``compile_s``). int8's peak is the package's own int8 linear layers, compiled, at the same four shapes
   (:func:`int8_linear_peak`), and its rows must keep a minimum cosine of 0.99 to our fp32. With ``--profile`` one
   more call per row runs under the torch profiler, its operator time split by :func:`time_shares`.
5. **Peak memory** (fp32) of timestamp embeddings of one long clip (``--memory-minutes``) per
   ``--memory-variants`` entry, each in a fresh subprocess: peak RSS on CPU (``VmHWM``, reset to the
   current RSS just before the call, so the peak is the call's; read from ``/proc``), or
   ``torch.cuda.max_memory_allocated`` on GPU, next to the memory held before the call (interpreter,
   weights and the input audio) and the size of the output. Growth with length beyond the output
   shows up by comparing the lengths.

A precision the device refuses (:class:`~hear_gear_embed.util.precision.PrecisionUnsupportedError`:
fp16 on a CPU, bf16 on a CPU without bf16 units) is recorded with the refusal's message and skipped.
A parity error above 1e-4 or a cosine below 0.999 fails the run (an ``AssertionError`` naming every
failing case) once everything has run and been saved.

The load average before and after is recorded, as are the CPU model and its bf16 flags
(:func:`~hear_gear_embed.util.precision.cpu_bf16_units`): other processes on the machine distort the
timings. Thread count: torch's default (the number of cores) unless ``--threads`` sets it; it is
recorded.

Usage::

    python benchmarks/bench_passt.py                     # everything (about 2 h on 2 CPU cores)
    python benchmarks/bench_passt.py --variants passt_base --cases timestamp:1x10 --memory-minutes
    python benchmarks/bench_passt.py --variants passt_base --cases timestamp:1x10 --precision fp32 bf16
    python benchmarks/bench_passt.py --no-reference      # ours only (no hear21passt needed)

Needs ``hear21passt==0.0.26`` (with ``torchaudio`` installed without dependencies; ``nox -s bench``
sets this up) unless ``--no-reference``. Writes JSON (``--out``, default
``benchmarks/results/passt-<hostname>.json``) after every case, and a Markdown table next to it. The
JSON has one ``cases`` row per variant, case and setup (``precision`` and ``compiled``; all but fp32 eager with
``speedup_vs_fp32``, ``error_vs_fp32`` and ``min_cosine_vs_fp32``; ``parity_error`` on the fp32 eager row; compiled
rows with ``compile_graphs`` and ``compile_s``; ``time_shares`` with ``--profile``); ``setups``, their names in
order; ``matmul_gflops_by_precision`` and ``peak_gflops_by_precision`` per precision timed, with fp32's also under
``matmul_gflops`` and ``peak_gflops`` as in files written before ``--precision``; ``precisions`` (``requested``,
``timed``, ``refused`` with each reason); ``failures``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
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

from benchmarks.machine import environment  # noqa: E402
from hear_gear_embed import get_variant, load_embedder  # noqa: E402
from hear_gear_embed.embedding import Embedder, random_embedder  # noqa: E402
from hear_gear_embed.util.device import resolve_device  # noqa: E402
from hear_gear_embed.util.precision import (  # noqa: E402
    PRECISIONS,
    Precision,
    PrecisionUnsupportedError,
    check_supported,
    dtype_of,
)

RATE = 32000
WIDTH = 768
PEAK_ROWS = 2816
DEFAULT_VARIANTS = ("passt_base", "passt_2lvlmel", "passt_lm2rf_hop5")
DEFAULT_CASES = ("timestamp:1x10", "timestamp:8x10", "timestamp:1x120", "scene:8x10", "scene:1x60")
PARITY_TOLERANCE = 1e-4
COSINE_TOLERANCE = 0.999
"""Lowest row cosine similarity of a reduced float precision's embeddings against our fp32 ones."""
INT8_COSINE_TOLERANCE = 0.99
"""The same for int8 (issue 27's target)."""
SHARES = ("matrix products", "attention", "elementwise and other", "frontend")
"""Where a call's time goes (``--profile``): the categories of :func:`time_shares`."""
_MATRIX_OPS = ("addmm", "aten::mm", "bmm", "matmul", "linear", "_int_mm", "qlinear", "convolution", "conv2d")
_ATTENTION_OPS = ("scaled_dot_product", "flash", "attention", "softmax")


def cosine_tolerance(precision: str) -> float:
    """Lowest row cosine against our fp32 that ``precision`` must reach."""
    return INT8_COSINE_TOLERANCE if precision == "int8" else COSINE_TOLERANCE


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


LINEAR_SHAPES = {"768x768": (WIDTH, WIDTH), "768x2304": (WIDTH, 3 * WIDTH), "768x3072": (WIDTH, 4 * WIDTH),
                 "3072x768": (4 * WIDTH, WIDTH)}
"""The network's four linear layers, (inputs, outputs) by name."""


def best_of_shapes(device: torch.device, repeats: int,
                   product: Callable[[int, int, torch.Generator], Callable[[], object]]) -> dict[str, float]:
    """GFLOP/s of ``product(inputs, outputs, generator)()`` (one product of ``PEAK_ROWS`` rows) for each of
    :data:`LINEAR_SHAPES` after three warm-up calls, and the best as ``"peak"``."""
    generator = torch.Generator().manual_seed(0)
    result: dict[str, float] = {}
    with torch.inference_mode():
        for name, (inner, outer) in LINEAR_SHAPES.items():
            run = product(inner, outer, generator)
            for _ in range(3):
                run()
            seconds, _, _ = timed(run, repeats, float("inf"), device)
            result[name] = 2 * PEAK_ROWS * inner * outer / seconds / 1e9
    result["peak"] = max(result.values())
    return result


def matmul_peak(device: torch.device, repeats: int, dtype: torch.dtype = torch.float32) -> dict[str, float]:
    """GFLOP/s of ``torch.matmul`` at width 768 in ``dtype`` for the network's four linear shapes, and the best."""

    def product(inner: int, outer: int, generator: torch.Generator) -> Callable[[], object]:
        a = torch.randn(PEAK_ROWS, inner, generator=generator).to(device, dtype)
        b = torch.randn(inner, outer, generator=generator).to(device, dtype)
        return lambda: torch.matmul(a, b)

    return best_of_shapes(device, repeats, product)


def int8_linear_peak(device: torch.device, repeats: int) -> dict[str, float]:
    """GFLOP/s of the int8 linear layers as the package runs them (torchao's dynamic int8 quantisation, compiled), at
    the network's four shapes with float32 inputs and outputs (the quantisation of the input and the dequantisation of
    the output included), and the best."""
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    def product(inner: int, outer: int, generator: torch.Generator) -> Callable[[], object]:
        layer = torch.nn.Linear(inner, outer).to(device).eval()
        quantize_(layer, Int8DynamicActivationInt8WeightConfig())
        compiled = torch.compile(layer, options={"freezing": True})
        x = torch.randn(PEAK_ROWS, inner, generator=generator).to(device)
        return lambda: compiled(x)

    return best_of_shapes(device, repeats, product)


def precision_peak(device: torch.device, repeats: int, precision: Precision) -> dict[str, float]:
    """The matrix-product peak of ``precision``: :func:`matmul_peak` in its dtype, :func:`int8_linear_peak` for int8."""
    if precision == "int8":
        return int8_linear_peak(device, repeats)
    return matmul_peak(device, repeats, dtype_of(precision))


def time_shares(call: Callable[[], object], model: Embedder) -> dict[str, float]:
    """Shares of one ``call``'s operator time (torch profiler, self CPU time of every operator; on a GPU the kernels'
    device time) in :data:`SHARES`: matrix products (linear layers, the patch convolution, int8 products), attention
    (the fused kernel, or softmax and its products), the frontend (everything under the frontend's forward), and the
    rest (GELU, LayerNorm, casts, copies, additions, inductor's fused elementwise kernels)."""
    from torch.profiler import ProfilerActivity, profile, record_function

    frontend = model.frontend
    original = frontend.forward

    def labelled(*args: object, **kwargs: object) -> object:
        with record_function("hge::frontend"):
            return original(*args, **kwargs)

    on_gpu = model.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    frontend.forward = labelled  # type: ignore[method-assign]
    try:
        with profile(activities=activities) as prof:
            call()
    finally:
        del frontend.forward
    totals = dict.fromkeys(SHARES, 0.0)
    for event in prof.events():
        name = event.name
        if name == "hge::frontend" or name.startswith("Torch-Compiled Region") or name.startswith("## Call"):
            continue
        spent = float(event.self_device_time_total if on_gpu else event.self_cpu_time_total)
        parent, in_frontend = event.cpu_parent, False
        while parent is not None:
            if parent.name == "hge::frontend":
                in_frontend = True
                break
            parent = parent.cpu_parent
        if in_frontend:
            totals["frontend"] += spent
        elif any(op in name for op in _ATTENTION_OPS):
            totals["attention"] += spent
        elif any(op in name for op in _MATRIX_OPS):
            totals["matrix products"] += spent
        else:
            totals["elementwise and other"] += spent
    whole = sum(totals.values()) or 1.0
    return {name: value / whole for name, value in totals.items()}


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
    """``max |ours - ref| / max |ref|`` over the whole tensors, in float64."""
    return float((ours.double().cpu() - ref.double().cpu()).abs().max() / ref.double().cpu().abs().max())


def min_row_cosine(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """The lowest cosine similarity between matching embedding rows (vectors along the last axis), in float64."""
    a = ours.double().cpu().reshape(-1, ours.shape[-1])
    b = ref.double().cpu().reshape(-1, ref.shape[-1])
    return float(torch.nn.functional.cosine_similarity(a, b, dim=1).min())


def usable_precisions(requested: list[Precision], device: torch.device) -> tuple[list[Precision], dict[str, str]]:
    """The precisions to time on ``device`` (fp32 first, as the baseline, then the requested reduced ones it
    accepts) and the requested ones it refuses, with the refusal's message."""
    usable: list[Precision] = ["fp32"]
    refused: dict[str, str] = {}
    for name in PRECISIONS[1:]:
        if name not in requested:
            continue
        try:
            check_supported(name, device)
            if name == "int8" and importlib.util.find_spec("torchao") is None:
                raise ImportError("int8 needs torchao: pip install 'hear_gear_embed[int8]'")
        except (PrecisionUnsupportedError, ImportError) as error:
            refused[name] = str(error)
        else:
            usable.append(name)
    return usable, refused


Setup = tuple[Precision, bool]
"""What one row times: a precision, compiled or not."""


def setups(precisions: list[Precision], compiled: list[str]) -> list[Setup]:
    """Each precision eager, then compiled where ``--compiled`` names it; fp32 eager first (the baseline of every
    ratio)."""
    return [(p, False) for p in precisions] + [(p, True) for p in precisions if p in compiled]


def setup_name(setup: Setup) -> str:
    """``"bf16"``, ``"bf16 compiled"``."""
    return setup[0] + (" compiled" if setup[1] else "")


def build_models(
    variant: str, seed: int, with_reference: bool, device: torch.device, wanted: list[Setup],
) -> tuple[dict[Setup, Embedder], Reference | None]:
    """Ours in each setup (one model each: reduced precision rounds the weights) and the reference, same weights."""
    config = get_variant(variant)
    if not with_reference:
        return {s: random_embedder(config, seed, device=device, precision=s[0], compile=s[1]) for s in wanted}, None
    reference = Reference(variant, seed)
    reference.wrapper.to(device)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{variant}.pt"
        torch.save(reference.wrapper.net.state_dict(), path)
        models = {s: load_embedder(config, path, device=device, precision=s[0], compile=s[1]) for s in wanted}
    return models, reference


@torch.inference_mode()
def run_case(
    models: dict[Setup, Embedder], reference: Reference | None, case: tuple[str, int, float],
    args: argparse.Namespace, peaks: dict[str, float], device: torch.device,
) -> list[dict[str, object]]:
    """One row per setup of ``models`` (fp32 eager first), timed one after the other on the same audio, then the
    reference once; ``peaks`` are the matmul GFLOP/s per precision."""
    kind, n_sounds, seconds = case
    audio = test_audio(n_sounds, seconds).to(device)
    audio_s = n_sounds * seconds
    baseline = ("fp32", False)
    flops = models[baseline].network_flops(n_sounds, audio.shape[1], kind)
    outputs: dict[Setup, torch.Tensor] = {}
    seconds_of: dict[Setup, float] = {}
    rows: list[dict[str, object]] = []
    for setup, model in models.items():
        precision, compiled = setup
        call = model.timestamp_embeddings if kind == "timestamp" else model.scene_embeddings
        if compiled:
            call(audio)  # compiles any graph this input's geometry needs, outside the timing
        ours_s, ours_n, out = timed(lambda call=call: call(audio), args.repeats, args.single_above, device)
        outputs[setup] = out[0] if kind == "timestamp" else out
        seconds_of[setup] = ours_s
        row: dict[str, object] = {
            "variant": model.variant.name, "kind": kind, "n_sounds": n_sounds, "seconds": seconds,
            "precision": precision, "compiled": compiled, "ours_s": ours_s, "ours_calls": ours_n,
            "ours_audio_s_per_s": audio_s / ours_s, "network_gflop": flops / 1e9, "ours_gflops": flops / ours_s / 1e9,
            "ours_fraction_of_peak": flops / ours_s / 1e9 / peaks[precision],
            "speedup_vs_fp32": seconds_of[baseline] / ours_s,
        }
        stats = model.compile_stats
        if stats is not None:
            row.update({"compile_graphs": stats.graphs, "compile_s": stats.seconds})
        if setup != baseline:
            row["error_vs_fp32"] = relative_error(outputs[setup], outputs[baseline])
            row["min_cosine_vs_fp32"] = min_row_cosine(outputs[setup], outputs[baseline])
        if args.profile:
            row["time_shares"] = time_shares(lambda call=call: call(audio), model)
        rows.append(row)
    if reference is not None:
        ref_s, ref_n, ref_out = timed(lambda: reference.run(kind, audio), args.repeats, args.single_above, device)
        for row in rows:
            row.update({
                "ref_s": ref_s, "ref_calls": ref_n, "ref_audio_s_per_s": audio_s / ref_s,
                "speedup": ref_s / seconds_of[(row["precision"], row["compiled"])],  # type: ignore[index]
                "ref_gflops": flops / ref_s / 1e9, "ref_fraction_of_peak": flops / ref_s / 1e9 / peaks["fp32"],
            })
        rows[0]["parity_error"] = relative_error(*reference.comparable(kind, outputs[baseline], ref_out))
    return rows


def failure(row: dict[str, object]) -> str | None:
    """Why ``row`` fails the run (parity error above 1e-4, or cosine below 0.999; NaN fails too), or ``None``."""
    setup = setup_name((row["precision"], bool(row.get("compiled"))))  # type: ignore[arg-type]
    case = f"{row['variant']} {row['kind']} {row['n_sounds']}x{row['seconds']:g} {setup}"
    if "parity_error" in row and not row["parity_error"] <= PARITY_TOLERANCE:
        return f"{case}: parity error against hear21passt {row['parity_error']:.2e} > {PARITY_TOLERANCE:g}"
    tolerance = cosine_tolerance(str(row["precision"]))
    if "min_cosine_vs_fp32" in row and not row["min_cosine_vs_fp32"] >= tolerance:
        return f"{case}: minimum cosine against our fp32 {row['min_cosine_vs_fp32']:.6f} < {tolerance:g}"
    return None


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
    peaks = results["matmul_gflops_by_precision"]
    units = env["cpu_bf16_units"]
    measured = ", ".join(
        f"{name} {value['start']['peak']:.1f} / {value.get('end', {}).get('peak', float('nan')):.1f}"
        for name, value in peaks.items()
    )
    lines = [
        f"Measured {env['date']} on {env['cpu']} ({env['cores']} cores, {env['threads']} torch threads, "
        f"{env['device']}; bf16 units: {', '.join(units) if units else 'none' if units is not None else 'unknown'}), "
        f"torch {env['torch']}. torch.matmul peak at width 768, GFLOP/s at the start / end of the run: {measured}; "
        "each row's % uses the higher of its precision's two (hear21passt's: fp32's).",
    ]
    for name, reason in results["precisions"]["refused"].items():
        lines.append(f"\n{name} not run, refused on {env['device']}: {reason}")
    lines += [
        "",
        "| variant | call | audio | precision | ours (audio-s/s) | hear21passt (audio-s/s) | speed-up vs hear21passt "
        "| speed-up vs our fp32 | network GFLOP | ours GFLOP/s (% of its precision's matmul peak) "
        "| hear21passt GFLOP/s (% of fp32 peak) | parity error vs hear21passt | vs our fp32: max error, min cosine "
        "| compiling (graphs, s) | time shares: matrix / attention / elementwise / frontend |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["cases"]:
        ref = "ref_s" in row
        shares = row.get("time_shares")
        cells = [
            f"`{row['variant']}`", row["kind"], f"{row['n_sounds']} x {row['seconds']:g} s",
            setup_name((row["precision"], bool(row.get("compiled")))),
            f"{row['ours_audio_s_per_s']:.2f}",
            f"{row['ref_audio_s_per_s']:.2f}" if ref else "not run",
            f"{row['speedup']:.2f}x" if ref else "",
            f"{row['speedup_vs_fp32']:.2f}x" if "error_vs_fp32" in row else "",
            f"{row['network_gflop']:.0f}",
            f"{row['ours_gflops']:.0f} ({100 * row['ours_fraction_of_peak']:.0f}%)",
            f"{row['ref_gflops']:.0f} ({100 * row['ref_fraction_of_peak']:.0f}%)" if ref else "",
            f"{row['parity_error']:.1e}" if "parity_error" in row else "",
            f"{row['error_vs_fp32']:.1e}, {row['min_cosine_vs_fp32']:.6f}" if "error_vs_fp32" in row else "",
            f"{row['compile_graphs']}, {row['compile_s']:.0f}" if "compile_s" in row else "",
            " / ".join(f"{100 * shares[name]:.0f}%" for name in SHARES) if shares else "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if results.get("memory"):
        lines += ["", "Memory, fp32:", "",
                  "| variant | clip | peak memory (MiB) | held before the call (MiB) | input (MiB) | output (MiB) | time (s) |",
                  "|---|---|---|---|---|---|---|"]
        for row in results["memory"]:
            lines.append(
                f"| `{row['variant']}` | {row['minutes']:g} min | {row['peak_mib']:.0f} | {row['before_call_mib']:.0f} "
                f"| {row['input_mib']:.0f} | {row['output_mib']:.0f} | {row['seconds']:.0f} |"
            )
    if results.get("failures"):
        lines += ["", "**Failed:**", ""] + [f"- {reason}" for reason in results["failures"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", default=list(DEFAULT_VARIANTS))
    parser.add_argument("--cases", nargs="*", type=parse_case, default=[parse_case(c) for c in DEFAULT_CASES])
    parser.add_argument("--precision", nargs="*", choices=PRECISIONS, default=["fp32"],
                        help="precisions to time ours in (fp32 is always timed, as the baseline)")
    parser.add_argument("--compiled", nargs="*", choices=PRECISIONS, default=[],
                        help="precisions to time compiled too (torch.compile; each is timed eager as well)")
    parser.add_argument("--profile", action="store_true",
                        help="profile one more call of each row: shares of matrix products, attention, elementwise work "
                        "and the frontend")
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
    precisions, refused = usable_precisions(args.precision, device)
    wanted = setups(precisions, args.compiled)
    matmul: dict[str, dict[str, dict[str, float]]] = {
        p: {"start": precision_peak(device, args.peak_repeats, p)} for p in precisions
    }
    peaks: dict[str, float] = {p: matmul[p]["start"]["peak"] for p in precisions}
    failures: list[str] = []
    results: dict[str, object] = {
        "environment": environment(device), "load_before": os.getloadavg(),
        "precisions": {"requested": args.precision, "timed": precisions, "refused": refused},
        "setups": [setup_name(setup) for setup in wanted],
        # fp32 also under the keys of the files written before --precision existed.
        "matmul_gflops": matmul["fp32"], "peak_gflops": peaks["fp32"],
        "matmul_gflops_by_precision": matmul, "peak_gflops_by_precision": peaks,
        "cases": [], "memory": [], "failures": failures,
    }
    for name, reason in refused.items():
        print(f"{name} refused on {device}: {reason}", flush=True)

    def save() -> None:
        out.write_text(json.dumps(results, indent=2))
        out.with_suffix(".md").write_text(markdown(results))

    for variant in args.variants:
        models, reference = build_models(variant, args.seed, not args.no_reference, device, wanted)
        warm = test_audio(1, 1.0).to(device)
        for kind in sorted({case[0] for case in args.cases}):
            for model in models.values():
                with torch.inference_mode():
                    (model.timestamp_embeddings if kind == "timestamp" else model.scene_embeddings)(warm)
            if reference is not None:
                reference.run(kind, warm)
        for case in args.cases:
            for row in run_case(models, reference, case, args, peaks, device):
                results["cases"].append(row)
                why = failure(row)
                if why is not None:
                    failures.append(why)
                print(json.dumps(row), flush=True)
            save()
        del models, reference
    for variant in args.memory_variants:
        for minutes in args.memory_minutes:
            row = measure_memory(variant, minutes, device, torch.get_num_threads())
            results["memory"].append(row)
            print(json.dumps(row), flush=True)
            save()
    for p in precisions:
        matmul[p]["end"] = precision_peak(device, args.peak_repeats, p)
        peaks[p] = max(matmul[p]["start"]["peak"], matmul[p]["end"]["peak"])
    results["peak_gflops"] = peaks["fp32"]
    for row in results["cases"]:
        row["ours_fraction_of_peak"] = row["ours_gflops"] / peaks[row["precision"]]
        if "ref_gflops" in row:
            row["ref_fraction_of_peak"] = row["ref_gflops"] / peaks["fp32"]
    results["load_after"] = os.getloadavg()
    save()
    print(markdown(results))
    if failures:
        raise AssertionError(f"{len(failures)} case(s) failed (results saved to {out}):\n" + "\n".join(failures))
    return results


if __name__ == "__main__":
    main()
