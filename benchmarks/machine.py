"""Where a benchmark ran: the one description of the machine that every script under ``benchmarks/`` records."""

from __future__ import annotations

import datetime
import os
import platform
import socket
from pathlib import Path

import torch

from hear_gear_embed.util.precision import cpu_bf16_units


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` where that file does not exist)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict[str, object]:
    """Date, host, Python and torch versions, threads, cores, the CPU and its bf16 units, the device, and the GPU
    (name, memory in MiB, compute capability) when ``device`` is CUDA."""
    units = cpu_bf16_units()
    info: dict[str, object] = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "cpu_bf16_units": None if units is None else list(units),
        "device": str(device),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update({"gpu": props.name, "gpu_memory_mib": props.total_memory / 2**20,
                     "compute_capability": f"{props.major}.{props.minor}"})
    return info
