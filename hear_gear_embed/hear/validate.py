"""The checks of ``hear-validator`` 2021.0.6, in process and without TensorFlow.

Same inputs (uniform white noise of 1.07 s, 1.98 s and 4.0 s for timestamps, 2.74 s for scenes),
same failure conditions and warnings, collected into a report instead of raised one at a time.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np
import torch

ACCEPTABLE_SAMPLE_RATES = (16000, 22050, 32000, 44100, 48000)
TIMESTAMP_LENGTHS_S = (1.07, 1.98, 4.0)
SCENE_LENGTH_S = 2.74


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_module`: ``errors`` fail validation, ``warnings`` do not."""

    module: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no check failed."""
        return not self.errors


def validate_module(
    module: str | ModuleType, model_file_path: str = "", device: str | None = None, seed: int = 0
) -> ValidationReport:
    """Run the HEAR validator's checks on a HEAR module.

    Args:
        module: module name or module object.
        model_file_path: passed to ``load_model`` when not empty.
        device: torch device for the model and the test audio (default CUDA when available).
        seed: seed of the white-noise test audio.
    """
    name = module if isinstance(module, str) else module.__name__
    report = ValidationReport(name)
    mod = importlib.import_module(module) if isinstance(module, str) else module
    for fn in ("load_model", "get_timestamp_embeddings", "get_scene_embeddings"):
        if not hasattr(mod, fn):
            report.errors.append(f"the module must define {fn}")
    if report.errors:
        return report
    model = mod.load_model(model_file_path) if model_file_path else mod.load_model()
    if not isinstance(model, torch.nn.Module):
        report.errors.append(f"load_model returned {type(model).__name__}, not a torch.nn.Module")
        return report
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    rate = getattr(model, "sample_rate", None)
    if rate not in ACCEPTABLE_SAMPLE_RATES:
        report.errors.append(f"sample_rate {rate!r} is not one of {ACCEPTABLE_SAMPLE_RATES}")
        return report
    for attr in ("scene_embedding_size", "timestamp_embedding_size"):
        if not isinstance(getattr(model, attr, None), int):
            report.errors.append(f"model.{attr} must be an int, got {getattr(model, attr, None)!r}")
    if report.errors:
        return report
    generator = torch.Generator().manual_seed(seed)
    for length in TIMESTAMP_LENGTHS_S:
        audio = (torch.rand((2, int(length * rate)), generator=generator) * 2 - 1).to(device)
        _check_timestamps(mod, model, audio, length, report)
    audio = (torch.rand((4, int(SCENE_LENGTH_S * rate)), generator=generator) * 2 - 1).to(device)
    _check_scene(mod, model, audio, report)
    return report


def _check_timestamps(mod: ModuleType, model: torch.nn.Module, audio: torch.Tensor, length: float,
                      report: ValidationReport) -> None:
    embeddings, timestamps = mod.get_timestamp_embeddings(audio, model)
    where = f"timestamps of {length} s"
    if embeddings.dtype != torch.float32:
        report.errors.append(f"{where}: embeddings have dtype {embeddings.dtype}, not float32")
    emb, ts = embeddings.detach().cpu().numpy(), timestamps.detach().cpu().numpy()
    report.info.append(f"{where}: embeddings {emb.shape}, timestamps {ts.shape}")
    if emb.ndim != 3 or ts.ndim != 2:
        report.errors.append(f"{where}: expected 3-D embeddings and 2-D timestamps, got {emb.shape} and {ts.shape}")
        return
    if emb.shape[0] != audio.shape[0]:
        report.errors.append(f"{where}: {audio.shape[0]} sounds in, {emb.shape[0]} out")
    if emb.shape[:2] != ts.shape:
        report.errors.append(f"{where}: timestamps shape {ts.shape} does not match embeddings {emb.shape[:2]}")
    if emb.shape[2] != model.timestamp_embedding_size:
        report.errors.append(f"{where}: size {emb.shape[2]} != timestamp_embedding_size {model.timestamp_embedding_size}")
    if ts.shape[1] <= 1:
        return
    diff = np.diff(ts)
    avg = float(np.mean(diff))
    if float(np.max(diff)) > 50.0:
        report.warnings.append(f"{where}: interval between timestamps above 50 ms")
    deviation = float(np.max(np.abs(diff - avg)))
    if deviation > 1:
        report.errors.append(f"{where}: timestamps deviate {deviation} ms from a regular interval")
    first, last = float(np.min(ts)), float(np.max(ts))
    if first > avg:
        report.warnings.append(f"{where}: timestamps begin at {first} ms")
    if last < 1000 * length - avg or last < 1000 * length - 50:
        report.warnings.append(f"{where}: timestamps end at {last} ms, before the end of the audio")
    if last > 1000 * length:
        report.errors.append(f"{where}: timestamps end at {last} ms, beyond the {1000 * length} ms of audio")


def _check_scene(mod: ModuleType, model: torch.nn.Module, audio: torch.Tensor, report: ValidationReport) -> None:
    emb = mod.get_scene_embeddings(audio, model).detach().cpu().numpy()
    where = f"scene of {SCENE_LENGTH_S} s"
    report.info.append(f"{where}: embeddings {emb.shape}")
    if emb.dtype != np.float32:
        report.errors.append(f"{where}: dtype {emb.dtype}, not float32")
    if emb.ndim != 2 or emb.shape[0] != audio.shape[0]:
        report.errors.append(f"{where}: expected shape ({audio.shape[0]}, D), got {emb.shape}")
    elif emb.shape[1] != model.scene_embedding_size:
        report.errors.append(f"{where}: size {emb.shape[1]} != scene_embedding_size {model.scene_embedding_size}")
