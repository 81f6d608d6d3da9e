"""Embed a corpus on a Ray cluster with Ray Data (the ``ray`` extra): the same outputs, resume rule, report and
manifest as :func:`~.corpus.embed_files`, spread over every node. Decoding runs in CPU tasks ahead of a pool of model
actors (:mod:`.ray_stages`), with Ray Data's backpressure, so GPUs are not starved; a worker that dies mid-batch is
restarted and its batch retried, and as outputs are written through a temporary file no partial output is left.
Outputs must be on storage every node can write, inputs on storage every node can read. No wait is unbounded
(:mod:`.ray_cluster`): the address is probed, the connection bounded, the actors' resources checked before anything is
scheduled, and a job that finishes no file for :attr:`~.ray_cluster.RayOptions.stall_timeout_s` is stopped.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..embedding.config import KINDS, Kind, check_kinds
from ..hear.handle import EmbeddingModel
from ..hear.identity import ModelIdentity
from ..hear.spec import ModelSpec
from .audio import require_backends
from .folder import OutputFolder
from .jobs import plan_jobs
from .ray_cluster import ClusterError, RayOptions, check_resources, connect, parse_workers, quiet, ray_module
from .ray_stages import DECODE_MEMORY_BYTES, RESULT_COLUMNS, EmbedActor, decode_batch
from .report import CorpusReport, FileResult

if TYPE_CHECKING:
    import ray.data

logger = logging.getLogger(__name__)

Planned = tuple[ModelSpec | EmbeddingModel, ModelIdentity, int]
"""What the workers load, what every output records about it, and its sample rate (Hz)."""


def planned_model(model: EmbeddingModel | ModelSpec | str) -> Planned:
    """What the workers load for ``model``: its spec (each worker loads its own copy on its device) or, for a model
    made in hand, the model itself; with its identity and sample rate. A spec or a name is loaded once on this machine
    (:meth:`~hear_gear_embed.hear.spec.ModelSpec.probe`), so that a bad name, module or checkpoint fails before any
    work is scheduled."""
    if isinstance(model, EmbeddingModel):
        return (model.spec or model), model.identity, model.sample_rate
    spec = model if isinstance(model, ModelSpec) else ModelSpec(model)
    identity, rate = spec.probe()
    return spec, identity, rate


def embed_dataset(
    dataset: ray.data.Dataset,
    model: EmbeddingModel | ModelSpec | str,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    kinds: tuple[Kind, ...] = KINDS,
    options: RayOptions | None = None,
) -> ray.data.Dataset:
    """Embed every row of a Ray Dataset of audio files: the building block for users' own pipelines.

    Args:
        dataset: rows with a ``path`` column (str: a file every node can read) and optionally ``bytes`` (the
            file's contents, e.g. from ``ray.data.read_binary_files(..., include_paths=True)``, which reads local,
            S3, GCS or HDFS storage; ``path`` then only names the file) and ``output`` (str: where its ``.npz`` goes).
        model: any variant or HEAR module: a name or a :class:`~hear_gear_embed.hear.spec.ModelSpec`, which every actor
            loads on its own device, or a loaded :class:`~hear_gear_embed.hear.handle.EmbeddingModel` (its spec is
            sent; a model made in hand is sent whole).
        out_dir: when given, every file's ``.npz`` is written there (``<out_dir>/<file name>.npz`` unless the row
            has an ``output``), as by ``hear-gear embed``; when ``None``, the embeddings are returned in the rows.
            Files of the same name from different folders need ``output`` (otherwise one overwrites the other).
        kinds: ``"scene"`` and/or ``"timestamp"``.
        options: placement and batching (default: :class:`RayOptions`).

    Returns:
        A lazy Dataset with a row per input and the columns :data:`RESULT_COLUMNS` (``status`` ``"embedded"`` or
        ``"failed"``; ``output`` ``""`` when no file was written; ``seconds`` NaN and the source's size and
        modification time -1 when the file could not be read); with
        ``out_dir=None`` also ``scene`` ``(scene_size,)``, ``timestamp_embeddings`` ``(n_timestamps, size)`` and
        ``timestamps_ms`` ``(n_timestamps,)`` float32 for the kinds computed (empty arrays for a failed file).
        No earlier outputs are skipped here: :func:`embed_files_ray` does that before scheduling.

    Example::

        import ray
        from hear_gear_embed.io.ray_engine import embed_dataset

        files = ray.data.read_binary_files("s3://my-bucket/audio/", include_paths=True)
        rows = embed_dataset(files, "passt_2lvlmel", kinds=("scene",))
        rows.filter(lambda row: row["status"] == "embedded").write_parquet("s3://my-bucket/embeddings/")
    """
    return _embed_dataset(dataset, planned_model(model), out_dir, check_kinds(kinds), options or RayOptions())


def _embed_dataset(dataset: ray.data.Dataset, planned: Planned, out_dir: str | os.PathLike[str] | None,
                   kinds: tuple[Kind, ...], options: RayOptions) -> ray.data.Dataset:
    """:func:`embed_dataset` of a model already planned."""
    source, expected, rate = planned
    target = None if out_dir is None else str(out_dir)
    # The memory reservation also makes the decode tasks' remote arguments differ from the actors', which keeps
    # Ray Data from fusing decoding into the model actors, where it would run on their GPUs' time.
    clips = dataset.map_batches(functools.partial(decode_batch, sample_rate=rate, out_dir=target),
                                batch_size=options.rows_per_call, batch_format="numpy", num_cpus=1, memory=DECODE_MEMORY_BYTES)
    low, high = options.workers
    return clips.map_batches(
        EmbedActor, batch_size=options.rows_per_call, batch_format="numpy",
        compute=ray_module().data.ActorPoolStrategy(min_size=low, max_size=high),
        fn_constructor_kwargs={"source": source, "identity": expected, "kinds": kinds, "out_dir": target, "options": options},
        num_gpus=options.gpus_per_worker, num_cpus=options.cpus_per_worker)


def embed_files_ray(
    paths: Iterable[str | os.PathLike[str]],
    model: EmbeddingModel | ModelSpec | str,
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
    """:func:`~.corpus.embed_files` on a Ray cluster: same outputs, resume rule, lock, report and manifest.

    Before anything is scheduled, the model is loaded once on this machine unless given loaded (to fail early and to
    learn what the outputs must record), and every earlier output is checked (:func:`~.resume.pending_jobs`): finished
    files are ``skipped`` and never reach the cluster. When nothing is left to do, Ray is not started at all. Then
    the cluster is reached (:data:`~.ray_cluster.CONNECT_TIMEOUT_S`) and its nodes are checked for room for the actors.

    Args:
        paths: audio files and folders (on storage every node can read).
        model: as :func:`embed_dataset`'s; a spec's ``device`` is ignored (each actor computes on its GPU, or on CPU).
        out_dir: output folder, on storage every node can write.
        kinds: the embedding kinds to compute.
        overwrite: re-embed files whose outputs exist.
        options: placement, batching and the stall timeout.
        root: outputs mirror the inputs' paths below this folder (:func:`~.jobs.plan_jobs`).
        address: the Ray cluster (``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:PORT"``); ``None`` joins the Ray this
            process has already started, or starts a local one. A Ray started or joined here is shut down at the end.
        progress: called with the number of inputs finished after each step.
        on_total: called once with the number of inputs, before the first.

    Returns:
        The :class:`~.report.CorpusReport` (``engine="ray"``), in input order. When the Ray job itself fails (its
        retries exhausted, a node lost, no progress for ``options.stall_timeout_s``), the files it did not finish are
        ``failed`` with the reason (outputs already written are found on disk and listed as ``embedded``), and a
        second run resumes.

    Raises:
        ClusterError: the cluster cannot be reached in time, or has no node with room for one actor (or not for
            ``workers`` MIN of them and one decode task).
        FolderBusyError, OSError, ReportWriteError: as for :func:`~.corpus.embed_files`.
    """
    kinds = check_kinds(kinds)
    options = options or RayOptions()
    require_backends()
    ray = ray_module()
    planned = planned_model(model)
    started = False
    try:
        with OutputFolder(Path(out_dir), planned[1], kinds, "ray") as folder:
            folder.plan(*plan_jobs(paths, folder.out, root=root))
            if on_total is not None:
                on_total(len(folder.jobs))
            todo = folder.pending(overwrite)
            if progress is not None:
                progress(len(folder.jobs) - len(todo))
            if not todo:
                return folder.report
            started = connect(ray, address)
            quiet(ray)
            check_resources(ray, options)
            items = [{"path": str(job.source), "output": str(job.output)} for job in todo]
            blocks = max(1, min(len(items) // options.rows_per_call, 1000))
            dataset = ray.data.from_items(items, override_num_blocks=blocks)
            rows = _embed_dataset(dataset, planned, folder.out, kinds, options)
            try:
                for batch in _batches(rows, options.stall_timeout_s):
                    for i, path in enumerate(batch["path"]):
                        folder.results[Path(str(path))] = _result_of(batch, i)
                    if progress is not None:
                        progress(len(batch["path"]))
            except Exception as err:  # noqa: BLE001 - the job is lost (retries exhausted, a node gone): the report says so
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                folder.why_stopped = f"the Ray job failed ({type(err).__name__}: {first})"
                logger.error("%s after %d of %d files; finished outputs are kept, run the same command again to resume",
                             folder.why_stopped, len(folder.results), len(folder.jobs))
    finally:
        if started:
            ray.shutdown()
    return folder.report


def _batches(rows: ray.data.Dataset, stall_timeout_s: float) -> Iterator[dict[str, np.ndarray]]:
    """The result batches of ``rows`` as they finish, read in a thread so that no wait for the next one is unbounded.

    Raises:
        ClusterError: no batch came for ``stall_timeout_s`` seconds (the actors cannot start, or hang).
        Exception: whatever the job raised.
    """
    handoff: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def offer(item: tuple[str, object]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=1.0)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for batch in rows.iter_batches(batch_size=None, batch_format="numpy"):
                if not offer(("batch", batch)):
                    return
            offer(("end", None))
        except BaseException as err:  # noqa: BLE001 - handed to the caller, which raises it
            offer(("error", err))

    threading.Thread(target=pump, name="hear-gear-ray-results", daemon=True).start()
    try:
        while True:
            try:
                what, value = handoff.get(timeout=stall_timeout_s)
            except queue.Empty:
                raise ClusterError(f"no file finished in {stall_timeout_s:g} s: the model actors cannot start or are stuck "
                                   "(see the Ray logs; RayOptions.stall_timeout_s, --stall-timeout, sets this bound)") from None
            if what == "end":
                return
            if what == "error":
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()


def _result_of(batch: dict[str, np.ndarray], i: int) -> FileResult:
    """Row ``i`` of a batch of :func:`embed_dataset`'s results as a :class:`~.report.FileResult`."""
    seconds, size, mtime = float(batch["seconds"][i]), int(batch["source_bytes"][i]), int(batch["source_mtime_ns"][i])
    written = int(batch["output_bytes"][i])
    embedded = str(batch["status"][i]) == "embedded"
    return FileResult(str(batch["path"][i]), str(batch["status"][i]), str(batch["output"][i]) or None,
                      str(batch["error"][i]) or None, None if np.isnan(seconds) else seconds,
                      size if embedded else None, mtime if embedded else None, written if written >= 0 else None)


__all__ = ["RESULT_COLUMNS", "ClusterError", "RayOptions", "embed_dataset", "embed_files_ray", "parse_workers",
           "planned_model"]
