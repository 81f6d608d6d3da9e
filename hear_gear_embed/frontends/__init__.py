"""Audio frontends (waveform -> time-frequency representation): Kaldi log-mel and constant-Q."""

from ..config import CqtConfig, Frontend
from .cqt import CqtFrontend
from .mel import MelFrontend, kaldi_mel_banks, kaldi_mel_scale


def build_frontend(config: Frontend) -> MelFrontend | CqtFrontend:
    """The frontend module for a :class:`~hear_gear_embed.config.MelConfig` or :class:`~hear_gear_embed.config.CqtConfig`."""
    return CqtFrontend(config) if isinstance(config, CqtConfig) else MelFrontend(config)


__all__ = ["CqtFrontend", "MelFrontend", "build_frontend", "kaldi_mel_banks", "kaldi_mel_scale"]
