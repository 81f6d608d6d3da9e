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

No wait is unbounded: the cluster's address is probed before Ray connects (and the connection has
:data:`CONNECT_TIMEOUT_S`), the actors' resources are checked against the cluster's nodes before anything is
scheduled, and a job that finishes no file for :attr:`RayOptions.stall_timeout_s` is stopped with the reason.

Needs the ``ray`` extra: ``pip install "hear_gear_embed[ray]"``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import queue
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..embedding.config import KINDS, Kind
from ..registry import get_variant
from .audio import AudioInfo, AudioReadError, Clip, require_backends
from .corpus import Decoded, batch_groups, check_batching, check_kinds, decode, embed_and_save, embed_group, plan_jobs
from .models import CorpusModel, ModelSpec
from .record import CorpusReport, FileResult, Job, OutputFolder, failed, wanted_arrays

if TYPE_CHECKING:
    import ray.data

logger = logging.getLogger(__name__)

RESULT_COLUMNS = ("path", "status", "output", "error", "seconds", "source_bytes", "source_mtime_ns", "output_bytes")
"""Columns of every row :func:`embed_dataset` returns (with ``out_dir=None``, also the embedding arrays)."""
DECODE_MEMORY_BYTES = 512 * 2**20
"""Memory each decode task reserves with Ray's scheduler: one call's clips (``rows_per_call`` files of 10 s at
32 kHz are 20 MB) and soundfile's and soxr's buffers, with room for long files."""
CONNECT_TIMEOUT_S = 60.0
"""Most seconds to connect to a Ray cluster given by address (Ray itself retries for minutes when nothing answers);
an address whose port refuses connections fails at once."""
PROBE_TIMEOUT_S = 5.0
"""Most seconds to open a TCP connection to the cluster's address before Ray is asked to connect."""


