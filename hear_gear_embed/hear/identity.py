"""What identifies a model's embeddings: :class:`ModelIdentity`, the one record every output, report and cache stores
(one serialisation, :meth:`ModelIdentity.to_dict`), with the one rule for "the same model"
(:meth:`ModelIdentity.same_model`), and :func:`module_version`, which says which code a HEAR module runs."""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType

logger = logging.getLogger(__name__)

PACKAGE_MODULE_PREFIX = "hear_gear_embed.hear."
"""The import names of this package's variants as HEAR modules start with this."""

IDENTITY_KEYS = ("variant", "module", "module_version", "weights", "weights_sha256", "precision")
"""The keys of :meth:`ModelIdentity.to_dict`, in the order outputs store them."""


@dataclass(frozen=True)
class ModelIdentity:
    """What decides a model's embeddings, as every output records it (strings).

    Attributes:
        module: the HEAR module's import name (``hear_gear_embed.hear.<variant>`` for this package's variants).
        module_version: which code the module runs (:func:`module_version`).
        weights: this package's checkpoint path, ``"random (seed N)"`` or ``"none"`` (a weight-free variant); another
            module's ``model_file_path``, or ``"module default"``.
        weights_sha256: SHA-256 of that checkpoint file (``""`` when there is no file).
        precision: the format of the network's matrix products (``fp32``, ``bf16``, ``fp16``).
    """

    module: str
    module_version: str
    weights: str
    weights_sha256: str
    precision: str = "fp32"

    @property
    def variant(self) -> str:
        """The variant name for this package's modules; another module's import name."""
        return self.module.removeprefix(PACKAGE_MODULE_PREFIX)

    @property
    def is_package_variant(self) -> bool:
        """Whether the module is one of this package's variants."""
        return self.module.startswith(PACKAGE_MODULE_PREFIX)

    @property
    def compared_keys(self) -> tuple[str, ...]:
        """The keys :meth:`same_model` compares: the variant, the precision, and the checkpoint's hash (the same file
        may have moved) or, without a checkpoint file, the weights (random weights go by their seed); for a HEAR module
        from outside this package also its version, which holds a hash of its code where no release identifies it.
        This package's variants compute the same embeddings across its versions unless the changelog says otherwise."""
        keys = ("variant", "weights_sha256" if self.weights_sha256 else "weights", "precision")
        return keys if self.is_package_variant else (*keys, "module_version")

    def differences(self, other: ModelIdentity) -> list[tuple[str, str, str]]:
        """``(key, this value, other value)`` for every key of :attr:`compared_keys` on which ``other`` differs."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [(key, mine[key], theirs[key]) for key in self.compared_keys if mine[key] != theirs[key]]

    def same_model(self, other: ModelIdentity) -> bool:
        """Whether ``other`` records the same model: the one rule of resuming, of the embeddings cache and of the Ray
        workers' check."""
        return not self.differences(other)

    def to_dict(self) -> dict[str, str]:
        """The record as every output stores it: :data:`IDENTITY_KEYS`, in that order."""
        return {"variant": self.variant, **{f.name: str(getattr(self, f.name)) for f in fields(self)}}

    @classmethod
    def from_dict(cls, record: Mapping[str, object]) -> ModelIdentity:
        """The identity stored in ``record`` (an output's metadata, a report, a cache's ``identity.json``), values read
        as strings. Records of earlier versions lack keys: their precision was fp32, and a record without a module is
        one of this package's variants (nothing else was recorded then)."""

        def value(key: str, default: str = "") -> str:
            return str(record[key]) if key in record else default

        module = value("module", PACKAGE_MODULE_PREFIX + value("variant"))
        return cls(module, value("module_version"), value("weights"), value("weights_sha256"), value("precision", "fp32"))


