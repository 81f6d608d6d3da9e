"""Tables of tiny tones for the tests of ``hear-gear task make`` (:mod:`hear_gear_embed.training.table`,
:mod:`~hear_gear_embed.training.make_task`, the CLI): WAV files written with soundfile and a CSV listing them."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000
PITCH_HZ = {"low": 220.0, "mid": 880.0, "high": 3000.0}


def tone(path: Path, hz: float = 440.0, seconds: float = 0.5, rate: int = RATE, channels: int = 1) -> Path:
    """A sine of ``hz`` Hz, ``seconds`` s long at ``rate`` Hz, amplitude 0.3, written as 16-bit WAV (folders made)."""
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * hz * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.repeat(wave[:, None], channels, axis=1) if channels > 1 else wave, rate, subtype="PCM_16")
    return path


def write_table(folder: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = ("path", "label"),
                name: str = "table.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return folder / name


def tones_table(folder: Path, per_label: int, splits: Sequence[str] | None = None) -> Path:
    """``per_label`` tones of each of :data:`PITCH_HZ`, the splits ``splits`` taken in turn (row ``k``:
    ``splits[k % len(splits)]``)."""
    rows: list[list[str]] = []
    for label, hz in PITCH_HZ.items():
        for i in range(per_label):
            tone(folder / label / f"{i}.wav", hz)
            rows.append([f"{label}/{i}.wav", label, *([splits[len(rows) % len(splits)]] if splits else [])])
    return write_table(folder, rows, ("path", "label", "split") if splits else ("path", "label"))
