"""Audio frontends (waveform -> time-frequency representation): Kaldi log-mel and constant-Q.

:mod:`.config` holds their configurations (pure data); the torch modules are imported on first use.
"""

from typing import TYPE_CHECKING

from ..util.lazy import lazy_exports
from .config import C1_HZ, CqtConfig, Frontend, MelConfig

if TYPE_CHECKING:
    from .build import build_frontend
    from .cqt import CqtFrontend
    from .mel import MelFrontend, kaldi_mel_banks, kaldi_mel_scale

__getattr__, __dir__ = lazy_exports(__name__, {
    "build_frontend": ".build", "CqtFrontend": ".cqt", "MelFrontend": ".mel", "kaldi_mel_banks": ".mel",
    "kaldi_mel_scale": ".mel",
})

__all__ = [
    "C1_HZ", "CqtConfig", "CqtFrontend", "Frontend", "MelConfig", "MelFrontend", "build_frontend", "kaldi_mel_banks",
    "kaldi_mel_scale",
]
