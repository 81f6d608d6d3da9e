"""The GEAR synthesiser: Hann-windowed additive tones (Lostanlen et al. 2022, equation 1).

A tone with fundamental ``f1`` (Hz), Fourier decay ``alpha`` and odd/even ratio ``r`` is::

    y[n] = hann[n] * sum_{p=1..P} (1 + (-1)^p r) / p^alpha * cos(2 pi p f1 n / sample_rate),   n = 0 .. T-1

with every harmonic strictly below Nyquist (at most ``max_harmonics``), so nothing aliases, and every tone scaled
to the same peak. As printed, ``r = 1`` cancels the odd harmonics, the fundamental included. A :class:`ToneGrid`
is a dataset: an ``n_alpha x n_r`` grid of ``(alpha, r)``, one seeded random ``f1`` per sound; :func:`paper_grid`
and :func:`perceptual_grid` are its presets. The synthesis, the presets and where they depart from the authors'
notebook: docs/gear.md ("The synthetic tones").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

PARAMETERS = ("f1", "alpha", "r")
"""Names of the synthesis parameters, in the column order used throughout the GEAR toolkit."""

F1_SCALES = ("cycles", "midi")


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray:
    """Frequency in Hz of (fractional) MIDI note numbers, A4 = MIDI 69 = 440 Hz."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def harmonic_amplitudes(alpha: np.ndarray, r: np.ndarray, n_harmonics: int) -> np.ndarray:
    """Amplitudes ``(1 + (-1)^p r) / p^alpha`` of harmonics ``p = 1 .. n_harmonics``, shape ``(N, n_harmonics)``."""
    p = np.arange(1, n_harmonics + 1, dtype=np.float64)
    sign = np.where(p % 2 == 0, 1.0, -1.0)
    alpha = np.asarray(alpha, dtype=np.float64)[:, None]
    r = np.asarray(r, dtype=np.float64)[:, None]
    return (1.0 + sign * r) / p**alpha


_CHUNK = 8  # tones summed at a time: keeps the float64 work arrays in cache