class ClusterError(RuntimeError):
    """The Ray cluster cannot be reached, cannot place the model actors, or stopped making progress; names why."""


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
        stall_timeout_s: the job is stopped (:class:`ClusterError`) when no file finishes for this long, seconds,
            the actors' start included (default 30 minutes: a large model on a cold node, long files on CPUs).
    """

    workers: tuple[int, int] = (1, 1)
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    batch_size: int = 1
    batch_seconds: float = 600.0
    rows_per_call: int = 16
    stall_timeout_s: float = 1800.0

    def __post_init__(self) -> None:
        low, high = self.workers
        if not 1 <= low <= high:
            raise ValueError(f"workers must be MIN:MAX with 1 <= MIN <= MAX, got {low}:{high}")
        if not (math.isfinite(self.gpus_per_worker) and self.gpus_per_worker >= 0 and math.isfinite(self.cpus_per_worker)
                and self.cpus_per_worker > 0):
            raise ValueError(f"gpus_per_worker must be >= 0 and cpus_per_worker > 0 (finite numbers), got "
                             f"{self.gpus_per_worker} and {self.cpus_per_worker}")
        check_batching(self.batch_size, self.batch_seconds)
        if self.rows_per_call < self.batch_size:
            raise ValueError(f"rows_per_call must be >= batch_size, got {self.rows_per_call} and {self.batch_size}")
        if not math.isfinite(self.stall_timeout_s) or self.stall_timeout_s <= 0:
            raise ValueError(f"stall_timeout_s must be a positive number of seconds, got {self.stall_timeout_s}")


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
    """:func:`~.corpus.embed_files` on a Ray cluster: same outputs, resume rule, lock, report and manifest.

    Before anything is scheduled, the model is loaded once on this machine (to fail early and to learn what the
    outputs must record), and every earlier output is checked (:func:`~.record.pending_jobs`): finished
    files are ``skipped`` and never reach the cluster. When nothing is left to do, Ray is not started at all. Then
    the cluster is reached (:data:`CONNECT_TIMEOUT_S`) and its nodes are checked for room for the actors.

    Args:
        paths: audio files and folders (on storage every node can read).
        spec: the model; its ``device`` is ignored (each actor computes on its GPU, or on CPU).
        out_dir: output folder, on storage every node can write.
        kinds: the embedding kinds to compute.
        overwrite: re-embed files whose outputs exist.
        options: placement, batching and the stall timeout.
        root: outputs mirror the inputs' paths below this folder (:func:`~.corpus.plan_jobs`).
        address: the Ray cluster (``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:PORT"``); ``None`` joins the Ray this
            process has already started, or starts a local one. A Ray started or joined here is shut down at the end.
        progress: called with the number of inputs finished after each step.
        on_total: called once with the number of inputs, before the first.

    Returns:
        The :class:`~.record.CorpusReport` (``engine="ray"``), in input order. When the Ray job itself fails (its
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
    ray = _ray()
    identity, rate = driver_identity(spec)
    started = False
    try:
        with OutputFolder(Path(out_dir), identity, kinds, "ray") as folder:
            folder.plan(*plan_jobs(paths, folder.out, root=root))
            if on_total is not None:
                on_total(len(folder.jobs))
            todo = folder.pending(overwrite)
            if progress is not None:
                progress(len(folder.jobs) - len(todo))
            if not todo:
                return folder.report
            started = _connect(ray, address)
            _quiet(ray)
            _check_resources(ray, options)
            items = [{"path": str(job.source), "output": str(job.output)} for job in todo]
            blocks = max(1, min(len(items) // options.rows_per_call, 1000))
            dataset = ray.data.from_items(items, override_num_blocks=blocks)
            rows = embed_dataset(dataset, spec, out_dir=folder.out, kinds=kinds, options=options, identity=(identity, rate))
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


def _connect(ray: ModuleType, address: str | None) -> bool:
    """Join the Ray at ``address`` (``None``: the one this process has, else a new local one); whether it was joined or
    started here (and is to be shut down at the end).

    Raises:
        ClusterError: nothing answers at ``address``, or Ray does not connect within :data:`CONNECT_TIMEOUT_S`.
    """
    if ray.is_initialized():
        return False
    if address is None or address == "local":
        ray.init(address=address, logging_level=logging.WARNING)
        return True
    _probe(address)
    outcome: dict[str, BaseException | None] = {}

    def join() -> None:
        try:
            ray.init(address=address, logging_level=logging.WARNING)
            outcome["error"] = None
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            outcome["error"] = err

    # Ray retries a cluster that does not answer for minutes, in C++ code that cannot be interrupted: wait in a thread
    thread = threading.Thread(target=join, name="hear-gear-ray-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT_S)
    if "error" not in outcome:
        raise ClusterError(f"the Ray cluster at {address} did not answer within {CONNECT_TIMEOUT_S:g} s; check the "
                           "address (`ray status` on its head node prints it)")
    error = outcome["error"]
    if error is not None:
        raise ClusterError(f"cannot join the Ray cluster at {address}: {type(error).__name__}: {error}") from error
    return True


def _probe(address: str) -> None:
    """Open a TCP connection to ``address`` (``HOST:PORT`` or ``ray://HOST:PORT``; other forms, e.g. ``auto``, are left
    to Ray).

    Raises:
        ClusterError: the host is unknown, or nothing accepts a connection on the port within :data:`PROBE_TIMEOUT_S`.
    """
    parsed = urllib.parse.urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        return
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else (err.strerror or str(err))
        raise ClusterError(f"no Ray cluster answers at {address}: connecting to {host}:{port}: {reason}") from err


def _result_of(batch: dict[str, np.ndarray], i: int) -> FileResult:
    """Row ``i`` of a batch of :func:`embed_dataset`'s results as a :class:`~.record.FileResult`."""
    seconds, size, mtime = float(batch["seconds"][i]), int(batch["source_bytes"][i]), int(batch["source_mtime_ns"][i])
    written = int(batch["output_bytes"][i])
    embedded = str(batch["status"][i]) == "embedded"
    return FileResult(str(batch["path"][i]), str(batch["status"][i]), str(batch["output"][i]) or None,
                      str(batch["error"][i]) or None, None if np.isnan(seconds) else seconds,
                      size if embedded else None, mtime if embedded else None, written if written >= 0 else None)


def _quiet(ray: ModuleType) -> None:
    """Ray Data's progress bars and its notes on each execution off in this process (kept with debug logging): the
    caller reports progress per file."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    verbose = logger.isEnabledFor(logging.DEBUG)
    context.print_on_execution_start = verbose
    logging.getLogger("ray.data").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # its "progress bars disabled" note


def _check_resources(ray: ModuleType, options: RayOptions) -> None:
    """Refuse a placement the cluster's live nodes cannot hold, which Ray would wait for without end: an actor needs
    one node with ``cpus_per_worker`` CPUs and ``gpus_per_worker`` GPUs, the pool's MIN actors must fit at once, and
    one CPU must stay free for the decode tasks. Warn when MAX actors would take that CPU.

    Raises:
        ClusterError: the placement cannot be satisfied by the nodes that are up (an autoscaling cluster must start
            its nodes first); names what is asked and what there is.
    """
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive", False)]
    cpus, gpus = options.cpus_per_worker, options.gpus_per_worker
    asked = f"{cpus:g} CPUs" + (f" and {gpus:g} GPUs" if gpus else "") + " per model actor"
    there = ", ".join(f"{node.get('CPU', 0.0):g} CPUs and {node.get('GPU', 0.0):g} GPUs" for node in nodes) or "none"
    per_node = [_actors_fitting(node, cpus, gpus) for node in nodes]
    if not any(per_node):
        raise ClusterError(f"no node of the Ray cluster can hold one model actor: {asked}, and the live nodes have "
                           f"{there}; lower --cpus-per-worker / --gpus-per-worker (or start nodes that have them)")
    low, high = options.workers
    if sum(per_node) < low:
        raise ClusterError(f"the Ray cluster can hold {sum(per_node)} model actors of {asked} at once, fewer than "
                           f"--workers asks for at least ({low}); the live nodes have {there}")
    total = sum(float(node.get("CPU", 0.0)) for node in nodes)
    if total - low * cpus < 1:
        raise ClusterError(f"{low} model actors of {cpus:g} CPUs take all {total:g} CPUs of the Ray cluster, and decoding "
                           "needs at least one: lower --workers or --cpus-per-worker")
    if high * cpus > total - 1:
        logger.warning("%d model actors of %g CPUs leave %g of the cluster's %g CPUs for decoding; the pool grows only "
                       "while decoding keeps one", high, cpus, max(0.0, total - high * cpus), total)


def _actors_fitting(node: dict[str, float], cpus: float, gpus: float) -> int:
    """How many actors of ``cpus`` CPUs and ``gpus`` GPUs a node's resources hold at once."""
    fit = math.floor(float(node.get("CPU", 0.0)) / cpus + 1e-9)
    if gpus > 0:
        fit = min(fit, math.floor(float(node.get("GPU", 0.0)) / gpus + 1e-9))
    return max(0, fit)
