"""The clips a run trains and validates on: a HEAR scene task's folder read by the evaluator's reader
(:func:`~hear_gear_embed.evaluation.downstream.tasks.load_task`, one home for both), one fold's train, valid and test
splits as multi-hot targets, every file decoded once up front so that an unreadable one is reported and left out before
the first step, and kept in memory within a budget (read again per batch beyond it)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..evaluation.downstream.tasks import HearTask, TaskError, load_task
from ..io.audio import AudioReadError, read_audio

logger = logging.getLogger(__name__)

ROLES = ("train", "valid", "test")
"""What each split of a fold is for."""


@dataclass(frozen=True)
class SkippedFile:
    """An audio file left out of the run, and why."""

    path: Path
    reason: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready: ``{"path": ..., "reason": ...}``."""
        return {"path": str(self.path), "reason": self.reason}


@dataclass
class ClipSet:
    """The readable clips of one role (train, valid or test) of a fold.

    Attributes:
        paths: the audio files, in the order of their split files.
        targets: ``(n_clips, n_labels)`` float32 multi-hot targets.
        lengths: ``(n_clips,)`` samples of each decoded file, before cropping.
        n_samples: the length every clip is cropped or zero-padded to (samples).
        sample_rate: the rate clips are read at (Hz).
        budget_bytes: clips decoded once are kept in memory while the set holds at most this many bytes.
    """

    paths: tuple[Path, ...]
    targets: np.ndarray
    lengths: np.ndarray
    n_samples: int
    sample_rate: int
    budget_bytes: int
    _cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.paths)

    def clip(self, index: int, offset: int = 0) -> np.ndarray:
        """Clip ``index`` as ``(n_samples,)`` float32 from sample ``offset`` of the file (zero-padded at its end).

        Raises:
            AudioReadError: the file can no longer be read (it could when the run started).
        """
        audio = self._cache.get(index)
        if audio is None:
            audio = read_audio(self.paths[index], self.sample_rate).samples
            self.keep(index, audio)
        out = np.zeros(self.n_samples, dtype=np.float32)
        piece = audio[offset: offset + self.n_samples]
        out[: len(piece)] = piece
        return out

    def keep(self, index: int, audio: np.ndarray) -> None:
        """Keep the decoded clip ``index`` in memory if the budget allows."""
        if sum(a.nbytes for a in self._cache.values()) + audio.nbytes <= self.budget_bytes:
            self._cache[index] = audio


@dataclass
class TaskData:
    """One fold of a scene task, ready to train on.

    Attributes:
        task: the task folder as read.
        fold: index into ``task.data_splits``.
        splits: the role -> split names of the fold.
        sets: role -> :class:`ClipSet`.
        skipped: files left out (unreadable, empty, non-finite), with the reason.
    """

    task: HearTask
    fold: int
    splits: dict[str, tuple[str, ...]]
    sets: dict[str, ClipSet]
    skipped: list[SkippedFile]

    @property
    def labels(self) -> tuple[str, ...]:
        return self.task.info.labels

    @property
    def multilabel(self) -> bool:
        return self.task.info.prediction_type == "multilabel"


def load_task_data(path: str | os.PathLike[str], sample_rate: int, *, fold: int = 0, clip_samples: int | None = None,
                   default_samples: int, budget_bytes: int = 4 << 30) -> TaskData:
    """Read a scene task folder for training at ``sample_rate`` (Hz).

    Args:
        path: the task folder (``hear-gear task make`` writes one from a CSV of labelled files).
        sample_rate: the model's rate; the folder must hold audio at it, as for ``hear-gear evaluate``.
        fold: which of the task's train / valid / test assignments (k-fold tasks have one per fold).
        clip_samples: the length clips are cropped or padded to; ``None``: the task's ``sample_duration``, else
            ``default_samples``.
        default_samples: see ``clip_samples`` (the variant's scene window).
        budget_bytes: decoded clips kept in memory up to this many bytes in all.

    Raises:
        TaskError: not a readable task folder, an event task, a fold that does not exist, no audio at the rate, or a
            role left without a readable clip.
    """
    task = load_task(path)
    if task.info.embedding_type != "scene":
        raise TaskError(f"{task.path}: {task.info.name} is an event task; training supports scene tasks (one label set "
                        "per file) only")
    if not 0 <= fold < len(task.data_splits):
        raise TaskError(f"{task.path}: fold {fold} does not exist; the task has {len(task.data_splits)} "
                        f"(0 .. {len(task.data_splits) - 1})")
    assignment = task.data_splits[fold]
    splits = {"train": assignment.train, "valid": assignment.valid, "test": assignment.test}
    if task.sample_duration_s is not None and clip_samples is None:
        clip_samples = int(round(task.sample_duration_s * sample_rate))
    n_samples = clip_samples or default_samples
    index = {label: i for i, label in enumerate(task.info.labels)}
    skipped: list[SkippedFile] = []
    sets = {}
    for role, names in splits.items():
        clips = ClipSet((), np.zeros((0, len(index)), np.float32), np.zeros(0, np.int64), n_samples, sample_rate,
                        budget_bytes // len(splits))
        paths: list[Path] = []
        targets: list[np.ndarray] = []
        lengths: list[int] = []
        for name in names:
            split = task.split(name)
            assert split.labels is not None  # a scene task
            for file_path in task.audio_paths(name, sample_rate):
                try:
                    audio = read_audio(file_path, sample_rate).samples
                except AudioReadError as err:
                    logger.warning("left out of the run: %s", err)
                    skipped.append(SkippedFile(file_path, str(err)))
                    continue
                clips.keep(len(paths), audio)
                row = np.zeros(len(index), dtype=np.float32)
                row[[index[label] for label in split.labels[file_path.name]]] = 1.0
                paths.append(file_path)
                targets.append(row)
                lengths.append(len(audio))
        if not paths:
            raise TaskError(f"{task.path}: the {role} split(s) {', '.join(names)} hold no readable audio file")
        clips.paths, clips.targets, clips.lengths = tuple(paths), np.stack(targets), np.array(lengths, dtype=np.int64)
        sets[role] = clips
    return TaskData(task, fold, splits, sets, skipped)
