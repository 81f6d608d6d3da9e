"""Throughput of both corpus engines of ``hear-gear embed`` on one machine, in one run: the local engine
(:func:`hear_gear_embed.io.embed_files`, one process, torch on every core) and the Ray engine
(:func:`hear_gear_embed.io.ray_engine.embed_files_ray` on a local Ray of every core: decode tasks ahead of
model actors), on the same generated folder, with equal outputs checked.

The corpus is the one of ``bench_cli.py``: 16-bit stereo WAVs of 10 s at 44.1 kHz, so that every file is
decoded, mixed down and resampled. For each variant (PaSST variants with seeded random weights: the speed
does not depend on the values), wall clock (``time.perf_counter``), one run each:

* ``decode``: :func:`~hear_gear_embed.io.read_audio` of every file in this process, one core: the decode
  stage's rate per core;
* ``local``: ``embed_files``, one file per batch (the CLI's CPU default), both embedding kinds, writing ``.npz``;
* ``ray``: ``embed_files_ray`` with ``--workers`` actors of ``--cpus-per-worker`` CPUs each, on a Ray started
  before the clock runs (its start-up time is recorded apart); the outputs must equal the local engine's;
* ``ray_resume``: the Ray command again on its output folder: every file is checked and skipped before any work
  is scheduled.

And the driver's work at scale (``--plan-files``, default 20000): a list of that many files (hard links of one
short WAV, each with a finished output), timed through :func:`~hear_gear_embed.io.read_path_list` and
:func:`~hear_gear_embed.io.plan_jobs` (``plan``), then through the check of every earlier output in
:data:`~hear_gear_embed.io.resume.RESUME_THREADS` threads, once opening every output (``check_open``, a
folder without a report) and once with the report of the run before (``check_report``, the usual second run):
what a second run on a corpus of millions of files costs before it schedules anything, on this machine's disk.

Reported: files/s and seconds of audio per second for each, Ray's over local's, and the load average before and
after (other processes distort the timings).

Usage: ``python benchmarks/bench_engines.py [--variants handcrafted passt_2lvlmel] [--files 32 8] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_cli import make_corpus
from machine import environment

from hear_gear_embed import __version__
from hear_gear_embed.embedding.config import Kind
from hear_gear_embed.hear.spec import ModelSpec
from hear_gear_embed.io import CorpusReport, FileResult, embed_files, plan_jobs, read_audio, read_path_list
from hear_gear_embed.io.outputs import wanted_arrays
from hear_gear_embed.io.ray_engine import RayOptions, embed_files_ray
from hear_gear_embed.io.resume import pending_jobs, previous_results, read_report

SECONDS = 10.0
ENGINE_TOLERANCE = 1e-5
"""As in ``tests/io/test_ray_engine.py``: how far the engines' embeddings may differ, relative to their scale."""


def same_outputs(a: Path, b: Path) -> int:
    """Number of ``.npz`` files compared; raises if the two folders' outputs differ: an embedding by more than
    :data:`ENGINE_TOLERANCE` of its largest magnitude (the engines' thread counts may change the last bits,
    docs/cluster.md), any other array at all."""
    names = sorted(str(p.relative_to(a)) for p in a.rglob("*.npz"))
    if names != sorted(str(p.relative_to(b)) for p in b.rglob("*.npz")):
        raise AssertionError(f"{a} and {b} hold different files")
    for name in names:
        with np.load(a / name) as x, np.load(b / name) as y:
            for key in x.files:
                if key in ("scene", "timestamp_embeddings"):
                    scale = float(np.abs(x[key]).max(initial=0.0))
                    same = x[key].shape == y[key].shape and bool(np.all(np.abs(x[key] - y[key]) <= ENGINE_TOLERANCE * scale))
                else:
                    same = np.array_equal(x[key], y[key])
                if not same:
                    raise AssertionError(f"{name}: {key} differs between the engines")
    return len(names)


def bench_variant(name: str, n_files: int, scratch: Path, options: RayOptions) -> dict[str, object]:
    corpus = scratch / f"audio-{name}"
    corpus.mkdir()
    paths = make_corpus(corpus, n_files, SECONDS)
    random = name.startswith("passt")
    spec = ModelSpec(name, "random" if random else "", 0 if random else None, device="cpu")
    audio_s = n_files * SECONDS
    start = time.perf_counter()
    for path in paths:
        read_audio(path, 32000)
    decode_s = time.perf_counter() - start
    row: dict[str, object] = {"variant": name, "files": n_files, "audio_seconds": audio_s, "decode_seconds": decode_s}
    start = time.perf_counter()
    report = embed_files([corpus], spec.load(), scratch / f"{name}-local", batch_size=1)
    row["local_seconds"] = time.perf_counter() - start
    for label, folder in (("ray", f"{name}-ray"), ("ray_resume", f"{name}-ray")):
        start = time.perf_counter()
        report = embed_files_ray([corpus], spec.with_device(None), scratch / folder, options=options)
        row[f"{label}_seconds"] = time.perf_counter() - start
        expected = "embedded" if label == "ray" else "skipped"
        if report.count(expected) != n_files:
            raise RuntimeError(f"{name} {label}: {report.summary()}")
    row["outputs_equal"] = same_outputs(scratch / f"{name}-local", scratch / f"{name}-ray")
    for label in ("decode", "local", "ray", "ray_resume"):
        row[f"{label}_files_per_s"] = n_files / float(row[f"{label}_seconds"])  # type: ignore[arg-type]
    row["ray_over_local"] = float(row["local_seconds"]) / float(row["ray_seconds"])  # type: ignore[arg-type]
    return row


