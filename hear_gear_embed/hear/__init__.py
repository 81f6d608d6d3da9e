"""HEAR 2021 entry points, and any HEAR module behind one handle.

``hear_gear_embed.hear.<variant>`` exists for every registered variant without a file: importing this package
installs a finder that makes the module of any name in the registry, or any variant spec, on import (as
``hear-validator`` and ``heareval`` import them), holding the functions of :mod:`._api`; :func:`variant_module` makes it
for a spec whose name ``import`` cannot read. :mod:`.loading` imports any other HEAR module,
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
    """Finds ``hear_gear_embed.hear.<name>`` for variants (registered, or specs) and fills the module with their HEAR
    functions."""

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


def variant_module(name: str) -> ModuleType:
    """The HEAR module of variant ``name`` (registered, or a spec: under its canonical name), as importing
    ``hear_gear_embed.hear.<name>`` gives it; also for a spec whose name holds a dot (``hop=3.125``), which ``import``
    would read as a package path.

    Raises:
        KeyError: an unknown name. ValueError: a spec with a bad key or value.
    """
    fullname = _PREFIX + get_variant(name).name
    module = sys.modules.get(fullname)
    if module is None:
        loader = VariantModuleFinder()
        module = importlib.util.module_from_spec(importlib.machinery.ModuleSpec(fullname, loader, origin=f"variant {name!r}"))
        sys.modules[fullname] = module
        loader.exec_module(module)
    return module


if not any(isinstance(finder, VariantModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(VariantModuleFinder())

__all__ = ["VariantModuleFinder", "get_scene_embeddings", "get_timestamp_embeddings", "hear_functions", "load_model",
           "variant_module"]
