"""The one registry of variants and official checkpoints. Variants are data, never modules."""

from __future__ import annotations

import difflib

from .config import HANDCRAFTED, Checkpoint, CqtConfig, FeatureBlock, MelConfig, PasstConfig, VariantConfig, WindowBlock

_RELEASES = "https://github.com/kkoutini/PaSST/releases/download"


def _official(name: str, path: str, description: str, hop: int = 320, frames: int = 998, stride: int = 10):
    """An official checkpoint with the frontend and geometry it was trained with."""
    return (
        Checkpoint(name, f"{_RELEASES}/{path}", description),
        MelConfig(hop_length=hop),
        PasstConfig(max_frames=frames, freq_stride=stride, time_stride=stride),
    )


CHECKPOINTS: dict[str, tuple[Checkpoint, MelConfig, PasstConfig]] = {
    entry[0].name: entry
    for entry in (
        _official("passt_s_swa_p16_128_ap476", "v0.0.1-audioset/passt-s-f128-p16-s10-ap.476-swa.pt",
                  "PaSST-S, AudioSet, stochastic weight averaging, mAP .476 (HEAR 2021 submission)"),
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
"""Official checkpoints by name: ``(checkpoint, frontend it was trained with, network geometry)``."""

_VARIANTS: dict[str, VariantConfig] = {}


def register_variant(variant: VariantConfig, overwrite: bool = False) -> VariantConfig:
    """Add ``variant`` to the registry (``overwrite`` to replace one of the same name)."""
    if variant.name in _VARIANTS and not overwrite:
        raise ValueError(f"variant {variant.name!r} is already registered")
    _VARIANTS[variant.name] = variant
    return variant


def get_variant(name: str) -> VariantConfig:
    """The registered variant called ``name``.

    Raises:
        KeyError: unknown name, with the closest registered names.
    """
    try:
        return _VARIANTS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_VARIANTS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown variant {name!r}{hint} Known: {', '.join(list_variants())}") from None


def list_variants(include_unpublished: bool = False) -> list[str]:
    """Names of registered variants (published ones only, unless ``include_unpublished``)."""
    return [n for n, v in _VARIANTS.items() if v.published or include_unpublished]


def passt_variant(
    name: str,
    checkpoint: str,
    timestamp_blocks: tuple[WindowBlock, ...],
    scene_levels: tuple[str, ...],
    description: str,
    **kwargs: object,
) -> VariantConfig:
    """A variant on an official checkpoint, taking its frontend and geometry from :data:`CHECKPOINTS`."""
    ckpt, mel, net = CHECKPOINTS[checkpoint]
    return VariantConfig(
        name=name,
        description=description,
        frontend=mel,
        net=net,
        checkpoint=ckpt,
        timestamp_blocks=timestamp_blocks,
        scene_levels=scene_levels,  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


_HM = ("H", "M")

register_variant(passt_variant(
    "passt_base", "passt_s_swa_p16_128_ap476", (WindowBlock(160, _HM),), _HM,
    "PaSST M+H, 160 ms receptive field, STFT hop 10 ms (the HEAR 2021 'CP-JKU PaSST base')",
    reference="hear21passt.base",
))
register_variant(passt_variant(
    "passt_2lvl", "passt_s_swa_p16_128_ap476", (WindowBlock(160, _HM), WindowBlock(800, _HM)), _HM,
    "PaSST M+H at 160 ms and 800 ms receptive fields (HEAR 2021 'base2level')",
    reference="hear21passt.base2level",
))
register_variant(passt_variant(
    "passt_2lvlmel", "passt_s_swa_p16_128_ap476",
    (WindowBlock(160, _HM), WindowBlock(640, _HM), WindowBlock(60, ("L",))), _HM,
    "PaSST M+H at 160 ms and 640 ms plus 60 ms of log-mel frames (HEAR 2021 'base2levelmel')",
    reference="hear21passt.base2levelmel",
))
register_variant(passt_variant(
    "passt_lm2rf_hop5", "passt_s_swa_f128_stfthop160_p16_s10_ap473",
    (WindowBlock(160, ("M",)), WindowBlock(640, ("M",)), WindowBlock(30, ("L",))), ("M", "L"),
    "PaSST L+M, 160 ms and 640 ms receptive fields, STFT hop 5 ms (the paper's best setting)",
))
register_variant(VariantConfig(
    name="tiny_test",
    description="Tiny random-weight geometry for fast tests (depth 2, width 64); not a real model",
    frontend=MelConfig(),
    net=PasstConfig(embed_dim=64, depth=2, num_heads=4, num_classes=10),
    checkpoint=None,
    timestamp_blocks=(WindowBlock(160, _HM), WindowBlock(640, ("M",)), WindowBlock(60, ("L",))),
    scene_levels=("H", "M", "L"),
    published=False,
))

CQT_PASST_GRID = CqtConfig(bins_per_octave=16, n_bins=128)
"""A CQT that fits PaSST's 128-band patch grid: 8 octaves from C1 (32.7 Hz) to 7.8 kHz, 16 bins per
octave, 10 ms hop; the input of the ``passt_cqt`` variant, for users who train or fine-tune PaSST on CQT."""

register_variant(VariantConfig(
    name="lowlevel_mel",
    description="Weight-free: PaSST's log-mel, 60 ms of frames plus mean/std over 640 ms",
    timestamp_blocks=(FeatureBlock(60, ("mel",), "frames"), FeatureBlock(640, ("mel",))),
    scene_features=("mel",),
))
register_variant(VariantConfig(
    name="lowlevel_cqt",
    description="Weight-free: log-CQT (C1-B7, 12 bins/octave), 60 ms of frames plus mean/std over 640 ms",
    timestamp_blocks=(FeatureBlock(60, ("cqt",), "frames"), FeatureBlock(640, ("cqt",))),
    scene_features=("cqt",),
))
register_variant(VariantConfig(
    name="handcrafted",
    description="Weight-free: MFCC, chroma, spectral shape, energy and CQT peaks, mean/std over 160 ms and 640 ms",
    timestamp_blocks=(FeatureBlock(160, HANDCRAFTED), FeatureBlock(640, HANDCRAFTED)),
    scene_features=HANDCRAFTED,
))
register_variant(passt_variant(
    "passt_2lvl_cqt", "passt_s_swa_p16_128_ap476",
    (WindowBlock(160, _HM), WindowBlock(640, _HM), FeatureBlock(60, ("cqt",), "frames")), _HM,
    "PaSST M+H at 160 ms and 640 ms plus 60 ms of log-CQT frames (passt_2lvlmel with CQT as L)",
    scene_features=("cqt",),
))
register_variant(passt_variant(
    "passt_2lvl_handcrafted", "passt_s_swa_p16_128_ap476",
    (WindowBlock(160, _HM), WindowBlock(640, _HM), FeatureBlock(160, HANDCRAFTED)), _HM,
    "PaSST M+H at 160 ms and 640 ms plus the handcrafted set pooled over 160 ms",
    scene_features=HANDCRAFTED,
))
register_variant(VariantConfig(
    name="passt_cqt",
    description="PaSST-S on a 128-bin CQT (M+H at 160 ms); no official weights: bring your own CQT-trained checkpoint",
    frontend=CQT_PASST_GRID,
    net=PasstConfig(),
    timestamp_blocks=(WindowBlock(160, _HM),),
    scene_levels=_HM,
))