def module_version(module: ModuleType) -> str:
    """Which code ``module`` runs, as identities record it (``module_version``), for this package's variants and any
    other HEAR module alike. The code is that of the module's top-level package (``hearbaseline`` for
    ``hearbaseline.wav2vec2``), and the value is one of:

    * ``"1.2.3"``: the version of the installed distribution whose files (its ``RECORD``) are the Python files
      imported: a release, whose code changes only with its version;
    * ``"1.2.3 (editable, source sha256 0123456789abcdef)"``: an editable install of distribution 1.2.3 (PEP 610: its
      ``direct_url.json`` says ``"editable": true``), whose code changes without its version;
    * ``"1.2.3 (not the installed copy, source sha256 ...)"``: distribution 1.2.3 declares the package, but the files
      imported are not those it installed (another copy earlier on ``sys.path``, a development install without a
      ``RECORD``);
    * ``"no distribution, source sha256 ..."``: no installed distribution declares it (a module on ``PYTHONPATH``).

    The source hash is the first 16 hex digits of the SHA-256 over every ``.py`` file of the top-level package (or
    the single file of a top-level module), in the order of their paths relative to the folder holding it, each
    path hashed with its content: the same code anywhere has the same hash, and an edit, an added or a removed
    ``.py`` file gives another. Compiled extensions and data files are not hashed. It reads ``no source files``
    where the module has no ``.py`` file (made in memory, or compiled only).

    The cost is one scan of the installed distributions' names and, where the source is hashed, one read of its
    ``.py`` files (measured in the concepts page of the documentation).
    """
    started = time.perf_counter()
    top_name = module.__name__.partition(".")[0]
    top = sys.modules.get(top_name, module if module.__name__ == top_name else None)
    files = _source_files(top) if top is not None else []
    dists = _distributions(top_name)
    installed = next((d for d in dists if files and _installs(d, files)), None)
    if installed is not None:
        version = installed.version  # a release: its version says which code it is, nothing to read
    else:
        source = f"source sha256 {_source_sha256(files)}" if files else "no source files"
        editable = next((d for d in dists if _is_editable(d)), None)
        if editable is not None:
            version = f"{editable.version} (editable, {source})"
        elif dists:
            version = f"{dists[0].version} (not the installed copy, {source})"
        else:
            version = f"no distribution, {source}"
    logger.debug("%s: module_version %r from %d source files in %.3f s", module.__name__, version, len(files),
                 time.perf_counter() - started)
    return version


def _distributions(top: str) -> list[importlib.metadata.Distribution]:
    """The installed distributions that declare the top-level module ``top``, each once, in ``sys.path`` order."""
    names = dict.fromkeys(importlib.metadata.packages_distributions().get(top, []))
    return [dist for name in names for dist in importlib.metadata.distributions(name=name)]


def _source_files(top: ModuleType) -> list[tuple[str, Path]]:
    """Every ``.py`` file of top-level module ``top`` as ``(path relative to the folder holding it, path)``, in a
    deterministic order: each folder of the package (several for a namespace package) walked with its entries sorted."""
    folders = [Path(folder) for folder in getattr(top, "__path__", [])]
    if not folders:
        file = getattr(top, "__file__", None)
        return [(Path(file).name, Path(file))] if file and file.endswith(".py") and Path(file).is_file() else []
    found = []
    for root in folders:
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
            here = Path(folder)
            found += [((here / n).relative_to(root.parent).as_posix(), here / n) for n in sorted(names) if n.endswith(".py")]
    return found


def _source_sha256(files: list[tuple[str, Path]]) -> str:
    """The first 16 hex digits of the SHA-256 of ``files`` (:func:`_source_files`): each relative path, then its
    size and content (a file that cannot be read counts as such: it cannot be imported either)."""
    digest = hashlib.sha256()
    for relative, path in files:
        try:
            data = path.read_bytes()
        except OSError:
            digest.update(f"{relative}\0unreadable\0".encode())
            continue
        digest.update(f"{relative}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:16]


def _installs(dist: importlib.metadata.Distribution, files: list[tuple[str, Path]]) -> bool:
    """Whether every one of ``files`` is a file that ``dist`` installed (listed in its ``RECORD``)."""
    record = dist.read_text("RECORD")
    if not record:
        return False
    listed = {os.path.realpath(str(dist.locate_file(row[0]))) for row in csv.reader(record.splitlines())
              if row and row[0].endswith(".py")}
    return all(os.path.realpath(path) in listed for _, path in files)


def _is_editable(dist: importlib.metadata.Distribution) -> bool:
    """Whether ``dist`` is an editable install (PEP 610 ``direct_url.json``)."""
    try:
        url = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return False
    return isinstance(url, dict) and isinstance(url.get("dir_info"), dict) and url["dir_info"].get("editable") is True
