"""Pitch descriptors of a constant-Q magnitude: chroma (as ``librosa.feature.chroma_cqt``) and binary spectral peaks.

``C`` has shape ``(..., n_bins, n_frames)`` with bin centre frequencies ``freqs`` ``(n_bins,)`` in Hz,
geometrically spaced (``fmin * 2 ** (k / bins_per_octave)``). Chroma needs bins aligned with the
equal-tempered semitones (A4 = 440 Hz): ``bins_per_octave`` a multiple of the number of chroma classes
and ``fmin`` on a note (e.g. C1 = 32.703 Hz).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# Largest tolerated distance of a bin from the A440-aligned grid, in bins: far enough from the
# half-bin point that snapping to the grid is unambiguous, loose enough for a slightly detuned fmin.
_MAX_GRID_OFFSET = 0.25


def _chroma_classes(freqs: Tensor, n_chroma: int) -> Tensor:
    """Class ``0 .. n_chroma - 1`` (class 0 centred on C) of each CQT bin; see :func:`pitch_classes`."""
    if isinstance(n_chroma, bool) or not isinstance(n_chroma, int) or n_chroma < 1:
        raise ValueError(f"n_chroma must be a positive integer, got {n_chroma!r}")
    if freqs.ndim != 1 or freqs.numel() == 0:
        raise ValueError(f"freqs must be a non-empty 1-D tensor of bin frequencies in Hz, got shape {tuple(freqs.shape)}")
    # float64 (construction time only) so the grid test measures the bins' placement, not float32 rounding.
    f = freqs.detach().to(torch.float64)
    if not bool(torch.all(torch.isfinite(f) & (f > 0))):
        raise ValueError("freqs must be finite and positive (Hz)")
    octaves = torch.log2(f / 440.0)
    bins_per_class = 1
    if f.numel() > 1:
        step = torch.diff(octaves)
        if not bool(torch.all(step > 0)):
            raise ValueError("freqs must be strictly increasing")
        bins_per_octave = round(1.0 / float(step.mean()))
        if bins_per_octave < n_chroma or bins_per_octave % n_chroma:
            raise ValueError(
                f"freqs have about {1.0 / float(step.mean()):.3f} bins per octave; chroma needs a multiple of "
                f"n_chroma={n_chroma} so that bins align with the classes"
            )
        bins_per_class = bins_per_octave // n_chroma
    # Position on a grid of bins_per_class points per class, with grid point 0 on A4 shifted so that
    # integer multiples of bins_per_class fall on class centres (C is 9 semitones below A).
    position = (octaves * n_chroma + 9.0 * n_chroma / 12.0) * bins_per_class
    grid = torch.round(position)
    offset = float((position - grid).abs().max())
    if offset > _MAX_GRID_OFFSET:
        raise ValueError(
            f"CQT bins are {offset:.2f} bins away from the equal-tempered grid (A4 = 440 Hz); chroma needs "
            "fmin on a note (e.g. C1 = 32.703 Hz) and bins_per_octave a multiple of n_chroma"
        )
    # The bin exactly between two class centres (bins_per_class even) goes to the upper class, as
    # librosa.filters.cq_to_chroma assigns it.
    upper_half = bins_per_class // 2
    classes = torch.div(grid.to(torch.int64) + upper_half, bins_per_class, rounding_mode="floor")
    return torch.remainder(classes, n_chroma).to(freqs.device)


def pitch_classes(freqs: Tensor) -> Tensor:
    """Pitch class (C = 0, C# = 1, ..., B = 11) of the nearest equal-tempered semitone to each CQT bin.

    The class is ``round(12 log2(f / 440) + 69) mod 12``. With ``m = bins_per_octave / 12`` bins per
    semitone, a bin exactly half a semitone from two notes (``m`` even) goes to the upper note, as in
    ``librosa.filters.cq_to_chroma``.

    Rule for rejecting frequencies: ``bins_per_octave`` is inferred from the mean log-spacing of
    ``freqs``; it must be a multiple of 12 and every bin must lie within a quarter of a bin of the grid
    of ``m`` points per semitone aligned on A4 = 440 Hz. This accepts CQTs whose ``fmin`` is on a note
    (or detuned by less than a quarter bin) and rejects anything where "nearest semitone" would not
    fold bins consistently into classes.

    Args:
        freqs: CQT bin centre frequencies in Hz, shape ``(n_bins,)``, strictly increasing.

    Returns:
        int64 tensor ``(n_bins,)`` of classes in ``0 .. 11``, on the device of ``freqs``.
    """
    return _chroma_classes(freqs, 12)


def chroma_matrix(freqs: Tensor, n_chroma: int = 12) -> Tensor:
    """Binary CQT-to-chroma folding matrix: entry ``(c, k)`` is 1 when bin ``k`` belongs to class ``c``.

    Each bin belongs to the class of its nearest class centre (class 0 centred on C, spacing
    ``12 / n_chroma`` semitones); see :func:`pitch_classes` for the alignment rule and ties. For
    ``n_chroma = 12`` and ``bins_per_octave = 12 m`` this merges the ``m`` bins centred on each semitone,
    like ``librosa.filters.cq_to_chroma`` with ``fmin`` on a note.

    Args:
        freqs: CQT bin centre frequencies in Hz, shape ``(n_bins,)``, strictly increasing.
        n_chroma: number of classes per octave; ``bins_per_octave`` must be a multiple of it.

    Returns:
        float32 matrix ``(n_chroma, n_bins)`` on the device of ``freqs``.
    """
    classes = _chroma_classes(freqs, n_chroma)
    return F.one_hot(classes, n_chroma).transpose(0, 1).to(torch.float32)


def chroma(C: Tensor, matrix: Tensor) -> Tensor:
    """Chromagram: CQT magnitudes summed per class, each frame scaled so that its largest class is 1.

    As ``librosa.feature.chroma_cqt(C=C, ...)`` with its defaults (``norm=inf``, ``threshold=0``). Frames
    whose largest class is below the dtype's smallest normal number (``torch.finfo(dtype).tiny``; digital
    silence) are left unscaled, as librosa does, so they stay 0 rather than NaN.

    Args:
        C: CQT magnitude ``(..., n_bins, n_frames)``, non-negative.
        matrix: folding matrix ``(n_chroma, n_bins)`` from :func:`chroma_matrix`.

    Returns:
        Chroma in ``[0, 1]``, shape ``(..., n_chroma, n_frames)``, dtype and device of ``C``.
    """
    if C.ndim < 2 or not C.is_floating_point():
        raise ValueError(f"C must be a floating tensor of shape (..., n_bins, n_frames), got {C.dtype} {tuple(C.shape)}")
    if matrix.ndim != 2 or matrix.shape[1] != C.shape[-2]:
        raise ValueError(f"matrix must have shape (n_chroma, {C.shape[-2]}), got {tuple(matrix.shape)}")
    energy = torch.matmul(matrix.to(C), C)
    peak = energy.amax(dim=-2, keepdim=True)
    peak = torch.where(peak < torch.finfo(C.dtype).tiny, torch.ones_like(peak), peak)
    return energy / peak


def spectral_peaks(C: Tensor, range_db: float = 30.0, floor: float = 1e-6) -> Tensor:
    """Binary spectral-peak (pitch salience) map, after the "binary spectral peaks" of arXiv 2309.08751.

    Bin ``k`` of a frame is 1 when all of these hold, else 0:

    * it is a local maximum along frequency: ``C[k] > C[k-1]`` and ``C[k] >= C[k+1]`` (the asymmetric test
      marks only the lowest bin of a flat top; the first and last bins compare with their one neighbour);
    * it is within ``range_db`` of the frame's largest bin: ``20 log10(C[k] / max_k C) >= -range_db``;
    * it exceeds the absolute ``floor``, so digital silence and near-silent noise give no peaks.

    Args:
        C: CQT (or any spectral) magnitude ``(..., n_bins, n_frames)``, non-negative, linear amplitude.
        range_db: dynamic range below the frame maximum in dB (amplitude, 20 log10), ``> 0``.
        floor: absolute magnitude threshold, in the linear units of ``C``, ``>= 0``.

    Returns:
        0/1 map of the shape, dtype and device of ``C``.
    """
    if C.ndim < 2 or not C.is_floating_point():
        raise ValueError(f"C must be a floating tensor of shape (..., n_bins, n_frames), got {C.dtype} {tuple(C.shape)}")
    if not (range_db > 0 and math.isfinite(range_db)):
        raise ValueError(f"range_db must be a finite positive number of dB, got {range_db}")
    if not floor >= 0:
        raise ValueError(f"floor must be non-negative, got {floor}")
    padded = F.pad(C, (0, 0, 1, 1), value=-math.inf)
    local_max = (C > padded[..., :-2, :]) & (C >= padded[..., 2:, :])
    in_range = C >= C.amax(dim=-2, keepdim=True) * 10.0 ** (-range_db / 20.0)
    return (local_max & in_range & (C > floor)).to(C.dtype)
