"""A stand-in for another package's variant plugin: importing it registers one variant (see tests/test_registry.py)."""

import dataclasses

from hear_gear_embed.registry import get_variant, register_variant

register_variant(dataclasses.replace(get_variant("tiny_test"), name="plugin_variant", description="from a plugin",
                                     published=True))
