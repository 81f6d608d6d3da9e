"""The one precision rule of the package: which floating-point formats a device computes fast enough to be worth it.

On a CPU, bf16 pays only with bf16 matrix units (AVX512-BF16, AMX, Arm BF16) and fp16 never does (no faster than
fp32 even with AVX512-FP16); without those units both run slower than fp32, on older CPUs so much slower that a user
would take the run for a hang. Hence fp16 is refused on a CPU, and bf16 on a CPU without bf16 units. The
measurements behind the rule: docs/performance.md ("Reduced precision").
"""

from __future__ import annotations

import logging
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16", "fp16"]
"""Compute formats: float32, bfloat16, float16."""

PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "fp16")
"""Every precision, the default first."""

_DTYPE_NAMES: dict[Precision, str] = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
"""The torch dtype of each precision, by name (this module imports torch only when it computes)."""

BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")
"""CPU flags (``/proc/cpuinfo``) of bf16 matrix units: Intel AMX, AVX512-BF16 (Intel, AMD Zen 4), Arm BF16."""

_CPUINFO = Path("/proc/cpuinfo")


class PrecisionUnsupportedError(ValueError):
    """The device cannot compute in the requested precision, or only far slower than in fp32."""


def check_precision_name(precision: str) -> Precision:
    """``precision`` as a :data:`Precision`.

    Raises:
        ValueError: not one of :data:`PRECISIONS`.
    """
    for name in PRECISIONS:
        if precision == name:
            return name
    raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")


def dtype_of(precision: str) -> torch.dtype:
    """The torch dtype of ``precision``.

    Raises:
        ValueError: unknown precision.
    """
    import torch

    dtype: torch.dtype = getattr(torch, _DTYPE_NAMES[check_precision_name(precision)])
    return dtype


def precision_of(dtype: torch.dtype) -> Precision:
    """The precision whose dtype is ``dtype``.

    Raises:
        ValueError: a dtype of no precision.
    """
    for name in PRECISIONS:
        if dtype_of(name) == dtype:
            return name
    raise ValueError(f"{dtype} is the dtype of no precision in {PRECISIONS}")


def cpu_flags(cpuinfo: Path = _CPUINFO) -> frozenset[str] | None:
    """The CPU's feature flags (x86 ``flags``, Arm ``Features``) from ``/proc/cpuinfo``; ``None`` where
    that file does not exist (not Linux) or names no flags."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def cpu_bf16_units(flags: frozenset[str] | None = None) -> tuple[str, ...] | None:
    """The bf16 matrix-unit flags of this CPU (a subset of :data:`BF16_FLAGS`; empty: none), or ``None``
    when they cannot be read (then torch's own x86 check is asked, and ``None`` means unknown)."""
    flags = cpu_flags() if flags is None else flags
    if flags is not None:
        return tuple(f for f in BF16_FLAGS if f in flags)
    import torch

    check = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    if platform.machine().lower() in ("x86_64", "amd64") and check is not None:
        return ("avx512_bf16",) if check() else ()
    return None


def compute_dtype(precision: str, device: torch.device, *, flags: frozenset[str] | None = None) -> torch.dtype:
    """The dtype to run the network's matrix products in, for ``precision`` on ``device``.

    Args:
        precision: one of :data:`PRECISIONS`.
        device: where the network runs.
        flags: CPU flags to decide from (``None``: this machine's, :func:`cpu_flags`); for tests.

    Raises:
        ValueError: unknown precision.
        PrecisionUnsupportedError: fp16 on a CPU; bf16 on a CPU without bf16 units or on a GPU without
            bf16 support; a reduced precision on a device type other than CPU and CUDA (untested).
    """
    import torch

    name = check_precision_name(precision)
    if name == "fp32":
        return torch.float32
    if device.type == "cpu":
        if name == "fp16":
            raise PrecisionUnsupportedError(
                "fp16 on a CPU is no faster than fp32 even with AVX512-FP16, and far slower without it "
                "(docs/performance.md); use precision='bf16' on a CPU with bf16 units, or fp16 on a GPU"
            )
        units = cpu_bf16_units(flags)
        if units is None:
            logger.warning("cannot tell whether this CPU has bf16 units; without them bf16 runs slower than fp32 "
                           "(docs/performance.md)")
        elif not units:
            raise PrecisionUnsupportedError(
                f"this CPU has no bf16 units (none of the flags {BF16_FLAGS}): bf16 matrix products run slower than "
                "fp32 with AVX-512 and at about 1 GFLOP/s with AVX2 only (docs/performance.md); use precision='fp32'"
            )
        return dtype_of(name)
    if device.type == "cuda":
        if name == "bf16" and not torch.cuda.is_bf16_supported(including_emulation=False):
            raise PrecisionUnsupportedError(
                f"{torch.cuda.get_device_name(device)} has no bf16 tensor cores (compute capability 8.0 or "
                "newer needed); use precision='fp16' or 'fp32'"
            )
        return dtype_of(name)
    raise PrecisionUnsupportedError(f"precision {name!r} is only supported on CPU and CUDA devices, not {device.type!r}")
