"""The PaSST network and its checkpoints; knows nothing of HEAR."""

from .checkpoint import CheckpointError, WeightsUnavailableError, cache_dir, read_checkpoint, resolve_checkpoint
from .passt import PaSST, PasstOutput, forward_flops, random_passt

__all__ = [
    "CheckpointError",
    "PaSST",
    "PasstOutput",
    "WeightsUnavailableError",
    "cache_dir",
    "forward_flops",
    "read_checkpoint",
    "random_passt",
    "resolve_checkpoint",
]
