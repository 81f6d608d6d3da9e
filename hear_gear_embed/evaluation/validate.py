"""The checks of ``hear-validator`` 2021.0.6, in process and without TensorFlow.

:func:`validate_module` runs the checks of ``hearvalidator.validate.ValidateModel`` on a PyTorch HEAR module, in
the same order and with the same failure conditions and warnings, plus one of its own (check 7: non-finite
embeddings or timestamps fail), and collects them into a :class:`ValidationReport` (printable with
:meth:`ValidationReport.format`) instead of stopping at the first failure. A failed check ends its step; an
exception raised by the module under test becomes a failed check naming the step; an import failure is raised.

The checks, and where this validator deliberately differs from ``hear-validator``: docs/harness.md ("The
in-process validator agrees with ``hear-validator``").
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import cast

import numpy as np
import torch

from ..util.device import resolve_device

log = logging.getLogger(__name__)

ACCEPTABLE_SAMPLE_RATES = (16000, 22050, 32000, 44100, 48000)
TIMESTAMP_LENGTHS_S = (1.07, 1.98, 4.0)
TIMESTAMP_BATCH = 2
SCENE_LENGTH_S = 2.74
SCENE_BATCH = 4
API_FUNCTIONS = ("load_model", "get_timestamp_embeddings", "get_scene_embeddings")
MAX_SUGGESTED_HOP_MS = 50.0
MAX_HOP_DEVIATION_MS = 1.0
TIMESTAMP_STEPS = tuple(f"get_timestamp_embeddings, {TIMESTAMP_BATCH} x {length} s" for length in TIMESTAMP_LENGTHS_S)
SCENE_STEP = f"get_scene_embeddings, {SCENE_BATCH} x {SCENE_LENGTH_S} s"
DRIFT_NOTE = (
    "as hear-validator warns, timestamps that drift over long audio (e.g. a hop of 1102.5 samples rounded "
    "before the loop) cannot be detected on these short clips"
)


class _Failed(Exception):
    """A failed check: ends its step, as ``hearvalidator.ModelError`` ends the real validation."""


@dataclass
class Check:
    """One step of the validation: what it saw, its errors and warnings, or why it was skipped."""

    name: str
    seen: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: str = ""

    @property
    def status(self) -> str:
        """``SKIP``, ``FAIL``, ``WARN`` (passed with warnings) or ``PASS``."""
        if self.skipped:
            return "SKIP"
        return "FAIL" if self.errors else "WARN" if self.warnings else "PASS"


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_module`: ``errors`` fail validation, ``warnings`` do not.

    ``errors``, ``warnings`` and ``info`` (the shapes and values seen) hold ``"step: message"`` lines;
    ``checks`` holds the same per step, for :meth:`format`.
    """

    module: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    model_file_path: str = ""
    device: str = ""

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return not self.errors

    def format(self) -> str:
        """The report as lines: a header, each step with its status and what it saw, the verdict."""
        model = f"load_model({self.model_file_path!r})" if self.model_file_path else "load_model()"
        lines = [f"HEAR 2021 validation of {self.module} ({model}, device {self.device or 'default'})"]
        for check in self.checks:
            lines.append(f"{check.status:<4}  {check.name}")
            lines += [f"        {item}" for item in check.seen]
            lines += [f"        error: {item}" for item in check.errors]
            lines += [f"        warning: {item}" for item in check.warnings]
            if check.skipped:
                lines.append(f"        {check.skipped}")
        lines += [f"note: {note}" for note in self.notes]
        counts = f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        lines.append(f"verdict: {'PASS' if self.passed else 'FAIL'} ({counts})")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


