"""Import any HEAR 2021 module and load its model: this package's variants (``handcrafted`` is short for
``hear_gear_embed.hear.handcrafted``) and any importable module with the HEAR API (``load_model(model_file_path)``
returning a ``torch.nn.Module`` with ``sample_rate``, ``scene_embedding_size`` and ``timestamp_embedding_size``,
``get_scene_embeddings(audio, model)``, ``get_timestamp_embeddings(audio, model)``). A module that cannot be imported
or whose ``load_model`` raises is a :class:`ModuleLoadError`; :func:`check_output` checks what a module returns."""

from __future__ import annotations

import difflib
import importlib
import inspect
import traceback
from types import ModuleType

import torch

from ..model.checkpoint import CheckpointError
from ..model.hub import ChecksumMismatchError, WeightsUnavailableError
from ..registry import is_variant, list_variants
from ..util.device import DeviceUnavailableError
from ..util.precision import Precision, PrecisionUnsupportedError, check_precision_name

API = ("load_model", "get_scene_embeddings", "get_timestamp_embeddings")
"""The functions of a HEAR module."""

MODEL_ATTRIBUTES = ("sample_rate", "scene_embedding_size", "timestamp_embedding_size")
"""The attributes of a HEAR model."""

_OWN_ERRORS = (WeightsUnavailableError, ChecksumMismatchError, CheckpointError, DeviceUnavailableError,
               PrecisionUnsupportedError)
"""This package's errors that :func:`load_module_model` lets through unchanged: they name their problem already, and
the commands add hints of their own for them (where to put weights, which devices and precisions there are)."""


class ModuleLoadError(ValueError):
    """A HEAR module cannot be imported, is not a HEAR module, or its ``load_model`` raised. The message names the
    module, the call, the exception and where it was raised (``file:line``); the original exception is chained
    (``__cause__``). A ``ValueError``, so that the commands report it as a usage error (exit status 2)."""


PACKAGE_MODULES = ("diverse",)
"""This package's HEAR modules that are no variant (their models come from a checkpoint): ``diverse`` is short for
``hear_gear_embed.hear.diverse``."""


def resolve_module_name(name: str) -> str:
    """The import name of ``name``: a registered variant, or one of :data:`PACKAGE_MODULES`, maps to
    ``hear_gear_embed.hear.<name>``."""
    if is_variant(name) or name in PACKAGE_MODULES:
        return f"hear_gear_embed.hear.{name}"
    return name


def import_hear_module(name: str) -> ModuleType:
    """Import the HEAR module ``name`` (a registered variant or an import name) and check that it has the HEAR API.

    Raises:
        ModuleLoadError: it cannot be imported (whatever it raised: an ``ImportError``, a ``SyntaxError``, an exception
            of its top level), or lacks part of the HEAR API. A name that is no module but close to a variant's name
            says so.
    """
    import_name = resolve_module_name(name)
    try:
        module = importlib.import_module(import_name)
    except Exception as err:  # a syntax error or whatever the module's top level raises, not only an ImportError
        close = difflib.get_close_matches(import_name, list_variants(), n=3) if "." not in import_name else []
        hint = f"; nor is it a variant: did you mean {', '.join(close)}?" if close else ""
        raise ModuleLoadError(f"cannot import HEAR module {import_name!r}: {_described(err)}{hint}") from err
    missing = [fn for fn in API if not callable(getattr(module, fn, None))]
    if missing:
        raise ModuleLoadError(f"{import_name!r} is not a HEAR module: it lacks {', '.join(missing)}")
    return module


def load_module_model(module: ModuleType, model_path: str = "", *, precision: Precision = "fp32") -> torch.nn.Module:
    """``module.load_model(model_path)`` (``load_model()`` when empty), checked, in eval mode.

    Args:
        module: a HEAR module (:func:`import_hear_module`).
        model_path: checkpoint passed to ``load_model``; ``""`` for the module's default.
        precision: passed to ``load_model`` as ``precision=`` unless ``"fp32"`` (this package's modules take it; a
            module whose ``load_model`` does not is refused anything but fp32).

    Raises:
        ModuleLoadError: ``load_model`` raised, or its model is not a ``torch.nn.Module`` with the HEAR attributes.
        ValueError: unknown precision, or one other than fp32 for a ``load_model`` that takes no ``precision``.
        PrecisionUnsupportedError, CheckpointError, WeightsUnavailableError, ChecksumMismatchError,
            DeviceUnavailableError: raised by this package's ``load_model``, unchanged.
    """
    check_precision_name(precision)
    name = module.__name__
    args = [model_path] if model_path else []
    options: dict[str, str] = {}
    if precision != "fp32":
        if "precision" not in inspect.signature(module.load_model).parameters:
            raise ValueError(f"{name}.load_model takes no precision argument: it cannot run in {precision}")
        options["precision"] = precision
    try:
        model = module.load_model(*args, **options)
    except _OWN_ERRORS:
        raise
    except Exception as err:  # the module's own failure, whatever it is: a usage error that names it
        call = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in options.items())])
        raise ModuleLoadError(f"HEAR module {name!r} failed to load: load_model({call}) raised {_described(err)}") from err
    if not isinstance(model, torch.nn.Module):
        raise ModuleLoadError(f"{name}.load_model returned {type(model).__name__}, not a torch.nn.Module")
    absent = [a for a in MODEL_ATTRIBUTES if not hasattr(model, a)]
    if absent:
        raise ModuleLoadError(f"the model of {name!r} lacks the HEAR attributes {', '.join(absent)}")
    return model.eval()


def _described(err: BaseException) -> str:
    """``Type: message (at file:line)``, where ``file:line`` is where ``err`` was raised: the line of a syntax error,
    else the innermost frame outside the import machinery and this module (none for a module that is not found)."""
    text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    if isinstance(err, SyntaxError) and err.filename:  # its message ends with the place, said below
        return f"{type(err).__name__}: {err.msg} (at {err.filename}:{err.lineno})"
    frames = [frame for frame in traceback.extract_tb(err.__traceback__)
              if frame.filename not in (__file__, importlib.__file__) and not frame.filename.startswith("<frozen ")]
    return f"{text} (at {frames[-1].filename}:{frames[-1].lineno})" if frames else text


def check_output(values: object, expected: tuple[int, ...], what: str, name: str) -> torch.Tensor:
    """``values``, checked to be a finite tensor of shape ``expected`` (``-1``: any size) returned by ``name.what``.

    Raises:
        ValueError: not a tensor, another shape, or NaN or Inf values; the message names the module and the call.
    """
    if not isinstance(values, torch.Tensor):
        raise ValueError(f"{name}.{what} returned {type(values).__name__}, not a torch.Tensor")
    if values.ndim != len(expected) or any(e >= 0 and s != e for s, e in zip(values.shape, expected, strict=True)):
        raise ValueError(f"{name}.{what} returned shape {tuple(values.shape)}, expected {expected} (-1: any)")
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name}.{what} returned NaN or Inf")
    return values
