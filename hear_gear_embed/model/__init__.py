"""The PaSST network, its configuration, the official weights' records, their cache and checkpoint files.

Knows nothing of HEAR. :mod:`.config` and :mod:`.weights` are pure data; the torch modules are
imported on first use.
"""

from typing import TYPE_CHECKING

from ..util.lazy import lazy_exports
from .config import PasstConfig, Patchout
from .weights import PRETRAINED, PretrainedWeights, get_weights

if TYPE_CHECKING:
    from .checkpoint import CheckpointError, read_checkpoint
    from .hub import ChecksumMismatchError, WeightsUnavailableError, cache_dir
    from .passt import PaSST, PasstOutput, forward_flops, random_passt

__getattr__, __dir__ = lazy_exports(__name__, {
    "CheckpointError": ".checkpoint", "read_checkpoint": ".checkpoint", "ChecksumMismatchError": ".hub",
    "WeightsUnavailableError": ".hub", "cache_dir": ".hub", "PaSST": ".passt", "PasstOutput": ".passt",
    "forward_flops": ".passt", "random_passt": ".passt",
})

__all__ = [
    "PRETRAINED", "CheckpointError", "ChecksumMismatchError", "PaSST", "PasstConfig", "PasstOutput", "Patchout",
    "PretrainedWeights",
    "WeightsUnavailableError", "cache_dir", "forward_flops", "get_weights", "random_passt", "read_checkpoint",
]
