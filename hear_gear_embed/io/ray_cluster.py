"""Where the Ray engine's actors go and how they are reached: :class:`RayOptions` (placement and batching), joining a
cluster with bounded waits (:func:`connect`: the address is probed first), refusing placements no live node can hold
(:func:`check_resources`) before anything is scheduled, and :class:`ClusterError` naming why."""

from __future__ import annotations

import logging
import math
import socket
import threading
import urllib.parse
from dataclasses import dataclass
from types import ModuleType

from .corpus import check_batching

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 60.0
"""Most seconds to connect to a Ray cluster given by address (Ray itself retries for minutes when nothing answers);
an address whose port refuses connections fails at once."""
PROBE_TIMEOUT_S = 5.0
"""Most seconds to open a TCP connection to the cluster's address before Ray is asked to connect."""


class ClusterError(RuntimeError):
    """The Ray cluster cannot be reached, cannot place the model actors, or stopped making progress; names why."""


def ray_module() -> ModuleType:
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


def connect(ray: ModuleType, address: str | None) -> bool:
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
    probe_address(address)
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


def probe_address(address: str) -> None:
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


def quiet(ray: ModuleType) -> None:
    """Ray Data's progress bars and its notes on each execution off in this process (kept with debug logging): the
    caller reports progress per file."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    verbose = logger.isEnabledFor(logging.DEBUG)
    context.print_on_execution_start = verbose
    logging.getLogger("ray.data").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # its "progress bars disabled" note


def check_resources(ray: ModuleType, options: RayOptions) -> None:
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
    per_node = [actors_fitting(node, cpus, gpus) for node in nodes]
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


def actors_fitting(node: dict[str, float], cpus: float, gpus: float) -> int:
    """How many actors of ``cpus`` CPUs and ``gpus`` GPUs a node's resources hold at once."""
    fit = math.floor(float(node.get("CPU", 0.0)) / cpus + 1e-9)
    if gpus > 0:
        fit = min(fit, math.floor(float(node.get("GPU", 0.0)) / gpus + 1e-9))
    return max(0, fit)
