"""The GEAR synthesiser against its definition (equation 1), exactly on DFT bins, and its presets."""

from __future__ import annotations

import numpy as np
import pytest

from hear_gear_embed.evaluation.synth import (
    ToneGrid,
    harmonic_amplitudes,
    make_grid,
    midi_to_hz,
    paper_grid,
    perceptual_grid,
    synthesize,
)

T = 1024


def test_harmonic_amplitudes_follow_equation_one() -> None:
    amp = harmonic_amplitudes(np.array([1.0, 0.0]), np.array([0.5, 1.0]), 4)
    np.testing.assert_allclose(amp[0], [0.5, 1.5 / 2, 0.5 / 3, 1.5 / 4])
    np.testing.assert_allclose(amp[1], [0.0, 2.0, 0.0, 2.0])  # r = 1 cancels the odd harmonics


@pytest.mark.parametrize(("cycles", "alpha", "r"), [(12, 0.0, 0.0), (17, 1.3, 0.4), (24, 2.0, 0.9)])
def test_spectrum_has_exact_harmonic_amplitudes_and_nothing_above_nyquist(cycles: int, alpha: float, r: float) -> None:
    # An integer number of cycles per T puts harmonic p on DFT bin p*cycles; the periodic Hann window
    # leaks only into the two adjacent bins, and harmonics are >= 12 bins apart, so the DFT magnitude at
    # bin p*cycles is exactly amplitude_p * T / 4 (before the peak normalisation).
    y = synthesize(np.array([cycles * 32000 / T]), np.array([alpha]), np.array([r]), 32000, T, peak=1.0)[0]
    spectrum = np.abs(np.fft.rfft(y.astype(np.float64)))
    n_harm = min(32, (T // 2 - 1) // cycles)  # the harmonics strictly below Nyquist, at most P
    expected = harmonic_amplitudes(np.array([alpha]), np.array([r]), n_harm)[0]
    measured = spectrum[np.arange(1, n_harm + 1) * cycles]
    scale = measured[np.argmax(np.abs(expected))] / np.abs(expected).max()
    np.testing.assert_allclose(measured, np.abs(expected) * scale, atol=1e-5 * measured.max())
    beyond = np.ones(len(spectrum), dtype=bool)
    for p in range(1, n_harm + 1):
        beyond[p * cycles - 1 : p * cycles + 2] = False
    assert spectrum[beyond].max() < 1e-5 * spectrum.max()  # nothing else: nothing aliases
    assert abs(np.abs(y).max() - 1.0) < 1e-6


def test_harmonics_stop_below_nyquist_for_high_f1() -> None:
    sr, f1 = 16000, 3000.0  # harmonics 1 and 2 are below 8 kHz, 3 and above would alias
    y = synthesize(np.array([f1]), np.array([0.0]), np.array([0.0]), sr, sr)[0]
    spectrum = np.abs(np.fft.rfft(y.astype(np.float64)))
    freqs = np.fft.rfftfreq(sr, 1 / sr)
    assert spectrum[np.abs(freqs - 7000) < 200].max() < 1e-4 * spectrum.max()  # 3 f1 = 9 kHz would fold to 7 kHz
    assert spectrum[np.abs(freqs - 6000) < 5].max() > 0.5 * spectrum.max()


def test_paper_preset_matches_the_paper() -> None:
    grid = paper_grid(32000)
    p = grid.parameters()
    assert grid.n_sounds == len(p) == 2500 and grid.n_samples == 1024 and grid.max_harmonics == 32
    np.testing.assert_allclose(np.unique(p.alpha), np.linspace(0, 2, 50))
    np.testing.assert_allclose(np.unique(p.r), np.linspace(0, 1, 50))
    cycles = p.f1_hz * 1024 / 32000
    np.testing.assert_allclose(cycles, np.round(cycles))
    assert set(np.round(cycles).astype(int)) == set(range(12, 25))
    audio = grid.audio(0, 40)
    assert audio.shape == (40, 1024) and audio.dtype == np.float32
    np.testing.assert_allclose(np.abs(audio).max(axis=1), 0.5, rtol=1e-6)


def test_perceptual_preset_is_log_uniform_in_f1() -> None:
    grid = perceptual_grid(16000, duration_s=0.5)
    p = grid.parameters()
    midi = 69 + 12 * np.log2(p.f1_hz / 440)
    assert grid.n_samples == 8000 and midi.min() >= 36 and midi.max() <= 84
    assert np.histogram(midi, bins=4, range=(36, 84))[0].min() > 500  # uniform in MIDI, i.e. in octaves
    np.testing.assert_allclose(midi_to_hz(69), 440.0)
    assert grid.describe()["f1_low_hz"] == pytest.approx(65.406, abs=1e-3)


def test_seeded_and_reproducible() -> None:
    a, b, c = paper_grid(32000, seed=3), paper_grid(32000, seed=3), paper_grid(32000, seed=4)
    np.testing.assert_array_equal(a.audio(0, 10), b.audio(0, 10))
    assert not np.array_equal(a.parameters().f1_hz, c.parameters().f1_hz)
    np.testing.assert_array_equal(a.audio(5, 10), a.audio(0, 10)[5:])  # batches equal the whole


def test_full_control_and_bad_settings() -> None:
    grid = make_grid("perceptual", 32000, n_alpha=3, n_r=2, f1_low=60, f1_high=60, duration_s=0.1)
    assert grid.n_sounds == 6 and grid.n_samples == 3200
    np.testing.assert_allclose(grid.parameters().f1_hz, midi_to_hz(60))
    with pytest.raises(ValueError, match="preset"):
        make_grid("fancy", 32000)
    with pytest.raises(ValueError, match="Nyquist"):
        ToneGrid(sample_rate=1000, n_samples=1024, f1_low=12, f1_high=600)
    with pytest.raises(ValueError, match="integer"):
        ToneGrid(sample_rate=32000, n_samples=1024, f1_low=12.5, f1_high=24)
    with pytest.raises(ValueError, match="f1_scale"):
        ToneGrid(sample_rate=32000, n_samples=1024, f1_scale="bark")
    with pytest.raises(IndexError):
        paper_grid(32000).audio(2490, 2510)
    with pytest.raises(ValueError, match="silent"):  # r = 1 and no even harmonic below Nyquist
        synthesize(np.array([5000.0]), np.array([1.0]), np.array([1.0]), 16000, 512)
    with pytest.raises(ValueError, match="same length"):
        synthesize(np.array([100.0, 200.0]), np.array([1.0]), np.array([0.0]), 16000, 512)
    with pytest.raises(ValueError, match="NaN"):
        synthesize(np.array([np.nan]), np.array([1.0]), np.array([0.0]), 16000, 512)


def test_recurrence_equals_the_direct_sum_of_cosines() -> None:
    grid = perceptual_grid(32000, n_alpha=4, n_r=4, duration_s=0.25)
    p, audio = grid.parameters(), grid.audio()
    n = np.arange(grid.n_samples)
    amp = harmonic_amplitudes(p.alpha, p.r, 32)
    for i in range(grid.n_sounds):
        direct = sum(amp[i, k - 1] * np.cos(2 * np.pi * k * p.f1_hz[i] * n / 32000) for k in range(1, 33)
                     if k * p.f1_hz[i] < 16000) * (0.5 - 0.5 * np.cos(2 * np.pi * n / grid.n_samples))
        np.testing.assert_allclose(audio[i], 0.5 * direct / np.abs(direct).max(), rtol=0, atol=1e-6)
