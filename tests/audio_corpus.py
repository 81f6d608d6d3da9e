"""A folder of mixed audio files (rates, channels, formats) with broken ones, shared by the tests of both corpus
engines (``hear-gear embed`` locally and on Ray)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile


def tone(freq_hz: float, seconds: float, rate: int, amp: float = 0.4) -> np.ndarray:
    """``(n,)`` float64 sine with a few harmonics (so that every handcrafted feature has content)."""
    t = np.arange(int(round(seconds * rate))) / rate
    return amp * sum(np.sin(2 * np.pi * k * freq_hz * t) / k for k in (1, 2, 3)) / 1.84


# name -> (rate, channels, seconds, subtype); 16, 44.1 and 48 kHz, mono and stereo, WAV, FLAC and OGG
GOOD_FILES = {
    "a_16k_mono.wav": (16000, 1, 1.3, "PCM_16"),
    "b_44k_stereo.flac": (44100, 2, 1.0, "PCM_24"),
    "sub/c_48k_stereo.wav": (48000, 2, 1.0, "FLOAT"),
    "sub/d_48k_mono.flac": (48000, 1, 0.7, "PCM_16"),
    "sub/deeper/e_44k_mono.wav": (44100, 1, 2.1, "PCM_16"),
    "f_16k_stereo.ogg": (16000, 2, 1.0, "VORBIS"),
}
BAD_FILES = {"corrupt.wav": "not readable as audio", "empty.flac": "empty file", "zero_frames.wav": "holds no samples"}


def write_corpus(root: Path) -> Path:
    """:data:`GOOD_FILES` and :data:`BAD_FILES` (a corrupt, an empty and a zero-frame file) under ``root``, and a
    text file that no folder walk collects; returns ``root``."""
    for i, (name, (rate, channels, seconds, subtype)) in enumerate(GOOD_FILES.items()):
        x = tone(220.0 * (i + 1), seconds, rate)
        data = np.stack([x, 0.5 * x], axis=1) if channels == 2 else x
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(root / name, data, rate, subtype=subtype)
    (root / "corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(64)))
    (root / "empty.flac").write_bytes(b"")
    soundfile.write(root / "zero_frames.wav", np.zeros(0), 32000)
    (root / "notes.txt").write_text("not audio, not collected from the folder")
    return root


def load(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
