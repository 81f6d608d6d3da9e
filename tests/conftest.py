"""Shared fixtures: seeded random weights in the official layout, tiny and full-size models; test signals."""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

from hear_gear_embed import get_variant, load_embedder
from hear_gear_embed.embedding import Embedder
from hear_gear_embed.model import random_passt

from .checkpoints import random_official_checkpoint, save_official
from .tools.scripts import import_script

if importlib.util.find_spec("hear21passt") is None:
    if os.environ.get("HGE_REQUIRE_ORACLE"):
        raise RuntimeError("HGE_REQUIRE_ORACLE is set but hear21passt is not installed")
    collect_ignore = ["parity"]


def counted_flops(fn: Callable[..., object], *args: object) -> dict[str, int]:
    """FLOPs of ``fn(*args)`` per module (``"Global"`` for all) as torch's ``FlopCounterMode`` counts them,
    with attention through the math kernel (which it counts; the CPU flash kernel it does not)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        fn(*args)
    return {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}


@pytest.fixture(scope="session")
def official_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``official_ckpt(variant)``: full-size random weights (seed 0) in the official key layout for the network
    geometry of ``variant``, written on first use and shared by every test (and, in CI, by the harness: see
    :mod:`tests.checkpoints`)."""
    root = tmp_path_factory.mktemp("ckpt")

    def for_variant(name: str) -> Path:
        variant = get_variant(name)
        if not variant.needs_network or variant.net is None:
            raise ValueError(f"variant {name} has no network weights")
        return random_official_checkpoint(variant.net, root)

    return for_variant


@pytest.fixture(scope="session")
def synthetic_tasks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four synthetic HEAR tasks of :mod:`tests.harness.tasks` (tones-multiclass, timbre-multilabel, events,
    tones-kfold; 1 s clips) at 32 kHz, seed 0, written once per session (read-only: copy a task to change it)."""
    from .harness.tasks import make_tasks

    root = tmp_path_factory.mktemp("hear-tasks")
    make_tasks(root, (32000,), seed=0)
    return root


@pytest.fixture(scope="session")
def bench() -> ModuleType:
    """``benchmarks/bench_passt.py`` imported as a module."""
    return import_script("bench_passt")


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random weights of the tiny test geometry, official layout."""
    return save_official(random_passt(get_variant("tiny_test").net, seed=2), tmp_path_factory.mktemp("tiny") / "tiny.pt")


@pytest.fixture(scope="session")
def tiny(tiny_ckpt: Path) -> Embedder:
    """The tiny test variant with seeded random weights, on CPU."""
    return load_embedder(get_variant("tiny_test"), tiny_ckpt, device="cpu")


def tone(freq_hz: float, seconds: float, sample_rate: int = 32000, amp: float = 0.5) -> torch.Tensor:
    """A sine of ``freq_hz`` as ``(n_samples,)`` float32."""
    t = torch.arange(int(round(seconds * sample_rate)), dtype=torch.float64) / sample_rate
    return (amp * torch.sin(2 * math.pi * freq_hz * t)).float()


def noise(n_sounds: int, seconds: float, seed: int = 0, sample_rate: int = 32000, amp: float = 0.5) -> torch.Tensor:
    """Seeded uniform white noise ``(n_sounds, n_samples)`` in [-amp, amp]."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n_sounds, int(round(seconds * sample_rate)), generator=g) * 2 - 1) * amp


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked ``cuda`` where torch sees no CUDA device (``benchmarks/gpu_check.sh`` runs them on a GPU)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (benchmarks/gpu_check.sh runs it on a GPU machine)")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)
