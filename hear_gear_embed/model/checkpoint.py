"""Reading checkpoint files in every layout users have, loading them strictly, and saving them."""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import torch
from torch import Tensor, nn

from .config import PasstConfig

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from .passt import PaSST

logger = logging.getLogger(__name__)

SAVED_FORMAT = "hear_gear_embed/checkpoint-v1"
"""Value of the ``format`` key in files written by :func:`save_checkpoint`."""

_ANCHOR = "patch_embed.proj.weight"

_ZIP_MAGIC = b"PK\x03\x04"
"""The first bytes of a zip archive, the format of torch.save."""


class CheckpointError(ValueError):
    """A checkpoint file is unreadable or does not fit the network (names the offending keys)."""


def read_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, object]]:
    """Read a checkpoint file into ``(state_dict, metadata)``.

    Accepts a raw state dict (the official release files), a dict wrapping one under
    ``state_dict`` or ``model`` (Lightning, DeiT), and files written by :func:`save_checkpoint`.
    Only tensors and plain containers are unpickled (``weights_only=True``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint file {path} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path {path} is not a file")
    with path.open("rb") as handle:
        head = handle.read(4)
    if head == _ZIP_MAGIC and not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is a truncated or corrupt PyTorch checkpoint: it starts as a zip archive, but "
                              "the archive's directory at its end is missing (a download or copy cut short?)")
    if not (zipfile.is_zipfile(path) or head[:1] == b"\x80"):  # torch.save's zip archive, or a legacy pickle (PROTO)
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint: it is neither a zip archive nor a pickle (torch.save writes one of them)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" not in str(err):  # torch's weights-only unpickler met a broken stream, not an object
            raise CheckpointError(f"{path} is a corrupt or truncated PyTorch checkpoint: the pickle cannot be read") from err
        raise CheckpointError(
            f"{path} holds pickled objects other than tensors and plain containers, which are not loaded "
            "for safety. Re-save only its state dict: torch.save(ckpt['state_dict'], 'weights.pt')."
        ) from err
    except (RuntimeError, EOFError, OSError, KeyError, ValueError) as err:  # truncated or corrupt archives
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint: {err}") from err
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict")
    metadata: dict[str, object] = {}
    if obj.get("format") == SAVED_FORMAT:
        metadata = {k: v for k, v in obj.items() if k != "state_dict"}
        obj = obj["state_dict"]
    else:
        for key in ("state_dict", "model"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    state = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
    if not state:
        raise CheckpointError(f"{path} contains no tensors")
    return state, metadata


def strip_prefix(state: Mapping[str, Tensor], expected: set[str]) -> dict[str, Tensor]:
    """Remove a wrapper prefix such as ``net.`` or ``module.`` found in front of the network's keys.

    Keys outside the prefix (a wrapper's own buffers) are dropped and logged.
    """
    if _ANCHOR in state or not expected:
        return dict(state)
    prefixes = [k[: -len(_ANCHOR)] for k in state if k.endswith("." + _ANCHOR)]
    if len(prefixes) != 1:
        return dict(state)
    prefix = prefixes[0]
    inside = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    dropped = sorted(k for k in state if not k.startswith(prefix))
    if dropped:
        logger.info("ignoring %d checkpoint entries outside prefix %r: %s", len(dropped), prefix, dropped[:10])
    return inside


def load_into(net: nn.Module, state: Mapping[str, Tensor], source: str = "checkpoint") -> None:
    """Load ``state`` into ``net`` strictly, after reporting every missing, unexpected or misshapen key.

    The tensors are assigned (not copied), so ``net`` may have been built on the ``meta`` device.

    Raises:
        CheckpointError: naming the keys that do not fit.
    """
    own = net.state_dict()
    state = strip_prefix(state, set(own))
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs network {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if state[k].shape != own[k].shape
    )
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {_clip(missing)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {_clip(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches ({len(shapes)}): {_clip(shapes)}")
    if problems:
        raise CheckpointError(f"{source} does not fit the network: " + "; ".join(problems))
    net.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True, assign=True)


def load_checkpoint(net: PaSST, path: str | os.PathLike[str]) -> None:
    """Load the checkpoint file ``path`` into ``net`` strictly: :func:`read_checkpoint`, then
    :func:`check_saved_geometry` against ``net.config`` and :func:`load_into` (``net`` may be on ``meta``). What
    ``load_model(path)`` does with a file, and what ``hear-gear weights verify`` checks where no checksum is published.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: an unreadable file, or one that does not fit ``net`` (the message says why).
    """
    state, metadata = read_checkpoint(path)
    check_saved_geometry(metadata, net.config, str(path))
    load_into(net, state, str(path))


def check_saved_geometry(metadata: Mapping[str, object], config: PasstConfig | DataclassInstance, source: str) -> None:
    """Refuse a file saved by this package for a different network geometry (a PaSST's, or any model's configuration)."""
    saved = metadata.get("net")
    if saved is not None and saved != dataclasses.asdict(config):
        raise CheckpointError(f"{source} was saved for network {saved}, not {dataclasses.asdict(config)}")


RESERVED_KEYS = ("format", "variant", "net", "state_dict")
"""The keys :func:`save_checkpoint` writes itself; ``extra`` may not use them."""


def save_checkpoint(path: str | os.PathLike[str] | BinaryIO, net: nn.Module, config: PasstConfig | DataclassInstance,
                    variant: str, *, extra: Mapping[str, object] | None = None) -> None:
    """Write ``net``'s weights with the variant name and geometry (its configuration dataclass), readable by
    :func:`read_checkpoint` (``extra``, such as a training run's record, comes back in its metadata). ``path`` may be
    an open binary stream."""
    clash = sorted(set(extra or {}) & set(RESERVED_KEYS))
    if clash:
        raise ValueError(f"extra checkpoint keys {clash} are reserved")
    torch.save(
        {
            "format": SAVED_FORMAT,
            "variant": variant,
            "net": dataclasses.asdict(config),
            "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
            **(extra or {}),
        },
        path,
    )


def _clip(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... (+{len(items) - limit} more)" if len(items) > limit else "")