def _sum_harmonics(f1_hz: np.ndarray, gains: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``sum_p gains[:, p-1] cos(2 pi p f1 t)``, ``(len(f1_hz), len(t))`` float64.

    Uses the Chebyshev recurrence ``cos((p+1)x) = 2 cos(x) cos(px) - cos((p-1)x)``: one cosine per tone
    instead of one per harmonic (its speed and its error against the direct sum: docs/gear.md).
    """
    cos_1 = np.cos(2.0 * np.pi * f1_hz[:, None] * t[None, :])
    cos_prev, cos_p = np.ones_like(cos_1), cos_1
    out = gains[:, :1] * cos_1
    last = int(np.flatnonzero(gains.any(axis=0)).max(initial=0)) + 1
    for p in range(2, last + 1):
        cos_prev, cos_p = cos_p, 2.0 * cos_1 * cos_p - cos_prev
        out += gains[:, p - 1 : p] * cos_p
    return out


def synthesize(
    f1_hz: np.ndarray,
    alpha: np.ndarray,
    r: np.ndarray,
    sample_rate: int,
    n_samples: int,
    max_harmonics: int = 32,
    peak: float = 0.5,
) -> np.ndarray:
    """Synthesise GEAR tones for arbitrary parameters (equation 1, see the module docstring).

    Args:
        f1_hz: fundamental frequencies ``(N,)`` in Hz, in ``(0, sample_rate / 2)``.
        alpha: Fourier decay exponents ``(N,)``.
        r: odd/even ratios ``(N,)``.
        sample_rate: in Hz.
        n_samples: tone length ``T`` in samples (the Hann window spans all of it).
        max_harmonics: ``P``, the most harmonics per tone; fewer when ``p f1`` reaches Nyquist.
        peak: peak absolute amplitude of every tone, in (0, 1].

    Returns:
        Audio ``(N, n_samples)`` float32.

    Raises:
        ValueError: on mismatched or out-of-range parameters, or a tone with no energy (e.g. ``r = 1``
            with no even harmonic below Nyquist).
    """
    f1_hz, alpha, r = (np.asarray(v, dtype=np.float64).reshape(-1) for v in (f1_hz, alpha, r))
    if not len(f1_hz) == len(alpha) == len(r):
        raise ValueError(f"f1_hz, alpha and r must have the same length, got {len(f1_hz)}, {len(alpha)}, {len(r)}")
    if sample_rate <= 0 or n_samples < 2 or max_harmonics < 1:
        raise ValueError(
            f"need sample_rate > 0, n_samples >= 2, max_harmonics >= 1; got {sample_rate}, {n_samples}, {max_harmonics}"
        )
    if not 0.0 < peak <= 1.0:
        raise ValueError(f"peak must lie in (0, 1], got {peak}")
    for name, values in (("f1_hz", f1_hz), ("alpha", alpha), ("r", r)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name} contains NaN or Inf")
    nyquist = sample_rate / 2.0
    if ((f1_hz <= 0) | (f1_hz >= nyquist)).any():
        raise ValueError(f"f1_hz must lie in (0, {nyquist:g}) Hz (below Nyquist), got range [{f1_hz.min():g}, {f1_hz.max():g}]")
    n = np.arange(n_samples, dtype=np.float64)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_samples)
    amplitudes = harmonic_amplitudes(alpha, r, max_harmonics)
    # Harmonics at or above Nyquist get amplitude 0.
    gains = np.where(np.arange(1, max_harmonics + 1)[None, :] * f1_hz[:, None] < nyquist, amplitudes, 0.0)
    out = np.concatenate([
        _sum_harmonics(f1_hz[i : i + _CHUNK], gains[i : i + _CHUNK], n / sample_rate)
        for i in range(0, len(f1_hz), _CHUNK)
    ]) if len(f1_hz) else np.zeros((0, n_samples))
    out *= window
    peaks = np.abs(out).max(axis=1)
    silent = peaks <= 1e-12 * np.abs(amplitudes).sum(axis=1)
    if silent.any():
        i = int(np.flatnonzero(silent)[0])
        raise ValueError(
            f"tone {i} (f1={f1_hz[i]:g} Hz, alpha={alpha[i]:g}, r={r[i]:g}) is silent: "
            "no harmonic with non-zero amplitude lies below Nyquist"
        )
    return (out * (peak / peaks)[:, None]).astype(np.float32)


@dataclass(frozen=True)
class ToneParameters:
    """Parameters of the sounds of a :class:`ToneGrid`, each ``(N,)`` float64."""

    f1_hz: np.ndarray
    alpha: np.ndarray
    r: np.ndarray

    def matrix(self) -> np.ndarray:
        """``(N, 3)`` float64, columns in :data:`PARAMETERS` order (f1 in Hz)."""
        return np.stack([self.f1_hz, self.alpha, self.r], axis=1)

    def __len__(self) -> int:
        return len(self.f1_hz)


@dataclass(frozen=True)
class ToneGrid:
    """A seeded, reproducible GEAR dataset: an ``n_alpha x n_r`` grid of (alpha, r), one random f1 each.

    Sound ``i`` has ``alpha = alphas[i // n_r]`` and ``r = rs[i % n_r]``, with ``alphas`` and ``rs``
    evenly spaced over their closed ranges.

    Attributes:
        sample_rate: in Hz; use the model's rate.
        n_samples: tone length ``T`` in samples.
        f1_scale: ``"cycles"``: f1 is a random integer number of cycles per ``T`` in
            ``[f1_low, f1_high]`` (inclusive; ``f1_hz = cycles * sample_rate / T``); ``"midi"``: f1 is
            uniform over MIDI notes ``[f1_low, f1_high]`` (continuous, i.e. log-uniform in Hz).
        f1_low, f1_high: range of f1 in the unit of ``f1_scale``.
        alpha_low, alpha_high, n_alpha: the grid of Fourier decays.
        r_low, r_high, n_r: the grid of odd/even ratios.
        max_harmonics: ``P``.
        peak: peak amplitude of every tone.
        seed: seed of the f1 draw.
        name: label used in reports (the preset's name).
    """

    sample_rate: int
    n_samples: int
    f1_scale: str = "cycles"
    f1_low: float = 12
    f1_high: float = 24
    alpha_low: float = 0.0
    alpha_high: float = 2.0
    n_alpha: int = 50
    r_low: float = 0.0
    r_high: float = 1.0
    n_r: int = 50
    max_harmonics: int = 32
    peak: float = 0.5
    seed: int = 0
    name: str = "custom"

    def __post_init__(self) -> None:
        if self.f1_scale not in F1_SCALES:
            raise ValueError(f"f1_scale must be one of {F1_SCALES}, got {self.f1_scale!r}")
        if self.sample_rate <= 0 or self.n_samples < 2:
            raise ValueError(f"need sample_rate > 0 and n_samples >= 2, got {self.sample_rate}, {self.n_samples}")
        if self.n_alpha < 1 or self.n_r < 1:
            raise ValueError(f"n_alpha and n_r must be >= 1, got {self.n_alpha}, {self.n_r}")
        if not self.f1_low <= self.f1_high:
            raise ValueError(f"f1_low must not exceed f1_high, got {self.f1_low} > {self.f1_high}")
        if self.f1_scale == "cycles" and (self.f1_low != int(self.f1_low) or self.f1_high != int(self.f1_high)):
            raise ValueError(f"f1 in cycles per T must have integer bounds, got {self.f1_low}..{self.f1_high}")
        low_hz, high_hz = self.f1_range_hz
        if low_hz <= 0 or high_hz >= self.sample_rate / 2:
            raise ValueError(
                f"f1 range {low_hz:g}..{high_hz:g} Hz must lie in (0, {self.sample_rate / 2:g}) Hz (below Nyquist)"
            )

    @property
    def n_sounds(self) -> int:
        return self.n_alpha * self.n_r

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.n_samples / self.sample_rate

    @property
    def f1_range_hz(self) -> tuple[float, float]:
        """Lowest and highest possible f1 in Hz."""
        if self.f1_scale == "cycles":
            return self.f1_low * self.sample_rate / self.n_samples, self.f1_high * self.sample_rate / self.n_samples
        return float(midi_to_hz(self.f1_low)), float(midi_to_hz(self.f1_high))

    def parameters(self) -> ToneParameters:
        """The (f1 in Hz, alpha, r) of every sound, ``(N,)`` each; the same for the same grid."""
        alphas = np.linspace(self.alpha_low, self.alpha_high, self.n_alpha)
        rs = np.linspace(self.r_low, self.r_high, self.n_r)
        alpha, r = (a.ravel() for a in np.meshgrid(alphas, rs, indexing="ij"))
        rng = np.random.default_rng(self.seed)
        if self.f1_scale == "cycles":
            cycles = rng.integers(int(self.f1_low), int(self.f1_high) + 1, size=self.n_sounds)
            f1_hz = cycles * self.sample_rate / self.n_samples
        else:
            f1_hz = midi_to_hz(rng.uniform(self.f1_low, self.f1_high, size=self.n_sounds))
        return ToneParameters(np.asarray(f1_hz, dtype=np.float64), alpha, r)

    def audio(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Audio of sounds ``start .. stop-1``, ``(stop - start, n_samples)`` float32 (synthesised on demand)."""
        params = self.parameters()
        stop = self.n_sounds if stop is None else stop
        if not 0 <= start <= stop <= self.n_sounds:
            raise IndexError(f"sounds {start}..{stop} out of range for {self.n_sounds} sounds")
        sl = slice(start, stop)
        return synthesize(
            params.f1_hz[sl], params.alpha[sl], params.r[sl], self.sample_rate, self.n_samples,
            self.max_harmonics, self.peak,
        )

    def describe(self) -> dict[str, object]:
        """Settings and derived sizes, JSON-serialisable."""
        low_hz, high_hz = self.f1_range_hz
        return {
            "name": self.name, "sample_rate": self.sample_rate, "n_samples": self.n_samples,
            "duration_ms": self.duration_ms, "n_sounds": self.n_sounds, "f1_scale": self.f1_scale,
            "f1_low": self.f1_low, "f1_high": self.f1_high, "f1_low_hz": low_hz, "f1_high_hz": high_hz,
            "alpha_low": self.alpha_low, "alpha_high": self.alpha_high, "n_alpha": self.n_alpha,
            "r_low": self.r_low, "r_high": self.r_high, "n_r": self.n_r,
            "max_harmonics": self.max_harmonics, "peak": self.peak, "seed": self.seed,
        }


def paper_grid(sample_rate: int, seed: int = 0, **overrides: Any) -> ToneGrid:
    """The GEAR paper's dataset: T = 1024 samples, f1 in 12..24 cycles per T, 50 x 50 (alpha, r), P = 32."""
    return replace(ToneGrid(sample_rate=sample_rate, n_samples=1024, seed=seed, name="paper"), **overrides)


def perceptual_grid(sample_rate: int, seed: int = 0, duration_s: float = 1.0, **overrides: Any) -> ToneGrid:
    """Perceptual variant: ``duration_s`` tones with f1 uniform in MIDI 36..84 (65.4 to 1046.5 Hz)."""
    n_samples = int(round(duration_s * sample_rate))
    base = ToneGrid(
        sample_rate=sample_rate, n_samples=n_samples, f1_scale="midi", f1_low=36, f1_high=84, seed=seed,
        name="perceptual",
    )
    return replace(base, **overrides)


PRESETS: dict[str, Callable[..., ToneGrid]] = {"paper": paper_grid, "perceptual": perceptual_grid}


def make_grid(preset: str, sample_rate: int, **overrides: Any) -> ToneGrid:
    """The named preset (``"paper"`` or ``"perceptual"``) at ``sample_rate``, with field overrides."""
    if preset not in PRESETS:
        raise ValueError(f"unknown GEAR preset {preset!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[preset](sample_rate, **overrides)
