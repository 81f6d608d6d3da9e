"""Audio file input: discovery, reading, mono mix-down and band-limited resampling (synthetic oracles)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from hear_gear_embed.io import AUDIO_EXTENSIONS, AudioReadError, find_audio_files, probe, read_audio, resample


def sine(freq_hz: float, seconds: float, rate: int, amp: float = 0.5, phase: float = 0.0) -> np.ndarray:
    """``(n,)`` float64 sine, ``n = round(seconds * rate)``."""
    t = np.arange(int(round(seconds * rate))) / rate
    return amp * np.sin(2 * np.pi * freq_hz * t + phase)


@pytest.mark.parametrize("orig_rate", [16000, 22050, 44100, 48000])
@pytest.mark.parametrize("freq_hz", [440.0, 3000.0, 7000.0])
def test_resampled_sine_matches_the_sine_sampled_at_the_target_rate(orig_rate: int, freq_hz: float) -> None:
    target = 32000
    out = resample(sine(freq_hz, 1.0, orig_rate).astype(np.float32), orig_rate, target)
    assert out.dtype == np.float32
    assert out.shape == (target,)
    expected = sine(freq_hz, 1.0, target)
    inner = slice(1600, -1600)  # away from the edges, where the filter sees the implicit zeros
    # measured: at most 1.2e-6 (7 kHz at 44.1 kHz), about 3e-8 elsewhere: float32 rounding
    assert np.abs(out[inner] - expected[inner]).max() < 5e-6


def test_resampled_sine_near_the_band_edge() -> None:
    # 14 kHz is 0.875 of the 16 kHz Nyquist frequency, inside soxr VHQ's passband (ripple 0.01 dB,
    # 1.2e-3 relative): measured 2.9e-4 on an amplitude of 0.5.
    out = resample(sine(14000.0, 1.0, 44100).astype(np.float32), 44100, 32000)
    assert np.abs(out[1600:-1600] - sine(14000.0, 1.0, 32000)[1600:-1600]).max() < 1.2e-3 * 0.5


def test_resampling_removes_content_above_the_new_nyquist() -> None:
    # 20 kHz at 48 kHz cannot exist at 32 kHz (Nyquist 16 kHz): a band-limited resampler removes it
    # instead of folding it down to 12 kHz.
    out = resample(sine(20000.0, 1.0, 48000).astype(np.float32), 48000, 32000)
    assert np.abs(out[3200:-3200]).max() < 1e-4


def test_resample_same_rate_is_identity_and_bad_rates_raise() -> None:
    x = np.zeros(10, dtype=np.float32)
    assert resample(x, 32000, 32000) is x
    with pytest.raises(ValueError, match="positive"):
        resample(x, 0, 32000)


def test_stereo_is_averaged_then_resampled(tmp_path: Path) -> None:
    left, right = sine(440.0, 0.5, 48000), sine(1000.0, 0.5, 48000, amp=0.25)
    path = tmp_path / "st.flac"
    soundfile.write(path, np.stack([left, right], axis=1), 48000, subtype="PCM_24")
    clip = read_audio(path, 48000)
    assert clip.samples.shape == (24000,)
    assert clip.source.channels == 2 and clip.source.sample_rate == 48000 and clip.source.frames == 24000
    np.testing.assert_allclose(clip.samples, (left + right) / 2, atol=2e-7)
    at_32k = read_audio(path, 32000)
    assert at_32k.samples.shape == (16000,) and at_32k.sample_rate == 32000
    np.testing.assert_allclose(at_32k.samples, resample(clip.samples, 48000, 32000), atol=1e-6)


@pytest.mark.parametrize("rate", [32000, 44100])
def test_block_size_does_not_change_the_clip(tmp_path: Path, rate: int) -> None:
    x = np.stack([sine(440.0, 0.9, rate), sine(2000.0, 0.9, rate, amp=0.3)], axis=1)
    soundfile.write(tmp_path / "x.wav", x, rate, subtype="FLOAT")
    whole = read_audio(tmp_path / "x.wav", 32000).samples
    np.testing.assert_array_equal(read_audio(tmp_path / "x.wav", 32000, block_frames=1001).samples, whole)
    mono = x.astype(np.float32).mean(axis=1, dtype=np.float32)
    np.testing.assert_array_equal(whole, resample(mono, rate, 32000))


@pytest.mark.parametrize("name,subtype", [("a.wav", "PCM_16"), ("a.flac", "PCM_16"), ("a.ogg", "VORBIS"), ("a.wav", "FLOAT")])
def test_formats_read_back(tmp_path: Path, name: str, subtype: str) -> None:
    x = sine(440.0, 0.25, 16000)
    soundfile.write(tmp_path / name, x, 16000, subtype=subtype)
    clip = read_audio(tmp_path / name, 16000)
    tolerance = {"VORBIS": 0.05, "PCM_16": 1e-4, "FLOAT": 1e-7}[subtype]
    assert clip.samples.dtype == np.float32
    np.testing.assert_allclose(clip.samples, x, atol=tolerance)


def test_bad_files_raise_audio_read_error_naming_the_problem(tmp_path: Path) -> None:
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.wav").write_bytes(b"RIFF" + bytes(range(200)))
    soundfile.write(tmp_path / "zero.wav", np.zeros(0), 16000)
    soundfile.write(tmp_path / "nan.wav", np.array([0.0, np.nan, 0.1]), 16000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match="empty file"):
        read_audio(tmp_path / "empty.wav", 32000)
    with pytest.raises(AudioReadError, match="not readable as audio"):
        probe(tmp_path / "junk.wav")
    with pytest.raises(AudioReadError, match="no samples"):
        read_audio(tmp_path / "zero.wav", 32000)
    with pytest.raises(AudioReadError, match="1 NaN/Inf"):
        read_audio(tmp_path / "nan.wav", 16000)
    with pytest.raises(AudioReadError, match="not readable"):
        read_audio(tmp_path / "missing.wav", 16000)


def test_find_audio_files_recurses_sorted_and_skips_hidden(tmp_path: Path) -> None:
    for rel in ["b.wav", "a.FLAC", "sub/c.ogg", "sub/deeper/d.opus", "notes.txt", ".hidden.wav", "._a.wav",
                ".cache/e.wav"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in find_audio_files(tmp_path)]
    assert found == ["a.FLAC", "b.wav", "sub/c.ogg", "sub/deeper/d.opus"]
    assert find_audio_files(tmp_path / "notes.txt") == [tmp_path / "notes.txt"]  # explicit files are kept
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        find_audio_files(tmp_path / "nope")
    assert {".wav", ".flac", ".ogg"} <= set(AUDIO_EXTENSIONS)