def bench_planning(n_files: int, scratch: Path) -> dict[str, object]:
    """Seconds to read a list of ``n_files`` and plan their jobs, and to check their (finished) outputs."""
    folder = scratch / "plan"
    (folder / "audio").mkdir(parents=True)
    first = folder / "audio" / "f0000000.wav"
    make_corpus(folder / "audio", 1, 0.5)[0].rename(first)
    model = ModelSpec("handcrafted").load()
    report = embed_files([first], model, folder / "out", kinds=("scene",))
    done = folder / "out" / (first.name + ".npz")
    names = [f"f{i:07d}.wav" for i in range(n_files)]
    for name in names[1:]:
        os.link(first, folder / "audio" / name)
        os.link(done, folder / "out" / (name + ".npz"))
    (folder / "list.txt").write_text("".join(f"{name}\n" for name in names))
    start = time.perf_counter()
    jobs, failures = plan_jobs(read_path_list(folder / "list.txt"), folder / "out", root=folder / "audio")
    plan_s = time.perf_counter() - start
    kinds: tuple[Kind, ...] = ("scene",)
    row: dict[str, object] = {"files": n_files, "plan_seconds": plan_s, "plan_files_per_s": n_files / plan_s}
    for label in ("open", "report"):
        results: dict[Path, FileResult] = {}
        start = time.perf_counter()
        previous = previous_results(read_report(folder / "out"), model.identity, kinds) if label == "report" else {}
        todo = pending_jobs(jobs, model.identity, wanted_arrays(kinds), False, results, previous)
        seconds = time.perf_counter() - start
        if failures or todo or len(results) != n_files or report.failed or (label == "report") != bool(previous):
            raise RuntimeError(f"planning benchmark: {len(failures)} failures, {len(todo)} left to do")
        row |= {f"check_{label}_seconds": seconds, f"check_{label}_files_per_s": n_files / seconds}
        # what the run that skipped them all would write: the index of the next run's check
        skipped = CorpusReport(model.identity, kinds, "local")
        skipped.results = [results[job.source] for job in jobs]
        skipped.save(folder / "out")
    return row


def markdown(results: dict[str, object]) -> str:
    env = results["environment"]
    lines = [f"Engines on {env['cpu']} ({env['cores']} cores), {env['date']}; Ray started in "  # type: ignore[index]
             f"{results['ray_start_seconds']:.1f} s (not in the times below); {results['options']}.", "",
             "| variant | files x 10 s | decode (1 core) files/s | local files/s | Ray files/s | Ray / local | "
             "Ray resume files/s | outputs equal |", "|---|---|---|---|---|---|---|---|"]
    for row in results["rows"]:  # type: ignore[attr-defined]
        lines.append(f"| {row['variant']} | {row['files']} | {row['decode_files_per_s']:.1f} | {row['local_files_per_s']:.2f} | "
                     f"{row['ray_files_per_s']:.2f} | {row['ray_over_local']:.2f}x | {row['ray_resume_files_per_s']:.1f} | "
                     f"{row['outputs_equal']} files |")
    plan = results["planning"]
    lines += ["", f"Driver, {plan['files']} listed files with finished outputs: reading the list and planning "  # type: ignore[index]
              f"{plan['plan_files_per_s']:.0f} files/s; the resume check {plan['check_open_files_per_s']:.0f} "  # type: ignore[index]
              f"files/s opening every output, {plan['check_report_files_per_s']:.0f} files/s with the last run's "  # type: ignore[index]
              "report."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["handcrafted", "passt_2lvlmel"])
    parser.add_argument("--files", nargs="+", type=int, default=[32, 8], help="files per variant (one number each)")
    parser.add_argument("--workers", type=int, default=1, help="model actors of the Ray engine")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0)
    parser.add_argument("--plan-files", type=int, default=20000, help="listed files for the driver's planning and check")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "engines-vm.json")
    args = parser.parse_args()
    if len(args.files) != len(args.variants):
        parser.error("--files takes one number per variant")
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    options = RayOptions(workers=(args.workers, args.workers), cpus_per_worker=args.cpus_per_worker)
    temp = tempfile.mkdtemp(prefix="hge-bench-", dir="/tmp")
    load_before = os.getloadavg()
    start = time.perf_counter()
    ray.init(include_dashboard=False, _temp_dir=str(Path(temp) / "ray"), logging_level="WARNING")
    ray_start = time.perf_counter() - start
    try:
        rows = [bench_variant(name, n, Path(temp), options) for name, n in zip(args.variants, args.files, strict=True)]
        planning = bench_planning(args.plan_files, Path(temp))
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    results = {"environment": environment(torch.device("cpu")), "package_version": __version__, "ray": ray.__version__,
               "ray_start_seconds": ray_start, "options": f"{args.workers} actor(s) of {args.cpus_per_worker:g} CPU",
               "load_average_before": load_before, "load_average_after": os.getloadavg(), "rows": rows,
               "planning": planning}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
