"""A HEAR module for the Ray engine's tests: the band energies of :mod:`tests.gear_fake_module`, in a process
that kills itself in the middle of its first batch, as a worker lost to a crash or a pre-empted node would.

The kill happens on the process's second call of ``get_scene_embeddings`` (after the first clips of the batch
are saved), once per test session: only while the file named by ``HGE_TEST_KILL_MARKER`` does not exist,
which the dying process creates.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import Tensor

from .gear_fake_module import BandEnergies, get_timestamp_embeddings, load_model

CALLS = {"scene": 0}

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]


def get_scene_embeddings(audio: Tensor, model: BandEnergies) -> Tensor:
    from .gear_fake_module import get_scene_embeddings as scene

    CALLS["scene"] += 1
    marker = os.environ.get("HGE_TEST_KILL_MARKER")
    if marker and CALLS["scene"] == 2 and not Path(marker).exists():
        Path(marker).touch()
        os._exit(1)
    return scene(audio, model)
