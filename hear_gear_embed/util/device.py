"""The one device rule of the package: where models run when the caller does not say."""

from __future__ import annotations

import torch


class DeviceUnavailableError(RuntimeError):
    """The requested torch device does not exist on this machine or in this torch build."""


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device to run on: ``None`` picks CUDA when available, else the CPU; a named device must exist.

    A device other than the CPU and CUDA (``mps``, ``xpu``, ...) is accepted where this torch build and machine
    have it (its backend's ``is_available()``), with an index below its ``device_count()``. ``meta`` is refused:
    it holds shapes without values, so nothing can be embedded there.

    Raises:
        DeviceUnavailableError: a CUDA (or other accelerator) device was asked for but this torch build or machine
            has none, or its index is beyond the visible devices.
        ValueError: not a device string torch understands, or the ``meta`` device.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"{device!r} is not a torch device (e.g. 'cpu', 'cuda', 'cuda:1'): {err}") from err
    if resolved.type == "meta":
        raise ValueError(
            f"device {str(device)!r} holds no data (torch's meta device records shapes, not values): audio cannot be "
            "embedded there; pass device='cpu' or a GPU, or leave device unset to pick CUDA when present"
        )
    if resolved.type not in ("cpu", "cuda"):
        _check_accelerator(resolved, str(device))
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise DeviceUnavailableError(
                f"device {str(device)!r} was requested but CUDA is not available (torch {torch.__version__}, {build}); "
                "pass device='cpu' or leave device unset to pick CUDA only when present"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"device {str(device)!r} was requested but only {torch.cuda.device_count()} CUDA device(s) are visible"
            )
    return resolved


def _check_accelerator(resolved: torch.device, asked: str) -> None:
    """Refuse a device of another type than CPU and CUDA unless this torch build and machine have it, with that index."""
    kind = resolved.type
    # torch.mps has no is_available() before torch 2.5; torch.backends.mps has one since 1.12
    backend = torch.backends.mps if kind == "mps" else getattr(torch, kind, None)
    is_available = getattr(backend, "is_available", None)
    if not callable(is_available) or not is_available():
        raise DeviceUnavailableError(
            f"device {asked!r} was requested but this torch build (torch {torch.__version__}) or machine has no {kind} "
            "device; pass device='cpu', or leave device unset to pick CUDA when present"
        )
    device_count = getattr(getattr(torch, kind, None), "device_count", None)
    if resolved.index is not None and callable(device_count) and resolved.index >= device_count():
        raise DeviceUnavailableError(f"device {asked!r} was requested but only {device_count()} {kind} device(s) are visible")
