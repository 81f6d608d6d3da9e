"""More than one process on torch's own engine: ``torchrun`` starts the processes and sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address; :func:`setup` joins them (gloo on CPUs, NCCL on GPUs) and the run wraps its
model in ``DistributedDataParallel``. Each process takes every ``world``-th clip of a global batch; BECR's covariance
is taken over the whole global batch (:meth:`Processes.gather`, differentiable), so that ``W`` processes compute what one
process computes on the same global batch."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Processes:
    """This process's place among the run's processes (``world == 1``: a run on its own).

    Attributes:
        rank: this process's index, ``0 .. world - 1``; rank 0 writes the outputs.
        world: number of processes.
        device: this process's device (``cuda:LOCAL_RANK`` on GPUs).
    """

    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_agree(self, flag: bool) -> bool:
        """Whether ``flag`` is true in every process (one small all-reduce): stop together, fail together."""
        if self.world == 1:
            return flag
        value = torch.tensor([0 if flag else 1], device=self.device)
        dist.all_reduce(value)
        return int(value.item()) == 0

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true in some process."""
        return not self.all_agree(not flag)

    def gather(self, rows: Tensor) -> Tensor:
        """Every process's ``(n, dim)`` rows (the same ``n`` in each) concatenated in rank order, ``(world * n, dim)``,
        with the gradient of each process's own rows summed over the processes in the backward pass (which
        ``DistributedDataParallel`` then averages); ``rows`` itself in a run on its own.

        Raises:
            RuntimeError: the processes hold different numbers of rows.
        """
        if self.world == 1:
            return rows
        if not self.all_agree(self.same_count(rows.shape[0])):
            raise RuntimeError("the processes hold different numbers of clips in this micro-batch (a file became "
                               "unreadable while training); BECR's covariance needs equal shares")
        return _GatherRows.apply(rows, self.world, self.rank)

    def same_count(self, n: int) -> bool:
        """Whether every process passes the same ``n``."""
        counts = torch.tensor([n, -n], device=self.device)
        dist.all_reduce(counts, op=dist.ReduceOp.MAX)
        return int(counts[0]) == n == -int(counts[1])

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()


class _GatherRows(torch.autograd.Function):
    """All-gather with a gradient: forward concatenates every process's rows; backward sums the incoming gradient over
    the processes (an all-reduce, which gloo has, unlike reduce-scatter) and keeps this process's slice."""

    @staticmethod
    def forward(ctx: Any, rows: Tensor, world: int, rank: int) -> Tensor:
        parts = [torch.empty_like(rows) for _ in range(world)]
        dist.all_gather(parts, rows.contiguous())
        ctx.rank, ctx.n = rank, rows.shape[0]
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        total = grad.contiguous().clone()
        dist.all_reduce(total)
        return total[ctx.rank * ctx.n: (ctx.rank + 1) * ctx.n], None, None


def setup(device: torch.device) -> Processes:
    """Join the processes ``torchrun`` started (its environment variables), or a run on its own without them.

    On GPUs each process takes ``cuda:LOCAL_RANK`` (NCCL); on CPUs they share the device (gloo).

    Raises:
        ValueError: a distributed run on ``mps`` or another device that neither backend serves.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Processes(0, 1, device)
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"distributed training runs on CPUs (gloo) or CUDA GPUs (NCCL), not on {device.type}")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank()
    logger.info("process %d of %d on %s", rank, dist.get_world_size(), device)
    return Processes(rank, dist.get_world_size(), device)


def teardown() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
