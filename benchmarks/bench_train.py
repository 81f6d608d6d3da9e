"""Training speed and memory of PaSST fine-tuning through this package's own training step, in one run.

Every measured configuration trains the real model through the real code: a :class:`~hear_gear_embed.training.Trainer`
(``init="random"``: full-size networks with seeded random weights, as official weights are not reachable offline;
speed does not depend on the values) on a generated scene task folder of noise clips, so the model is the Trainer's
own (:class:`~hear_gear_embed.training.model.FineTuner` on the variant's scene embedding, :func:`~.model.freeze`,
AdamW over :func:`~.model.parameter_groups`, ``torch.autocast`` for bf16, Patchout seeded per step, BECR, gradient
clipping at 1.0, the learning-rate schedule), and each step is the Trainer's own ``train_step`` (what
:meth:`Trainer.run` calls per batch, after ``model.train()``, which this script calls too). A step is timed with
``time.perf_counter`` (CUDA synchronised before and after): ``--warmup`` untimed steps (default 1), then ``--steps``
timed ones (default 3); the median is the step time and ``batch / median`` the clips per second. The task's training
split is one batch and the run one epoch, so the schedule has a single step and the learning rate is 0 after it: the
losses stay constant from the second step on, while every step still does all the optimiser's work (AdamW's arithmetic
does not depend on the rate). Each configuration of sections 1 and 2 runs in a fresh subprocess, so that its memory
is its own and no configuration warms another's allocator.

1. **Seed 003's Table 2 in kind** (``table2``): training clips/s with and without structured Patchout (seed 003's
   defaults, :func:`~hear_gear_embed.training.default_patchout`: 4 rows and 40 columns removed at a 10 ms STFT hop,
   6 rows and 100 columns at 5 ms) on ``--batch`` clips of 10 s (default 2) in fp32, for the 10 ms geometry
   (``passt_base``: 998-frame time encoding, scene embedding M+H) and the 5 ms one (``passt_lm2rf_hop5``: 2000-frame
   time encoding, scene embedding M+L, its network run on the whole clip), with the attention sequence length (CLS,
   DIST and the patches Patchout keeps, :meth:`~hear_gear_embed.model.config.Patchout.kept`) and Patchout's speed-up.
   Seed 003 measured 10 s training samples per second on an Nvidia Titan RTX GPU; the table quotes it beside ours.
2. **Precision** (``precision``): ``passt_base`` at 10 s with and without Patchout in fp32 and bf16 autocast (as
   ``--precision bf16`` trains). bf16 runs only where
   :func:`~hear_gear_embed.util.precision.compute_dtype` accepts it; a refusal is recorded with its reason. An fp32
   row identical to a ``table2`` row is that row, not measured twice.
3. **BECR's cost** (``becr``): a full-size step of ``passt_base`` on 10 clips of 1 s (no Patchout; scene embedding 1295
   wide) without BECR, with BECR's trace form and with its eig form (lambda 0.05, epsilon 0.7): the three in one
   fresh process, taking turns step by step so that a drift in the machine's speed reaches each alike (their memory
   is not measured); and the regulariser alone: forward and backward of
   :func:`~hear_gear_embed.evaluation.dispersion.becr_loss` on a ``(N, 1295)`` float32 leaf tensor for N = 10, 64 and
   256, trace against eig, the median of ``--becr-repeats`` calls (default 200) after 3 warm-ups. Those embeddings
   have three dominant directions plus noise, so that the Gini index lies below epsilon and the regulariser is active
   (its value and G are recorded). The Trainer computes the trace-form Gini index of every batch for its log, with or
   without BECR.

**FLOPs and % of peak**: a training step counts 3 x :func:`~hear_gear_embed.model.passt.forward_flops` per clip (the
forward pass plus a backward pass of twice the forward), with the sequence Patchout leaves (``patchout=``); the last
block computes the queries, projection and MLP of the 2 readout tokens only, which ``forward_flops`` models. The
convention slightly overcounts: the patch convolution needs no input gradient (the frontend is frozen), and frozen
heads none either. GFLOP/s = FLOPs per clip x clips/s; the % is against the ``torch.matmul`` peak of the same
precision at width 768 (:func:`bench_passt.matmul_peak`: the best of the network's four linear shapes, operands in
that dtype), measured at the start and at the end of this run, the higher of the two.

**Memory**: on a CPU, the peak resident set size of the configuration's process minus its RSS just before the first
step (interpreter, weights, data; the optimiser's state is allocated by the first step, so it counts in the difference
with the gradients and activations). The peak is ``VmHWM`` of ``/proc/self/status`` (the process image's own, reset to
the current RSS just before the first step where Linux allows, ``clear_refs``), with
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` recorded beside it (``ru_maxrss_mib``) and used where ``/proc`` is
absent: Linux carries into ``ru_maxrss`` the peak of the image that ran ``execve``, so a subprocess started from a
process larger than its own peak (a test runner, say) reports its parent's. On CUDA, ``torch.cuda.max_memory_allocated``
over the steps (statistics reset before the first) and ``memory_allocated`` before it.

The load average before and after, the CPU model and its bf16 flags, torch and the thread count are recorded: other
processes on the machine distort the timings. So is every other process that used over 15% of a core in any 10 s of
the run (:class:`OtherProcesses`), and each row says whether the machine was quiet while it ran (``others_busy``: the
samples in its wall-clock span, and how many found another process busy; the tables' ``quiet`` column).

Usage::

    python benchmarks/bench_train.py                      # everything, about 5 minutes on 2 idle CPU cores
    python benchmarks/bench_train.py --only table2 --batch 1 --steps 2
    python benchmarks/bench_train.py --only becr
    python benchmarks/bench_train.py --quick --out /tmp/train.json    # tiny geometry, fractions of a second: seconds

``--quick`` runs the same protocol on the tiny test geometry (``tiny_test``, and the same with a 5 ms hop and a
2000-frame time encoding) and half a second of audio. Writes JSON (``--out``, default
``benchmarks/results/train-speed-<hostname>.json``) after every configuration, and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bench_passt import _reset_peak_rss, _rss_bytes, matmul_peak, synchronize, test_audio, timed  # noqa: E402

from benchmarks.machine import environment  # noqa: E402
from hear_gear_embed import VariantConfig, get_variant  # noqa: E402
from hear_gear_embed.embedding.config import WindowPass  # noqa: E402
from hear_gear_embed.model.passt import READOUT_TOKENS, forward_flops, passt_without_weights  # noqa: E402
from hear_gear_embed.util.device import resolve_device  # noqa: E402
from hear_gear_embed.util.precision import PrecisionUnsupportedError, compute_dtype, dtype_of  # noqa: E402

SECTIONS = ("table2", "precision", "becr")
RATE = 32000
TINY_HOP5 = "tiny_test_hop5"
"""The quick run's 5 ms geometry: ``tiny_test`` with a 160-sample STFT hop and a 2000-frame time encoding."""
BECR_DIM = 1295
"""Width of ``passt_base``'s scene embedding (M 768 + H 527), the regulariser-alone benchmark's."""
SEED003_TABLE2: dict[float, dict[str, Any]] = {
    10.0: {"seq": 1190, "seq_patchout": 474, "clips_per_s": 23.1, "clips_per_s_patchout": 88.7, "speedup": 3.8},
    5.0: {"seq": 2388, "seq_patchout": 594, "clips_per_s": 6.8, "clips_per_s_patchout": 62.4, "speedup": 9.2},
}
"""Seed 003, Table 2: sequence length to the attention layers, 10 s training samples per second on an Nvidia Titan RTX
without / with Patchout, and the speed-up, per STFT hop (ms)."""


