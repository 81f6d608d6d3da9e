"""The precision rule (:mod:`hear_gear_embed.util.precision`): names, dtypes, CPU flags and refusals."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from hear_gear_embed.util.precision import (
    FLOAT_PRECISIONS,
    PRECISIONS,
    PrecisionUnsupportedError,
    check_precision_name,
    check_supported,
    compiles_by_default,
    compute_dtype,
    cpu_bf16_units,
    cpu_flags,
    cpu_int8_units,
    dtype_of,
    precision_of,
)

CPU = torch.device("cpu")
SAPPHIRE_RAPIDS = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16"})
ZEN4 = frozenset({"avx2", "avx512f", "avx512_bf16"})
AVX2_ONLY = frozenset({"avx2", "fma"})


def test_names_and_dtypes_round_trip() -> None:
    assert PRECISIONS[0] == "fp32" and PRECISIONS == (*FLOAT_PRECISIONS, "int8")
    for name in FLOAT_PRECISIONS:
        assert check_precision_name(name) == name
        assert precision_of(dtype_of(name)) == name
    assert dtype_of("bf16") == torch.bfloat16 and dtype_of("fp16") == torch.float16
    assert check_precision_name("int8") == "int8"
    for call in (lambda: dtype_of("int8"), lambda: compute_dtype("int8", CPU, flags=SAPPHIRE_RAPIDS)):
        with pytest.raises(ValueError, match="int8 is not a float format"):
            call()
    assert [compiles_by_default(name) for name in PRECISIONS] == [False, False, False, True]
    for bad in ("float32", "BF16", "INT8", ""):
        with pytest.raises(ValueError, match="precision must be one of"):
            check_precision_name(bad)
    with pytest.raises(ValueError, match="no precision"):
        precision_of(torch.float64)


def test_cpu_flags_read_x86_and_arm_cpuinfo(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512_bf16 amx_bf16\n\nprocessor\t: 1\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")
    empty = tmp_path / "empty"
    empty.write_text("processor\t: 0\n")
    assert cpu_flags(x86) == frozenset({"fpu", "avx2", "avx512_bf16", "amx_bf16"})
    assert cpu_bf16_units(cpu_flags(x86)) == ("amx_bf16", "avx512_bf16")
    assert cpu_bf16_units(cpu_flags(arm)) == ("bf16",)
    assert cpu_flags(empty) is None and cpu_flags(tmp_path / "missing") is None
    assert cpu_bf16_units(AVX2_ONLY) == ()


def test_fp32_is_always_float32() -> None:
    for flags in (SAPPHIRE_RAPIDS, ZEN4, AVX2_ONLY):
        assert compute_dtype("fp32", CPU, flags=flags) == torch.float32


def test_bf16_on_a_cpu_needs_bf16_units() -> None:
    assert compute_dtype("bf16", CPU, flags=SAPPHIRE_RAPIDS) == torch.bfloat16
    assert compute_dtype("bf16", CPU, flags=ZEN4) == torch.bfloat16
    with pytest.raises(PrecisionUnsupportedError, match="no bf16 units.*about 1 GFLOP/s with AVX2"):
        compute_dtype("bf16", CPU, flags=AVX2_ONLY)


def test_fp16_on_a_cpu_is_refused_even_with_avx512_fp16() -> None:
    for flags in (SAPPHIRE_RAPIDS, ZEN4, AVX2_ONLY):
        with pytest.raises(PrecisionUnsupportedError, match="fp16 on a CPU is no faster than fp32"):
            compute_dtype("fp16", CPU, flags=flags)


def test_unknown_cpu_warns_instead_of_refusing(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import hear_gear_embed.util.precision as precision

    monkeypatch.setattr(precision, "cpu_bf16_units", lambda flags=None: None)
    with caplog.at_level(logging.WARNING, logger="hear_gear_embed.util.precision"):
        assert compute_dtype("bf16", CPU) == torch.bfloat16
    assert "cannot tell whether this CPU has bf16 units" in caplog.text


def test_other_device_types_refuse_reduced_precision() -> None:
    assert compute_dtype("fp32", torch.device("meta")) == torch.float32
    with pytest.raises(PrecisionUnsupportedError, match="only supported on CPU and CUDA"):
        compute_dtype("bf16", torch.device("meta"))


def test_precision_is_importable_without_torch() -> None:
    import subprocess
    import sys

    code = "import sys, hear_gear_embed.util.precision as p; assert p.PRECISIONS; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_int8_needs_int8_units_on_a_cpu() -> None:
    vnni = frozenset({"avx2", "avx512f", "avx512_vnni"})
    assert cpu_int8_units(SAPPHIRE_RAPIDS | {"amx_int8", "avx512_vnni"}) == ("amx_int8", "avx512_vnni")
    assert check_supported("int8", CPU, flags=vnni) == "int8"
    assert check_supported("bf16", CPU, flags=ZEN4) == "bf16"
    for flags in (AVX2_ONLY, ZEN4):
        with pytest.raises(PrecisionUnsupportedError, match="no int8 dot-product units.*minimum cosine of 0.983"):
            check_supported("int8", CPU, flags=flags)
    with pytest.raises(PrecisionUnsupportedError, match="int8 is a CPU format"):
        check_supported("int8", torch.device("cuda"))
    with pytest.raises(PrecisionUnsupportedError, match="no bf16 units"):
        check_supported("bf16", CPU, flags=AVX2_ONLY)
