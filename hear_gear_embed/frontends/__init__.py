"""Audio frontends (waveform -> time-frequency representation)."""

from .mel import MelFrontend, kaldi_mel_banks, kaldi_mel_scale

__all__ = ["MelFrontend", "kaldi_mel_banks", "kaldi_mel_scale"]
