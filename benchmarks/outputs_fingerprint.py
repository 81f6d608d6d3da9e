"""Fingerprints of every output the package writes, to show that a refactor changed none of them.

Run it on two checkouts (or before and after a change) and compare the two JSON files with ``--compare``: every
entry is a SHA-256 of exact bytes (embedding arrays, scores, GEAR metrics) or an exact integer (FLOP and memory
estimates), so a single changed bit in any output shows. What it covers, through interfaces that stay stable
across refactors (the HEAR API, the command line, ``Embedder.network_flops`` / ``bytes_per_window``):

* every registered variant (published and ``tiny_test``) through its HEAR module, scene and timestamp embeddings
  of clips of 0.3 s (a batch of 2), 3.3 s and 10.5 s (longer than the scene window), seeded random weights saved in
  the official layout; bf16 where the CPU has bf16 units;
* the FLOP and memory estimates of every variant for clip lengths from 100 samples to 12.5 s, both kinds;
* ``hear-gear embed`` with the local engine (5 models, one with batches of 4) and the Ray engine (2 models) on the
  tests' folder of mixed and broken files: every array and metadata string of every output, and every report row
  but its timing;
* ``hear-gear evaluate`` on the harness's synthetic tasks (kNN, linear, MLP), scores and selected hyper-parameters;
* ``hear-gear gear`` (scene and time-averaged timestamp embeddings): metrics and the arrays of ``gear.npz``.

Usage: ``python benchmarks/outputs_fingerprint.py --out before.json`` (about 10 min on 2 cores), then
``python benchmarks/outputs_fingerprint.py --compare before.json after.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hear_gear_embed import get_variant, list_variants  # noqa: E402
from hear_gear_embed.cli import main  # noqa: E402
from hear_gear_embed.util.precision import cpu_bf16_units  # noqa: E402
from tests.audio_corpus import write_corpus  # noqa: E402
from tests.checkpoints import random_official_checkpoint  # noqa: E402

LENGTHS_S = (0.3, 3.3, 10.5)
"""Clip lengths of the HEAR API cases (s): below a 640 ms window, a few seconds, beyond the 10 s scene window."""
ESTIMATE_LENGTHS = (100, 4000, 32000, 320000, 400000)
"""Clip lengths (samples) of the FLOP and memory estimates."""
IGNORED_KEYS = {"wall_seconds", "seconds", "embedding_seconds", "timing_s", "versions", "module_version"}
"""Keys left out of every fingerprint: times, library versions, and ``module_version``, which holds a hash of the
package's source wherever no release pins it (an editable install), so that any edit changes it."""
PLACE_KEYS = {"source", "output", "weights", "weights_sha256", "source_mtime_ns"}
"""Keys whose values depend on where and when a run happened (paths under the scratch folder, the inputs'
modification times, the SHA-256 of checkpoints, which ``torch.save`` does not write byte for byte alike twice):
fingerprinted as what they must be (the path below the scratch folder, whether the hash and time are the file's)."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def array_digest(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    return digest(f"{array.dtype}{array.shape}".encode() + array.tobytes())


def without_timing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in IGNORED_KEYS}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def json_digest(value: Any) -> str:
    return digest(json.dumps(without_timing(value), sort_keys=True).encode())


def placed(key: str, value: Any, work: Path, record: dict[str, Any]) -> str:
    """``value`` of a :data:`PLACE_KEYS` key as what it must be, independent of the scratch folder and of the time."""
    text = str(value)
    if value is None:
        return text
    if key in ("source", "output", "weights"):
        return text.replace(str(work), "<work>")
    if key == "weights_sha256":
        weights = Path(str(record.get("weights", "")))
        if not text:
            return ""
        return "the checkpoint's" if weights.is_file() and hashlib.sha256(weights.read_bytes()).hexdigest() == text else text
    source = Path(str(record.get("source", "")))
    return "the source's" if source.is_file() and source.stat().st_mtime_ns == int(value) else text


def without_place(record: dict[str, Any], work: Path) -> dict[str, Any]:
    return {k: placed(k, v, work, record) if k in PLACE_KEYS else v for k, v in record.items()}


def noise(n: int, seconds: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, int(round(seconds * 32000)), generator=g) * 2 - 1) * 0.5


def hear_api(work: Path, out: dict[str, str]) -> None:
    bf16 = bool(cpu_bf16_units())
    for name in list_variants(include_unpublished=True):
        variant = get_variant(name)
        module = importlib.import_module(f"hear_gear_embed.hear.{name}")
        path = random_official_checkpoint(variant.net, work / "ckpt") if variant.needs_network and variant.net else ""
        precisions = ["fp32"] + (["bf16"] if bf16 and path and name in ("tiny_test", "passt_base") else [])
        for precision in precisions:
            model = module.load_model(str(path), device="cpu", precision=precision)
            for i, seconds in enumerate(LENGTHS_S):
                audio = noise(2 if seconds < 1 else 1, seconds, seed=i)
                scene = module.get_scene_embeddings(audio, model)
                emb, stamps = module.get_timestamp_embeddings(audio, model)
                key = f"hear/{name}/{precision}/{seconds}s"
                out[key + "/scene"] = array_digest(scene.numpy())
                out[key + "/timestamp"] = array_digest(emb.numpy())
                out[key + "/timestamps_ms"] = array_digest(stamps.numpy())
            for kind in ("scene", "timestamp"):
                out[f"flops/{name}/{precision}/{kind}"] = json.dumps(
                    [model.network_flops(2, n, kind) for n in ESTIMATE_LENGTHS])
            levels = sorted(variant.window_levels) or ["L"]
            out[f"memory/{name}/{precision}"] = json.dumps(
                [model.bytes_per_window(n, tuple(levels)) for n in ESTIMATE_LENGTHS if n >= variant.min_net_samples])
            print(f"{name} {precision} done", flush=True)


def outputs(folder: Path, key: str, out: dict[str, str], work: Path) -> None:
    for path in sorted(folder.rglob("*.npz")):
        with np.load(path, allow_pickle=False) as data:
            meta = {name: str(data[name]) for name in PLACE_KEYS & set(data.files)}
            for name in sorted(set(data.files) - IGNORED_KEYS):
                value = data[name]
                out[f"{key}/{path.relative_to(folder)}/{name}"] = (
                    digest(placed(name, value, work, meta).encode()) if name in PLACE_KEYS else array_digest(value))
    report = json.loads((folder / "embed-report.json").read_text())
    rows = [without_place({k: v for k, v in row.items() if k != "seconds"}, work) for row in report.pop("results")]
    report.pop("engine", None)
    out[f"{key}/report"] = json_digest(without_place(report, work))
    out[f"{key}/rows"] = json_digest(sorted(rows, key=lambda r: r["source"]))


def corpus(work: Path, out: dict[str, str]) -> None:
    audio = write_corpus(work / "corpus")
    tiny = random_official_checkpoint(get_variant("tiny_test").net, work / "ckpt")
    cases = {
        "handcrafted": ["--variant", "handcrafted"],
        "handcrafted-batch4": ["--variant", "handcrafted", "--batch-size", "4"],
        "lowlevel_mel": ["--variant", "lowlevel_mel"],
        "tiny_test": ["--variant", "tiny_test", "--model", str(tiny)],
        "passt_base": ["--variant", "passt_base", "--random-weights", "0"],
        "module": ["--module", "tests.gear_fake_module"],
    }
    for engine, names in (("local", list(cases)), ("ray", ["handcrafted", "tiny_test"])):
        for name in names:
            folder = work / f"embed-{engine}-{name}"
            extra = ["--device", "cpu"] if engine == "local" else ["--engine", "ray"]
            main(["embed", str(audio), *cases[name], "--out", str(folder), "--no-progress", *extra])
            outputs(folder, f"embed/{name}" if engine == "local" else f"embed-ray/{name}", out, work)
            print(f"embed {engine} {name} done", flush=True)
    for name in ("handcrafted", "tiny_test"):
        for path in sorted((work / f"embed-local-{name}").rglob("*.npz")):
            relative = path.relative_to(work / f"embed-local-{name}")
            with np.load(path) as a, np.load(work / f"embed-ray-{name}" / relative) as b:
                for key in ("scene", "timestamp_embeddings"):
                    scale = float(np.abs(a[key]).max()) or 1.0
                    out[f"engines-agree/{name}/{relative}/{key}"] = str(bool(np.abs(a[key] - b[key]).max() <= 1e-5 * scale))


def evaluate(work: Path, out: dict[str, str]) -> None:
    from tests.harness.tasks import make_tasks

    tasks_root = work / "tasks"
    names = make_tasks(tasks_root, sample_rates=(32000,))
    tiny = random_official_checkpoint(get_variant("tiny_test").net, work / "ckpt")
    runs = {
        "handcrafted": (["handcrafted"], [str(tasks_root / n) for n in names], "knn,linear"),
        "tiny_test": (["tiny_test", "--model", str(tiny)], [str(tasks_root / n) for n in names[:1]], "knn,mlp"),
    }
    for name, (model, tasks, protocols) in runs.items():
        folder = work / f"evaluate-{name}"
        main(["evaluate", *model, *tasks, "--protocol", protocols, "--out", str(folder), "--device", "cpu"])
        scores = json.loads((folder / "scores.json").read_text())
        for task in scores["tasks"]:
            out[f"evaluate/{name}/{task}/scores"] = json_digest(scores["tasks"][task])
            out[f"evaluate/{name}/{task}/details"] = json_digest(scores["details"][task])
        header = {k: v for k, v in scores.items() if k not in ("tasks", "details")}
        out[f"evaluate/{name}/header"] = json_digest(without_place(header, work))
        print(f"evaluate {name} done", flush=True)


def gear(work: Path, out: dict[str, str]) -> None:
    for kind in ("scene", "timestamp"):
        folder = work / f"gear-{kind}"
        main(["gear", "handcrafted", "--preset", "perceptual", "--n-alpha", "8", "--n-r", "8", "--duration", "0.25",
              "--isomap-neighbors", "20", "--knn-neighbors", "10", "--embedding", kind, "--out", str(folder),
              "--no-progress", "--save-embeddings"])
        record = json.loads((folder / "metrics.json").read_text())
        out[f"gear/{kind}/metrics"] = json_digest(record["metrics"])
        out[f"gear/{kind}/record"] = json_digest({k: v for k, v in record.items() if k != "metrics"})
        with np.load(folder / "gear.npz") as data:
            for name in sorted(data.files):
                out[f"gear/{kind}/{name}"] = array_digest(data[name])
        print(f"gear {kind} done", flush=True)


def compare(before: Path, after: Path) -> int:
    a, b = json.loads(before.read_text())["fingerprints"], json.loads(after.read_text())["fingerprints"]
    differ = sorted(k for k in a.keys() & b.keys() if a[k] != b[k])
    only = sorted(a.keys() ^ b.keys())
    for key in differ:
        print(f"differs: {key}")
    for key in only:
        print(f"only in {'before' if key in a else 'after'}: {key}")
    print(f"{len(a.keys() & b.keys()) - len(differ)} of {len(a.keys() | b.keys())} fingerprints identical")
    return 1 if differ or only else 0


def run(work: Path, parts: list[str]) -> dict[str, str]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out: dict[str, str] = {}
    for part in parts:
        start = time.perf_counter()
        {"hear": hear_api, "corpus": corpus, "evaluate": evaluate, "gear": gear}[part](work, out)
        print(f"{part}: {time.perf_counter() - start:.0f} s", flush=True)
    return out


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the fingerprints here (JSON)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/hge-fingerprint"), help="scratch folder (emptied)")
    parser.add_argument("--parts", nargs="+", default=["hear", "corpus", "evaluate", "gear"])
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    torch.set_num_threads(torch.get_num_threads())
    fingerprints = run(args.work.resolve(), args.parts)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    record = {"cpu": cpu, "torch": torch.__version__, "fingerprints": fingerprints}
    if args.out:
        args.out.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"{len(fingerprints)} fingerprints")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
