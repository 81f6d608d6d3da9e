"""Helpers of the downstream evaluation tests: small hand-made task folders, and a fast HEAR module that records
its calls."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from hear_gear_embed.hear.handle import EmbeddingModel

RATE = 32000
"""Sample rate (Hz) of every test task and of the fake module."""
HOP_MS = 50.0
"""Timestamp hop of the fake module (ms)."""


def write_task(
    root: Path,
    name: str = "mini",
    *,
    embedding_type: str = "scene",
    prediction_type: str = "multiclass",
    labels: tuple[str, ...] = ("a", "b"),
    split_files: dict[str, dict[str, Any]] | None = None,
    seconds: dict[str, float] | None = None,
    loud: tuple[str, ...] = (),
    **metadata: Any,
) -> Path:
    """A task folder ``root / name`` with seeded noise at :data:`RATE` (0.25 s per file unless ``seconds[file]``
    says otherwise; amplitude 0.1, 0.9 for the files in ``loud``).

    ``split_files``: split -> file -> targets as in ``<split>.json`` (default: 4 / 2 / 2 files, labels alternating);
    ``metadata`` overrides keys of ``task_metadata.json`` (``None`` removes one).
    """
    if split_files is None:
        split_files = {split: {f"{split}-{i}.wav": [labels[i % len(labels)]] for i in range(n)}
                  for split, n in (("train", 4), ("valid", 2), ("test", 2))}
    meta: dict[str, Any] = {
        "task_name": name, "embedding_type": embedding_type, "prediction_type": prediction_type,
        "split_mode": "trainvaltest", "splits": list(split_files), "sample_duration": 0.25,
        "evaluation": ["top1_acc"] if embedding_type == "scene" else ["event_onset_200ms_fms"],
    }
    meta.update(metadata)
    meta = {k: v for k, v in meta.items() if v is not None}
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "task_metadata.json").write_text(json.dumps(meta))
    (folder / "labelvocabulary.csv").write_text("idx,label\n" + "".join(f"{i},{x}\n" for i, x in enumerate(labels)))
    rng = np.random.default_rng(0)
    for split, files in split_files.items():
        (folder / f"{split}.json").write_text(json.dumps(files))
        (folder / str(RATE) / split).mkdir(parents=True)
        for file in files:
            n = int((seconds or {}).get(file, 0.25) * RATE)
            amp = 0.9 if file in loud else 0.1
            sf.write(folder / str(RATE) / split / file, amp * rng.uniform(-1, 1, n), RATE, subtype="FLOAT")
    return folder


class FakeModel(torch.nn.Module):
    """Frame statistics (mean, RMS, peak) at :data:`RATE`; ``batches`` records the shape of every call's audio.
    A clip whose peak exceeds ``nan_above`` gets NaN embeddings; a call of more than ``max_batch`` clips fails as
    out of memory."""

    sample_rate = RATE
    scene_embedding_size = 3
    timestamp_embedding_size = 3

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[int, int]] = []
        self.nan_above = float("inf")
        self.max_batch = 1 << 30


def _stats(audio: torch.Tensor, model: FakeModel) -> torch.Tensor:
    out = torch.stack([audio.mean(-1), audio.square().mean(-1).sqrt(), audio.abs().amax(-1)], dim=-1)
    return torch.where(audio.abs().amax(-1, keepdim=True) > model.nan_above, torch.nan, out)


def _record(audio: torch.Tensor, model: FakeModel) -> None:
    model.batches.append((audio.shape[0], audio.shape[1]))
    if audio.shape[0] > model.max_batch:
        raise torch.OutOfMemoryError(f"{audio.shape[0]} clips do not fit")


def _scene(audio: torch.Tensor, model: FakeModel) -> torch.Tensor:
    _record(audio, model)
    return _stats(audio, model)


def fake_timestamps(n_samples: int) -> torch.Tensor:
    """The fake module's timestamps (ms) for a clip of ``n_samples``: every :data:`HOP_MS` from 0 to its end."""
    return torch.arange(0.0, n_samples / RATE * 1000.0 + 1e-6, HOP_MS)


def _timestamp(audio: torch.Tensor, model: FakeModel) -> tuple[torch.Tensor, torch.Tensor]:
    _record(audio, model)
    stamps = fake_timestamps(audio.shape[-1])
    hop = int(HOP_MS * RATE / 1000)
    padded = torch.nn.functional.pad(audio, (hop, hop))
    frames = padded.unfold(-1, 2 * hop, hop)[:, : len(stamps)]
    return _stats(frames, model), stamps.expand(audio.shape[0], -1)


def fake_hear() -> EmbeddingModel:
    """A new :class:`FakeModel` as a loaded HEAR module named ``fake_downstream_hear``."""
    module = types.ModuleType("fake_downstream_hear")
    vars(module).update(load_model=FakeModel, get_scene_embeddings=_scene, get_timestamp_embeddings=_timestamp)
    return EmbeddingModel.from_module(module, FakeModel())
