"""``training.distributed``: a run on its own needs no process group, and two CPU processes under ``torchrun`` (gloo)
train what one process trains on the same global batches, BECR's covariance over the whole batch included."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hear_gear_embed import get_variant
from hear_gear_embed.cli import main
from hear_gear_embed.embedding.factory import random_embedder
from hear_gear_embed.training.distributed import Processes, setup, teardown
from hear_gear_embed.training.model import FineTuner

CPU = torch.device("cpu")


def test_a_run_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    procs = setup(CPU)
    assert procs == Processes(0, 1, CPU) and procs.main
    assert procs.all_agree(True) and not procs.all_agree(False) and procs.any(True) and not procs.any(False)
    rows = torch.randn(3, 4)
    assert procs.gather(rows) is rows
    procs.barrier()
    teardown()  # no process group: nothing to leave
    assert not Processes(1, 2, CPU).main


def test_distributed_runs_on_cpus_or_cuda_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="distributed training runs on CPUs .gloo. or CUDA GPUs .NCCL., not on meta"):
        setup(torch.device("meta"))


def relative_update_difference(got: torch.Tensor, want: torch.Tensor, start: torch.Tensor) -> float:
    """``|got - want| / |want - start|`` (L2): how far two runs' updates of one tensor differ, relative to the update."""
    moved = float((want - start).norm())
    return float((got - want).norm()) / moved if moved else float((got - want).norm())


def test_two_processes_train_what_one_process_trains(synthetic_tasks: Path, tmp_path: Path) -> None:
    """The same command under ``torchrun --nproc-per-node 2`` and on its own: one epoch of 7 steps of 8 clips (4 per
    process), BECR and seed 003's Patchout.

    The two runs differ only in the order of floating-point sums (each process's half-batch gradient, then DDP's
    average; the thread count), so their weights agree to rounding, amplified by AdamW, which divides each gradient by
    its own running scale: a coordinate whose true gradient is about zero (the key part of the attention's qkv bias,
    whose gradient vanishes analytically) moves by up to the learning rate either way. So the weights are compared by
    their updates from the shared seeded start: over the network the two updates differ by at most 0.1% of the
    update's norm, and in each tensor (the task head's too) by at most 0.5%; kept tensors not at all. Measured on the
    2-core development machine: 0.002% over the network and at most 0.03% in one tensor (the qkv biases). Without the
    all-reduce in the backward of the gathered batch (half of BECR's gradient) they become 0.7% and 1.1%; with BECR's
    covariance taken over each process's half-batch, 2.7% and 9.7%."""
    task, out_2, out_1 = synthetic_tasks / "tones-multiclass", tmp_path / "two", tmp_path / "one"
    args = ["train", "tiny_test", str(task), "--init", "random", "--epochs", "1", "--batch-size", "8", "--becr", "0.05",
            "0.7", "--patchout", "--device", "cpu", "--no-progress"]  # CPU processes (gloo) on a GPU machine too
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "hear_gear_embed", *args, "--out", str(out_2)],
                         capture_output=True, text=True, env=env, timeout=300, check=False)
    assert two.returncode == 0, two.stderr[-3000:]
    assert main([*args, "--out", str(out_1)]) == 0  # the same command in this process
    got = torch.load(out_2 / "tones-multiclass" / "last.pt", weights_only=True)
    want = torch.load(out_1 / "tones-multiclass" / "last.pt", weights_only=True)
    assert (got["training"]["processes"], want["training"]["processes"]) == (2, 1)
    assert got["training"]["config"] == want["training"]["config"]
    assert got["training"]["config"]["patchout"] == {"freq": 4, "time": 40, "proportion": 0.0}  # seed 003, 10 ms hop
    assert got["resume"]["step"] == want["resume"]["step"] == 7
    embedder = random_embedder(get_variant("tiny_test"), 0, device=CPU)
    head = FineTuner(embedder, len(want["training"]["task"]["labels"]), seed=0).head  # where the runs' head started
    start = {**embedder.net.state_dict(), **{f"task_head.{k}": v for k, v in head.state_dict().items()}}  # type: ignore[union-attr]
    finals = [{**run["state_dict"], **{f"task_head.{k}": v for k, v in run["training"]["head"].items()}} for run in (got, want)]
    assert finals[0].keys() == finals[1].keys() == start.keys()
    for k in ("head.1.weight", "head_dist.weight"):  # the AudioSet and distillation heads are kept
        assert torch.equal(finals[0][k], start[k]) and torch.equal(finals[1][k], start[k])
    per_tensor = {k: relative_update_difference(finals[0][k], finals[1][k], start[k]) for k in start}
    assert max(per_tensor.values()) < 5e-3, sorted(per_tensor.items(), key=lambda kv: -kv[1])[:3]
    network = [k for k in start if not k.startswith("task_head.")]
    moved = math.sqrt(sum(float((finals[1][k] - start[k]).norm()) ** 2 for k in network))
    apart = math.sqrt(sum(float((finals[0][k] - finals[1][k]).norm()) ** 2 for k in network))
    assert apart < 1e-3 * moved, apart / moved
