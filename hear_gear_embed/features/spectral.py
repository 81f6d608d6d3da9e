"""Spectral shape descriptors of a magnitude spectrogram, matching ``librosa.feature`` (0.11).

Every function takes a non-negative magnitude spectrogram ``S`` of shape ``(..., n_freqs, n_frames)``
(any number of leading batch dimensions, any device, floating dtype) and returns
``(..., d, n_frames)`` in the dtype and on the device of ``S``. ``freqs`` holds the centre frequency
of each row of ``S`` in Hz, ascending; for an rFFT that is ``k * sample_rate / n_fft``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .cepstral import power_to_db


def _check_spectrogram(S: Tensor, freqs: Tensor | None = None) -> None:
    if S.ndim < 2:
        raise ValueError(f"S must have shape (..., n_freqs, n_frames), got shape {tuple(S.shape)}")
    if not S.is_floating_point():
        raise ValueError(f"S must be a real floating-point tensor, got dtype {S.dtype}")
    if freqs is not None and (freqs.ndim != 1 or freqs.shape[0] != S.shape[-2]):
        raise ValueError(f"freqs must have shape ({S.shape[-2]},) to match S.shape[-2], got shape {tuple(freqs.shape)}")


def _normalise_frames(S: Tensor) -> Tensor:
    """Divide each frame by its sum over frequency (``librosa.util.normalize(S, norm=1, axis=-2)``)."""
    total = S.sum(dim=-2, keepdim=True)
    # librosa leaves frames whose norm is below the dtype's smallest normal number un-normalised
    # instead of dividing by ~0; for silent frames this yields 0 rather than NaN.
    total = torch.where(total < torch.finfo(S.dtype).tiny, torch.ones_like(total), total)
    return S / total


def spectral_centroid(S: Tensor, freqs: Tensor) -> Tensor:
    """Spectral centroid: the mean frequency of each frame weighted by magnitude.

    ``sum_k f_k S_k / sum_k S_k``, as ``librosa.feature.spectral_centroid(S=S, freq=freqs)``.
    Silent frames (all-zero magnitude) give 0.

    Args:
        S: magnitude spectrogram ``(..., n_freqs, n_frames)``, non-negative.
        freqs: bin centre frequencies in Hz, shape ``(n_freqs,)``.

    Returns:
        Centroid in Hz, shape ``(..., 1, n_frames)``.
    """
    _check_spectrogram(S, freqs)
    return torch.matmul(freqs.to(S).unsqueeze(0), _normalise_frames(S))


def spectral_bandwidth(S: Tensor, freqs: Tensor, p: float = 2.0) -> Tensor:
    """Spectral bandwidth of order ``p`` around the centroid.

    ``(sum_k S_k |f_k - centroid|^p / sum_k S_k)^(1/p)``, as
    ``librosa.feature.spectral_bandwidth(S=S, freq=freqs, p=p)`` (with ``norm=True``).
    Silent frames give 0.

    Args:
        S: magnitude spectrogram ``(..., n_freqs, n_frames)``, non-negative.
        freqs: bin centre frequencies in Hz, shape ``(n_freqs,)``.
        p: order of the deviation moment, ``> 0``.

    Returns:
        Bandwidth in Hz, shape ``(..., 1, n_frames)``.
    """
    _check_spectrogram(S, freqs)
    if not p > 0 or not math.isfinite(p):
        raise ValueError(f"p must be a finite positive number, got {p}")
    weights = _normalise_frames(S)
    f = freqs.to(S).unsqueeze(-1)
    centroid = torch.matmul(f.transpose(0, 1), weights)
    if p == 2.0:
        # The default order: square and sqrt are several times faster than generic powers.
        return (weights * (f - centroid).square()).sum(dim=-2, keepdim=True).sqrt()
    deviation = (f - centroid).abs()
    return (weights * deviation.pow(p)).sum(dim=-2, keepdim=True).pow(1.0 / p)


def spectral_flatness(S: Tensor, amin: float = 1e-10, power: float = 2.0) -> Tensor:
    """Spectral flatness (Wiener entropy): geometric over arithmetic mean of ``max(S**power, amin)``.

    As ``librosa.feature.spectral_flatness(S=S, amin=amin, power=power)``. Values lie in ``(0, 1]``;
    1 means a flat (white) spectrum. Silent frames are floored to a flat spectrum of ``amin`` and give 1.

    Args:
        S: magnitude spectrogram ``(..., n_freqs, n_frames)``, non-negative.
        amin: floor applied to ``S**power`` before the logarithm, ``> 0``.
        power: exponent applied to ``S`` (2 for a power spectrum), ``> 0``.

    Returns:
        Flatness (dimensionless), shape ``(..., 1, n_frames)``.
    """
    _check_spectrogram(S)
    if not amin > 0:
        raise ValueError(f"amin must be strictly positive, got {amin}")
    if not power > 0:
        raise ValueError(f"power must be strictly positive, got {power}")
    floored = torch.clamp(S.pow(power), min=amin)
    geometric = torch.exp(torch.log(floored).mean(dim=-2, keepdim=True))
    return geometric / floored.mean(dim=-2, keepdim=True)


def spectral_rolloff(S: Tensor, freqs: Tensor, roll_percent: float = 0.85) -> Tensor:
    """Roll-off frequency: the lowest bin frequency whose cumulative magnitude reaches ``roll_percent`` of the frame total.

    As ``librosa.feature.spectral_rolloff(S=S, freq=freqs, roll_percent=roll_percent)``: the first bin
    ``k`` with ``cumsum(S)[k] >= roll_percent * sum(S)``. Silent frames give ``freqs[0]`` (0 Hz for an rFFT),
    because every bin meets the zero threshold.

    Args:
        S: magnitude spectrogram ``(..., n_freqs, n_frames)``, non-negative.
        freqs: bin centre frequencies in Hz, ascending, shape ``(n_freqs,)``.
        roll_percent: fraction of the total in ``(0, 1)``.

    Returns:
        Roll-off frequency in Hz, shape ``(..., 1, n_frames)``.
    """
    _check_spectrogram(S, freqs)
    if not 0.0 < roll_percent < 1.0:
        raise ValueError(f"roll_percent must lie in the open interval (0, 1), got {roll_percent}")
    cumulative = torch.cumsum(S, dim=-2)
    threshold = roll_percent * cumulative[..., -1:, :]
    # The cumulative sum of non-negative values is non-decreasing, so the number of bins below the
    # threshold is the index of the first bin reaching it. The clamp only guards the gather against
    # invalid (negative) input, for which the count could reach n_freqs.
    index = (cumulative < threshold).sum(dim=-2, keepdim=True).clamp(max=S.shape[-2] - 1)
    return freqs.to(S)[index]


def _contrast_bands(freqs: Tensor, n_bands: int, fmin: float) -> list[tuple[int, int]]:
    """``(start, stop)`` per band: the rows ``start:stop`` of S that librosa selects for the band.

    Band 0 spans ``[0, fmin]`` Hz and band ``k >= 1`` spans ``[fmin 2^(k-1), fmin 2^k]`` plus the bin just
    below that range; the last band extends to the top bin. ``stop - start`` is the count librosa uses
    for the quantile, before dropping the highest bin of every band but the last.
    """
    f = freqs.detach().to("cpu", torch.float64)
    edges = [0.0] + [fmin * 2.0**j for j in range(n_bands + 1)]
    bands = []
    for k in range(n_bands + 1):
        inside = torch.nonzero((f >= edges[k]) & (f <= edges[k + 1])).flatten()
        if inside.numel() == 0:
            raise ValueError(f"contrast band {k} ({edges[k]:g}-{edges[k + 1]:g} Hz) contains no frequency bin")
        start = max(int(inside[0]) - 1, 0) if k > 0 else int(inside[0])
        stop = f.shape[0] if k == n_bands else int(inside[-1]) + 1
        bands.append((start, stop))
    return bands


def spectral_contrast(
    S: Tensor,
    freqs: Tensor,
    sample_rate: float,
    n_bands: int = 6,
    fmin: float = 200.0,
    quantile: float = 0.02,
) -> Tensor:
    """Octave-band spectral contrast in dB, as ``librosa.feature.spectral_contrast(S=S, ..., linear=False)``.

    For band ``k`` (see below), the peak is the mean of the ``q_k`` largest and the valley the mean of
    the ``q_k`` smallest magnitudes of the band in each frame, ``q_k = max(1, rint(quantile * n_k))``
    (round half to even) with ``n_k`` the number of bins librosa selects for the band. The contrast is
    ``10 log10(max(peak, 1e-10)) - 10 log10(max(valley, 1e-10))``: librosa applies ``power_to_db`` to these
    magnitude means, hence the factor 10. Unlike librosa, no ``top_db=80`` clipping is applied: librosa clips
    peaks and valleys to 80 dB below their maximum over the whole input, which makes each frame depend on
    the rest of the clip (and the batch); both agree wherever that clipping is inactive.

    Bands: band 0 covers ``[0, fmin]`` Hz, band ``k = 1..n_bands`` covers ``[fmin 2^(k-1), fmin 2^k]`` plus
    the bin just below; every band but the last drops its highest bin, and the last band extends to the
    top bin.

    Args:
        S: magnitude spectrogram ``(..., n_freqs, n_frames)``, non-negative.
        freqs: bin centre frequencies in Hz, ascending, shape ``(n_freqs,)``.
        sample_rate: sample rate in Hz (only used to check the bands against Nyquist).
        n_bands: number of octave bands above ``fmin``, a positive integer.
        fmin: upper edge of band 0 in Hz, ``> 0``; ``fmin * 2**(n_bands - 1)`` must be below Nyquist.
        quantile: fraction of each band averaged for peak and valley, in ``(0, 1)``.

    Returns:
        Contrast in dB, shape ``(..., n_bands + 1, n_frames)``.
    """
    _check_spectrogram(S, freqs)
    if isinstance(n_bands, bool) or not isinstance(n_bands, int) or n_bands < 1:
        raise ValueError(f"n_bands must be a positive integer, got {n_bands!r}")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must lie in the open interval (0, 1), got {quantile}")
    if not fmin > 0:
        raise ValueError(f"fmin must be positive, got {fmin}")
    if not sample_rate > 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if fmin * 2.0 ** (n_bands - 1) >= 0.5 * sample_rate:
        raise ValueError(
            f"the lowest edge of the top band, fmin * 2**(n_bands - 1) = {fmin * 2.0 ** (n_bands - 1):g} Hz, "
            f"reaches Nyquist ({0.5 * sample_rate:g} Hz); reduce fmin or n_bands"
        )
    peaks, valleys = [], []
    for k, (start, stop) in enumerate(_contrast_bands(freqs, n_bands, fmin)):
        n_extreme = max(1, round(quantile * (stop - start)))
        used_stop = stop if k == n_bands else stop - 1
        if used_stop <= start:
            raise ValueError(f"contrast band {k} is empty after dropping its top bin; increase the frequency resolution")
        band = S[..., start:used_stop, :]
        # Only the extremes matter: topk avoids sorting the whole band.
        n_extreme = min(n_extreme, used_stop - start)
        valleys.append(torch.topk(band, n_extreme, dim=-2, largest=False, sorted=False).values.mean(dim=-2))
        peaks.append(torch.topk(band, n_extreme, dim=-2, largest=True, sorted=False).values.mean(dim=-2))
    return power_to_db(torch.stack(peaks, dim=-2)) - power_to_db(torch.stack(valleys, dim=-2))