class _Step:
    """Context manager for one step: records what is seen, warnings, and failures (any exception)."""

    def __init__(self, report: ValidationReport, name: str) -> None:
        self.report = report
        self.check = Check(name)
        report.checks.append(self.check)

    @property
    def failed(self) -> bool:
        return bool(self.check.errors)

    def see(self, message: str) -> None:
        self.check.seen.append(message)
        self.report.info.append(f"{self.check.name}: {message}")

    def warn(self, message: str) -> None:
        self.check.warnings.append(message)
        self.report.warnings.append(f"{self.check.name}: {message}")

    def fail(self, message: str) -> None:
        self.check.errors.append(message)
        self.report.errors.append(f"{self.check.name}: {message}")

    def __enter__(self) -> _Step:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> bool:
        if exc is None or not isinstance(exc, Exception):
            log.debug("%s: %s", self.check.name, self.check.status)
            return False
        if isinstance(exc, _Failed):
            self.fail(str(exc))
        else:
            log.debug("%s raised", self.check.name, exc_info=(type(exc), exc, tb))
            self.fail(f"raised {type(exc).__name__}: {exc}{_where(tb)}")
        log.debug("%s: FAIL", self.check.name)
        return True


def _where(tb: TracebackType | None) -> str:
    """`` (at file.py:line)`` of the innermost frame of a traceback."""
    frames = traceback.extract_tb(tb)
    return f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""


def _skip(report: ValidationReport, names: tuple[str, ...], reason: str) -> None:
    report.checks += [Check(name, skipped=reason) for name in names]


def _import(module: str | ModuleType) -> ModuleType:
    if isinstance(module, ModuleType):
        return module
    try:
        return importlib.import_module(module)
    except ImportError:
        raise
    except Exception as exc:
        raise ImportError(f"{type(exc).__name__}: {exc}", name=module) from exc


def validate_module(
    module: str | ModuleType, model_file_path: str = "", device: str | None = None, seed: int = 0
) -> ValidationReport:
    """Run the HEAR validator's checks on a HEAR module (the checks: docs/harness.md).

    Args:
        module: module name or module object.
        model_file_path: passed to ``load_model`` when not empty.
        device: torch device for the model and the test audio (default CUDA when available, else CPU).
        seed: seed of the white-noise test audio.

    Returns:
        The report; ``report.passed`` is the verdict of ``hear-validator`` on the same module, except that non-finite
        embeddings or timestamps fail here.

    Raises:
        ImportError: the module cannot be imported (any exception raised while importing it is chained).
    """
    mod = _import(module)
    device = str(resolve_device(device))
    report = ValidationReport(mod.__name__, model_file_path=model_file_path, device=device)

    with _Step(report, "module API") as step:
        present = [fn for fn in API_FUNCTIONS if hasattr(mod, fn)]
        step.see(f"defines {', '.join(present) or 'none of the API functions'}")
        missing = [fn for fn in API_FUNCTIONS if fn not in present]
        if missing:
            raise _Failed(f"the module must define {', '.join(missing)}")
    model = _load_model(report, mod, model_file_path, device) if "load_model" in present else None
    if model is None:
        _skip(report, ("sample_rate", "embedding sizes", *TIMESTAMP_STEPS, SCENE_STEP), "not run: no model")
        return report
    failed = _check_attributes(report, model)
    if failed:
        _skip(report, (*TIMESTAMP_STEPS, SCENE_STEP), f"not run: {failed} failed")
        return report

    # torch types any module attribute as Tensor | Module; _check_attributes found one of ACCEPTABLE_SAMPLE_RATES
    sample_rate = cast(int, model.sample_rate)
    generator = torch.Generator().manual_seed(seed)
    if "get_timestamp_embeddings" in present:
        for length, name in zip(TIMESTAMP_LENGTHS_S, TIMESTAMP_STEPS, strict=True):
            with _Step(report, name) as step:
                audio = _noise(TIMESTAMP_BATCH, length, sample_rate, generator, device)
                _check_timestamps(step, mod, model, audio, length)
        report.notes.append(DRIFT_NOTE)
    else:
        _skip(report, TIMESTAMP_STEPS, "not run: get_timestamp_embeddings is not defined")
    if "get_scene_embeddings" in present:
        with _Step(report, SCENE_STEP) as step:
            audio = _noise(SCENE_BATCH, SCENE_LENGTH_S, sample_rate, generator, device)
            _check_scene(step, mod, model, audio)
    else:
        _skip(report, (SCENE_STEP,), "not run: get_scene_embeddings is not defined")
    return report


