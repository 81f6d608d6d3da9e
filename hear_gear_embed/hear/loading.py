"""Load any HEAR 2021 module: this package's variants (``handcrafted`` is short for
``hear_gear_embed.hear.handcrafted``) and any importable module that follows the HEAR API (e.g.
``hearbaseline``): ``load_model(model_file_path)`` returning a model with ``sample_rate``,
``scene_embedding_size`` and ``timestamp_embedding_size``, ``get_scene_embeddings(audio, model)`` and
``get_timestamp_embeddings(audio, model)``. Every output is checked (type, shape, finite values).

A module that cannot be imported or whose ``load_model`` raises is a :class:`ModuleLoadError`, and what decides a
module's embeddings is its :attr:`HearModel.identity`, whose ``module_version`` (:func:`module_version`) changes
with its code wherever the code is not an installed release.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import importlib.metadata
import inspect
import json
import logging
import os
import sys
import time
import traceback
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType

import torch

from ..embedding.embedder import Embedder
from ..model.checkpoint import CheckpointError
from ..model.hub import ChecksumMismatchError, WeightsUnavailableError, sha256_of
from ..registry import is_variant
from ..util.device import DeviceUnavailableError
from ..util.precision import Precision, PrecisionUnsupportedError, check_precision_name

logger = logging.getLogger(__name__)


_API = ("load_model", "get_scene_embeddings", "get_timestamp_embeddings")

_OWN_ERRORS = (WeightsUnavailableError, ChecksumMismatchError, CheckpointError, DeviceUnavailableError,
               PrecisionUnsupportedError)
"""This package's errors that :func:`load_hear_module` lets through unchanged: they name their problem already, and
the commands add hints of their own for them (where to put weights, which devices and precisions there are)."""


class ModuleLoadError(ValueError):
    """A HEAR module cannot be imported, is not a HEAR module, or its ``load_model`` raised. The message names the
    module, the call, the exception and where it was raised (``file:line``); the original exception is chained
    (``__cause__``). A ``ValueError``, so that the commands report it as a usage error (exit status 2)."""


@dataclass
class HearModel:
    """A loaded HEAR module: its import name, the module, the model and the checkpoint it came from."""

    name: str
    module: ModuleType
    model: torch.nn.Module
    model_path: str

    @property
    def sample_rate(self) -> int:
        """The model's ``sample_rate``, Hz."""
        return _int_attribute(self.model, "sample_rate")

    @property
    def scene_embedding_size(self) -> int:
        """The model's ``scene_embedding_size``."""
        return _int_attribute(self.model, "scene_embedding_size")

    @property
    def timestamp_embedding_size(self) -> int:
        """The model's ``timestamp_embedding_size``."""
        return _int_attribute(self.model, "timestamp_embedding_size")

    @property
    def device(self) -> torch.device:
        """Where the model's parameters (or buffers) live; CPU for a model without any."""
        for tensor in (*self.model.parameters(), *self.model.buffers()):
            return tensor.device
        return torch.device("cpu")

    @property
    def distribution(self) -> tuple[str, str]:
        """``(name, version)`` of the installed distribution that provides the module (``("", "")`` when none
        does, e.g. a module on ``PYTHONPATH``)."""
        for dist in _distributions(self.name.partition(".")[0]):
            return dist.metadata["Name"], dist.version
        return "", ""

    @cached_property
    def _module_version(self) -> str:
        return module_version(self.module)

    @property
    def identity(self) -> dict[str, str]:
        """What decides the module's embeddings, as every output records it:

        * ``module``: the import name;
        * ``module_version``: which code the module runs (:func:`module_version`: the version of its distribution,
          with a hash of its source where that code is not an installed release), computed once per loaded model;
        * ``weights``: this package's checkpoint path, ``"random (seed N)"`` or ``"none"`` (weight-free variant);
          another module's ``model_file_path``, or ``"module default"``;
        * ``weights_sha256``: SHA-256 of that file (``""`` when it is not one);
        * ``precision``: the format of this package's network's matrix products; ``fp32`` for other modules, which
          run as they are.
        """
        if isinstance(self.model, Embedder):
            weights, precision, has_file = self.model.weights_source, self.model.precision, self.model.net is not None
        else:
            weights, precision, has_file = self.model_path or "module default", "fp32", bool(self.model_path)
        sha = sha256_of(weights) if has_file and Path(weights).is_file() else ""
        return {"module": self.name, "module_version": self._module_version, "weights": weights,
                "weights_sha256": sha, "precision": precision}

    def scene_embeddings(self, audio: torch.Tensor) -> torch.Tensor:
        """``get_scene_embeddings(audio, model)``, checked.

        Args:
            audio: ``(n_sounds, n_samples)`` float32 at :attr:`sample_rate`, on :attr:`device`.

        Returns:
            ``(n_sounds, scene_embedding_size)``.

        Raises:
            ValueError: the module returned something else than a finite tensor of that shape.
        """
        out = self.module.get_scene_embeddings(audio, self.model)
        return _check_output(out, (audio.shape[0], self.scene_embedding_size), "get_scene_embeddings", self.name)

    def timestamp_embeddings(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``get_timestamp_embeddings(audio, model)``, checked.

        Args:
            audio: ``(n_sounds, n_samples)`` float32 at :attr:`sample_rate`, on :attr:`device`.

        Returns:
            ``(embeddings, timestamps)``: ``(n_sounds, n_timestamps, timestamp_embedding_size)`` and
            ``(n_sounds, n_timestamps)`` in ms.

        Raises:
            ValueError: the module returned something else than finite tensors of those shapes, or no timestamps.
        """
        emb, stamps = self.module.get_timestamp_embeddings(audio, self.model)
        what = "get_timestamp_embeddings"
        emb = _check_output(emb, (audio.shape[0], -1, self.timestamp_embedding_size), what, self.name)
        stamps = _check_output(stamps, (audio.shape[0], emb.shape[1]), what + " (timestamps)", self.name)
        if emb.shape[1] == 0:
            raise ValueError(f"{self.name}.{what} returned no timestamps for {audio.shape[1]} samples")
        return emb, stamps


def _int_attribute(model: torch.nn.Module, name: str) -> int:
    """``int(model.<name>)`` for a HEAR attribute of a model from any package (torch's stubs type every module
    attribute as ``Tensor | Module``, which plain attributes such as ``sample_rate`` are not)."""
    return int(getattr(model, name))


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

    The cost is one scan of the installed distributions' names (about 0.1 s) and, where the source is hashed, one
    read of its ``.py`` files (this package's: about 70 files, 0.6 MB); 0.1 to 0.2 s in all on a 2-core machine.
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


def resolve_module_name(name: str) -> str:
    """The import name of ``name``: a registered variant maps to ``hear_gear_embed.hear.<variant>``."""
    if is_variant(name):
        return f"hear_gear_embed.hear.{name}"
    return name


def load_hear_module(name: str, model_path: str = "", *, precision: Precision = "fp32") -> HearModel:
    """Import a HEAR module and load its model (``load_model(model_path)``, or ``load_model()`` if empty).

    Args:
        name: a registry variant or an importable HEAR module.
        model_path: checkpoint passed to ``load_model``; ``""`` for the module's default.
        precision: passed to ``load_model`` as ``precision=`` unless ``"fp32"`` (this package's modules take it;
            other HEAR modules are loaded as they are in fp32).

    Raises:
        ModuleLoadError: the module cannot be imported (whatever it raised: an ``ImportError``, a ``SyntaxError``,
            an exception of its top level), lacks part of the HEAR API, its ``load_model`` raised, or its model is not
            a ``torch.nn.Module`` with the HEAR attributes (a ``ValueError``).
        ValueError: unknown precision, or one other than fp32 for a ``load_model`` that takes no ``precision``.
        PrecisionUnsupportedError, CheckpointError, WeightsUnavailableError, ChecksumMismatchError,
            DeviceUnavailableError: raised by this package's ``load_model``, unchanged.
    """
    check_precision_name(precision)
    import_name = resolve_module_name(name)
    try:
        module = importlib.import_module(import_name)
    except Exception as err:  # a syntax error or whatever the module's top level raises, not only an ImportError
        raise ModuleLoadError(f"cannot import HEAR module {import_name!r}: {_described(err)}") from err
    missing = [fn for fn in _API if not callable(getattr(module, fn, None))]
    if missing:
        raise ModuleLoadError(f"{import_name!r} is not a HEAR module: it lacks {', '.join(missing)}")
    args = [model_path] if model_path else []
    options: dict[str, str] = {}
    if precision != "fp32":
        if "precision" not in inspect.signature(module.load_model).parameters:
            raise ValueError(f"{import_name}.load_model takes no precision argument: it cannot run in {precision}")
        options["precision"] = precision
    try:
        model = module.load_model(*args, **options)
    except _OWN_ERRORS:
        raise
    except Exception as err:  # the module's own failure, whatever it is: a usage error that names it
        call = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in options.items())])
        raise ModuleLoadError(f"HEAR module {import_name!r} failed to load: load_model({call}) raised "
                              f"{_described(err)}") from err
    if not isinstance(model, torch.nn.Module):
        raise ModuleLoadError(f"{import_name}.load_model returned {type(model).__name__}, not a torch.nn.Module")
    absent = [a for a in ("sample_rate", "scene_embedding_size", "timestamp_embedding_size") if not hasattr(model, a)]
    if absent:
        raise ModuleLoadError(f"the model of {import_name!r} lacks the HEAR attributes {', '.join(absent)}")
    model.eval()
    return HearModel(import_name, module, model, model_path)


def _described(err: BaseException) -> str:
    """``Type: message (at file:line)``, where ``file:line`` is where ``err`` was raised: the line of a syntax error,
    else the innermost frame outside the import machinery and this module (none for a module that is not found)."""
    text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    if isinstance(err, SyntaxError) and err.filename:  # its message ends with the place, said below
        return f"{type(err).__name__}: {err.msg} (at {err.filename}:{err.lineno})"
    frames = [frame for frame in traceback.extract_tb(err.__traceback__)
              if frame.filename not in (__file__, importlib.__file__) and not frame.filename.startswith("<frozen ")]
    return f"{text} (at {frames[-1].filename}:{frames[-1].lineno})" if frames else text


def _check_output(values: object, expected: tuple[int, ...], what: str, name: str) -> torch.Tensor:
    if not isinstance(values, torch.Tensor):
        raise ValueError(f"{name}.{what} returned {type(values).__name__}, not a torch.Tensor")
    if values.ndim != len(expected) or any(e >= 0 and s != e for s, e in zip(values.shape, expected, strict=True)):
        raise ValueError(f"{name}.{what} returned shape {tuple(values.shape)}, expected {expected} (-1: any)")
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name}.{what} returned NaN or Inf")
    return values


