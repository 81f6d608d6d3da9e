"""What the corpus tests watch or break, one helper each: the shapes of the model's calls, the outputs the resume check
opens, and a disk too full for the run's report."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch

from hear_gear_embed.hear.handle import EmbeddingModel
from hear_gear_embed.io import report
from hear_gear_embed.io import resume as resume_module


def scene_call_shapes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """The shapes of the audio of every ``EmbeddingModel.scene_embeddings`` call from now on."""
    shapes: list[tuple[int, ...]] = []
    original = EmbeddingModel.scene_embeddings

    def spy(self: EmbeddingModel, audio: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(audio.shape))
        return original(self, audio)

    monkeypatch.setattr(EmbeddingModel, "scene_embeddings", spy)
    return shapes


def opened_outputs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the outputs the resume check opens from now on."""
    opened: list[str] = []
    original = resume_module._saved_metadata

    def spy(output: Path) -> object:
        opened.append(output.name.removesuffix(".npz"))
        return original(output)

    monkeypatch.setattr(resume_module, "_saved_metadata", spy)
    return opened


def report_disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the run's report (``embed-report.json``) cannot be written (no space left); everything else can."""
    original = report.write_atomic

    def disk_full(path: Path, data: object) -> None:
        if path.name == report.REPORT_NAME:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(path, data)  # type: ignore[arg-type]

    monkeypatch.setattr(report, "write_atomic", disk_full)