def _load_model(report: ValidationReport, mod: ModuleType, model_file_path: str, device: str) -> torch.nn.Module | None:
    """``load_model`` as the real validator calls it, moved to ``device``; ``None`` when that failed."""
    with _Step(report, f"load_model({model_file_path!r})" if model_file_path else "load_model()") as step:
        model = mod.load_model(model_file_path) if model_file_path else mod.load_model()
        tf = sys.modules.get("tensorflow")
        if tf is not None and isinstance(model, tf.Module):
            raise _Failed("returned a TensorFlow model: only PyTorch models are validated in process, run hear-validator")
        if not isinstance(model, torch.nn.Module):
            raise _Failed(f"returned {type(model).__module__}.{type(model).__qualname__}, not a torch.nn.Module")
        model.to(device)
        step.see(f"{type(model).__qualname__} (torch.nn.Module) on {device}")
    return None if step.failed else model


def _check_attributes(report: ValidationReport, model: torch.nn.Module) -> str:
    """The sample rate and embedding size steps; the name of the one that failed, else ``""``."""
    with _Step(report, "sample_rate") as step:
        if not hasattr(model, "sample_rate"):
            raise _Failed("the model must have a sample_rate attribute (Hz)")
        step.see(f"{model.sample_rate!r} Hz")
        if model.sample_rate not in ACCEPTABLE_SAMPLE_RATES:
            raise _Failed(f"{model.sample_rate!r} Hz is not one of {ACCEPTABLE_SAMPLE_RATES} Hz")
    if step.failed:
        _skip(report, ("embedding sizes",), "not run: sample_rate failed")
        return "sample_rate"
    with _Step(report, "embedding sizes") as step:
        for attr in ("scene_embedding_size", "timestamp_embedding_size"):
            if not hasattr(model, attr):
                raise _Failed(f"the model must have a {attr} attribute")
            value = getattr(model, attr)
            step.see(f"{attr} = {value!r}")
            if not isinstance(value, int):
                raise _Failed(f"{attr} must be an int, got {type(value).__name__} {value!r}")
    return "embedding sizes" if step.failed else ""


def _noise(n_sounds: int, seconds: float, rate: float, generator: torch.Generator, device: str) -> torch.Tensor:
    """Uniform white noise in [-1, 1), (n_sounds, int(seconds * rate)) float32 on ``device``."""
    return (torch.rand((n_sounds, int(seconds * rate)), generator=generator) * 2 - 1).to(device)


def _tensor(value: object, what: str, step: _Step) -> torch.Tensor:
    """``value`` if it is a tensor (recording its shape and dtype), else a failure."""
    if not isinstance(value, torch.Tensor):
        raise _Failed(f"{what} must be a torch.Tensor, got {type(value).__module__}.{type(value).__qualname__}")
    step.see(f"{what} {tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}")
    return value


def _float32(embeddings: torch.Tensor) -> np.ndarray:
    """The embeddings as a numpy array, a failure unless they are float32."""
    if embeddings.dtype != torch.float32:
        raise _Failed(f"embeddings must be torch.float32, got {embeddings.dtype}")
    return embeddings.detach().cpu().numpy()


