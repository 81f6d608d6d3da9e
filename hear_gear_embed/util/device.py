"""The one device rule of the package: where models run when the caller does not say."""

from __future__ import annotations

import torch


class DeviceUnavailableError(RuntimeError):
    """The requested torch device does not exist on this machine or in this torch build."""


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device to run on: ``None`` picks CUDA when available, else the CPU; a named device must exist.

    Raises:
        DeviceUnavailableError: a CUDA device was asked for but this torch build or machine has none,
            or its index is beyond the visible GPUs.
        ValueError: not a device string torch understands.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"{device!r} is not a torch device (e.g. 'cpu', 'cuda', 'cuda:1'): {err}") from err
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