@dataclass(frozen=True)
class Plan:
    """What a run measures: full size, or the tiny ``--quick`` geometry."""

    table2_variants: tuple[str, ...]
    precision_variant: str
    seconds: float
    becr_variant: str
    becr_batch: int
    becr_seconds: float
    becr_sizes: tuple[int, ...]


FULL = Plan(("passt_base", "passt_lm2rf_hop5"), "passt_base", 10.0, "passt_base", 10, 1.0, (10, 64, 256))
QUICK = Plan(("tiny_test", TINY_HOP5), "tiny_test", 0.5, "tiny_test", 4, 0.5, (10, 64))


@dataclass(frozen=True)
class Spec:
    """One measured configuration (JSON-ready through :func:`dataclasses.asdict`)."""

    section: str
    variant: str
    seconds: float
    batch: int
    patchout: bool
    precision: str
    becr: str | None
    steps: int
    warmup: int
    seed: int = 0

    def key(self) -> Spec:
        """The configuration without the section that asked for it: equal keys are the same measurement."""
        return replace(self, section="")


def variant_config(name: str) -> VariantConfig:
    """A registered variant, or :data:`TINY_HOP5`."""
    if name != TINY_HOP5:
        return get_variant(name)
    tiny = get_variant("tiny_test")
    assert tiny.net is not None
    frontend = replace(tiny.frontend, hop_length=tiny.frontend.hop_length // 2)
    return replace(tiny, name=TINY_HOP5, frontend=frontend, net=replace(tiny.net, max_frames=2000),
                   description="tiny_test at a 5 ms STFT hop (bench_train --quick)")


def make_task(folder: Path, n_train: int, seconds: float, seed: int = 0) -> Path:
    """A ``trainvaltest`` scene task folder of noise-and-tone clips (:func:`bench_passt.test_audio`) of ``seconds`` at
    32 kHz: ``n_train`` training clips, one validation and one test clip, two labels, ``top1_acc``. Written directly
    (the format of :mod:`~hear_gear_embed.evaluation.downstream.tasks`), not by ``hear-gear task make``, which also
    needs soxr; reading it back needs soundfile."""
    import soundfile

    splits = {"train": n_train, "valid": 1, "test": 1}
    labels = ("a", "b")
    for index, (split, count) in enumerate(splits.items()):
        audio = test_audio(count, seconds, seed=seed + index).numpy()
        (folder / str(RATE) / split).mkdir(parents=True, exist_ok=True)
        entries = {}
        for i in range(count):
            name = f"{split}-{i:03d}.wav"
            soundfile.write(folder / str(RATE) / split / name, audio[i], RATE, subtype="FLOAT")
            entries[name] = [labels[i % len(labels)]]
        (folder / f"{split}.json").write_text(json.dumps(entries))
    (folder / "labelvocabulary.csv").write_text("idx,label\n" + "".join(f"{i},{label}\n" for i, label in enumerate(labels)))
    metadata = {"task_name": "bench_train", "embedding_type": "scene", "prediction_type": "multiclass",
                "split_mode": "trainvaltest", "splits": list(splits), "sample_duration": seconds,
                "evaluation": ["top1_acc"]}
    (folder / "task_metadata.json").write_text(json.dumps(metadata, indent=1))
    return folder


def geometry(spec: Spec) -> dict[str, Any]:
    """The network work of one clip of ``spec``: STFT hop, frames, Patchout, sequence length (tokens entering the
    attention layers) and the training FLOPs (3 x the forward pass, :func:`forward_flops` with Patchout)."""
    from hear_gear_embed.training import default_patchout

    variant = variant_config(spec.variant)
    net = variant.net
    assert net is not None
    hop_ms = variant.frontend.hop_ms
    patchout = default_patchout(hop_ms) if spec.patchout else None
    n_samples = int(round(spec.seconds * RATE))
    levels = variant.scene_levels
    blocks = passt_without_weights(net).blocks_run(variant.mid_layer, "M" in levels, "H" in levels)
    forward = 0
    frames = tokens = 0
    for step in variant.plan(n_samples, "scene"):
        if isinstance(step, WindowPass) and step.uses_network:
            frames = variant.frontend.n_frames(step.window_samples)
            forward += step.windows * forward_flops(net, frames, blocks, "H" in levels, patchout=patchout)
            columns = net.n_time_patches(frames)
            kept = patchout.kept(net, columns)[2] if patchout is not None else net.freq_patches * columns
            tokens = kept + READOUT_TOKENS
    return {"hop_ms": hop_ms, "frames": frames, "patchout": None if patchout is None else asdict(patchout),
            "seq_len": tokens, "blocks": blocks, "forward_gflop_per_clip": forward / 1e9,
            "train_gflop_per_clip": 3 * forward / 1e9}


def measure(specs: list[Spec], task: Path, device: torch.device, init: str | Path = "random") -> list[dict[str, Any]]:
    """Train each of ``specs`` (one :class:`Trainer` each, on ``task``, in this process) for ``warmup + steps`` steps of
    the Trainer's own step, the configurations taking turns step by step (so that a drift in the machine's speed
    reaches each alike), and return one row each: step times, clips/s, losses; and with a single configuration, its
    memory (see the module docstring). ``specs`` share their batch and clip length (the task's). ``init``: the
    Trainer's (``"random"``: seeded random weights; a checkpoint file loads in a fraction of the seconds a full-size
    random draw takes)."""
    from hear_gear_embed.training import Becr, TrainConfig, Trainer, default_patchout
    from hear_gear_embed.training.trainer import NonFiniteLossError

    rows: list[dict[str, Any]] = []
    trainers = []
    outs = []
    for spec in specs:
        variant = variant_config(spec.variant)
        config = TrainConfig(epochs=1, batch_size=spec.batch, seed=spec.seed,
                             becr=Becr(form=spec.becr) if spec.becr else None,  # type: ignore[arg-type]
                             patchout=default_patchout(variant.frontend.hop_ms) if spec.patchout else None)
        outs.append(tempfile.TemporaryDirectory(prefix="bench-train-"))
        started = time.perf_counter()
        trainer = Trainer(variant, task, outs[-1].name, config, init=init, device=device,
                          precision=spec.precision,  # type: ignore[arg-type]
                          download=False, progress=False)
        trainer.model.train()  # what Trainer.run does before its first step (Patchout acts in training mode only)
        trainers.append(trainer)
        rows.append({**asdict(spec), **geometry(spec), "init": str(init), "setup_s": time.perf_counter() - started,
                     "trained_parameters": sum(p.numel() for g in trainer.optimizer.param_groups for p in g["params"]),
                     "step_s": [], "losses": [], "gini": [], "becr_term": []})
    single = len(specs) == 1
    if single and device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    elif single:
        reset = _reset_peak_rss()
        before = _rss_bytes()
    try:
        for _ in range(max(spec.warmup + spec.steps for spec in specs)):
            for spec, trainer, row in zip(specs, trainers, rows, strict=True):
                if "error" in row or len(row["step_s"]) >= spec.warmup + spec.steps:
                    continue
                indices = np.arange(spec.batch)
                synchronize(device)
                start = time.perf_counter()
                try:
                    record = trainer.train_step(indices, 0)
                except NonFiniteLossError as error:
                    row["error"] = str(error)
                    continue
                synchronize(device)
                row["step_s"].append(time.perf_counter() - start)
                row["losses"].append(record.loss)
                row["gini"].append(record.gini)
                row["becr_term"].append(record.becr)
        mib = 2.0**20
        for spec, row in zip(specs, rows, strict=True):
            if not single:
                row.update(measure_memory=f"not measured: {len(specs)} configurations shared the process",
                           before_mib=None, peak_mib=None, working_mib=None)
            elif device.type == "cuda":
                row.update(measure_memory="torch.cuda.max_memory_allocated", before_mib=before / mib,
                           peak_mib=torch.cuda.max_memory_allocated(device) / mib)
            else:
                hwm = _vmhwm()
                maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
                row.update(measure_memory="peak RSS (ru_maxrss)" if hwm is None else
                           f"peak RSS (VmHWM, {'reset before the first step' if reset else 'since the process started'})",
                           before_mib=before / mib, peak_mib=(maxrss if hwm is None else hwm) / mib,
                           ru_maxrss_mib=maxrss / mib)
            if single:
                row["working_mib"] = row["peak_mib"] - row["before_mib"]
            losses = row["losses"]
            row["finite"] = bool(losses) and "error" not in row and bool(np.isfinite(losses).all())
            timed = row["step_s"][spec.warmup:]
            if timed:
                median = statistics.median(timed)
                row.update(median_step_s=median, clips_per_s=spec.batch / median,
                           gflops=row["train_gflop_per_clip"] * spec.batch / median)
    finally:
        for out in outs:
            out.cleanup()
    return rows


def _vmhwm() -> int | None:
    """``VmHWM`` of ``/proc/self/status`` in bytes (``None`` where it cannot be read)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def run_child(specs: list[Spec], task: Path, device: torch.device, threads: int) -> list[dict[str, Any]]:
    """:func:`measure` in a fresh process."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps([asdict(s) for s in specs]),
               "--task", str(task), "--device", str(device), "--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{specs} failed (exit status {done.returncode}):\n{done.stderr[-4000:]}")
    rows: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows


