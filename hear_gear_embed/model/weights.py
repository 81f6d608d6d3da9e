"""One record per official PaSST checkpoint: where it lives, how to check it, what it was trained on (pure data).

The authors publish no checksums. A record's ``sha256`` is filled only where a source attests the
file's hash, and ``sha256_source`` names that source: a mismatch against a third-party hash means
the file differs from the one that project downloaded (a truncated or corrupted download, a
substituted file, or the authors re-uploading the release asset), not necessarily that it is
malicious. :func:`~.hub.download` then refuses the file (it is kept beside the cache for inspection,
never under the name loads look for); a file placed in the cache by hand is not re-hashed on every
load, which would slow every load: ``hear-gear weights verify`` checks it on demand.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..frontends.config import MelConfig
from ..util.names import unknown_name
from .config import PasstConfig

RELEASES = "https://github.com/kkoutini/PaSST/releases/download"
"""Where the authors publish their checkpoints (GitHub releases of ``kkoutini/PaSST``)."""

LICENCE = "Apache-2.0 (declared by the authors' hear21passt package, which downloads these files)"


@dataclass(frozen=True)
class PretrainedWeights:
    """An official checkpoint and the input geometry it was trained with.

    Attributes:
        name: the authors' architecture name.
        url: download address of the raw state dict.
        description: training data, method and AudioSet mAP.
        frontend: the log-mel the network was trained on (its STFT hop).
        net: the network geometry (patch strides, length of the time encoding).
        sha256: hex SHA-256 of the file where a source attests one; ``None`` where none is published.
        sha256_source: who attests ``sha256`` (empty when ``sha256`` is ``None``).
        licence: the licence the weights are distributed under.
    """

    name: str
    url: str
    description: str
    frontend: MelConfig
    net: PasstConfig
    sha256: str | None = None
    sha256_source: str = ""
    licence: str = LICENCE

    def __post_init__(self) -> None:
        if self.sha256 is not None and (len(self.sha256) != 64 or set(self.sha256) - set("0123456789abcdef")):
            raise ValueError(f"{self.name}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
        if (self.sha256 is None) != (not self.sha256_source):
            raise ValueError(f"{self.name}: a sha256 needs its source, and a source needs a sha256")

    @property
    def filename(self) -> str:
        """File name in the cache directory (the last path component of the URL)."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]


def _official(name: str, path: str, description: str, *, hop: int = 320, frames: int = 998, stride: int = 10,
              sha256: str | None = None, sha256_source: str = "") -> PretrainedWeights:
    return PretrainedWeights(
        name=name, url=f"{RELEASES}/{path}", description=description, frontend=MelConfig(hop_length=hop),
        net=PasstConfig(max_frames=frames, freq_stride=stride, time_stride=stride), sha256=sha256,
        sha256_source=sha256_source,
    )


PRETRAINED: dict[str, PretrainedWeights] = {
    w.name: w
    for w in (
        _official("passt_s_swa_p16_128_ap476", "v0.0.1-audioset/passt-s-f128-p16-s10-ap.476-swa.pt",
                  "PaSST-S, AudioSet, stochastic weight averaging, mAP .476 (HEAR 2021 submission)",
                  sha256="302903fa8c4aee817b11dc982da0b29aaf8d11a3e722420476d0a12c9db70c2c",
                  sha256_source="third party: a public transfer-learning study pins it as the official download; "
                  "the authors publish no checksum"),
        _official("passt_s_kd_p16_128_ap486", "v.0.0.9/passt-s-kd-ap.486.pt",
                  "PaSST-S, AudioSet, knowledge distillation, mAP .486"),
        _official("passt_s_p16_s16_128_ap468", "v0.0.2-audioset/passt-s-f128-p16-s16-ap.468.pt",
                  "PaSST-S, AudioSet, patch stride 16, mAP .468", stride=16),
        _official("passt_s_swa_f128_stfthop160_p16_s10_ap473",
                  "v0.0.3-audioset/passt-s-f128-stfthop160-p16-s10-ap.473-swa.pt",
                  "PaSST-S, AudioSet, STFT hop 5 ms, mAP .473", hop=160, frames=2000),
        _official("passt_s_swa_f128_stfthop100_p16_s10_ap473",
                  "v0.0.3-audioset/passt-s-f128-stfthop100-p16-s10-ap.473-swa.pt",
                  "PaSST-S, AudioSet, STFT hop 3.125 ms, mAP .473", hop=100, frames=3200),
        _official("passt_s_f128_20sec_p16_s10_ap474_swa", "v0.0.5/passt-s-f128-20sec-p16-s10-ap.474-swa.pt",
                  "PaSST-S, AudioSet, 20 s time encoding, mAP .474", frames=2000),
        _official("passt_s_f128_30sec_p16_s10_ap473_swa", "v0.0.5/passt-s-f128-30sec-p16-s10-ap.473-swa.pt",
                  "PaSST-S, AudioSet, 30 s time encoding, mAP .473", frames=3000),
    )
}
"""The official checkpoints by name."""


def get_weights(name: str) -> PretrainedWeights:
    """The official checkpoint called ``name``.

    Raises:
        KeyError: unknown name, with the closest known names.
    """
    try:
        return PRETRAINED[name]
    except KeyError:
        raise KeyError(unknown_name("checkpoint", name, PRETRAINED)) from None
