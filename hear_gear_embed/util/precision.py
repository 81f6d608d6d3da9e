"""The one precision rule of the package: which number formats a device computes fast enough to be worth it, and
whether the network is compiled by default in each.

On a CPU, bf16 pays only with bf16 matrix units (AVX512-BF16, AMX, Arm BF16) and fp16 never does (no faster than
fp32 even with AVX512-FP16); without those units both run slower than fp32, on older CPUs so much slower that a user
would take the run for a hang. Hence fp16 is refused on a CPU, and bf16 on a CPU without bf16 units. int8 (the
transformer's linear layers quantised, activations per token at run time) needs int8 dot-product units (AVX512-VNNI,
AVX-VNNI, AMX-INT8): without them it is faster than fp32 but loses accuracy; it pays only compiled, and is a CPU
format here. The measurements behind the rule: docs/performance.md ("Reduced precision", "Compiled graphs and int8").
"""

from __future__ import annotations

import logging
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16", "fp16", "int8"]
"""Compute formats: float32, bfloat16, float16, and int8 linear layers (dynamic per-token activations)."""

FLOAT_PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16", "fp16")
"""The precisions that are one float dtype for every matrix product (:func:`dtype_of`); training uses these."""

PRECISIONS: tuple[Precision, ...] = (*FLOAT_PRECISIONS, "int8")
"""Every precision, the default first."""

_DTYPE_NAMES: dict[Precision, str] = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
"""The torch dtype of each float precision, by name (this module imports torch only when it computes)."""

BF16_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")
"""CPU flags (``/proc/cpuinfo``) of bf16 matrix units: Intel AMX, AVX512-BF16 (Intel, AMD Zen 4), Arm BF16."""

INT8_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")
"""CPU flags of int8 dot-product units: Intel AMX-INT8, AVX512-VNNI (Intel, AMD Zen 4), AVX-VNNI (Intel client)."""

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


def check_float_precision(precision: str) -> Precision:
    """``precision`` as one of :data:`FLOAT_PRECISIONS`.

    Raises:
        ValueError: unknown precision, or ``"int8"`` (no single float dtype: its linear layers are quantised).
    """
    name = check_precision_name(precision)
    if name not in FLOAT_PRECISIONS:
        raise ValueError(f"{name} is not a float format (one of {FLOAT_PRECISIONS}): it quantises the network's linear "
                         "layers for inference and has no dtype to cast to or train in")
    return name


def dtype_of(precision: str) -> torch.dtype:
    """The torch dtype of the float precision ``precision``.

    Raises:
        ValueError: unknown precision, or ``"int8"`` (:func:`check_float_precision`).
    """
    import torch

    dtype: torch.dtype = getattr(torch, _DTYPE_NAMES[check_float_precision(precision)])
    return dtype


def precision_of(dtype: torch.dtype) -> Precision:
    """The float precision whose dtype is ``dtype``.

    Raises:
        ValueError: a dtype of no precision.
    """
    for name in FLOAT_PRECISIONS:
        if dtype_of(name) == dtype:
            return name
    raise ValueError(f"{dtype} is the dtype of no precision in {FLOAT_PRECISIONS}")


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


def cpu_int8_units(flags: frozenset[str] | None = None) -> tuple[str, ...] | None:
    """The int8 dot-product-unit flags of this CPU (a subset of :data:`INT8_FLAGS`; empty: none), or ``None`` when
    the flags cannot be read."""
    flags = cpu_flags() if flags is None else flags
    return None if flags is None else tuple(f for f in INT8_FLAGS if f in flags)


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
    """The dtype to run the network's matrix products in, for the float precision ``precision`` on ``device``.

    Args:
        precision: one of :data:`FLOAT_PRECISIONS`.
        device: where the network runs.
        flags: CPU flags to decide from (``None``: this machine's, :func:`cpu_flags`); for tests.

    Raises:
        ValueError: unknown precision, or ``"int8"`` (:func:`check_supported` checks it).
        PrecisionUnsupportedError: fp16 on a CPU; bf16 on a CPU without bf16 units or on a GPU without
            bf16 support; a reduced precision on a device type other than CPU and CUDA (untested).
    """
    return _checked(check_float_precision(precision), device, flags)


def check_supported(precision: str, device: torch.device, *, flags: frozenset[str] | None = None) -> Precision:
    """``precision`` if ``device`` computes it fast: the rule of the module docstring, for every precision.

    Raises:
        ValueError: unknown precision.
        PrecisionUnsupportedError: as :func:`compute_dtype`; and int8 on a CPU without int8 units (where oneDNN's int8
            products lose accuracy, docs/performance.md) or on any device but a CPU.
    """
    name = check_precision_name(precision)
    if name != "int8":
        _checked(name, device, flags)
        return name
    if device.type != "cpu":
        raise PrecisionUnsupportedError(
            f"int8 is a CPU format in this package (VNNI and AMX units), not measured on {device.type!r}; use "
            "precision='bf16' or 'fp16' on a GPU"
        )
    _require_units(
        cpu_int8_units(flags), "int8", "int8 loses accuracy",
        f"this CPU has no int8 dot-product units (none of the flags {INT8_FLAGS}): without them oneDNN's int8 products "
        "lose accuracy (passt_base timestamps at a minimum cosine of 0.983 and a relative error of 0.27 to fp32, against "
        "0.9997 and 0.03 with them; docs/performance.md); use precision='fp32', or 'bf16' on a CPU with bf16 units",
    )
    return name


def _require_units(units: tuple[str, ...] | None, kind: str, without: str, refusal: str) -> None:
    """Refuse (``refusal``) a CPU without ``kind`` units; warn (``without`` them, what happens) when it cannot be told."""
    if units is None:
        logger.warning("cannot tell whether this CPU has %s units; without them %s (docs/performance.md)", kind, without)
    elif not units:
        raise PrecisionUnsupportedError(refusal)


def compiles_by_default(precision: str) -> bool:
    """Whether the network is compiled (:class:`~hear_gear_embed.model.compiled.CompiledPasst`) when the caller does
    not say: for int8 only, whose eager kernels run at about 1.1x fp32 and its compiled ones at 3.1-3.2x; fp32 and bf16
    gain 0-12% from compiling on a CPU with AVX512-BF16, for 25-70 s of compilation per process and window length
    (docs/performance.md)."""
    return check_precision_name(precision) == "int8"


def _checked(name: Precision, device: torch.device, flags: frozenset[str] | None) -> torch.dtype:
    """The dtype of the float precision ``name`` on ``device``, refused where it does not pay."""
    import torch

    if name == "fp32":
        return torch.float32
    if device.type == "cpu":
        if name == "fp16":
            raise PrecisionUnsupportedError(
                "fp16 on a CPU is no faster than fp32 even with AVX512-FP16, and far slower without it "
                "(docs/performance.md); use precision='bf16' on a CPU with bf16 units, or fp16 on a GPU"
            )
        _require_units(
            cpu_bf16_units(flags), "bf16", "bf16 runs slower than fp32",
            f"this CPU has no bf16 units (none of the flags {BF16_FLAGS}): bf16 matrix products run slower than fp32 "
            "with AVX-512 and at about 1 GFLOP/s with AVX2 only (docs/performance.md); use precision='fp32'",
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