class OtherProcesses:
    """Samples, every ``interval`` seconds while the run lasts, the CPU time of every process on the machine other than
    this one and its children (Linux ``/proc``; nothing elsewhere): a sample names those that used over 15% of a core
    since the previous one. The run's record of how quiet the machine was, beside the load average."""

    THRESHOLD = 0.15

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> OtherProcesses:
        if Path("/proc/self/stat").exists():
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @staticmethod
    def _ticks() -> dict[int, tuple[int, int, str]]:
        """pid -> (CPU ticks, parent pid, command line) of every process."""
        out = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    command = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()[:100]
            except (OSError, IndexError):
                continue
            out[int(entry)] = (int(fields[11]) + int(fields[12]), int(fields[1]), command)
        return out

    def _run(self) -> None:
        hz = os.sysconf("SC_CLK_TCK")
        me = os.getpid()
        before, start = self._ticks(), time.monotonic()
        while not self._stop.wait(self.interval):
            now, end = self._ticks(), time.monotonic()
            busy = [[round((ticks - before[pid][0]) / hz / (end - start), 2), command]
                    for pid, (ticks, parent, command) in now.items()
                    if pid in before and me not in (pid, parent) and (ticks - before[pid][0]) / hz / (end - start) > self.THRESHOLD]
            self.samples.append({"time": time.strftime("%H:%M:%S"), "epoch_s": round(time.time(), 1),
                                 "load": round(os.getloadavg()[0], 2), "busy": busy})
            before, start = now, end

    def during(self, started: float, ended: float) -> dict[str, int]:
        """How many samples ended within ``[started, ended + interval]`` (each covers the ``interval`` before it), and how
        many of those found another process busy."""
        inside = [s for s in self.samples if started < s["epoch_s"] <= ended + self.interval]
        return {"samples": len(inside), "busy": sum(1 for s in inside if s["busy"])}

    def summary(self) -> dict[str, Any]:
        """How many samples found another process busy, and which (by command line), with their largest share."""
        largest: dict[str, float] = {}
        for sample in self.samples:
            for share, command in sample["busy"]:
                largest[command] = max(largest.get(command, 0.0), share)
        return {"interval_s": self.interval, "samples": len(self.samples),
                "samples_with_others_busy": sum(1 for s in self.samples if s["busy"]),
                "others": dict(sorted(largest.items(), key=lambda item: -item[1])), "log": self.samples}


