"""Which code paths each published variant runs, so that full-size checks run once per path, not once per variant.

Variants are data: two variants that differ only in window lengths or in the order of their levels run the
same code. What a variant makes the code do is decided by a few of its properties, listed by
:func:`code_paths`: the frontend and network geometry the transformer sees, which levels each window
block and the scene read, how each frame feature is pooled, and whether network levels and frame
features meet in one embedding. :func:`representatives` picks few published variants whose paths,
together, include every path of every published variant.

The full-size contract tests (``tests/hear/test_api.py``) and the validator agreement of the harness
(``tests/harness/run_harness.py``) run on the representatives; the real ``hear-validator`` still runs on
every published variant. A new variant with a new combination becomes a representative by itself.
"""

from __future__ import annotations

from hear_gear_embed import get_variant, list_variants
from hear_gear_embed.embedding.config import FeatureBlock, VariantConfig


def code_paths(variant: VariantConfig) -> frozenset[str]:
    """The code paths ``variant`` runs, as readable labels."""
    paths: set[str] = set()
    if variant.needs_network:
        # The frontend feeding the network and the network geometry: its positional encodings, patch grid and
        # frame counts (and so the shapes of every window's tokens) come from these two.
        paths.add(f"network input {variant.frontend!r} into {variant.net!r}")
    else:
        paths.add("no network: frame features only")
    for block in variant.timestamp_blocks:
        if isinstance(block, FeatureBlock):
            paths.update(f"timestamp {feature} pooled as {block.pooling}" for feature in block.features)
        else:
            paths.add(f"timestamp window block of levels {'+'.join(sorted(block.levels))}")
    if variant.scene_levels:
        paths.add(f"scene levels {'+'.join(sorted(variant.scene_levels))}")
    paths.update(f"scene {feature} mean+std" for feature in variant.scene_features)
    if variant.needs_network and variant.feature_names:
        paths.add("network levels and frame features in one embedding")
    return frozenset(paths)


def representatives(names: list[str] | None = None) -> list[str]:
    """Published variants (or ``names``) whose code paths together cover those of all of them, in registry order.

    Greedy set cover: repeatedly the variant adding the most paths not yet covered (the earlier one in
    the registry on a tie), until every path is covered.
    """
    names = list_variants() if names is None else names
    paths = {name: code_paths(get_variant(name)) for name in names}
    uncovered = frozenset().union(*paths.values())
    chosen: list[str] = []
    while uncovered:
        best = max(names, key=lambda name: len(paths[name] & uncovered))
        chosen.append(best)
        uncovered -= paths[best]
    return [name for name in names if name in chosen]
