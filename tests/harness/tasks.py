"""Small synthetic tasks in the HEAR 2021 task directory format, as read by hear-eval-kit (``heareval==2021.1.3``).

Layout written for every task (what ``heareval.embeddings.task_embeddings.task_embeddings`` and
``heareval.predictions.task_predictions.task_predictions`` read)::

    <root>/<task>/task_metadata.json
    <root>/<task>/labelvocabulary.csv           header ``idx,label``, idx = 0 .. n - 1
    <root>/<task>/<split>.json                  one per name in ``metadata["splits"]``
    <root>/<task>/<sample_rate>/<split>/*.wav   mono 16-bit PCM, one folder per sample rate

``heareval.embeddings.runner`` treats every entry of the tasks folder as a task, so nothing but task
folders is written under ``root``.

Every clip is first drawn as a parametric description (sources with onsets and durations in integer
milliseconds, frequencies in Hz, linear amplitudes re full scale) from a seeded ``numpy`` generator, then
rendered at each sample rate from that description. All content is band-limited below
:data:`CONTENT_MAX_HZ` (0.45 x 16 kHz), so the same continuous signal is sampled, without aliasing, at
16, 32 and 48 kHz, and the random draws do not depend on which sample rates are asked for.

The tasks (see :func:`describe_tasks`):

* ``tones-multiclass``: harmonic tones at 6 pitches, scene / multiclass / train-valid-test, ``top1_acc``.
* ``timbre-multilabel``: mixtures of a low tone, a high tone, a noise burst and a click train,
  scene / multilabel / train-valid-test, ``mAP`` (then ``d_prime``, ``aucroc``).
* ``events``: 1 to 3 non-overlapping tone or noise events per clip, event / multilabel / train-valid-test,
  ``event_onset_200ms_fms`` (then ``segment_1s_er``).
* ``tones-kfold``: harmonic tones at 4 pitches in 5 folds, scene / multiclass / ``new_split_kfold``, ``top1_acc``.

Command line: ``python -m tests.harness.tasks OUT_DIR [--sample-rates 32000 ...] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

#: Upper band edge of all content in Hz (0.45 x the lowest supported sample rate).
CONTENT_MAX_HZ = 7200.0
#: Lowest supported sample rate in Hz.
MIN_SAMPLE_RATE = 16000
#: Default sample rates in Hz.
DEFAULT_SAMPLE_RATES = (16000, 32000, 48000)
#: Reference rate in Hz for peak bounds: a common multiple of 16, 32 and 48 kHz, so their sample grids are subsets of it.
REF_SAMPLE_RATE = 96000
#: Largest absolute sample value written (linear, re full scale).
PEAK_LIMIT = 0.89
#: RMS of the white noise floor added to every clip (linear, re full scale): -40 dBFS.
NOISE_FLOOR_RMS = 0.01
#: Lowest frequency of noise in Hz.
NOISE_MIN_HZ = 20.0
#: Half support of a click in Gaussian widths (the pulse is below 1e-20 of its peak beyond it).
CLICK_SUPPORT = 10.0
#: Version string written into every ``task_metadata.json``.
VERSION = "synthetic-v1"

TONE_CLASSES = {"A3": 57, "C4": 60, "E4": 64, "G4": 67, "B4": 71, "D5": 74}
KFOLD_CLASSES = {"A3": 57, "D4": 62, "G4": 67, "C5": 72}
TIMBRE_LABELS = ("low_tone", "high_tone", "noise_burst", "clicks")
EVENT_LABELS = ("tone_a", "tone_b", "noise")
EVENT_MIDI = {"tone_a": 60, "tone_b": 72}

TONES_PER_CLASS = {"train": 10, "valid": 4, "test": 4}
TIMBRE_CLIPS = {"train": 40, "valid": 15, "test": 15}
EVENT_CLIPS = {"train": 30, "valid": 10, "test": 10}
KFOLD_FOLDS = 5
KFOLD_PER_CLASS = 4

SCENE_MS = 1000
EVENT_CLIP_MS = 2000
EVENT_MS = (250, 500)
EVENT_GAP_MS = 200
EVENT_MARGIN_MS = 50


def midi_to_hz(midi: float) -> float:
    """Equal-tempered frequency in Hz of MIDI note ``midi`` (69 = A4 = 440 Hz)."""
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _raised_cosine_envelope(t_s: np.ndarray, dur_s: float, fade_s: float) -> np.ndarray:
    """Gain in [0, 1] at times ``t_s`` (s, from the onset) of a ``dur_s`` s segment with ``fade_s`` s raised-cosine fades."""
    if fade_s <= 0.0:
        return np.ones_like(t_s)
    x = np.clip(np.minimum(t_s, dur_s - t_s) / fade_s, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def _span(start_ms: int, dur_ms: int, sample_rate: int, n_total: int) -> tuple[int, int]:
    """Sample indices ``[m0, m1)`` of the segment ``[start_ms, start_ms + dur_ms)`` ms, clipped to ``n_total`` samples."""
    m0 = start_ms * sample_rate // 1000
    m1 = (start_ms + dur_ms) * sample_rate // 1000
    return min(m0, n_total), min(m1, n_total)


@dataclass(frozen=True)
class HarmonicTone:
    """A harmonic tone: ``amp * sum_k w_k sin(2 pi k f0 t + phase_k)``, ``w_k`` proportional to ``k ** -decay``, ``sum w_k = 1``.

    Harmonics at or above :data:`CONTENT_MAX_HZ` are left out, so ``amp`` bounds the peak.

    Attributes:
        start_ms: onset in ms from the start of the clip.
        dur_ms: duration in ms.
        f0_hz: fundamental frequency in Hz.
        amp: peak bound (linear, re full scale).
        decay: spectral decay exponent (amplitude of harmonic k proportional to ``k ** -decay``).
        phases: start phase in radians of each harmonic; its length is the number of harmonics wanted.
        fade_ms: raised-cosine fade in and out in ms.
    """

    start_ms: int
    dur_ms: int
    f0_hz: float
    amp: float
    decay: float
    phases: tuple[float, ...]
    fade_ms: float = 10.0

    def harmonic_numbers(self) -> np.ndarray:
        """Harmonic numbers 1, 2, ... kept (those below :data:`CONTENT_MAX_HZ`)."""
        k = np.arange(1, len(self.phases) + 1)
        return k[k * self.f0_hz < CONTENT_MAX_HZ]

    def interval_ms(self) -> tuple[float, float]:
        """Support ``(start, end)`` in ms."""
        return float(self.start_ms), float(self.start_ms + self.dur_ms)

    def peak_bound(self) -> float:
        """Upper bound of ``|x(t)|`` (linear)."""
        return self.amp

    def add_to(self, out: np.ndarray, sample_rate: int) -> None:
        """Add the tone, sampled at ``sample_rate`` Hz, into ``out`` (clip samples, float64) in place."""
        m0, m1 = _span(self.start_ms, self.dur_ms, sample_rate, out.shape[0])
        if m1 <= m0:
            return
        t = np.arange(m1 - m0) / sample_rate + (m0 / sample_rate - self.start_ms / 1000.0)
        k = self.harmonic_numbers()
        w = k.astype(np.float64) ** -self.decay
        w /= w.sum()
        phases = np.asarray(self.phases)[k - 1]
        x = np.sin(2.0 * np.pi * self.f0_hz * np.outer(t, k) + phases) @ w
        out[m0:m1] += self.amp * x * _raised_cosine_envelope(t, self.dur_ms / 1000.0, self.fade_ms / 1000.0)


@dataclass(frozen=True)
class NoiseBurst:
    """Band-limited Gaussian noise, periodic over its duration, built from random cosines at multiples of ``1 / dur``.

    The cosine amplitudes and phases come from ``numpy.random.default_rng(seed)`` only, so the same
    continuous signal is sampled at every rate (exactly, while ``hi_hz`` is below half the sample rate).

    Attributes:
        start_ms: onset in ms from the start of the clip.
        dur_ms: duration in ms.
        rms: RMS before fades (linear, re full scale).
        seed: seed of the random cosine amplitudes and phases.
        lo_hz: lower band edge in Hz.
        hi_hz: upper band edge in Hz (at most :data:`CONTENT_MAX_HZ`).
        fade_ms: raised-cosine fade in and out in ms (0: none).
    """

    start_ms: int
    dur_ms: int
    rms: float
    seed: int
    lo_hz: float = NOISE_MIN_HZ
    hi_hz: float = CONTENT_MAX_HZ
    fade_ms: float = 5.0

    def interval_ms(self) -> tuple[float, float]:
        """Support ``(start, end)`` in ms."""
        return float(self.start_ms), float(self.start_ms + self.dur_ms)

    def _cosines(self) -> tuple[np.ndarray, np.ndarray]:
        """Bin numbers k (frequency ``k / dur``) and complex amplitudes ``a_k exp(i phase_k)`` with RMS ``self.rms``."""
        dur_s = self.dur_ms / 1000.0
        k = np.arange(math.ceil(self.lo_hz * dur_s), math.floor(min(self.hi_hz, CONTENT_MAX_HZ) * dur_s) + 1)
        k = k[k > 0]
        rng = np.random.default_rng(self.seed)
        z = rng.standard_normal(k.shape[0]) + 1j * rng.standard_normal(k.shape[0])
        z *= self.rms / math.sqrt(0.5 * float(np.sum(np.abs(z) ** 2)))
        return k, z

    def _samples(self, sample_rate: int) -> np.ndarray:
        """The burst, with fades, sampled at ``sample_rate`` Hz from its onset (``dur_ms * sample_rate / 1000`` samples)."""
        n = self.dur_ms * sample_rate // 1000
        k, z = self._cosines()
        spectrum = np.zeros(n // 2 + 1, dtype=np.complex128)
        keep = k < (n + 1) // 2
        spectrum[k[keep]] = 0.5 * n * z[keep]
        x = np.fft.irfft(spectrum, n)
        if self.fade_ms > 0.0:
            x *= _raised_cosine_envelope(np.arange(n) / sample_rate, self.dur_ms / 1000.0, self.fade_ms / 1000.0)
        return x

    def peak_bound(self) -> float:
        """Peak at :data:`REF_SAMPLE_RATE` Hz: an upper bound of the peak at 16, 32 and 48 kHz (subsets of that grid)."""
        return float(np.max(np.abs(self._samples(REF_SAMPLE_RATE))))

    def add_to(self, out: np.ndarray, sample_rate: int) -> None:
        """Add the burst, sampled at ``sample_rate`` Hz, into ``out`` (clip samples, float64) in place."""
        m0, m1 = _span(self.start_ms, self.dur_ms, sample_rate, out.shape[0])
        out[m0:m1] += self._samples(sample_rate)[: m1 - m0]


@dataclass(frozen=True)
class ClickTrain:
    """A train of clicks, each a Gaussian-derivative pulse (band-limited: below -80 dB at :data:`CONTENT_MAX_HZ`).

    Attributes:
        start_ms: time in ms of the first click.
        rate_hz: clicks per second.
        n_clicks: number of clicks.
        amp: peak of each click (linear, re full scale).
        width_ms: standard deviation in ms of the Gaussian whose derivative makes a click.
    """

    start_ms: int
    rate_hz: float
    n_clicks: int
    amp: float
    width_ms: float = 0.1

    def click_times_s(self) -> np.ndarray:
        """Click centres in s from the start of the clip."""
        return self.start_ms / 1000.0 + np.arange(self.n_clicks) / self.rate_hz

    def interval_ms(self) -> tuple[float, float]:
        """Support ``(start, end)`` in ms (click centres +- :data:`CLICK_SUPPORT` widths)."""
        times = self.click_times_s() * 1000.0
        return float(times[0] - CLICK_SUPPORT * self.width_ms), float(times[-1] + CLICK_SUPPORT * self.width_ms)

    def peak_bound(self) -> float:
        """Upper bound of ``|x(t)|`` (linear); clicks are far apart compared with their width."""
        return self.amp

    def add_to(self, out: np.ndarray, sample_rate: int) -> None:
        """Add the clicks, sampled at ``sample_rate`` Hz, into ``out`` (clip samples, float64) in place."""
        sigma = self.width_ms / 1000.0
        half = int(math.ceil(CLICK_SUPPORT * sigma * sample_rate))
        for tc in self.click_times_s():
            mc = int(round(tc * sample_rate))
            m0, m1 = max(mc - half, 0), min(mc + half + 1, out.shape[0])
            if m1 <= m0:
                continue
            u = (np.arange(m0, m1) / sample_rate - tc) / sigma
            out[m0:m1] += self.amp * math.sqrt(math.e) * -u * np.exp(-0.5 * u * u)


Source = HarmonicTone | NoiseBurst | ClickTrain


@dataclass(frozen=True)
class Event:
    """A labelled event: ``label`` from ``start_ms`` to ``end_ms`` (ms from the start of the clip)."""

    label: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class Clip:
    """One audio file: its name, duration (ms), sources, and target (scene labels or events)."""

    filename: str
    dur_ms: int
    sources: tuple[Source, ...]
    labels: tuple[str, ...] = ()
    events: tuple[Event, ...] = ()

    def target(self, embedding_type: str) -> list[Any]:
        """The split-file entry: ``["label", ...]`` for scene tasks, ``[{"label", "start", "end"}, ...]`` (ms) for event tasks."""
        if embedding_type == "event":
            return [{"label": e.label, "start": float(e.start_ms), "end": float(e.end_ms)} for e in self.events]
        return list(self.labels)


@dataclass(frozen=True)
class TaskSpec:
    """A task: its ``task_metadata.json`` content, label vocabulary (index order) and clips per split."""

    metadata: dict[str, Any]
    vocabulary: tuple[str, ...]
    splits: dict[str, tuple[Clip, ...]]

    @property
    def name(self) -> str:
        """The task name (also its folder name)."""
        return str(self.metadata["task_name"])


def clip_gain(clip: Clip) -> float:
    """Gain (<= 1) keeping the peak below :data:`PEAK_LIMIT`, from a rate-independent bound of the peak.

    The bound is the largest sum of :meth:`peak_bound` over sources active at the same time, so the gain
    is the same at every sample rate and the rendered content stays identical across rates.
    """
    spans = [(src.interval_ms(), src.peak_bound()) for src in clip.sources]
    bound = max(sum(b for (s, e), b in spans if s <= t0 < e or s == t0) for (t0, _), _ in spans)
    return min(1.0, PEAK_LIMIT / bound) if bound > 0.0 else 1.0


def render_clip(clip: Clip, sample_rate: int, gain: float | None = None) -> np.ndarray:
    """The clip sampled at ``sample_rate`` Hz: float64 mono, ``dur_ms * sample_rate / 1000`` samples, peak < :data:`PEAK_LIMIT`.

    ``gain`` is :func:`clip_gain` of the clip, computed here unless given (pass it to render several rates at the cost of one).
    """
    if sample_rate < MIN_SAMPLE_RATE:
        raise ValueError(f"sample_rate must be at least {MIN_SAMPLE_RATE} Hz, got {sample_rate}")
    out = np.zeros(clip.dur_ms * sample_rate // 1000, dtype=np.float64)
    for src in clip.sources:
        src.add_to(out, sample_rate)
    return out * (clip_gain(clip) if gain is None else gain)


def _seed(rng: np.random.Generator) -> int:
    """A fresh 63-bit seed drawn from ``rng``."""
    return int(rng.integers(0, 2**63 - 1))


def _noise_floor(rng: np.random.Generator, dur_ms: int) -> NoiseBurst:
    """White noise over the whole clip (no fades) at :data:`NOISE_FLOOR_RMS`."""
    return NoiseBurst(start_ms=0, dur_ms=dur_ms, rms=NOISE_FLOOR_RMS, seed=_seed(rng), fade_ms=0.0)


def _harmonic(
    rng: np.random.Generator,
    f0_hz: float,
    start_ms: int,
    dur_ms: int,
    amp_range: tuple[float, float],
    harmonics: tuple[int, int] = (3, 8),
    decay_range: tuple[float, float] = (0.5, 2.0),
) -> HarmonicTone:
    """A harmonic tone with random amplitude, number of harmonics (inclusive range), decay exponent and phases."""
    n_harm = int(rng.integers(harmonics[0], harmonics[1] + 1))
    return HarmonicTone(
        start_ms=start_ms,
        dur_ms=dur_ms,
        f0_hz=f0_hz,
        amp=float(rng.uniform(*amp_range)),
        decay=float(rng.uniform(*decay_range)),
        phases=tuple(float(p) for p in rng.uniform(0.0, 2.0 * np.pi, n_harm)),
    )


def _tone_clip(rng: np.random.Generator, filename: str, label: str, midi: int) -> Clip:
    """A 1 s clip of one harmonic tone at MIDI ``midi`` +- 20 cents over the whole clip, with the noise floor."""
    f0 = midi_to_hz(midi + rng.uniform(-0.2, 0.2))
    tone = _harmonic(rng, f0, 0, SCENE_MS, (0.2, 0.6))
    return Clip(filename, SCENE_MS, (tone, _noise_floor(rng, SCENE_MS)), labels=(label,))


def _tone_splits(rng: np.random.Generator, classes: dict[str, int], per_class: dict[str, int]) -> dict[str, tuple[Clip, ...]]:
    """Class-balanced tone clips for each split, in random class order, named ``<split>-<nnn>.wav``."""
    splits: dict[str, tuple[Clip, ...]] = {}
    for split, n in per_class.items():
        order = [label for label in classes for _ in range(n)]
        rng.shuffle(order)
        splits[split] = tuple(_tone_clip(rng, f"{split}-{i:03d}.wav", label, classes[label]) for i, label in enumerate(order))
    return splits


def _scene_metadata(
    name: str, prediction_type: str, split_mode: str, splits: Sequence[str], evaluation: list[str]
) -> dict[str, Any]:
    """``task_metadata.json`` content of a 1 s scene task."""
    metadata: dict[str, Any] = {
        "task_name": name,
        "version": VERSION,
        "mode": "full",
        "embedding_type": "scene",
        "prediction_type": prediction_type,
        "split_mode": split_mode,
        "splits": list(splits),
        "sample_duration": SCENE_MS / 1000.0,
        "evaluation": evaluation,
    }
    if split_mode != "trainvaltest":
        metadata["nfolds"] = len(splits)
    return metadata


def tones_multiclass(rng: np.random.Generator) -> TaskSpec:
    """``tones-multiclass``: 6 pitches (MIDI 57, 60, 64, 67, 71, 74), 10 / 4 / 4 clips per class in train / valid / test."""
    meta = _scene_metadata("tones-multiclass", "multiclass", "trainvaltest", ("train", "valid", "test"), ["top1_acc"])
    return TaskSpec(meta, tuple(sorted(TONE_CLASSES)), _tone_splits(rng, TONE_CLASSES, TONES_PER_CLASS))


def tones_kfold(rng: np.random.Generator) -> TaskSpec:
    """``tones-kfold``: 4 pitches (MIDI 57, 62, 67, 72), 5 folds ``fold00`` .. ``fold04`` of 4 clips per class."""
    folds = [f"fold{i:02d}" for i in range(KFOLD_FOLDS)]
    meta = _scene_metadata("tones-kfold", "multiclass", "new_split_kfold", folds, ["top1_acc"])
    return TaskSpec(meta, tuple(sorted(KFOLD_CLASSES)), _tone_splits(rng, KFOLD_CLASSES, dict.fromkeys(folds, KFOLD_PER_CLASS)))


def _random_start(rng: np.random.Generator, dur_ms: int, clip_ms: int) -> int:
    """A uniform integer onset in ms such that ``[start, start + dur_ms]`` lies within the clip."""
    return int(rng.integers(0, clip_ms - dur_ms + 1))


def _timbre_source(rng: np.random.Generator, label: str) -> Source:
    """One source of ``timbre-multilabel`` at a random position in the 1 s clip."""
    if label == "low_tone":
        dur = int(rng.integers(300, 701))
        f0 = float(rng.uniform(110.0, 160.0))
        return _harmonic(rng, f0, _random_start(rng, dur, SCENE_MS), dur, (0.1, 0.2), (3, 6), (1.0, 2.0))
    if label == "high_tone":
        dur = int(rng.integers(300, 701))
        f0 = float(rng.uniform(1200.0, 1800.0))
        return _harmonic(rng, f0, _random_start(rng, dur, SCENE_MS), dur, (0.1, 0.2), (2, 5))
    if label == "noise_burst":
        dur = int(rng.integers(100, 301))
        return NoiseBurst(_random_start(rng, dur, SCENE_MS), dur, float(rng.uniform(0.04, 0.08)), _seed(rng))
    if label == "clicks":
        rate = float(rng.uniform(10.0, 20.0))
        n_clicks = int(rng.integers(4, 11))
        span_ms = int(math.ceil((n_clicks - 1) * 1000.0 / rate)) + 1
        return ClickTrain(int(rng.integers(1, SCENE_MS - span_ms)), rate, n_clicks, float(rng.uniform(0.1, 0.2)))
    raise ValueError(f"unknown label {label!r}")


def _timbre_subsets(rng: np.random.Generator, n: int) -> list[tuple[str, ...]]:
    """``n`` non-empty label subsets: clip i has label ``i mod 4`` plus each other label with probability 0.4.

    Redrawn until every label is both present and absent in the split (roc_auc_score, used by
    ``d_prime`` and ``aucroc``, fails on a class without both).
    """
    while True:
        subsets = []
        for i in range(n):
            chosen = {TIMBRE_LABELS[i % len(TIMBRE_LABELS)]} | {label for label in TIMBRE_LABELS if rng.random() < 0.4}
            subsets.append(tuple(label for label in TIMBRE_LABELS if label in chosen))
        counts = [sum(label in s for s in subsets) for label in TIMBRE_LABELS]
        if all(0 < c < n for c in counts):
            perm = rng.permutation(n)
            return [subsets[i] for i in perm]


def timbre_multilabel(rng: np.random.Generator) -> TaskSpec:
    """``timbre-multilabel``: 1 s mixtures of a random non-empty subset of low tone, high tone, noise burst, click train."""
    splits: dict[str, tuple[Clip, ...]] = {}
    for split, n in TIMBRE_CLIPS.items():
        clips = []
        for i, subset in enumerate(_timbre_subsets(rng, n)):
            sources = tuple(_timbre_source(rng, label) for label in subset)
            clips.append(Clip(f"{split}-{i:03d}.wav", SCENE_MS, (*sources, _noise_floor(rng, SCENE_MS)), labels=subset))
        splits[split] = tuple(clips)
    meta = _scene_metadata("timbre-multilabel", "multilabel", "trainvaltest", tuple(TIMBRE_CLIPS), ["mAP", "d_prime", "aucroc"])
    return TaskSpec(meta, tuple(sorted(TIMBRE_LABELS)), splits)


def _event_layout(rng: np.random.Generator, n_events: int) -> list[tuple[int, int]]:
    """``n_events`` non-overlapping ``(start_ms, end_ms)`` in the 2 s clip: durations 250-500 ms, gaps >= 200 ms, 50 ms margins."""
    durs = [int(d) for d in rng.integers(EVENT_MS[0], EVENT_MS[1] + 1, n_events)]
    slack = EVENT_CLIP_MS - 2 * EVENT_MARGIN_MS - sum(durs) - (n_events - 1) * EVENT_GAP_MS
    assert slack >= 0, "event layout does not fit in the clip"
    extra = np.floor(rng.dirichlet(np.ones(n_events + 1)) * slack).astype(int)
    spans, t = [], EVENT_MARGIN_MS
    for i, dur in enumerate(durs):
        t += int(extra[i]) + (EVENT_GAP_MS if i else 0)
        spans.append((t, t + dur))
        t += dur
    return spans


def _event_source(rng: np.random.Generator, label: str, start_ms: int, end_ms: int) -> Source:
    """The sound of one ``events`` event."""
    if label in EVENT_MIDI:
        f0 = midi_to_hz(EVENT_MIDI[label] + rng.uniform(-0.2, 0.2))
        return _harmonic(rng, f0, start_ms, end_ms - start_ms, (0.2, 0.5))
    return NoiseBurst(start_ms, end_ms - start_ms, float(rng.uniform(0.05, 0.1)), _seed(rng))


def events(rng: np.random.Generator) -> TaskSpec:
    """``events``: 2 s clips with 1-3 non-overlapping events from ``tone_a`` (MIDI 60), ``tone_b`` (MIDI 72), ``noise``.

    Clip i always has one ``label[i mod 3]`` event, so every label occurs in every split.
    """
    splits: dict[str, tuple[Clip, ...]] = {}
    for split, n in EVENT_CLIPS.items():
        clips = []
        for i in range(n):
            n_events = int(rng.integers(1, 4))
            labels = [EVENT_LABELS[i % len(EVENT_LABELS)], *(str(x) for x in rng.choice(EVENT_LABELS, n_events - 1))]
            rng.shuffle(labels)
            evs = tuple(Event(label, s, e) for label, (s, e) in zip(labels, _event_layout(rng, n_events), strict=True))
            sources = tuple(_event_source(rng, ev.label, ev.start_ms, ev.end_ms) for ev in evs)
            clips.append(Clip(f"{split}-{i:03d}.wav", EVENT_CLIP_MS, (*sources, _noise_floor(rng, EVENT_CLIP_MS)), events=evs))
        splits[split] = tuple(clips)
    meta = {
        "task_name": "events",
        "version": VERSION,
        "mode": "full",
        "embedding_type": "event",
        "prediction_type": "multilabel",
        "split_mode": "trainvaltest",
        "splits": list(EVENT_CLIPS),
        "sample_duration": EVENT_CLIP_MS / 1000.0,
        "evaluation": ["event_onset_200ms_fms", "event_onset_50ms_fms", "segment_1s_er"],
    }
    return TaskSpec(meta, tuple(sorted(EVENT_LABELS)), splits)


def describe_tasks(seed: int = 0) -> list[TaskSpec]:
    """Parametric descriptions of all tasks; each task draws from its own generator ``default_rng([seed, index])``."""
    builders = (tones_multiclass, timbre_multilabel, events, tones_kfold)
    return [build(np.random.default_rng([seed, i])) for i, build in enumerate(builders)]


def write_task(task: TaskSpec, root: Path, sample_rates: Sequence[int]) -> Path:
    """Write ``task`` under ``root / task.name`` (replacing that folder) with audio at each of ``sample_rates`` (Hz)."""
    task_dir = Path(root) / task.name
    if task_dir.exists():
        shutil.rmtree(task_dir)
    task_dir.mkdir(parents=True)
    (task_dir / "task_metadata.json").write_text(json.dumps(task.metadata, indent=4) + "\n")
    vocabulary = "".join(f"{i},{label}\n" for i, label in enumerate(task.vocabulary))
    (task_dir / "labelvocabulary.csv").write_text("idx,label\n" + vocabulary)
    embedding_type = task.metadata["embedding_type"]
    for split, clips in task.splits.items():
        split_json = {clip.filename: clip.target(embedding_type) for clip in clips}
        (task_dir / f"{split}.json").write_text(json.dumps(split_json, indent=4) + "\n")
        for sample_rate in sample_rates:
            (task_dir / str(sample_rate) / split).mkdir(parents=True)
        for clip in clips:
            gain = clip_gain(clip)
            for sample_rate in sample_rates:
                path = task_dir / str(sample_rate) / split / clip.filename
                sf.write(str(path), render_clip(clip, sample_rate, gain), sample_rate, subtype="PCM_16")
    return task_dir


def make_tasks(root: Path, sample_rates: Sequence[int] = DEFAULT_SAMPLE_RATES, seed: int = 0) -> list[str]:
    """Generate all synthetic tasks under ``root`` with audio at each of ``sample_rates`` (Hz, each >= 16000).

    The content depends on ``seed`` only, not on ``sample_rates``. Returns the task names (folder names).
    """
    rates = [int(sr) for sr in sample_rates]
    if not rates or min(rates) < MIN_SAMPLE_RATE:
        raise ValueError(f"need at least one sample rate, each >= {MIN_SAMPLE_RATE} Hz, got {list(sample_rates)}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tasks = describe_tasks(seed)
    for task in tasks:
        write_task(task, root, rates)
    return [task.name for task in tasks]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the tasks into OUT_DIR and print their names and the time taken."""
    parser = argparse.ArgumentParser(prog="python -m tests.harness.tasks", description=__doc__.split("\n", 1)[0])
    parser.add_argument("out_dir", type=Path, help="folder to write the task folders into (the runner's --tasks-dir)")
    parser.add_argument("--sample-rates", type=int, nargs="+", default=list(DEFAULT_SAMPLE_RATES), help="sample rates in Hz")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    names = make_tasks(args.out_dir, args.sample_rates, args.seed)
    print(f"wrote {', '.join(names)} to {args.out_dir} at {args.sample_rates} Hz in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