def regulariser_alone(sizes: tuple[int, ...], repeats: int, device: torch.device) -> list[dict[str, Any]]:
    """Forward and backward of ``becr_loss`` on ``(n, BECR_DIM)`` for each ``n`` of ``sizes``, trace and eig forms."""
    from hear_gear_embed.evaluation.dispersion import becr_loss, gini_index

    rows = []
    for n in sizes:
        generator = torch.Generator().manual_seed(n)
        # three dominant directions (scales 1, 0.7, 0.5) plus noise: G about 0.57, below epsilon, so the regulariser
        # is active
        scales = torch.tensor([1.0, 0.7, 0.5])
        base = (torch.randn(n, 3, generator=generator) * scales) @ torch.randn(3, BECR_DIM, generator=generator)
        emb = (base + 0.02 * torch.randn(n, BECR_DIM, generator=generator)).to(device).requires_grad_()
        row: dict[str, Any] = {"n": n, "dim": BECR_DIM, "gini": float(gini_index(emb.detach())), "repeats": repeats}
        for form in ("trace", "eig"):
            def once(form: str = form, emb: torch.Tensor = emb) -> float:
                emb.grad = None
                loss = becr_loss(emb, 0.7, form=form)  # type: ignore[arg-type]
                loss.backward()
                return float(loss.detach())

            for _ in range(3):
                once()
            median, _, value = timed(once, repeats, math.inf, device)
            row[f"{form}_ms"] = 1e3 * median
            row[f"{form}_loss"] = value
        row["eig_over_trace"] = row["eig_ms"] / row["trace_ms"]
        rows.append(row)
    return rows


