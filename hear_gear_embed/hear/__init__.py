"""HEAR 2021 entry points, and any HEAR module behind one handle.

``hear_gear_embed.hear.<variant>`` exists for every registered variant without a file: importing this package
installs a finder that makes the module of any name in the registry on import (as ``hear-validator`` and
``heareval`` import them), holding the functions of :mod:`._api`. :mod:`.loading` imports any other HEAR module,
:mod:`.identity` says what identifies a model's embeddings, :mod:`.handle` holds :class:`~.handle.EmbeddingModel`, the
one handle every workflow takes, and :mod:`.spec` the front door, :func:`~.spec.load`.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

from ..registry import get_variant, is_variant
from ._api import get_scene_embeddings, get_timestamp_embeddings, hear_functions, load_model

_PREFIX = __name__ + "."


class VariantModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``hear_gear_embed.hear.<name>`` for registered variants and fills the module with their HEAR functions."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        name = fullname[len(_PREFIX):] if fullname.startswith(_PREFIX) else ""
        if not name or "." in name or not is_variant(name):
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=f"registered variant {name!r}")

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        name = module.__name__[len(_PREFIX):]
        variant = get_variant(name)
        module.__doc__ = f"HEAR 2021 module of variant ``{name}``: {variant.description}."
        load, scene, timestamp = hear_functions(name)
        # through the namespace: the type checker knows no such attributes on a ModuleType
        vars(module).update(load_model=load, get_scene_embeddings=scene, get_timestamp_embeddings=timestamp)


if not any(isinstance(finder, VariantModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(VariantModuleFinder())

__all__ = ["VariantModuleFinder", "get_scene_embeddings", "get_timestamp_embeddings", "hear_functions", "load_model"]
