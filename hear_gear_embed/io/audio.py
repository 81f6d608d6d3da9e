"""Audio files in, model-ready mono clips out: discovery, reading (soundfile), channel mixing and
band-limited resampling (soxr).

Needs the ``cli`` extra: ``pip install "hear_gear_embed[cli]"`` (soundfile, soxr).
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..util.resampling import RESAMPLER_QUALITY, soxr_module
from ..util.resampling import resample as resample  # re-exported: its home before 0.2

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".aif", ".aiff", ".mp3")
"""Extensions collected from folders (case-insensitive). Files named explicitly are read whatever
their extension: soundfile recognises the format from the content."""

class AudioReadError(ValueError):
    """A file cannot be used as audio: unreadable, not audio, empty, or holding NaN/Inf samples."""


@dataclass(frozen=True)
class AudioInfo:
    """Header facts of an audio file (read without decoding the samples).

    Attributes:
        path: the file.
        sample_rate: its sample rate (Hz).
        channels: number of channels.
        frames: samples per channel.
    """

    path: Path
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


@dataclass(frozen=True)
class Clip:
    """A mono clip at the requested sample rate, with where it came from.

    Attributes:
        samples: ``(n_samples,)`` float32 audio at ``sample_rate``.
        sample_rate: its sample rate (Hz).
        source: header facts of the file it was read from.
    """

    samples: np.ndarray
    sample_rate: int
    source: AudioInfo


def _soundfile() -> ModuleType:
    """soundfile, imported on first use (optional dependency)."""
    try:
        import soundfile
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            'reading audio files needs soundfile: pip install "hear_gear_embed[cli]"', name=err.name
        ) from err
    return soundfile


def require_backends() -> None:
    """Import soundfile and soxr now, so that a missing ``cli`` extra is reported before any work.

    Raises:
        ModuleNotFoundError: one of them is missing (the message says what to install).
    """
    _soundfile()
    soxr_module()


def find_audio_files(path: str | os.PathLike[str]) -> list[Path]:
    """Audio files under ``path``.

    A file is returned as is (whatever its extension). A folder is searched recursively for files
    with an extension in :data:`AUDIO_EXTENSIONS`, in sorted order; hidden files and folders (names
    starting with ``.``, such as macOS ``._x.wav`` resource forks) are left out. Symbolic links to
    folders are followed, each real folder searched once: a link back to a folder above it (a loop), or
    a second link to a folder already searched, is left out with a warning that names both.

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such file or folder")
    found: list[Path] = []
    searched: dict[str, Path] = {}
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in searched:
            logger.warning("%s: not searched, a link to %s, which is searched already (a loop or a second link)",
                           folder, searched[real])
            dirs[:] = []
            continue
        searched[real] = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder) / f for f in sorted(files)
                  if not f.startswith(".") and Path(f).suffix.lower() in AUDIO_EXTENSIONS]
    return found


def _open(path: Path, data: bytes | None = None) -> Any:
    """``path``, or ``data`` (the bytes of a file of that name), opened for reading as a ``soundfile.SoundFile``
    (a context manager).

    Raises:
        AudioReadError: the file is missing, empty, unreadable or not a format soundfile knows.
    """
    soundfile = _soundfile()
    if (data is not None and not data) or (data is None and path.is_file() and path.stat().st_size == 0):
        raise AudioReadError(f"{path}: empty file (0 bytes)")
    try:
        return soundfile.SoundFile(io.BytesIO(data) if data is not None else str(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioReadError(f"{path}: not readable as audio ({err})") from err


def probe(path: str | os.PathLike[str]) -> AudioInfo:
    """Header facts of ``path`` (sample rate, channels, frames) without decoding it.

    Raises:
        AudioReadError: the file is missing, empty, unreadable or not a format soundfile knows.
    """
    path = Path(path)
    with _open(path) as handle:
        return AudioInfo(path, int(handle.samplerate), int(handle.channels), int(handle.frames))


def read_audio(path: str | os.PathLike[str], sample_rate: int, block_frames: int = 1 << 18, *,
               data: bytes | None = None) -> Clip:
    """Read an audio file as a mono clip at ``sample_rate``.

    Channels are averaged (the usual mono mix-down, as in HEAR's preprocessing), then the clip is
    resampled with soxr (as :func:`~hear_gear_embed.util.resampling.resample`, bit for bit) when the file's rate
    differs. The file is decoded in blocks, so memory holds the mono output and one block, not the whole multichannel
    file at its original rate.

    Args:
        path: a file soundfile can read (WAV, FLAC, OGG/Vorbis, Opus, AIFF, MP3, ...).
        sample_rate: the model's sample rate (Hz).
        block_frames: frames decoded at a time.
        data: the file's bytes, already read (e.g. by ``ray.data.read_binary_files``); ``path`` then only names it.

    Raises:
        AudioReadError: unreadable or not audio, no samples, or NaN/Inf samples (float files).
    """
    soundfile = _soundfile()
    path = Path(path)
    parts: list[np.ndarray] = []
    frames = non_finite = 0
    with _open(path, data) as handle:
        rate, channels = int(handle.samplerate), int(handle.channels)
        stream = None
        if rate != sample_rate:
            stream = soxr_module().ResampleStream(rate, sample_rate, 1, dtype="float32", quality=RESAMPLER_QUALITY)
        try:
            while True:
                block = handle.read(block_frames, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                frames += block.shape[0]
                non_finite += int((~np.isfinite(block)).sum())
                if non_finite:
                    continue
                mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
                parts.append(stream.resample_chunk(mono) if stream is not None else mono)
        except (soundfile.LibsndfileError, RuntimeError, OSError) as err:
            raise AudioReadError(f"{path}: cannot decode ({err})") from err
    if frames == 0:
        raise AudioReadError(f"{path}: holds no samples")
    if non_finite:
        raise AudioReadError(f"{path}: holds {non_finite} NaN/Inf samples")
    if stream is not None:
        parts.append(stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    source = AudioInfo(path, rate, channels, frames)
    return Clip(np.ascontiguousarray(np.concatenate(parts), dtype=np.float32), sample_rate, source)
