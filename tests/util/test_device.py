"""The device rule (:mod:`hear_gear_embed.util.device`): ``None`` is CUDA when available, else the CPU; a CUDA
device that does not exist is a clear error, also through ``load_model``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import hear_gear_embed
from hear_gear_embed.hear import load_model
from hear_gear_embed.model.hub import HOME_ENV
from hear_gear_embed.util.device import DeviceUnavailableError, resolve_device

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")


def test_default_device() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None) == torch.device(expected)
    assert resolve_device("cpu") == resolve_device(torch.device("cpu")) == torch.device("cpu")


@needs_no_cuda
def test_cuda_without_cuda_is_a_clear_error() -> None:
    for device in ("cuda", "cuda:0", torch.device("cuda")):
        with pytest.raises(DeviceUnavailableError, match="CUDA is not available") as info:
            resolve_device(device)
        assert "device='cpu'" in str(info.value)
    assert issubclass(DeviceUnavailableError, RuntimeError)


@needs_no_cuda
def test_load_model_on_a_missing_cuda_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DeviceUnavailableError, match="'cuda' was requested"):
        load_model(variant="handcrafted", device="cuda")
    # The device is checked before any weights are looked for (an empty cache and no download: else a
    # WeightsUnavailableError).
    monkeypatch.setenv(HOME_ENV, str(tmp_path))
    with pytest.raises(DeviceUnavailableError, match="'cuda' was requested"):
        hear_gear_embed.load_model(device="cuda", download=False)


def test_cuda_index_beyond_the_visible_gpus() -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    with pytest.raises(DeviceUnavailableError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_not_a_device_string() -> None:
    with pytest.raises(ValueError, match="is not a torch device"):
        resolve_device("gpu")


def test_meta_device_is_refused_by_every_entry_point() -> None:
    """torch's meta device records shapes, not values: nothing can be embedded there, so it is refused before any
    model is built, by the one device rule that every loader calls."""
    from hear_gear_embed.embedding import random_embedder

    for device in ("meta", torch.device("meta")):
        with pytest.raises(ValueError, match="'meta' holds no data"):
            resolve_device(device)
    with pytest.raises(ValueError, match="'meta' holds no data"):
        load_model(variant="handcrafted", device="meta")
    with pytest.raises(ValueError, match="'meta' holds no data"):
        random_embedder(hear_gear_embed.get_variant("tiny_test"), device="meta")


@pytest.mark.parametrize("kind", ["mps", "xpu", "mtia", "hpu", "vulkan", "privateuseone"])
def test_device_types_this_torch_or_machine_lacks(kind: str) -> None:
    backend = torch.backends.mps if kind == "mps" else getattr(torch, kind, None)
    if backend is not None and backend.is_available():
        pytest.skip(f"this machine has a {kind} device")
    with pytest.raises(DeviceUnavailableError, match=f"device '{kind}:1' was requested but .* no {kind} device"):
        resolve_device(f"{kind}:1")
