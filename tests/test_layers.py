"""The package's import rule: every import, also inside functions, points down the layers; none points up or
sideways between subpackages of one layer, and the pure-data modules never import torch at module level."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hear_gear_embed

ROOT = Path(hear_gear_embed.__file__).parent
LAYERS = {
    "_version": 0, "util": 0, "frontends": 1, "model": 2, "features": 3, "embedding": 4, "variant_spec": 5, "registry": 6,
    "diverse": 6, "hear": 7, "evaluation": 8, "io": 8, "training": 9, "cli": 10, "__main__": 11, "__init__": 11,
}
"""Layer of each top-level module or subpackage: a module may import from its own unit or lower layers only."""

PURE = ["frontends/config.py", "model/config.py", "model/weights.py", "features/catalogue.py", "features/config.py",
        "embedding/config.py", "variant_spec.py", "registry.py", "util/units.py", "util/names.py", "util/chunking.py",
        "util/lazy.py", "util/precision.py", "training/config.py", "diverse/config.py"]
"""Configuration and registry modules: read by ``hear-gear list`` and ``--help``, which must not import torch."""


def _unit(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return parts[0]


def _imported_units(path: Path) -> list[tuple[int, str]]:
    """``(line, unit)`` of every import of this package in ``path`` (absolute or relative, anywhere in the file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(ROOT).parent.parts
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)]) if node.level > 1 else list(package)
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # ``from . import x`` at the root, or ``from .. import x``
                    target = [alias.name for alias in node.names][:1]
            elif node.module and node.module.split(".")[0] == "hear_gear_embed":
                target = node.module.split(".")[1:] or [alias.name for alias in node.names][:1]
            else:
                continue
            found.append((node.lineno, target[0]))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "hear_gear_embed" and len(parts) > 1:
                    found.append((node.lineno, parts[1]))
    return found


MODULES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path: Path) -> None:
    unit = _unit(path)
    assert unit in LAYERS, f"{unit} has no layer in LAYERS: add it"
    bad = [
        f"line {line}: {unit} (layer {LAYERS[unit]}) imports {target} (layer {LAYERS.get(target)})"
        for line, target in _imported_units(path)
        if target != unit and LAYERS.get(target, 99) >= LAYERS[unit]
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_do_not_import_torch_at_module_level(name: str) -> None:
    tree = ast.parse((ROOT / name).read_text(encoding="utf-8"))
    heavy = {"torch", "numpy", "nnAudio"}
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in top if isinstance(n, ast.ImportFrom) and n.module and not n.level]
    assert not {m.split(".")[0] for m in names} & heavy
