"""Throughput of ``hear-gear embed`` (:func:`hear_gear_embed.io.embed_files`) on a folder of files, in
one run on one machine.

The corpus: ``--files`` clips of ``--seconds`` seconds, 16-bit stereo WAV at 44.1 kHz (so that every
file is decoded, mixed down and resampled to 32 kHz), a deterministic mix of harmonic notes and noise,
written to a temporary folder. For each variant in ``--variants`` (PaSST variants with seeded random
weights: the speed does not depend on the values), wall clock (``time.perf_counter``), one run each:

* ``read``: :func:`~hear_gear_embed.io.read_audio` of every file (decoding, mix-down, soxr VHQ);
* ``batched``: ``embed_files`` with the default batching (all files have the same length, so batches
  of ``--batch-size``), scene and timestamp embeddings, writing the ``.npz`` files;
* ``one by one``: the same with ``batch_size=1``;
* ``resume``: the batched command run again on its own output folder (every file skipped).

Reported: seconds of audio per second of wall clock (real-time factor) for each, the speed-up of
batching, and the share of reading in the batched run. The load average before and after is
recorded: other processes on the machine distort the timings.

Usage: ``python benchmarks/bench_cli.py [--files 16] [--seconds 10] [--variants handcrafted passt_base]
[--out PATH]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile
import torch

from hear_gear_embed import __version__, get_variant, load
from hear_gear_embed.io import embed_files, read_audio

RATE = 44100


def make_corpus(folder: Path, n_files: int, seconds: float) -> list[Path]:
    """``n_files`` stereo 16-bit WAVs of ``seconds`` at 44.1 kHz: two harmonic notes and noise, seeded."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * RATE)) / RATE
    paths = []
    for i in range(n_files):
        f0 = 110.0 * 2 ** (i / 12)
        notes = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
        left = 0.2 * notes + 0.02 * rng.standard_normal(t.size)
        right = 0.2 * np.roll(notes, 441) + 0.02 * rng.standard_normal(t.size)
        path = folder / f"clip{i:03d}.wav"
        soundfile.write(path, np.stack([left, right], axis=1), RATE, subtype="PCM_16")
        paths.append(path)
    return paths


def timed(fn: Callable[..., object], *args: object, **kwargs: object) -> tuple[float, object]:
    """``(seconds, result)`` of one call."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def bench_variant(name: str, corpus: Path, paths: list[Path], scratch: Path, batch_size: int) -> dict[str, object]:
    variant = get_variant(name)
    model = load(name, weights="random" if variant.needs_network else None, seed=0 if variant.needs_network else None)
    audio_s = sum(soundfile.info(str(p)).duration for p in paths)
    read_s, _ = timed(lambda: [read_audio(p, variant.sample_rate) for p in paths])
    row: dict[str, object] = {"variant": name, "audio_seconds": audio_s, "read_seconds": read_s}
    for label, size in (("batched", batch_size), ("one_by_one", 1)):
        out = scratch / f"{name}-{label}"
        seconds, report = timed(embed_files, [corpus], model, out, batch_size=size)
        if report.failed or report.count("embedded") != len(paths):  # type: ignore[attr-defined]
            raise RuntimeError(f"{name} {label}: {report.summary()}")  # type: ignore[attr-defined]
        row[f"{label}_seconds"] = seconds
    resume_s, report = timed(embed_files, [corpus], model, scratch / f"{name}-batched", batch_size=batch_size)
    if report.count("skipped") != len(paths):  # type: ignore[attr-defined]
        raise RuntimeError(f"{name} resume: {report.summary()}")  # type: ignore[attr-defined]
    row["resume_seconds"] = resume_s
    for key in ("read", "batched", "one_by_one", "resume"):
        row[f"{key}_x_realtime"] = audio_s / row[f"{key}_seconds"]  # type: ignore[operator]
    row["batching_speedup"] = row["one_by_one_seconds"] / row["batched_seconds"]  # type: ignore[operator]
    row["read_share_of_batched"] = read_s / row["batched_seconds"]  # type: ignore[operator]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--variants", nargs="+", default=["handcrafted", "lowlevel_mel", "passt_base"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / f"cli-{socket.gethostname()}.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)  # the library's INFO lines would interleave with the table
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        paths = make_corpus(corpus, args.files, args.seconds)
        for name in args.variants:
            rows.append(bench_variant(name, corpus, paths, Path(tmp), args.batch_size))
            r = rows[-1]
            print(f"{name:<14} x real time: read {r['read_x_realtime']:6.1f}  batched {r['batched_x_realtime']:6.1f}  "
                  f"one by one {r['one_by_one_x_realtime']:6.1f}  resume {r['resume_x_realtime']:7.0f}  "
                  f"(batching {r['batching_speedup']:.2f}x; reading {100 * r['read_share_of_batched']:.0f}% of batched)",
                  flush=True)
    record = {
        "package_version": __version__, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "files": args.files, "seconds": args.seconds,
        "batch_size": args.batch_size, "load_before": load_before, "load_after": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