def _check_timestamps(step: _Step, mod: ModuleType, model: torch.nn.Module, audio: torch.Tensor, length: float) -> None:
    """One length of the real ``_check_timestamp_embeddings``; ``audio`` is (2, n_samples) on the device."""
    step.see(f"audio {tuple(audio.shape)}")
    output = mod.get_timestamp_embeddings(audio, model)
    try:
        embeddings, timestamps = output
    except (TypeError, ValueError) as exc:
        raise _Failed(f"must return (embeddings, timestamps), got {type(output).__qualname__}") from exc
    emb = _float32(_tensor(embeddings, "embeddings", step))
    timestamps = _tensor(timestamps, "timestamps", step)
    try:
        ts = timestamps.detach().cpu().numpy()
    except TypeError as exc:
        raise _Failed(f"timestamps of dtype {timestamps.dtype} cannot be converted to numpy: {exc}") from exc
    if emb.ndim != 3:
        raise _Failed(f"embeddings must have 3 dimensions (sounds, timestamps, size), got shape {emb.shape}")
    if ts.ndim != 2:
        raise _Failed(f"timestamps must have 2 dimensions (sounds, timestamps), got shape {ts.shape}")
    if emb.shape[0] != audio.shape[0]:
        raise _Failed(f"{audio.shape[0]} sounds in, {emb.shape[0]} embeddings out")
    if emb.shape[:2] != ts.shape:
        raise _Failed(f"timestamps shape {ts.shape} does not match the embeddings' {emb.shape[:2]}")
    if emb.shape[2] != model.timestamp_embedding_size:
        raise _Failed(f"embedding size {emb.shape[2]} != timestamp_embedding_size {model.timestamp_embedding_size}")
    _check_finite(emb, "embeddings")
    _check_finite(ts, "timestamps")
    if ts.shape[1] <= 1:
        return
    # numpy on the returned dtype, as the real validator computes it, so that borderline values agree.
    diff = np.diff(ts)
    mean_step, max_step = np.mean(diff), np.max(diff)
    step.see(f"step between timestamps {mean_step:.10g} ms on average, {max_step:.10g} ms at most")
    if max_step > MAX_SUGGESTED_HOP_MS:
        step.warn(f"step between timestamps up to {max_step:.10g} ms: at most 50 ms is suggested (50 ms tolerance of "
                  "music transcription)")
    deviation = np.max(np.abs(diff - mean_step))
    if deviation > MAX_HOP_DEVIATION_MS:
        raise _Failed(f"timestamps must be regular: a step deviates {deviation:.10g} ms (> 1 ms) from the mean step")
    first, last = np.min(ts), np.max(ts)
    duration_ms = 1000 * length
    step.see(f"timestamps {first:.10g} to {last:.10g} ms for {duration_ms:.10g} ms of audio")
    if first > mean_step:
        step.warn(f"timestamps begin at {first:.10g} ms, later than one step ({mean_step:.10g} ms)")
    if last < duration_ms - mean_step or last < duration_ms - MAX_SUGGESTED_HOP_MS:
        step.warn(f"timestamps end at {last:.10g} ms: no embedding for events at the end of the {duration_ms:.10g} ms")
    if last > duration_ms:
        raise _Failed(f"timestamps end at {last:.10g} ms, beyond the {duration_ms:.10g} ms of audio")


def _check_scene(step: _Step, mod: ModuleType, model: torch.nn.Module, audio: torch.Tensor) -> None:
    """The real ``check_scene_embeddings``; ``audio`` is (4, n_samples) on the device."""
    step.see(f"audio {tuple(audio.shape)}")
    emb = _float32(_tensor(mod.get_scene_embeddings(audio, model), "embeddings", step))
    if emb.ndim != 2:
        raise _Failed(f"embeddings must have 2 dimensions (sounds, size), got shape {emb.shape}")
    if emb.shape[0] != audio.shape[0]:
        raise _Failed(f"{audio.shape[0]} sounds in, {emb.shape[0]} embeddings out")
    if emb.shape[1] != model.scene_embedding_size:
        raise _Failed(f"embedding size {emb.shape[1]} != scene_embedding_size {model.scene_embedding_size}")
    _check_finite(emb, "embeddings")


def _check_finite(values: np.ndarray, what: str) -> None:
    """Check 7 (not in ``hear-validator``): a failure naming how many values are NaN and Inf."""
    nan, inf = int(np.isnan(values).sum()), int(np.isinf(values).sum())
    if nan or inf:
        counts = " and ".join(f"{n} {kind}" for n, kind in ((nan, "NaN"), (inf, "Inf")) if n)
        raise _Failed(f"{what} contain {counts} of {values.size} values: this check is stricter than hear-validator "
                      "2021.0.6, which passes them; hear-gear embed and evaluate refuse non-finite outputs")
