"""The error of reduced precision (bf16, fp16, int8) against float32, per PaSST variant and feature level.

For every variant with a network (default: every published one), one seeded random checkpoint in the
official layout (:func:`tests.checkpoints.random_official_checkpoint`) is loaded with
:func:`hear_gear_embed.load_embedder` once in ``fp32`` and once in each of ``--precisions``. The weights are
random because the official ones are not at hand offline; trained weights may give other errors. A precision
the device refuses (:class:`~hear_gear_embed.util.precision.PrecisionUnsupportedError`: int8 on a GPU or a CPU
without int8 units, fp16 on any CPU, bf16 on a CPU without bf16 units) is recorded with the reason; a network that
returns non-finite values (``FloatingPointError``) is recorded as such.

Both models embed the same audio:

* ``noise``: ``--noise-clips`` clips of ``--noise-seconds`` s, white noise plus three sines, seeded; timestamp and
  scene embeddings;
* ``task:<name>``: the first ``--task-clips`` clips of each synthetic HEAR task of the harness
  (:mod:`tests.harness.tasks`: the ``test`` split, or the first fold), rendered at the variant's sample
  rate from their seeded descriptions (float, without the 16-bit rounding of the files heareval reads),
  with the embeddings heareval takes from that task: timestamp embeddings of the event task, scene
  embeddings of the others.

Each embedding is cut into its parts with the variant's configuration (timestamp blocks, each block's
levels or frame features; scene levels, then scene features), and every part is compared with the
fp32 output, over all rows (timestamps or clips) at once:

* relative error ``max |x - ref| / max |ref|`` (0 where both are identically 0);
* minimum cosine similarity between a row and its fp32 row (1 for two zero rows);
* error against the spread ``||x - ref||_F / ||ref - mean(ref)||_F``, the mean taken over the rows: the error
  measured against the differences between rows, which is what a downstream model learns from. The two
  measures above compare it with the whole embedding, most of which (with random weights) is common to every
  row, so they can look small while this one is not.

The parts are summarised per level: ``L`` (log-mel or CQT frames, or their per-band mean), ``M``,
``H``, and ``features`` (frame features): the largest relative error and the smallest cosine over the
parts of that level. Only the transformer blocks run in reduced precision, so ``L`` and ``features``
must come out exact.

Usage::

    python benchmarks/precision_error.py                                  # every published network variant
    python benchmarks/precision_error.py --variants passt_base --precisions bf16 --out /tmp/precision.json
    python benchmarks/precision_error.py --device cuda                    # bf16 and fp16 on a GPU

Writes JSON (``--out``, default ``benchmarks/results/precision-<hostname>.json``) after every variant,
and a Markdown table next to it.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.machine import environment as machine_environment  # noqa: E402
from hear_gear_embed import (  # noqa: E402
    Kind,
    VariantConfig,
    WindowBlock,
    get_variant,
    list_variants,
    load_embedder,
)
from hear_gear_embed.embedding import Embedder  # noqa: E402
from hear_gear_embed.util.device import resolve_device  # noqa: E402
from hear_gear_embed.util.precision import PRECISIONS, PrecisionUnsupportedError, cpu_flags  # noqa: E402
from tests.checkpoints import random_official_checkpoint  # noqa: E402
from tests.harness.tasks import clip_gain, describe_tasks, render_clip  # noqa: E402

REDUCED = tuple(p for p in PRECISIONS if p != "fp32")
"""The precisions compared with fp32."""

SUMMARY_LEVELS = ("L", "M", "H", "features")
"""Columns of the summary: the three levels, then frame features."""

KIND_ORDER: tuple[Kind, ...] = ("timestamp", "scene")


@dataclass(frozen=True)
class Part:
    """A column range ``[start, stop)`` of an embedding holding one level of one block, or one frame feature.

    Attributes:
        name: e.g. ``"160 ms M"``, ``"scene H"``, ``"60 ms cqt (frames)"``.
        level: ``"L"``, ``"M"``, ``"H"`` or ``"features"``.
        start: first column.
        stop: one past the last column.
    """

    name: str
    level: str
    start: int
    stop: int


@dataclass(frozen=True)
class Input:
    """Clips ``(n_clips, n_samples)`` float32 and the embedding kinds compared on them."""

    audio: torch.Tensor
    kinds: tuple[Kind, ...]


def timestamp_parts(variant: VariantConfig) -> list[Part]:
    """The parts of a timestamp embedding of ``variant``, in column order (covering every column)."""
    parts, start = [], 0
    for block in variant.timestamp_blocks:
        if isinstance(block, WindowBlock):
            for level in block.levels:
                size = variant.level_size(level, block.window_ms)
                parts.append(Part(f"{block.window_ms:g} ms {level}", level, start, start + size))
                start += size
        else:
            for feature in block.features:
                size = variant.feature_size(feature, block)
                parts.append(Part(f"{block.window_ms:g} ms {feature} ({block.pooling})", "features", start, start + size))
                start += size
    if start != variant.timestamp_embedding_size:
        raise AssertionError(f"{variant.name}: parts cover {start} of {variant.timestamp_embedding_size} columns")
    return parts


def scene_parts(variant: VariantConfig) -> list[Part]:
    """The parts of a scene embedding of ``variant``: its levels, then its frame features (mean and std)."""
    parts, start = [], 0
    for level in variant.scene_levels:
        size = variant.level_size(level)
        parts.append(Part(f"scene {level}", level, start, start + size))
        start += size
    for feature in variant.scene_features:
        size = variant.feature_size(feature)
        parts.append(Part(f"scene {feature}", "features", start, start + size))
        start += size
    if start != variant.scene_embedding_size:
        raise AssertionError(f"{variant.name}: parts cover {start} of {variant.scene_embedding_size} columns")
    return parts


def relative_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    """``max |got - ref| / max |ref|`` over all elements (float64); 0 when both are all zeros, inf when only ``ref`` is."""
    diff = float((got.double() - ref.double()).abs().max())
    scale = float(ref.double().abs().max())
    if scale == 0.0:
        return 0.0 if diff == 0.0 else math.inf
    return diff / scale


def min_cosine(got: torch.Tensor, ref: torch.Tensor) -> float:
    """Smallest cosine similarity between matching rows of ``got`` and ``ref`` ``(rows, d)`` (float64); a pair of
    zero rows counts 1, a zero row against a non-zero one 0."""
    a, b = got.double(), ref.double()
    dot = (a * b).sum(dim=1)
    norms = a.norm(dim=1) * b.norm(dim=1)
    both_zero = (a.abs().amax(dim=1) == 0) & (b.abs().amax(dim=1) == 0)
    cos = torch.where(norms > 0, dot / norms.clamp_min(torch.finfo(torch.float64).tiny), torch.zeros_like(dot))
    return float(torch.where(both_zero, torch.ones_like(cos), cos).min())


def spread_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    """``||got - ref||_F / ||ref - mean over rows of ref||_F`` of ``(rows, d)`` (float64): the error against the
    differences between rows; 0 when ``got`` equals ``ref``, inf when only the rows of ``ref`` are all equal."""
    diff = float((got.double() - ref.double()).norm())
    spread = float((ref.double() - ref.double().mean(dim=0)).norm())
    if spread == 0.0:
        return 0.0 if diff == 0.0 else math.inf
    return diff / spread


def compare(got: torch.Tensor, ref: torch.Tensor, parts: list[Part]) -> dict[str, object]:
    """Errors of ``got`` against ``ref`` (both ``(rows, d)``), per part and summarised per level.

    Returns:
        ``{"parts": {name: {"level", **errors}}, "levels": {level: errors}}`` where ``errors`` is
        ``{"max_rel_error", "min_cosine", "spread_error"}`` (the worst over the parts of a level); a level is exact
        where its ``max_rel_error`` is 0.
    """
    per_part: dict[str, dict[str, object]] = {}
    levels: dict[str, dict[str, float]] = {}
    for part in parts:
        a, b = got[:, part.start: part.stop], ref[:, part.start: part.stop]
        errors = {"max_rel_error": relative_error(a, b), "min_cosine": min_cosine(a, b), "spread_error": spread_error(a, b)}
        per_part[part.name] = {"level": part.level, **errors}
        _merge(levels, part.level, errors)
    return {"parts": per_part, "levels": levels}


def _merge(levels: dict[str, dict[str, float]], level: str, errors: dict[str, float]) -> None:
    """Fold one part's errors into a per-level summary: the largest errors, the smallest cosine."""
    summary = levels.setdefault(level, {"max_rel_error": 0.0, "min_cosine": 1.0, "spread_error": 0.0})
    summary["max_rel_error"] = max(summary["max_rel_error"], errors["max_rel_error"])
    summary["min_cosine"] = min(summary["min_cosine"], errors["min_cosine"])
    summary["spread_error"] = max(summary["spread_error"], errors["spread_error"])


