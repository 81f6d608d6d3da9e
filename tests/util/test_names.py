"""Lookups by name that fail with the closest names (:mod:`hear_gear_embed.util.names`), and the unit conversion
every configuration shares (:mod:`hear_gear_embed.util.units`)."""

from __future__ import annotations

from hear_gear_embed.util.names import unknown_name
from hear_gear_embed.util.units import ms_to_samples


def test_unknown_name_suggests_close_names_then_lists_all() -> None:
    message = unknown_name("variant", "passt_bas", ["passt_base", "handcrafted"])
    assert message == "unknown variant 'passt_bas'; did you mean passt_base? Known: passt_base, handcrafted"
    far = unknown_name("feature", "zzz", ["rms"])
    assert "did you mean" not in far and far.endswith("Known: rms")


def test_ms_to_samples_rounds_to_the_nearest_sample() -> None:
    assert ms_to_samples(50.0, 32000) == 1600
    assert (ms_to_samples(0.04, 32000), ms_to_samples(0.05, 32000)) == (1, 2)  # 1.28 and 1.6 samples
