"""The one registry of variants: every variant is data, usable by name everywhere (HEAR module, GEAR, CLI), and so is
a variant written as a spec, ``passt[levels=L+M,rf=160+640,hop=5]`` (:mod:`.variant_spec`).

Pure data, no torch: ``hear-gear list`` reads it without importing the network. Variants of other
packages join through the entry-point group :data:`PLUGIN_GROUP`: each entry names a module whose import
registers variants, loaded on the first lookup, so that every process (``hear-gear``, ``hear-validator``,
``heareval``) knows them by name.
"""

from __future__ import annotations

import fnmatch
import logging
import warnings
from importlib.metadata import entry_points

from .embedding.config import FeatureBlock, Level, VariantConfig, WindowBlock
from .frontends.config import MelConfig
from .model.config import PasstConfig
from .model.weights import get_weights
from .util.names import unknown_name
from .variant_spec import CQT_PASST_GRID, is_spec, parse_spec

logger = logging.getLogger(__name__)

PLUGIN_GROUP = "hear_gear_embed.variants"
"""Entry-point group of modules that register variants, e.g. in a plugin's ``pyproject.toml``:
``[project.entry-points."hear_gear_embed.variants"] my_variants = "my_package.variants"``."""

_VARIANTS: dict[str, VariantConfig] = {}
_plugins_loaded = False


def _load_plugins() -> None:
    """Import every module of :data:`PLUGIN_GROUP` once; one that fails is reported and skipped, so a broken
    plugin cannot stop the package's own variants from working."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            entry.load()
        except Exception as err:  # a plugin's own bug: name it and go on
            logger.warning("variant plugin %s (%s) failed to load: %s: %s", entry.name, entry.value, type(err).__name__, err)


def register_variant(variant: VariantConfig, *, overwrite: bool = False) -> VariantConfig:
    """Add ``variant`` to the registry (``overwrite`` to replace one of the same name).

    Once registered, ``variant.name`` works wherever a variant name does: ``hear_gear_embed.hear.<name>``
    is its HEAR module, ``hear-gear gear <name>`` evaluates it and ``hear-gear embed --variant <name>``
    embeds with it (in the process that registered it).
    """
    if variant.name in _VARIANTS and not overwrite:
        raise ValueError(f"variant {variant.name!r} is already registered; pass overwrite=True to replace it")
    _VARIANTS[variant.name] = variant
    return variant


def get_variant(name: str) -> VariantConfig:
    """The registered variant called ``name``, or the variant that spec ``name`` describes
    (``passt[levels=L+M,rf=160+640,hop=5]``, :func:`~hear_gear_embed.variant_spec.parse_spec`).

    Raises:
        KeyError: unknown name, with the closest registered names.
        ValueError: a spec with a bad key or value, naming it and what is allowed.
    """
    _load_plugins()
    if name in _VARIANTS:
        return _VARIANTS[name]
    if is_spec(name):
        return parse_spec(name)
    raise KeyError(unknown_name("variant", name, list_variants()))


def is_variant(name: str) -> bool:
    """Whether ``name`` names a variant: a registered one, or one written as a spec (whose keys and values
    :func:`get_variant` checks), never a HEAR module's import name."""
    _load_plugins()
    return name in _VARIANTS or is_spec(name)


def list_variants(pattern: str | None = None, *, include_unpublished: bool = False) -> list[str]:
    """Names of registered variants, in registration order: published ones only unless ``include_unpublished``, and
    only those matching ``pattern`` (a shell-style pattern, ``"passt*"``; ``None``: all).

    A bool as the first argument (``list_variants(True)``, before 0.2 the only one) is read as ``include_unpublished``
    with a ``DeprecationWarning``, until 0.3.
    """
    if isinstance(pattern, bool):
        warnings.warn("list_variants(include_unpublished) is deprecated: pass include_unpublished=... by keyword "
                      "(the first argument is now a name pattern)", DeprecationWarning, stacklevel=2)
        pattern, include_unpublished = None, pattern
    _load_plugins()
    return [n for n, v in _VARIANTS.items()
            if (v.published or include_unpublished) and (pattern is None or fnmatch.fnmatchcase(n, pattern))]


