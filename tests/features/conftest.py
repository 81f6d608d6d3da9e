"""Fixtures of the descriptor tests: the shared test signals and their STFT magnitude (see :mod:`.signals`)."""

from __future__ import annotations

import pytest
import torch

from .signals import magnitude, signals


@pytest.fixture(scope="session")
def audio() -> torch.Tensor:
    return signals()


@pytest.fixture(scope="session")
def mag(audio: torch.Tensor) -> torch.Tensor:
    return magnitude(audio)