def noise_clips(n_clips: int, seconds: float, sample_rate: int, seed: int) -> torch.Tensor:
    """``(n_clips, n_samples)`` float32: white noise (RMS 0.1) plus three sines (100 Hz to 4 kHz, peak 0.2 each)."""
    generator = torch.Generator().manual_seed(seed)
    n = int(round(seconds * sample_rate))
    t = torch.arange(n, dtype=torch.float64) / sample_rate
    freqs = 100.0 * 40.0 ** torch.rand(n_clips, 3, 1, generator=generator, dtype=torch.float64)
    phases = 2 * math.pi * torch.rand(n_clips, 3, 1, generator=generator, dtype=torch.float64)
    tones = 0.2 * torch.sin(2 * math.pi * freqs * t + phases).sum(dim=1)
    noise = 0.1 * torch.randn(n_clips, n, generator=generator, dtype=torch.float64)
    return (tones + noise).clamp(-1.0, 1.0).float()


def task_clips(per_task: int, sample_rate: int, seed: int) -> dict[str, Input]:
    """The first ``per_task`` clips of each synthetic task's ``test`` split (k-fold: first fold) at ``sample_rate``,
    as the harness writes them (before 16-bit rounding), with the embedding kind heareval takes from that task
    (``scene``, or ``timestamp`` for the event task): ``{"task:<name>": Input}``."""
    out = {}
    for task in describe_tasks(seed):
        split = task.splits.get("test") or next(iter(task.splits.values()))
        audio = np.stack([render_clip(clip, sample_rate, clip_gain(clip)) for clip in split[:per_task]])
        kind: Kind = "timestamp" if task.metadata["embedding_type"] == "event" else "scene"
        out[f"task:{task.name}"] = Input(torch.from_numpy(audio).float(), (kind,))
    return out


