"""Placing and reaching the Ray engine's actors (:mod:`hear_gear_embed.io.ray_cluster`), without Ray: ``--workers``
ranges, :class:`RayOptions` refusing impossible values, an address where no cluster answers failing at once, the
resource checks on made-up clusters, and the stall bound on a job that makes no progress (``RayOptions.stall_timeout_s``,
applied by ``ray_engine._batches``)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from hear_gear_embed.io import ray_cluster, ray_engine
from hear_gear_embed.io.ray_cluster import ClusterError, RayOptions, actors_fitting, check_resources, connect, parse_workers


@pytest.mark.parametrize(("text", "expected"), [("1:4", (1, 4)), ("3", (3, 3)), ("2:2", (2, 2))])
def test_parse_workers(text: str, expected: tuple[int, int]) -> None:
    assert parse_workers(text) == expected


@pytest.mark.parametrize("text", ["0:2", "3:1", "a:b", "1:2:3", "", "-1"])
def test_parse_workers_refuses_bad_ranges(text: str) -> None:
    with pytest.raises(ValueError, match="MIN:MAX"):
        parse_workers(text)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"workers": (2, 1)}, "workers"), ({"gpus_per_worker": -1.0}, "gpus_per_worker"),
    ({"cpus_per_worker": 0.0}, "cpus_per_worker"), ({"cpus_per_worker": float("nan")}, "cpus_per_worker"),
    ({"batch_size": 32, "rows_per_call": 16}, "rows_per_call"), ({"batch_seconds": float("inf")}, "batch_seconds"),
    ({"stall_timeout_s": float("nan")}, "stall_timeout_s"), ({"stall_timeout_s": 0.0}, "stall_timeout_s"),
])
def test_ray_options_refuse_impossible_values(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RayOptions(**kwargs)  # type: ignore[arg-type]


def test_an_address_where_no_cluster_answers_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ray.init`` retries such an address for minutes: the port is probed first, and the connection has a bound."""
    fake = type("FakeRay", (), {"is_initialized": staticmethod(lambda: False)})
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(ClusterError, match=f"no Ray cluster answers at 127.0.0.1:{port}: .*refused"):
            connect(fake, f"127.0.0.1:{port}")  # type: ignore[arg-type]
    with socket.socket() as listening:  # something answers, but never as a Ray cluster
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        fake.init = staticmethod(lambda **kwargs: time.sleep(30))  # type: ignore[attr-defined]
        monkeypatch.setattr(ray_cluster, "CONNECT_TIMEOUT_S", 0.2)
        with pytest.raises(ClusterError, match="did not answer within 0.2 s"):
            connect(fake, f"ray://127.0.0.1:{listening.getsockname()[1]}")  # type: ignore[arg-type]


def test_a_job_without_progress_is_stopped_with_the_reason() -> None:
    release = threading.Event()

    class Stuck:
        def iter_batches(self, **kwargs: object) -> Iterator[dict[str, np.ndarray]]:
            yield {"path": np.asarray(["a.wav"])}
            release.wait(30)
            yield {"path": np.asarray(["b.wav"])}

    batches = ray_engine._batches(Stuck(), 0.3)  # type: ignore[arg-type]
    assert list(next(batches)["path"]) == ["a.wav"]
    with pytest.raises(ClusterError, match="no file finished in 0.3 s"):
        next(batches)
    release.set()


def test_cluster_resources_are_checked_per_node(caplog: pytest.LogCaptureFixture) -> None:
    def cluster(*nodes: dict[str, float]) -> object:
        return type("FakeRay", (), {"nodes": staticmethod(lambda: [{"Alive": True, "Resources": n} for n in nodes]
                                                           + [{"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}}])})

    two_gpu_nodes = cluster({"CPU": 8.0, "GPU": 1.0}, {"CPU": 8.0, "GPU": 1.0})
    check_resources(two_gpu_nodes, RayOptions((2, 2), gpus_per_worker=1.0))  # type: ignore[arg-type]
    check_resources(two_gpu_nodes, RayOptions((4, 4), gpus_per_worker=0.5))  # type: ignore[arg-type]
    with pytest.raises(ClusterError, match="can hold 2 model actors"):
        check_resources(two_gpu_nodes, RayOptions((3, 3), gpus_per_worker=1.0))  # type: ignore[arg-type]
    with pytest.raises(ClusterError, match="no node .* 2 GPUs per model actor.*8 CPUs and 1 GPUs"):
        check_resources(two_gpu_nodes, RayOptions(gpus_per_worker=2.0))  # type: ignore[arg-type]
    with pytest.raises(ClusterError, match="live nodes have none"):
        check_resources(cluster(), RayOptions())  # type: ignore[arg-type]
    with pytest.raises(ClusterError, match="2 model actors of 1 CPUs take all 2 CPUs of the Ray cluster, and decoding"):
        check_resources(cluster({"CPU": 2.0}), RayOptions((2, 2)))  # type: ignore[arg-type]
    # the pool may grow past what leaves a CPU for decoding only with a warning
    with caplog.at_level("WARNING"):
        check_resources(cluster({"CPU": 2.0}), RayOptions((1, 2)))  # type: ignore[arg-type]
    assert "2 model actors of 1 CPUs leave 0 of the cluster's 2 CPUs for decoding" in caplog.text
    assert actors_fitting({"CPU": 8.0, "GPU": 1.0}, 2.0, 0.5) == 2 and actors_fitting({"CPU": 8.0}, 3.0, 0.0) == 2
    assert actors_fitting({"CPU": 8.0}, 1.0, 1.0) == 0
