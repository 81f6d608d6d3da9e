"""Embed a corpus on a Ray cluster with Ray Data: the same outputs, resume rule, report and manifest as
:func:`~.corpus.embed_files`, spread over every node.

The pipeline has two stages:

1. **decode** (Ray tasks, one CPU each): read each file (or its bytes), mix to mono and resample with soxr
   to the model's rate. A file that cannot be read becomes a ``failed`` row; the job goes on.
2. **embed** (a pool of actors, ``workers`` of them, each with ``gpus_per_worker`` GPUs or
   ``cpus_per_worker`` CPUs): every actor loads the model once, embeds equal-length clips in batches
   (a failed batch is retried clip by clip) and writes each ``.npz`` atomically, returning one status row per
   file. Decoding runs ahead of the actors, with Ray Data's backpressure, so GPUs are not starved by it.

A worker that dies mid-batch is restarted by Ray and its batch retried; as outputs are written through a
temporary file and ``os.replace``, no partial output is ever left. Outputs must be on storage every node can
write (a shared filesystem), and inputs on storage every node can read (docs/cluster.md).

Needs the ``ray`` extra: ``pip install "hear_gear_embed[ray]"``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..embedding.config import KINDS, Kind
from ..registry import get_variant
from .audio import AudioInfo, AudioReadError, Clip, require_backends
from .corpus import (
    CorpusReport,
    Decoded,
    FileResult,
    Job,
    batch_groups,
    check_kinds,
    decode,
    embed_and_save,
    embed_group,
    failed,
    pending_jobs,
    plan_jobs,
    previous_results,
    report_results,
    wanted_arrays,
)
from .models import CorpusModel, ModelSpec

if TYPE_CHECKING:
    import ray.data

logger = logging.getLogger(__name__)

RESULT_COLUMNS = ("path", "status", "output", "error", "seconds", "source_bytes", "source_mtime_ns")
"""Columns of every row :func:`embed_dataset` returns (with ``out_dir=None``, also the embedding arrays)."""
DECODE_MEMORY_BYTES = 512 * 2**20
"""Memory each decode task reserves with Ray's scheduler: one call's clips (``rows_per_call`` files of 10 s at
32 kHz are 20 MB) and soundfile's and soxr's buffers, with room for long files."""


def _ray() -> ModuleType:
    """ray, imported on first use (optional dependency)."""
    try:
        import ray
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError('the Ray engine needs Ray: pip install "hear_gear_embed[ray]"', name=err.name) from err
    return ray


@dataclass(frozen=True)
class RayOptions:
    """How the embedding stage is placed and batched.

    Attributes:
        workers: ``(min, max)`` model actors; Ray Data scales the pool between them.
        gpus_per_worker: GPUs per actor (fractions share a GPU, e.g. 0.5 for two actors per GPU); 0 computes on CPU.
        cpus_per_worker: CPUs per actor (also its torch threads, rounded down, at least 1).
        batch_size: most equal-length files per model call.
        batch_seconds: most audio per model call, seconds (bounds memory on long files).
        rows_per_call: files per Ray Data batch, of the decode tasks and of each actor call (at least
            ``batch_size``, so that actors can fill their batches).
    """

    workers: tuple[int, int] = (1, 1)
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    batch_size: int = 1
    batch_seconds: float = 600.0
    rows_per_call: int = 16

    def __post_init__(self) -> None:
        low, high = self.workers
        if not 1 <= low <= high:
            raise ValueError(f"workers must be MIN:MAX with 1 <= MIN <= MAX, got {low}:{high}")
        if self.gpus_per_worker < 0 or self.cpus_per_worker <= 0:
            raise ValueError(f"gpus_per_worker must be >= 0 and cpus_per_worker > 0, got {self.gpus_per_worker} and "
                             f"{self.cpus_per_worker}")
        if self.batch_size < 1 or self.batch_seconds <= 0 or self.rows_per_call < self.batch_size:
            raise ValueError(f"batch_size must be >= 1, batch_seconds > 0 and rows_per_call >= batch_size, got "
                             f"{self.batch_size}, {self.batch_seconds} and {self.rows_per_call}")


def parse_workers(text: str) -> tuple[int, int]:
    """``"MIN:MAX"`` (or ``"N"`` for ``N:N``) as ``(min, max)``.

    Raises:
        ValueError: not of that form, or not ``1 <= MIN <= MAX``.
    """
    parts = text.split(":")
    try:
        low, high = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (0, -1)
    except ValueError:
        low, high = 0, -1
    if not 1 <= low <= high:
        raise ValueError(f"--workers takes MIN:MAX (or N) with 1 <= MIN <= MAX, got {text!r}")
    return low, high


def driver_identity(spec: ModelSpec) -> tuple[dict[str, str], int]:
    """What every output will record about ``spec``'s model, and its sample rate, found by loading it once on this
    machine's CPU in fp32 (a bad name, module or checkpoint fails here, before any work is scheduled).

    Returns:
        ``(identity, sample_rate)``; the identity's ``precision`` is the one the workers will compute in.
    """
    model = dataclasses.replace(spec, device="cpu", precision="fp32").load()
    # weight-free variants and other modules compute in fp32 whatever is asked (ModelSpec refuses it for the latter)
    has_network = spec.variant is not None and get_variant(spec.variant).net is not None
    identity = {**model.identity, "precision": spec.precision if has_network else "fp32"}
    return identity, model.sample_rate


def _column(batch: dict[str, np.ndarray], name: str, n: int, default: object) -> list[Any]:
    return list(batch[name]) if name in batch else [default] * n


def _decode_batch(batch: dict[str, np.ndarray], *, sample_rate: int, out_dir: str | None) -> dict[str, np.ndarray]:
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


class _EmbedActor:
    """The embed stage: one per worker; loads the model once and checks that it is the one the driver planned for."""

    def __init__(self, spec: ModelSpec, identity: dict[str, str], kinds: tuple[Kind, ...], out_dir: str | None,
                 options: RayOptions) -> None:
        import torch

        torch.set_num_threads(max(1, int(options.cpus_per_worker)))
        device = "cuda" if options.gpus_per_worker > 0 else "cpu"
        self.model: CorpusModel = spec.with_device(device).load()
        # The same checkpoint may sit at another path on another node (each node's own weights cache): its hash
        # identifies it, as in the resume rule.
        ignored = {"weights"} if identity["weights_sha256"] else set()
        differ = {k: (identity.get(k), v) for k, v in self.model.identity.items() if k not in ignored and identity.get(k) != v}
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
        lengths = [d.clip.samples.shape[0] for d in decoded]
        for group in batch_groups(decoded, lengths, self.options.batch_size, self.options.batch_seconds, self.model.sample_rate):
            if self.out_dir is not None:
                for result in embed_and_save(self.model, group, self.kinds):
                    rows[result.source] = result
                continue
            for item, outcome in embed_group(self.model, group, self.kinds):
                if isinstance(outcome, dict):
                    rows[str(item.job.source)] = FileResult(str(item.job.source), "embedded", seconds=item.seconds,
                                                            source_bytes=item.source_bytes,
                                                            source_mtime_ns=item.source_mtime_ns)
                    arrays[str(item.job.source)] = outcome
                else:
                    rows[str(item.job.source)] = failed(item.job.source, outcome, item.seconds)
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


def embed_dataset(
    dataset: ray.data.Dataset,
    spec: ModelSpec,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    kinds: tuple[Kind, ...] = KINDS,
    options: RayOptions | None = None,
    identity: tuple[dict[str, str], int] | None = None,
) -> ray.data.Dataset:
    """Embed every row of a Ray Dataset of audio files: the building block for users' own pipelines.

    Args:
        dataset: rows with a ``path`` column (str: a file every node can read) and optionally ``bytes`` (the
            file's contents, e.g. from ``ray.data.read_binary_files(..., include_paths=True)``, which reads local,
            S3, GCS or HDFS storage; ``path`` then only names the file) and ``output`` (str: where its ``.npz`` goes).
        spec: the model (any variant or HEAR module); every actor loads its own copy.
        out_dir: when given, every file's ``.npz`` is written there (``<out_dir>/<file name>.npz`` unless the row
            has an ``output``), as by ``hear-gear embed``; when ``None``, the embeddings are returned in the rows.
            Files of the same name from different folders need ``output`` (otherwise one overwrites the other).
        kinds: ``"scene"`` and/or ``"timestamp"``.
        options: placement and batching (default: :class:`RayOptions`).
        identity: ``(identity, sample_rate)`` from :func:`driver_identity`, when already known.

    Returns:
        A lazy Dataset with a row per input and the columns :data:`RESULT_COLUMNS` (``status`` ``"embedded"`` or
        ``"failed"``; ``output`` ``""`` when no file was written; ``seconds`` NaN and the source's size and
        modification time -1 when the file could not be read); with
        ``out_dir=None`` also ``scene`` ``(scene_size,)``, ``timestamp_embeddings`` ``(n_timestamps, size)`` and
        ``timestamps_ms`` ``(n_timestamps,)`` float32 for the kinds computed (empty arrays for a failed file).
        No earlier outputs are skipped here: :func:`embed_files_ray` does that before scheduling.

    Example::

        import ray
        from hear_gear_embed.io import ModelSpec
        from hear_gear_embed.io.ray_engine import embed_dataset

        files = ray.data.read_binary_files("s3://my-bucket/audio/", include_paths=True)
        rows = embed_dataset(files, ModelSpec("passt_2lvlmel"), kinds=("scene",))
        rows.filter(lambda row: row["status"] == "embedded").write_parquet("s3://my-bucket/embeddings/")
    """
    kinds = check_kinds(kinds)
    options = options or RayOptions()
    expected, rate = identity or driver_identity(spec)
    target = None if out_dir is None else str(out_dir)
    # The memory reservation also makes the decode tasks' remote arguments differ from the actors', which keeps
    # Ray Data from fusing decoding into the model actors, where it would run on their GPUs' time.
    clips = dataset.map_batches(functools.partial(_decode_batch, sample_rate=rate, out_dir=target),
                                batch_size=options.rows_per_call, batch_format="numpy", num_cpus=1, memory=DECODE_MEMORY_BYTES)
    low, high = options.workers
    return clips.map_batches(
        _EmbedActor, batch_size=options.rows_per_call, batch_format="numpy",
        compute=_ray().data.ActorPoolStrategy(min_size=low, max_size=high),
        fn_constructor_kwargs={"spec": spec, "identity": expected, "kinds": kinds, "out_dir": target, "options": options},
        num_gpus=options.gpus_per_worker, num_cpus=options.cpus_per_worker)


def embed_files_ray(
    paths: Iterable[str | os.PathLike[str]],
    spec: ModelSpec,
    out_dir: str | os.PathLike[str],
    *,
    kinds: tuple[Kind, ...] = KINDS,
    overwrite: bool = False,
    options: RayOptions | None = None,
    root: str | os.PathLike[str] | None = None,
    address: str | None = None,
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> CorpusReport:
    """:func:`~.corpus.embed_files` on a Ray cluster: same outputs, resume rule, report and manifest.

    Before anything is scheduled, the model is loaded once on this machine (to fail early and to learn what the
    outputs must record), and every earlier output is checked (:func:`~.corpus.pending_jobs`): finished
    files are ``skipped`` and never reach the cluster. When nothing is left to do, Ray is not started at all.

    Args:
        paths: audio files and folders (on storage every node can read).
        spec: the model; its ``device`` is ignored (each actor computes on its GPU, or on CPU).
        out_dir: output folder, on storage every node can write.
        kinds: the embedding kinds to compute.
        overwrite: re-embed files whose outputs exist.
        options: placement and batching.
        root: outputs mirror the inputs' paths below this folder (:func:`~.corpus.plan_jobs`).
        address: the Ray cluster (``"auto"``, ``"ray://HOST:PORT"``); ``None`` joins the Ray this process has
            already started, or starts a local one. A Ray started here is shut down at the end.
        progress: called with the number of inputs finished after each step.
        on_total: called once with the number of inputs, before the first.

    Returns:
        The :class:`~.corpus.CorpusReport` (``engine="ray"``), in input order. When the Ray job itself fails (its
        retries exhausted, a node lost), the files it did not finish are ``failed`` with the reason, and a second
        run resumes.
    """
    kinds = check_kinds(kinds)
    options = options or RayOptions()
    require_backends()
    ray = _ray()
    start = time.perf_counter()
    identity, rate = driver_identity(spec)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = CorpusReport.start(identity, kinds, "ray")
    jobs, failures = plan_jobs(paths, out, root=root)
    results: dict[Path, FileResult] = {}
    if on_total is not None:
        on_total(len(jobs))
    started = False
    why_stopped = ""
    try:
        todo = pending_jobs(jobs, identity, wanted_arrays(kinds), overwrite, results, previous_results(out, identity, kinds))
        if progress is not None:
            progress(len(jobs) - len(todo))
        if todo:
            if not ray.is_initialized():
                ray.init(address=address, logging_level=logging.WARNING)
                started = True
            _quiet(ray)
            _check_room_for_decoding(ray, options)
            items = [{"path": str(job.source), "output": str(job.output)} for job in todo]
            blocks = max(1, min(len(items) // options.rows_per_call, 1000))
            dataset = ray.data.from_items(items, override_num_blocks=blocks)
            rows = embed_dataset(dataset, spec, out_dir=out, kinds=kinds, options=options, identity=(identity, rate))
            try:
                for batch in rows.iter_batches(batch_size=None, batch_format="numpy"):
                    for i, path in enumerate(batch["path"]):
                        results[Path(str(path))] = _result_of(batch, i)
                    if progress is not None:
                        progress(len(batch["path"]))
            except Exception as err:  # noqa: BLE001 - the job is lost (retries exhausted, a node gone): the report says so
                why_stopped = f"the Ray job failed ({type(err).__name__}: {str(err).strip().splitlines()[0] if str(err) else ''})"
                logger.error("%s after %d of %d files; finished outputs are kept, run the same command again to resume",
                             why_stopped, len(results), len(jobs))
    finally:
        report.results = report_results(jobs, failures, results, why_stopped)
        report.wall_seconds = time.perf_counter() - start
        report.save(out)
        if started:
            ray.shutdown()
    return report


def _result_of(batch: dict[str, np.ndarray], i: int) -> FileResult:
    """Row ``i`` of a batch of :func:`embed_dataset`'s results as a :class:`~.corpus.FileResult`."""
    seconds, size, mtime = float(batch["seconds"][i]), int(batch["source_bytes"][i]), int(batch["source_mtime_ns"][i])
    embedded = str(batch["status"][i]) == "embedded"
    return FileResult(str(batch["path"][i]), str(batch["status"][i]), str(batch["output"][i]) or None,
                      str(batch["error"][i]) or None, None if np.isnan(seconds) else seconds,
                      size if embedded else None, mtime if embedded else None)


def _quiet(ray: ModuleType) -> None:
    """Ray Data's progress bars and its notes on each execution off in this process (kept with debug logging): the
    caller reports progress per file."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    verbose = logger.isEnabledFor(logging.DEBUG)
    context.print_on_execution_start = verbose
    logging.getLogger("ray.data").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # its "progress bars disabled" note


def _check_room_for_decoding(ray: ModuleType, options: RayOptions) -> None:
    """Warn when CPU actors could take every CPU of the cluster: the decode tasks would then wait for a CPU that
    never frees (an autoscaling cluster may still add nodes, so this is not an error)."""
    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    if options.gpus_per_worker == 0 and options.workers[1] * options.cpus_per_worker > cpus - 1:
        logger.warning("%d model actors of %g CPUs leave %g of the cluster's %g CPUs for decoding; decoding needs at "
                       "least one: lower --workers or --cpus-per-worker", options.workers[1], options.cpus_per_worker,
                       max(0.0, cpus - options.workers[1] * options.cpus_per_worker), cpus)
