"""Handcrafted descriptors (hear_gear_embed.features) against librosa 0.11 and against simple oracles."""

from __future__ import annotations

import functools
import math

import librosa
import librosa.feature.spectral
import numpy as np
import pytest
import scipy.fft
import torch
import torch.nn.functional as F
from nnAudio.features.cqt import CQT1992v2

from hear_gear_embed.features.cepstral import dct_ortho, mfcc, power_to_db, slaney_mel_banks
from hear_gear_embed.features.pitch import chroma, chroma_matrix, pitch_classes, spectral_peaks
from hear_gear_embed.features.spectral import (
    spectral_bandwidth,
    spectral_centroid,
    spectral_contrast,
    spectral_flatness,
    spectral_rolloff,
)
from hear_gear_embed.features.temporal import rms, zero_crossing_rate

SR = 32000
N_FFT = 1024
HOP = 320
N_SAMPLES = 48000  # 1.5 s
C1_HZ = 32.703195662574764
BIN_HZ = SR / N_FFT
FREQS = torch.arange(N_FFT // 2 + 1, dtype=torch.float32) * BIN_HZ
# Frames whose window lies fully inside the signal (no padding), for oracles that assume a steady tone.
INNER = slice(2, -2)

# Every tolerance below is on max |ours - librosa| / max |librosa| unless stated otherwise. Both sides work
# in float32 (librosa keeps the dtype of S), so 1e-5 leaves about two orders of magnitude for rounding.
REL_TOL = 1e-5


def _time() -> torch.Tensor:
    return torch.arange(N_SAMPLES, dtype=torch.float64) / SR


def _signals() -> torch.Tensor:
    """(3, N_SAMPLES) float32: white noise, three sines with 0.3 s of digital silence, a linear chirp."""
    t = _time()
    noise = 0.3 * torch.randn(N_SAMPLES, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sines = sum(a * torch.sin(2 * math.pi * f * t) for a, f in ((0.5, 440.0), (0.3, 1234.5), (0.2, 5000.0)))
    sines[16000:25600] = 0.0
    chirp = 0.8 * torch.sin(2 * math.pi * (100.0 * t + 0.5 * (8000.0 - 100.0) / 1.5 * t**2))
    return torch.stack([noise, sines, chirp]).to(torch.float32)


def _tone(freq_hz: float, amplitude: float = 1.0, phase: float = 0.3) -> torch.Tensor:
    return (amplitude * torch.sin(2 * math.pi * freq_hz * _time() + phase)).to(torch.float32)


def _magnitude(y: torch.Tensor) -> torch.Tensor:
    window = torch.hann_window(N_FFT, periodic=True)
    return torch.stft(y, N_FFT, HOP, window=window, center=True, pad_mode="constant", return_complex=True).abs()


def _frames(y: torch.Tensor, mode: str) -> torch.Tensor:
    """Centred frames (..., n_frames, N_FFT) as librosa cuts them with center=True and the given padding."""
    padded = F.pad(y.unsqueeze(-2), (N_FFT // 2, N_FFT // 2), mode=mode).squeeze(-2)
    return padded.unfold(-1, N_FFT, HOP)


def _cqt(y: torch.Tensor, bins_per_octave: int) -> tuple[torch.Tensor, torch.Tensor]:
    layer = CQT1992v2(
        sr=SR,
        hop_length=HOP,
        fmin=C1_HZ,
        n_bins=7 * bins_per_octave,
        bins_per_octave=bins_per_octave,
        verbose=False,
        center=True,
        pad_mode="constant",
    )
    return layer(y), torch.as_tensor(layer.frequencies, dtype=torch.float32)


def _rel_err(ours: torch.Tensor, ref: np.ndarray) -> float:
    ref_t = torch.as_tensor(ref, dtype=torch.float64)
    assert ours.shape == ref_t.shape
    assert torch.isfinite(ours).all()
    return float((ours.double() - ref_t).abs().max() / ref_t.abs().max())


@pytest.fixture(scope="module")
def audio() -> torch.Tensor:
    return _signals()


@pytest.fixture(scope="module")
def mag(audio: torch.Tensor) -> torch.Tensor:
    return _magnitude(audio)


def test_silent_frames_present(mag: torch.Tensor) -> None:
    assert int((mag[1].sum(0) == 0).sum()) >= 20


@pytest.mark.parametrize(
    ("ours", "ref"),
    [
        (lambda S: spectral_centroid(S, FREQS), lambda S: librosa.feature.spectral_centroid(S=S, sr=SR, n_fft=N_FFT)),
        (lambda S: spectral_bandwidth(S, FREQS), lambda S: librosa.feature.spectral_bandwidth(S=S, sr=SR, n_fft=N_FFT)),
        (
            lambda S: spectral_bandwidth(S, FREQS, p=1.0),
            lambda S: librosa.feature.spectral_bandwidth(S=S, sr=SR, n_fft=N_FFT, p=1),
        ),
        (spectral_flatness, lambda S: librosa.feature.spectral_flatness(S=S)),
    ],
    ids=["centroid", "bandwidth", "bandwidth_p1", "flatness"],
)
def test_spectral_shape_matches_librosa(mag: torch.Tensor, ours, ref) -> None:
    assert _rel_err(ours(mag), ref(mag.numpy())) < REL_TOL


def test_silent_frames_give_zero_centroid_and_bandwidth(mag: torch.Tensor) -> None:
    silent = mag[1].sum(0) == 0
    assert (spectral_centroid(mag, FREQS)[1, 0, silent] == 0).all()
    assert (spectral_bandwidth(mag, FREQS)[1, 0, silent] == 0).all()


@pytest.mark.parametrize("roll_percent", [0.85, 0.1, 0.99])
def test_rolloff_matches_librosa(mag: torch.Tensor, roll_percent: float) -> None:
    ours = spectral_rolloff(mag, FREQS, roll_percent=roll_percent)
    ref = torch.as_tensor(librosa.feature.spectral_rolloff(S=mag.numpy(), sr=SR, n_fft=N_FFT, roll_percent=roll_percent))
    diff = (ours.double() - ref).abs()
    # torch accumulates the float32 cumulative sum in float64 on CPU and numpy in float32, so a bin whose
    # cumulative sum ties with the threshold may land on either side: at most one bin apart, and rarely.
    assert float(diff.max()) <= BIN_HZ + 1e-3
    assert float((diff > 0).double().mean()) < 0.02
    assert (ours[1, 0, mag[1].sum(0) == 0] == 0).all()


def _contrast_reference(S: np.ndarray, monkeypatch: pytest.MonkeyPatch, **kwargs) -> np.ndarray:
    # librosa clips peak and valley dB to 80 dB below their maximum over the whole input (power_to_db's
    # default top_db); ours does not, by design (see spectral_contrast), so the reference disables it.
    monkeypatch.setattr(librosa.feature.spectral, "power_to_db", functools.partial(librosa.power_to_db, top_db=None))
    return librosa.feature.spectral_contrast(S=S, sr=SR, n_fft=N_FFT, **kwargs)


@pytest.mark.parametrize(
    "kwargs", [{}, {"n_bands": 4, "fmin": 400.0, "quantile": 0.1}, {"n_bands": 7, "fmin": 100.0, "quantile": 0.5}]
)
def test_contrast_matches_librosa(mag: torch.Tensor, monkeypatch: pytest.MonkeyPatch, kwargs: dict) -> None:
    ours = spectral_contrast(mag, FREQS, SR, **kwargs)
    assert _rel_err(ours, _contrast_reference(mag.numpy(), monkeypatch, **kwargs)) < REL_TOL


def test_contrast_equals_plain_librosa_where_clipping_is_inactive(mag: torch.Tensor) -> None:
    noise = mag[:1].numpy()
    assert _rel_err(spectral_contrast(mag[:1], FREQS, SR), librosa.feature.spectral_contrast(S=noise, sr=SR, n_fft=N_FFT)) < REL_TOL


def test_slaney_mel_banks_match_librosa() -> None:
    for kwargs in ({"n_mels": 128}, {"n_mels": 64, "fmin": 50.0, "fmax": 14000.0}):
        ours = slaney_mel_banks(n_fft=N_FFT, sample_rate=SR, **kwargs)
        ref = librosa.filters.mel(sr=SR, n_fft=N_FFT, **kwargs)
        assert ours.dtype == torch.float32
        assert _rel_err(ours, ref) < 1e-6


def test_dct_ortho_matches_scipy() -> None:
    ref = scipy.fft.dct(np.eye(128), type=2, norm="ortho", axis=0)[:20]
    assert float((dct_ortho(20, 128).double() - torch.as_tensor(ref)).abs().max()) < 1e-6


def test_power_to_db_has_no_top_db() -> None:
    x = torch.tensor([1.0, 1e-3, 1e-12, 0.0])
    assert torch.allclose(power_to_db(x), torch.tensor([0.0, -30.0, -100.0, -100.0]))


def test_mfcc_matches_librosa(mag: torch.Tensor) -> None:
    power = mag.square()
    ours = mfcc(power, slaney_mel_banks(128, N_FFT, SR), 20)
    mel = librosa.feature.melspectrogram(S=power.numpy(), sr=SR, n_fft=N_FFT, n_mels=128)
    ref = librosa.feature.mfcc(S=librosa.power_to_db(mel, top_db=None), n_mfcc=20)
    assert _rel_err(ours, ref) < REL_TOL
    assert torch.equal(ours, mfcc(power, slaney_mel_banks(128, N_FFT, SR), 20, dct=dct_ortho(20, 128)))


def test_rms_matches_librosa(audio: torch.Tensor) -> None:
    ref = librosa.feature.rms(y=audio.numpy(), frame_length=N_FFT, hop_length=HOP, center=True)
    assert _rel_err(rms(_frames(audio, "constant")), ref) < REL_TOL


def test_zcr_matches_librosa(audio: torch.Tensor) -> None:
    ref = librosa.feature.zero_crossing_rate(audio.numpy(), frame_length=N_FFT, hop_length=HOP, center=True)
    # librosa pads with edge values for zcr (not zeros), and counts exactly, so the match is exact.
    assert _rel_err(zero_crossing_rate(_frames(audio, "replicate")), ref) == 0.0


def test_oracle_centroid_of_a_tone() -> None:
    centroid = spectral_centroid(_magnitude(_tone(1000.0)), FREQS)[0, INNER]
    assert float((centroid - 1000.0).abs().max()) < BIN_HZ


def test_oracle_flatness_noise_vs_tone(audio: torch.Tensor) -> None:
    # White noise: |X|^2 is exponential, whose geometric / arithmetic mean is exp(-euler_gamma) = 0.56;
    # single frames scatter around it (513 bins), hence the looser per-frame bound.
    noise_flatness = spectral_flatness(_magnitude(audio[0]))
    assert float(noise_flatness.mean()) > 0.5
    assert float(noise_flatness.min()) > 0.4
    assert float(spectral_flatness(_magnitude(_tone(1000.0)))[0, INNER].max()) < 0.01


def test_oracle_rms_and_zcr_of_a_tone() -> None:
    tone = _tone(1000.0)
    assert torch.allclose(rms(_frames(tone, "constant"))[0, INNER], torch.tensor(1 / math.sqrt(2)), atol=1e-3)
    # 2 crossings per period; a frame holds 32 periods, and its first pair boundary may fall on either side.
    zcr = zero_crossing_rate(_frames(tone, "replicate"))[0, INNER]
    assert float((zcr - 2 * 1000.0 / SR).abs().max()) <= 1.0 / N_FFT


def test_pitch_classes_of_cqt_bins() -> None:
    _, freqs = _cqt(torch.zeros(1, HOP), 12)
    assert torch.equal(pitch_classes(freqs), torch.arange(84) % 12)
    freqs36 = torch.as_tensor(C1_HZ * 2.0 ** (np.arange(252) / 36))
    # Three bins per semitone: the bins 1/3 semitone below and above a note fold into that note.
    assert torch.equal(pitch_classes(freqs36), ((torch.arange(252) + 1) // 3) % 12)
    freqs24 = torch.as_tensor(C1_HZ * 2.0 ** (np.arange(48) / 24))
    # Two bins per semitone: the bin half-way between notes goes to the upper one, like librosa's cq_to_chroma.
    assert torch.equal(pitch_classes(freqs24), ((torch.arange(48) + 1) // 2) % 12)
    ref24 = librosa.filters.cq_to_chroma(48, bins_per_octave=24, fmin=C1_HZ)
    assert torch.equal(chroma_matrix(freqs24), torch.as_tensor(ref24))


def test_oracle_chroma_of_c_major_triad() -> None:
    triad = _tone(261.6256) + _tone(329.6276) + _tone(391.9954)
    C, freqs = _cqt(triad.unsqueeze(0), 12)
    profile = chroma(C, chroma_matrix(freqs))[0, :, INNER].mean(-1)
    assert set(profile.topk(3).indices.tolist()) == {0, 4, 7}


def test_chroma_36_bins_matches_librosa(audio: torch.Tensor) -> None:
    C, freqs = _cqt(audio, 36)
    C[1, :, 40:50] = 0.0  # all-zero frames must stay 0, as in librosa
    ours = chroma(C, chroma_matrix(freqs))
    ref = librosa.feature.chroma_cqt(C=C.numpy(), sr=SR, hop_length=HOP, fmin=C1_HZ, bins_per_octave=36, n_chroma=12)
    assert _rel_err(ours, ref) < REL_TOL
    assert (ours[1, :, 40:50] == 0).all()


def test_spectral_peaks_two_tones_and_silence() -> None:
    two_tones = _tone(440.0) + 0.5 * _tone(659.2551)  # A4 and E5: CQT bins 45 and 52 from C1
    silence = torch.zeros(N_SAMPLES)
    dither = 1e-9 * torch.randn(N_SAMPLES, generator=torch.Generator().manual_seed(1))
    C, _ = _cqt(torch.stack([two_tones, silence, dither]), 12)
    peaks = spectral_peaks(C)
    expected = torch.zeros(84)
    expected[[45, 52]] = 1.0
    assert (peaks[0, :, INNER] == expected.unsqueeze(-1)).all()
    assert peaks[1:].sum() == 0


def test_extra_leading_dims(audio: torch.Tensor, mag: torch.Tensor) -> None:
    S4 = mag.reshape(3, 1, *mag.shape[1:])
    for fn in (
        lambda S: spectral_centroid(S, FREQS),
        lambda S: spectral_bandwidth(S, FREQS),
        spectral_flatness,
        lambda S: spectral_rolloff(S, FREQS),
        lambda S: spectral_contrast(S, FREQS, SR),
        lambda S: mfcc(S.square(), slaney_mel_banks(40, N_FFT, SR), 13),
        spectral_peaks,
    ):
        assert torch.allclose(fn(S4)[:, 0], fn(mag), rtol=1e-6, atol=1e-6)
    frames = _frames(audio, "constant")
    assert torch.equal(rms(frames[None])[0], rms(frames))
    assert torch.equal(zero_crossing_rate(frames[None])[0], zero_crossing_rate(frames))


_S = torch.rand(2, 513, 10)
_FREQS36 = torch.as_tensor(C1_HZ * 2.0 ** (np.arange(72) / 36), dtype=torch.float32)


@pytest.mark.parametrize(
    "call",
    [
        lambda: spectral_centroid(_S[0, :, 0], FREQS),
        lambda: spectral_centroid(_S, FREQS[:-1]),
        lambda: spectral_centroid(_S.to(torch.int64), FREQS),
        lambda: spectral_bandwidth(_S, FREQS, p=0.0),
        lambda: spectral_flatness(_S, amin=0.0),
        lambda: spectral_rolloff(_S, FREQS, roll_percent=0.0),
        lambda: spectral_rolloff(_S, FREQS, roll_percent=1.0),
        lambda: spectral_contrast(_S, FREQS, SR, quantile=0.0),
        lambda: spectral_contrast(_S, FREQS, SR, quantile=1.0),
        lambda: spectral_contrast(_S, FREQS, SR, n_bands=0),
        lambda: spectral_contrast(_S, FREQS, SR, fmin=0.0),
        lambda: spectral_contrast(_S, FREQS, SR, n_bands=8),
        lambda: spectral_contrast(_S, FREQS, SR, fmin=10.0),
        lambda: slaney_mel_banks(64, N_FFT, SR, fmin=9000.0, fmax=8000.0),
        lambda: power_to_db(_S, amin=0.0),
        lambda: dct_ortho(21, 20),
        lambda: mfcc(_S, slaney_mel_banks(64, 2048, SR), 20),
        lambda: mfcc(_S, slaney_mel_banks(64, N_FFT, SR), 20, dct=dct_ortho(13, 64)),
        lambda: rms(torch.zeros(N_FFT)),
        lambda: zero_crossing_rate(torch.zeros(3, N_FFT), threshold=-1.0),
        lambda: pitch_classes(C1_HZ * 2.0 ** (torch.arange(30) / 10)),
        lambda: pitch_classes(_FREQS36 * 2.0 ** (0.5 / 12)),
        lambda: pitch_classes(_FREQS36.flip(0)),
        lambda: chroma_matrix(_FREQS36, n_chroma=24),
        lambda: chroma(_S, chroma_matrix(_FREQS36)),
        lambda: spectral_peaks(_S, range_db=0.0),
        lambda: spectral_peaks(_S, floor=-1.0),
    ],
)
def test_bad_inputs_raise(call) -> None:
    with pytest.raises(ValueError):
        call()


def test_zero_crossing_rate_padded_equals_framed() -> None:
    from hear_gear_embed.features import zero_crossing_rate, zero_crossing_rate_padded

    g = torch.Generator().manual_seed(3)
    signal = torch.randn(2, 9000, generator=g)
    signal[:, 2000:3000] = 0.0
    framed = zero_crossing_rate(signal.unfold(-1, 1024, 320))
    torch.testing.assert_close(zero_crossing_rate_padded(signal, 1024, 320), framed, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="frame_length"):
        zero_crossing_rate_padded(signal[:, :100], 1024, 320)