def environment(device: torch.device) -> dict[str, object]:
    """:func:`benchmarks.machine.environment` with the CPU's flags that matter for precision."""
    flags = cpu_flags() or frozenset()
    relevant = sorted(f for f in flags if any(k in f for k in ("bf16", "fp16", "amx", "avx512f", "avx2")))
    return {**machine_environment(device), "cpu_flags": relevant}


@torch.inference_mode()
def _embed(model: Embedder, kind: Kind, audio: torch.Tensor) -> torch.Tensor:
    """``(rows, d)`` float32 on the CPU: timestamp embeddings flattened over clips and timestamps, or scene embeddings."""
    if kind == "timestamp":
        return model.timestamp_embeddings(audio)[0].flatten(0, 1).cpu()
    return model.scene_embeddings(audio).cpu()


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed_outputs(model: Embedder, inputs: dict[str, Input], device: torch.device) -> Iterator[
        tuple[str, Kind, torch.Tensor, float]]:
    """``(data, kind, embeddings (rows, d), seconds)`` for every input and each of its kinds, after one untimed call
    of each kind on 0.5 s of the first clip (one-off costs: oneDNN kernel selection, allocator)."""
    warm = next(iter(inputs.values())).audio[:1, : model.sample_rate // 2].to(device)
    for kind in KIND_ORDER:
        _embed(model, kind, warm)
    for data, item in inputs.items():
        for kind in item.kinds:
            _synchronize(device)
            start = time.perf_counter()
            out = _embed(model, kind, item.audio.to(device))
            _synchronize(device)
            yield data, kind, out, time.perf_counter() - start


def run_variant(name: str, precisions: list[str], inputs: dict[str, Input], device: torch.device,
                checkpoints: Path, seed: int) -> dict[str, object]:
    """Every comparison of one variant: the fp32 reference, then each precision (or why it was refused)."""
    variant = get_variant(name)
    if variant.net is None:
        raise ValueError(f"{name} has no network")
    path = random_official_checkpoint(variant.net, checkpoints, seed)
    parts = {"timestamp": timestamp_parts(variant), "scene": scene_parts(variant)}
    reference = load_embedder(variant, path, device=device)
    ref: dict[tuple[str, Kind], tuple[torch.Tensor, float]] = {}
    for data, kind, out, seconds in _timed_outputs(reference, inputs, device):
        ref[(data, kind)] = out, seconds
    del reference
    verdicts: dict[str, dict[str, object]] = {}
    for precision in precisions:
        try:
            model = load_embedder(variant, path, device=device, precision=precision)
        except PrecisionUnsupportedError as err:
            verdicts[precision] = {"refused": str(err)}
            continue
        rows: list[dict[str, object]] = []
        entry: dict[str, object] = {"rows": rows}
        try:
            for data, kind, out, seconds in _timed_outputs(model, inputs, device):
                expected, fp32_seconds = ref[(data, kind)]
                rows.append({"data": data, "kind": kind, "fp32_seconds": round(fp32_seconds, 3),
                             "seconds": round(seconds, 3), **compare(out, expected, parts[kind])})
        except FloatingPointError as err:
            entry["non_finite"] = str(err)
        verdicts[precision] = entry
        del model
    return {"variant": name, "checkpoint": f"random_official_checkpoint(seed={seed})", "precisions": verdicts}


def _cell(levels: dict[str, dict[str, float]], level: str) -> str:
    if level not in levels:
        return ""
    values = levels[level]
    if values["max_rel_error"] == 0.0:
        return "exact"
    return f"{values['max_rel_error']:.1e} / {values['min_cosine']:.5f} / {values['spread_error']:.1e}"


def summarise(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """Per kind: the ``noise`` rows, and the ``task:*`` rows merged as ``tasks`` (largest errors, smallest cosine,
    summed seconds)."""
    merged: dict[tuple[str, str], dict[str, object]] = {}
    for row in rows:
        data = "noise" if row["data"] == "noise" else "tasks"
        into = merged.setdefault((data, str(row["kind"])), {"data": data, "kind": row["kind"], "levels": {},
                                                             "fp32_seconds": 0.0, "seconds": 0.0})
        for level, values in row["levels"].items():
            _merge(into["levels"], level, values)
        into["fp32_seconds"] += row["fp32_seconds"]
        into["seconds"] += row["seconds"]
    return list(merged.values())


def markdown(results: dict[str, object]) -> str:
    """Per precision, a table of variant x data x kind, each level as ``max relative error / min cosine / spread error``."""
    env = results["environment"]
    lines = [
        f"Measured {env['date']} on {env['cpu']} ({env['cores']} cores, {env['threads']} torch threads, {env['device']}"
        + (f", {env['gpu']}" if "gpu" in env else "") + f"), torch {env['torch']}; seeded random weights "
        f"(seed {results['seed']}). Noise: {results['noise']}; tasks: {results['tasks']}.",
        "",
        "Each cell, over every part of that level: max |x - fp32| / max |fp32|, then the minimum row cosine against "
        "fp32, then ||x - fp32|| / ||fp32 - its mean row|| (the error against the differences between rows) "
        "(\"exact\": every element equal).",
    ]
    for precision in results["precisions"]:
        lines += ["", f"### {precision} against fp32", "",
                  "| variant | data | embedding | L | M | H | frame features | seconds (fp32 -> reduced) |",
                  "|---|---|---|---|---|---|---|---|"]
        for variant in results["variants"]:
            entry = variant["precisions"].get(precision, {})
            if "refused" in entry:
                lines.append(f"| `{variant['variant']}` | refused: {entry['refused']} | | | | | | |")
                continue
            if "non_finite" in entry:
                lines.append(f"| `{variant['variant']}` | non-finite: {entry['non_finite']} | | | | | | |")
            for row in summarise(entry.get("rows", [])):
                cells = [_cell(row["levels"], level) for level in SUMMARY_LEVELS]
                lines.append(f"| `{variant['variant']}` | {row['data']} | {row['kind']} | " + " | ".join(cells)
                             + f" | {row['fp32_seconds']:.1f} -> {row['seconds']:.1f} |")
    return "\n".join(lines) + "\n"


def network_variants() -> list[str]:
    """Every published variant with a network."""
    return [name for name in list_variants() if get_variant(name).needs_network]


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=None, help="default: every published variant with a network")
    parser.add_argument("--precisions", nargs="+", choices=REDUCED, default=list(REDUCED))
    parser.add_argument("--noise-clips", type=int, default=2)
    parser.add_argument("--noise-seconds", type=float, default=3.0)
    parser.add_argument("--task-clips", type=int, default=3, help="clips per synthetic task (0: none)")
    parser.add_argument("--device", default=None, help="torch device (default: CUDA when available, else CPU)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the noise and the tasks")
    parser.add_argument("--checkpoints", type=Path, default=None,
                        help="folder for the random checkpoints (default: $HGE_TEST_CHECKPOINTS, else a temporary one)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    variants = args.variants or network_variants()
    for name in variants:
        if not get_variant(name).needs_network:
            parser.error(f"{name} has no network: nothing runs in reduced precision")
    out = args.out or ROOT / "benchmarks" / "results" / f"precision-{socket.gethostname()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {
        "environment": environment(device), "seed": args.seed, "precisions": args.precisions,
        "noise": f"{args.noise_clips} x {args.noise_seconds:g} s, timestamp and scene embeddings",
        "tasks": f"{args.task_clips} clips per task, the embeddings heareval takes from it (event task: timestamp; "
                 "others: scene)",
        "variants": [],
    }
    with tempfile.TemporaryDirectory() as scratch, torch.inference_mode():
        checkpoints = args.checkpoints or Path(scratch)
        for name in variants:
            rate = get_variant(name).sample_rate
            inputs = {"noise": Input(noise_clips(args.noise_clips, args.noise_seconds, rate, args.seed), KIND_ORDER)}
            if args.task_clips:
                inputs.update(task_clips(args.task_clips, rate, args.seed))
            started = time.perf_counter()
            result = run_variant(name, args.precisions, inputs, device, checkpoints, args.seed)
            result["seconds"] = round(time.perf_counter() - started, 1)
            results["variants"].append(result)
            print(f"{name}: {result['seconds']} s", flush=True)
            out.write_text(json.dumps(results, indent=2))
            out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