def _fmt_patchout(row: dict[str, Any]) -> str:
    p = row["patchout"]
    return "none" if p is None else f"{p['freq']} rows, {p['time']} columns"


def _memory(row: dict[str, Any]) -> str:
    return f"{row['working_mib']:.0f}" if row.get("working_mib") is not None else ""


def _quiet(row: dict[str, Any]) -> str:
    """Whether the machine was quiet while the row ran (:class:`OtherProcesses`): ``yes``, or the busy samples."""
    others = row.get("others_busy")
    if others is None or not others["samples"]:
        return "?"
    return "yes" if not others["busy"] else f"no ({others['busy']}/{others['samples']})"


def _peak_cell(row: dict[str, Any]) -> str:
    if "gflops" not in row:
        return row.get("error", "")
    fraction = row.get("fraction_of_peak")
    return f"{row['gflops']:.0f} ({100 * fraction:.0f}%)" if fraction is not None else f"{row['gflops']:.0f}"


def markdown(results: dict[str, Any]) -> str:
    env = results["environment"]
    units = env["cpu_bf16_units"]
    peaks = results["matmul_gflops_by_precision"]
    measured = ", ".join(f"{name} {value['start']['peak']:.1f} / {value.get('end', {}).get('peak', float('nan')):.1f}"
                         for name, value in peaks.items())
    memory = ("peak RSS (VmHWM) minus the RSS before the first step" if env["device"] == "cpu"
              else "torch.cuda.max_memory_allocated minus memory_allocated before the first step")
    lines = [
        f"Measured {env['date']} on {env['cpu']} ({env['cores']} cores, {env['threads']} torch threads, {env['device']}"
        f"{', ' + env['gpu'] if 'gpu' in env else ''}; bf16 units: "
        f"{', '.join(units) if units else 'none' if units is not None else 'unknown'}), torch {env['torch']}; load "
        f"average before {results['load_before'][0]:.2f}, after {results.get('load_after', [float('nan')])[0]:.2f}. "
        f"torch.matmul peak at width 768, GFLOP/s at the start / end of the run: {measured}; each % uses the higher of "
        f"its precision's two. Training FLOPs = 3 x forward FLOPs per clip. Memory: {memory} (MiB), one fresh process "
        f"per configuration. Median of {results['options']['steps']} timed steps after {results['options']['warmup']} "
        "warm-up.",
    ]
    if results.get("note"):
        lines.append(f"\n{results['note']}")
    others = results.get("other_processes")
    if others and others["samples"]:
        names = "; ".join(f"{command} (up to {share:.0%} of a core)" for command, share in others["others"].items())
        lines.append(f"\nOther processes over 15% of a core in {others['samples_with_others_busy']} of {others['samples']} "
                     f"samples ({others['interval_s']:g} s each) during the run" + (f": {names}." if names else "."))
    for name, reason in results["precisions"]["refused"].items():
        lines.append(f"\n{name} not run, refused on {env['device']}: {reason}")
    if results["table2"]:
        lines += ["", "Seed 003's Table 2 in kind (fp32; seed 003: 10 s training samples/s on an Nvidia Titan RTX):", "",
                  "| STFT hop | variant | clips | Patchout removes | seq. length (seed 003) | clips/s (seed 003) "
                  "| Patchout speed-up (seed 003) | step (s) | train GFLOP/clip | GFLOP/s (% fp32 peak) | memory (MiB) "
                  "| quiet |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in results["table2"]:
            seed = SEED003_TABLE2.get(row["hop_ms"], {})
            suffix = "_patchout" if row["patchout"] else ""

            def quoted(key: str, seed: dict[str, Any] = seed, suffix: str = suffix) -> str:
                return f" ({seed[key + suffix]})" if seed else ""

            speedup = ""
            if row["patchout"] and row.get("speedup") is not None:
                speedup = f"{row['speedup']:.2f}x" + (f" ({seed['speedup']}x)" if seed else "")
            lines.append(
                f"| {row['hop_ms']:g} ms | `{row['variant']}` | {row['batch']} x {row['seconds']:g} s "
                f"| {_fmt_patchout(row)} | {row['seq_len']}{quoted('seq')} "
                f"| {row['clips_per_s']:.3f}{quoted('clips_per_s')} | {speedup} | {row['median_step_s']:.2f} "
                f"| {row['train_gflop_per_clip']:.0f} | {_peak_cell(row)} | {_memory(row)} | {_quiet(row)} |"
                if "clips_per_s" in row else f"| {row['hop_ms']:g} ms | `{row['variant']}` | | {_fmt_patchout(row)} "
                f"| {row['seq_len']} | failed: {row.get('error', '')} | | | | | | |")
        lines.append("\nSequence length: CLS, DIST and the patches kept; seed 003's 10 ms figures count the same, its 5 ms "
                     "figures the patches only (2388 = 12 x 199, 594 = 6 x 99).")
    if results["precision"]:
        lines += ["", "Precision (training step as `--precision` sets it: bf16 = torch.autocast):", "",
                  "| variant | clips | Patchout removes | precision | clips/s | speed-up vs fp32 | step (s) "
                  "| GFLOP/s (% of its precision's matmul peak) | memory (MiB) | losses finite | quiet |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in results["precision"]:
            speed = f"{row['speedup_vs_fp32']:.2f}x" if row.get("speedup_vs_fp32") is not None else ""
            lines.append(
                f"| `{row['variant']}` | {row['batch']} x {row['seconds']:g} s | {_fmt_patchout(row)} | {row['precision']} "
                f"| {row.get('clips_per_s', float('nan')):.3f} | {speed} | {row.get('median_step_s', float('nan')):.2f} "
                f"| {_peak_cell(row)} | {_memory(row)} | {'yes' if row['finite'] else 'NO'} | {_quiet(row)} |")
    becr = results["becr"]
    if becr["steps"]:
        lines += ["", "BECR's cost in a training step (fp32, no Patchout; the three configurations in one process, taking "
                  "turns):", "",
                  "| variant | clips | BECR | step (s) | clips/s | vs no BECR | BECR term (first step) | Gini (first step) "
                  "| quiet |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for row in becr["steps"]:
            term = row["becr_term"][0] if row["becr_term"] else None
            versus = f"{row['vs_none']:+.1%}" if row.get("vs_none") is not None else ""
            lines.append(
                f"| `{row['variant']}` | {row['batch']} x {row['seconds']:g} s | {row['becr'] or 'none'} "
                f"| {row.get('median_step_s', float('nan')):.3f} | {row.get('clips_per_s', float('nan')):.3f} "
                f"| {versus} | {'' if term is None else f'{term:.4f}'} | {row['gini'][0]:.4f} | {_quiet(row)} |")
    if becr["regulariser"]:
        lines += ["", "The regulariser alone (forward + backward of `becr_loss`, float32, median):", "",
                  "| embeddings | G | trace (ms) | eig (ms) | eig / trace |", "|---|---|---|---|---|"]
        for row in becr["regulariser"]:
            lines.append(f"| {row['n']} x {row['dim']} | {row['gini']:.3f} | {row['trace_ms']:.3f} | {row['eig_ms']:.3f} "
                         f"| {row['eig_over_trace']:.1f}x |")
    return "\n".join(lines) + "\n"


def _fill_peaks(results: dict[str, Any]) -> None:
    """Each row's fraction of its precision's matmul peak (the higher of start and end)."""
    peaks = results["peak_gflops_by_precision"]
    for row in results["table2"] + results["precision"] + results["becr"]["steps"]:
        if "gflops" in row and row["precision"] in peaks:
            row["fraction_of_peak"] = row["gflops"] / peaks[row["precision"]]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny geometry and half a second of audio: seconds")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--steps", type=int, default=None, help="timed steps per configuration (default 3, quick 2)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--batch", type=int, default=2, help="clips per step of the table2 and precision sections")
    parser.add_argument("--becr-repeats", type=int, default=None, help="calls of the regulariser alone (default 200)")
    parser.add_argument("--peak-repeats", type=int, default=None, help="matmul peak repeats (default 10, quick 2)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--note", default="", help="a line recorded with the results (e.g. how quiet the machine was)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--task", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.child:
        rows = measure([Spec(**spec) for spec in json.loads(args.child)], args.task, device)
        print(json.dumps(rows))
        return {"rows": rows}

    plan = QUICK if args.quick else FULL
    steps = args.steps if args.steps is not None else 2 if args.quick else 3
    peak_repeats = args.peak_repeats or (2 if args.quick else 10)
    becr_repeats = args.becr_repeats or (5 if args.quick else 200)
    if steps < 1 or args.warmup < 0 or args.batch < 1:
        parser.error("--steps and --batch must be at least 1, --warmup at least 0")
    out = args.out or ROOT / "benchmarks" / "results" / f"train-speed-{socket.gethostname()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    refused: dict[str, str] = {}
    precisions = ["fp32"]
    try:
        compute_dtype("bf16", device)
        precisions.append("bf16")
    except PrecisionUnsupportedError as error:
        refused["bf16"] = str(error)
    load_before = os.getloadavg()
    watch = OtherProcesses().start()
    matmul = {p: {"start": matmul_peak(device, peak_repeats, dtype_of(p))} for p in precisions}
    results: dict[str, Any] = {
        "environment": environment(device), "load_before": load_before, "quick": args.quick, "note": args.note,
        "options": {"only": args.only, "steps": steps, "warmup": args.warmup, "batch": args.batch,
                    "becr_repeats": becr_repeats, "peak_repeats": peak_repeats},
        "precisions": {"timed": precisions, "refused": refused},
        "matmul_gflops_by_precision": matmul, "peak_gflops_by_precision": {p: matmul[p]["start"]["peak"] for p in matmul},
        "seed003_table2": {f"{hop:g} ms": value for hop, value in SEED003_TABLE2.items()},
        "table2": [], "precision": [], "becr": {"steps": [], "regulariser": []},
    }
    for name, reason in refused.items():
        print(f"{name} refused on {device}: {reason}", flush=True)

    def save() -> None:
        _fill_peaks(results)
        out.write_text(json.dumps(results, indent=2))
        out.with_suffix(".md").write_text(markdown(results))

    done: dict[Spec, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-train-tasks-") as scratch:
        tasks: dict[tuple[int, float], Path] = {}

        def task_for(batch: int, seconds: float) -> Path:
            if (batch, seconds) not in tasks:
                tasks[(batch, seconds)] = make_task(Path(scratch) / f"task-{batch}x{seconds:g}", batch, seconds)
            return tasks[(batch, seconds)]

        def run(specs: list[Spec], section: list[dict[str, Any]]) -> list[dict[str, Any]]:
            """Each of ``specs`` in its own fresh process, or, when ``specs`` holds several, all in one (no memory)."""
            rows: list[dict[str, Any]] = []
            for spec in specs if len(specs) == 1 else []:
                if spec.key() in done:
                    rows.append({**done[spec.key()], "section": spec.section, "reused_from": done[spec.key()]["section"]})
            if not rows:
                started = time.time()
                rows = run_child(specs, task_for(specs[0].batch, specs[0].seconds), device, threads)
                for row in rows:
                    row["wall_clock"] = [round(started, 1), round(time.time(), 1)]
                if len(specs) == 1:
                    done[specs[0].key()] = rows[0]
            for row in rows:
                section.append(row)
                print(json.dumps({k: row.get(k) for k in ("section", "variant", "patchout", "precision", "becr", "seq_len",
                                                          "clips_per_s", "working_mib", "error")}), flush=True)
            save()
            return rows

        if "table2" in args.only:
            for variant in plan.table2_variants:
                plain, cut = (run([Spec("table2", variant, plan.seconds, args.batch, patchout, "fp32", None, steps,
                                        args.warmup)], results["table2"])[0] for patchout in (False, True))
                if "clips_per_s" in plain and "clips_per_s" in cut:
                    cut["speedup"] = cut["clips_per_s"] / plain["clips_per_s"]
        if "precision" in args.only:
            for patchout in (False, True):
                base = None
                for precision in precisions:
                    row = run([Spec("precision", plan.precision_variant, plan.seconds, args.batch, patchout, precision,
                                    None, steps, args.warmup)], results["precision"])[0]
                    base = base or row
                    if "clips_per_s" in row and "clips_per_s" in base:
                        row["speedup_vs_fp32"] = row["clips_per_s"] / base["clips_per_s"]
        if "becr" in args.only:
            results["becr"]["regulariser"] = regulariser_alone(plan.becr_sizes, becr_repeats, device)
            save()
            none, *regularised = run([Spec("becr", plan.becr_variant, plan.becr_seconds, plan.becr_batch, False, "fp32",
                                           form, steps, args.warmup) for form in (None, "trace", "eig")],
                                     results["becr"]["steps"])
            for row in (none, *regularised):
                if "median_step_s" in row and "median_step_s" in none:
                    row["vs_none"] = row["median_step_s"] / none["median_step_s"] - 1
    for p in precisions:
        matmul[p]["end"] = matmul_peak(device, peak_repeats, dtype_of(p))
        results["peak_gflops_by_precision"][p] = max(matmul[p]["start"]["peak"], matmul[p]["end"]["peak"])
    results["load_after"] = os.getloadavg()
    watch.stop()
    results["other_processes"] = watch.summary()
    for row in results["table2"] + results["precision"] + results["becr"]["steps"]:
        if "wall_clock" in row:
            row["others_busy"] = watch.during(*row["wall_clock"])
    save()
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