def variants_by_weights() -> dict[str, list[str]]:
    """Published variants by the name of the official weights they load, in registry order (weights that no
    published variant loads are absent)."""
    users: dict[str, list[str]] = {}
    for name in list_variants():
        weights = _VARIANTS[name].weights
        if weights is not None:
            users.setdefault(weights.name, []).append(name)
    return users


def passt_variant(
    name: str,
    weights: str,
    timestamp_blocks: tuple[WindowBlock | FeatureBlock, ...],
    scene_levels: tuple[Level, ...],
    description: str,
    *,
    scene_features: tuple[str, ...] = (),
    reference: str | None = None,
) -> VariantConfig:
    """A variant on official weights, taking its frontend and network geometry from their record."""
    record = get_weights(weights)
    return VariantConfig(
        name=name, description=description, frontend=record.frontend, net=record.net, weights=record,
        timestamp_blocks=timestamp_blocks, scene_levels=scene_levels, scene_features=scene_features, reference=reference,
    )


HANDCRAFTED: tuple[str, ...] = (
    "mfcc", "chroma", "centroid", "bandwidth", "flatness", "rolloff", "contrast", "rms", "zcr", "peaks",
)
"""The diverse handcrafted set of the ``handcrafted`` variants (timbre: MFCC and spectral shape; pitch:
chroma and CQT peaks; energy)."""

_HM: tuple[Level, ...] = ("H", "M")
_SWA = "passt_s_swa_p16_128_ap476"

register_variant(passt_variant(
    "passt_base", _SWA, (WindowBlock(160, _HM),), _HM,
    "PaSST M+H, 160 ms receptive field, STFT hop 10 ms (the HEAR 2021 'CP-JKU PaSST base')",
    reference="hear21passt.base",
))
register_variant(passt_variant(
    "passt_2lvl", _SWA, (WindowBlock(160, _HM), WindowBlock(800, _HM)), _HM,
    "PaSST M+H at 160 ms and 800 ms receptive fields (HEAR 2021 'base2level')",
    reference="hear21passt.base2level",
))
register_variant(passt_variant(
    "passt_2lvlmel", _SWA, (WindowBlock(160, _HM), WindowBlock(640, _HM), WindowBlock(60, ("L",))), _HM,
    "PaSST M+H at 160 ms and 640 ms plus 60 ms of log-mel frames (HEAR 2021 'base2levelmel')",
    reference="hear21passt.base2levelmel",
))
register_variant(passt_variant(
    "passt_lm2rf_hop5", "passt_s_swa_f128_stfthop160_p16_s10_ap473",
    (WindowBlock(160, ("M",)), WindowBlock(640, ("M",)), WindowBlock(30, ("L",))), ("M", "L"),
    "PaSST L+M, 160 ms and 640 ms receptive fields, STFT hop 5 ms (the paper's best setting)",
))
register_variant(passt_variant(
    "passt_lm2rf_hop3", "passt_s_swa_f128_stfthop100_p16_s10_ap473",
    (WindowBlock(160, ("M",)), WindowBlock(640, ("M",)), WindowBlock(18.75, ("L",))), ("M", "L"),
    "PaSST L+M, 160 ms and 640 ms receptive fields, STFT hop 3.125 ms (the paper's 'hop=3 ms', no better than 5 ms there)",
))
register_variant(VariantConfig(
    name="tiny_test",
    description="Tiny random-weight geometry for fast tests (depth 2, width 64); not a real model",
    frontend=MelConfig(),
    net=PasstConfig(embed_dim=64, depth=2, num_heads=4, num_classes=10),
    timestamp_blocks=(WindowBlock(160, _HM), WindowBlock(640, ("M",)), WindowBlock(60, ("L",))),
    scene_levels=("H", "M", "L"),
    published=False,
))
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
    "passt_2lvl_cqt", _SWA, (WindowBlock(160, _HM), WindowBlock(640, _HM), FeatureBlock(60, ("cqt",), "frames")), _HM,
    "PaSST M+H at 160 ms and 640 ms plus 60 ms of log-CQT frames (passt_2lvlmel with CQT as L)",
    scene_features=("cqt",),
))
register_variant(passt_variant(
    "passt_2lvl_handcrafted", _SWA, (WindowBlock(160, _HM), WindowBlock(640, _HM), FeatureBlock(160, HANDCRAFTED)), _HM,
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
