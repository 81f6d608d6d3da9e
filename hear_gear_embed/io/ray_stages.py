"""The two stages of the Ray engine, run on the workers: :func:`decode_batch` (Ray tasks of one CPU: read each file or
its bytes, mix to mono, resample to the model's rate; an unreadable file becomes a ``failed`` row) and
:class:`EmbedActor` (a pool of actors, each loading the model once: equal-length clips embedded in batches, a failed
batch clip by clip, each ``.npz`` written atomically, one status row per file)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..embedding.config import Kind
from ..hear.handle import ClipEmbeddings, EmbeddingModel
from ..hear.identity import ModelIdentity
from ..hear.spec import ModelSpec
from .audio import AudioInfo, AudioReadError, Clip
from .jobs import Job
from .outputs import Decoded, decode, embed_and_save, output_arrays, wanted_arrays
from .ray_cluster import RayOptions
from .report import FileResult, failed

RESULT_COLUMNS = ("path", "status", "output", "error", "seconds", "source_bytes", "source_mtime_ns", "output_bytes")
"""Columns of every row the embed stage returns (with ``out_dir=None``, also the embedding arrays)."""
DECODE_MEMORY_BYTES = 512 * 2**20
"""Memory each decode task reserves with Ray's scheduler: one call's clips and soundfile's and soxr's buffers, with
room for long files."""


def _column(batch: dict[str, np.ndarray], name: str, n: int, default: object) -> list[Any]:
    return list(batch[name]) if name in batch else [default] * n


def decode_batch(batch: dict[str, np.ndarray], *, sample_rate: int, out_dir: str | None) -> dict[str, np.ndarray]:
    """The decode stage: rows ``path`` (and optionally ``bytes``, ``output``) to decoded clips or errors."""
    paths = [str(p) for p in batch["path"]]
    n = len(paths)
    outputs = [str(o) for o in _column(batch, "output", n, "")]
    blobs = _column(batch, "bytes", n, None)
    columns: dict[str, list[Any]] = {key: [] for key in ("path", "output", "samples", "source_sample_rate",
                                                          "source_channels", "source_frames", "source_bytes",
                                                          "source_mtime_ns", "error")}
    for path, output, blob in zip(paths, outputs, blobs, strict=True):
        if not output and out_dir is not None:
            output = str(Path(out_dir) / (Path(path).name + ".npz"))
        job = Job(Path(path), Path(output))
        samples, info, size, mtime, error = np.zeros(0, np.float32), AudioInfo(job.source, 0, 0, 0), -1, -1, ""
        try:
            item = decode(job, sample_rate, None if blob is None else bytes(blob))
            samples, info, size, mtime = item.clip.samples, item.clip.source, item.source_bytes, item.source_mtime_ns
        except (AudioReadError, OSError) as err:
            error = failed(job.source, err).error or ""
        for key, value in (("path", path), ("output", output), ("samples", samples),
                           ("source_sample_rate", info.sample_rate), ("source_channels", info.channels),
                           ("source_frames", info.frames), ("source_bytes", size), ("source_mtime_ns", mtime),
                           ("error", error)):
            columns[key].append(value)
    ragged = np.empty(n, dtype=object)
    ragged[:] = columns.pop("samples")
    return {"samples": ragged, **{key: np.asarray(values) for key, values in columns.items()}}


class EmbedActor:
    """The embed stage: one per worker; loads the model once and checks that it is the one the driver planned for.

    Args:
        source: a spec each worker loads on its own device, or a model made in hand (sent whole, moved there).
        identity: what the driver planned (:attr:`~hear_gear_embed.hear.handle.EmbeddingModel.identity`).
        kinds: the embedding kinds computed.
        out_dir: where outputs are written; ``None``: the embeddings are returned in the rows.
        options: placement and batching.

    Raises:
        RuntimeError: the worker loaded another model than the driver planned for (another checkpoint or precision, or
            another version of a module from elsewhere: :meth:`~hear_gear_embed.hear.identity.ModelIdentity.same_model`).
    """

    def __init__(self, source: ModelSpec | EmbeddingModel, identity: ModelIdentity, kinds: tuple[Kind, ...],
                 out_dir: str | None, options: RayOptions) -> None:
        import torch

        torch.set_num_threads(max(1, int(options.cpus_per_worker)))
        device = "cuda" if options.gpus_per_worker > 0 else "cpu"
        self.model = source.with_device(device).load() if isinstance(source, ModelSpec) else source.to(device)
        # The same checkpoint may sit at another path on another node (each node's own weights cache): the rule of
        # same_model compares its hash, as the resume rule does.
        differ = {key: (planned, loaded) for key, planned, loaded in identity.differences(self.model.identity)}
        if differ:
            raise RuntimeError(f"a worker on {os.uname().nodename} loaded another model than the driver planned for "
                               f"(key: (driver, worker)): {differ}; every node must see the same checkpoint and packages")
        self.kinds, self.out_dir, self.options = kinds, out_dir, options

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows: dict[str, FileResult] = {}
        arrays: dict[str, dict[str, np.ndarray]] = {}
        decoded: list[Decoded] = []
        for i, path in enumerate(batch["path"]):
            path = str(path)
            if batch["error"][i]:
                rows[path] = FileResult(path, "failed", error=str(batch["error"][i]))
                continue
            source = AudioInfo(Path(path), int(batch["source_sample_rate"][i]), int(batch["source_channels"][i]),
                               int(batch["source_frames"][i]))
            clip = Clip(np.asarray(batch["samples"][i], dtype=np.float32), self.model.sample_rate, source)
            decoded.append(Decoded(Job(Path(path), Path(str(batch["output"][i]))), clip, int(batch["source_bytes"][i]),
                                   int(batch["source_mtime_ns"][i])))
        most, samples = self.options.batch_size, int(self.options.batch_seconds * self.model.sample_rate)
        if self.out_dir is not None:
            for result in embed_and_save(self.model, decoded, self.kinds, max_items=most, max_samples=samples):
                rows[result.source] = result
        else:
            outcomes = self.model.embed([d.clip.samples for d in decoded], self.kinds, max_items=most, max_samples=samples,
                                        errors="return")
            for item, outcome in zip(decoded, outcomes, strict=True):
                source_path = str(item.job.source)
                if isinstance(outcome, ClipEmbeddings):
                    rows[source_path] = FileResult(source_path, "embedded", seconds=item.seconds,
                                                   source_bytes=item.source_bytes, source_mtime_ns=item.source_mtime_ns)
                    arrays[source_path] = output_arrays(outcome)
                else:
                    rows[source_path] = failed(item.job.source, outcome, item.seconds)
        paths = [str(p) for p in batch["path"]]
        out: dict[str, np.ndarray] = {
            "path": np.asarray(paths),
            "status": np.asarray([rows[p].status for p in paths]),
            "output": np.asarray([rows[p].output or "" for p in paths]),
            "error": np.asarray([rows[p].error or "" for p in paths]),
            "seconds": np.asarray([np.nan if rows[p].seconds is None else rows[p].seconds for p in paths], dtype=np.float64),
            "source_bytes": np.asarray([-1 if rows[p].source_bytes is None else rows[p].source_bytes for p in paths], np.int64),
            "source_mtime_ns": np.asarray([-1 if rows[p].source_mtime_ns is None else rows[p].source_mtime_ns for p in paths],
                                          np.int64),
            "output_bytes": np.asarray([-1 if rows[p].output_bytes is None else rows[p].output_bytes for p in paths], np.int64),
        }
        if self.out_dir is None:
            out.update(self._arrays(paths, arrays))
        return out

    def _arrays(self, paths: list[str], arrays: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The embedding columns; a failed file has empty arrays (never NaN)."""
        empty = {"scene": np.zeros(0, np.float32), "timestamp_embeddings": np.zeros((0, 0), np.float32),
                 "timestamps_ms": np.zeros(0, np.float32)}
        columns = {}
        for key in wanted_arrays(self.kinds):
            column = np.empty(len(paths), dtype=object)
            column[:] = [arrays[p][key] if p in arrays else empty[key] for p in paths]
            columns[key] = column
        return columns
