"""The descriptor table (:mod:`hear_gear_embed.features.catalogue`): each record agrees with what
:class:`~hear_gear_embed.features.frames.FrameFeatures` returns; spectral flux against librosa 0.11."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from hear_gear_embed.features import DESCRIPTORS, FEATURES, SOURCES, FeatureConfig, get_descriptor
from hear_gear_embed.features.catalogue import CONSTANTS, RMS_FLOOR, source_of
from hear_gear_embed.features.frames import FrameFeatures, FrameInputs

from ..conftest import noise

CONFIG = FeatureConfig()
N_SAMPLES = 4321  # 0.135 s: a few frames of every source, not a whole number of hops


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    return noise(2, N_SAMPLES / CONFIG.sample_rate, seed=31)


@pytest.fixture(scope="module")
def every_feature() -> FrameFeatures:
    return FrameFeatures(CONFIG, FEATURES)


@pytest.fixture(scope="module")
def computed(every_feature: FrameFeatures, clip: torch.Tensor) -> dict[str, torch.Tensor]:
    return every_feature(clip)


def test_table_is_consistent() -> None:
    assert FEATURES == tuple(DESCRIPTORS) and FEATURES[-1] == "flux"
    for name, d in DESCRIPTORS.items():
        assert d.name == name and d.source in SOURCES and source_of(name) is SOURCES[d.source]
        assert set(d.constants) <= set(CONSTANTS) and d.context >= 0 and d.summary
        # The unit says what the divisor does to the raw values.
        assert {1000.0: "kHz", 10.0: "10 dB"}.get(d.unit_size, d.unit) == d.unit, name
        assert d.requires(CONFIG) is None, name
    assert {n for n, d in DESCRIPTORS.items() if d.context} == {"flux"}
    assert RMS_FLOOR == 1e-5


@pytest.mark.parametrize("name", FEATURES)
def test_record_describes_the_output(name: str, clip: torch.Tensor, every_feature: FrameFeatures,
                                     computed: dict[str, torch.Tensor]) -> None:
    d, source = get_descriptor(name), source_of(name)
    value = computed[name]
    assert value.dtype == torch.float32 and torch.isfinite(value).all()
    assert value.shape == (2, d.dim(CONFIG), source.n_frames(CONFIG, N_SAMPLES))
    hop, span = source.hop(CONFIG), source.span(CONFIG)
    assert hop > 0 and span >= hop and source.bytes_per_frame(CONFIG) > 0
    # One chunk of the whole padded clip through the kernel, divided by the unit: the output.
    padded = every_feature._padded(d.source, clip)
    assert padded.shape[-1] >= (value.shape[-1] - 1) * hop + span
    raw = d.kernel(FrameInputs(padded[:, : (value.shape[-1] - 1) * hop + span], every_feature))
    torch.testing.assert_close(raw / d.unit_size, value, atol=1e-5, rtol=1e-5)


def test_memory_estimate_counts_each_source_once(every_feature: FrameFeatures) -> None:
    per_source = {name: source.bytes_per_frame(CONFIG) for name, source in SOURCES.items()}
    assert all(size > 0 for size in per_source.values())
    assert every_feature.bytes_per_frame(3) == 3 * sum(per_source.values())
    assert FrameFeatures(CONFIG, ("rms", "mfcc", "flux")).bytes_per_frame(2) == 2 * per_source["frames"]


def test_unknown_feature() -> None:
    with pytest.raises(ValueError, match="unknown feature 'centriod'; did you mean centroid"):
        get_descriptor("centriod")
    with pytest.raises(ValueError, match="unknown feature 'loudness'"):
        FrameFeatures(CONFIG, ("rms", "loudness"))


def _steps(seconds: float = 3.0, silence: bool = True, sr: int = 32000) -> np.ndarray:
    """A 660 Hz tone whose amplitude steps every half second, in noise (with 94 ms of digital silence after 1 s):
    float32."""
    rng = np.random.default_rng(7)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    envelope = np.repeat([0.05, 0.6, 0.1, 0.9, 0.02, 0.4], n // 6)
    y = envelope * np.sin(2 * np.pi * 660.0 * t) + 0.01 * rng.standard_normal(n)
    if silence:
        y[sr: sr + 3000] = 0.0  # log-mel at the power floor (1e-10, -100 dB), then a 40+ dB onset
    return y.astype(np.float32)


def test_flux_matches_librosa_onset_strength() -> None:
    y = _steps()
    ours = FrameFeatures(CONFIG, ("flux",))(torch.from_numpy(y)[None])["flux"][0, 0].double().numpy() * 10
    # librosa 0.11: onset_strength(S=...) with lag=1, max_size=1 (no max filter: ref is S) and center=False is
    # mean over bands of max(0, S[:, t] - S[:, t-1]) for t >= 1, left-padded by `lag` zeros (no trimming); S is
    # the Slaney (norm="slaney", htk=False, fmax=sr/2) mel power of a centred, zero-padded periodic-Hann STFT.
    mel = librosa.feature.melspectrogram(y=y.astype(np.float64), sr=32000, n_fft=1024, hop_length=320, n_mels=128,
                                         center=True, pad_mode="constant", power=2.0)
    ref = librosa.onset.onset_strength(S=librosa.power_to_db(mel, top_db=None), lag=1, max_size=1, center=False)
    assert ours.shape == ref.shape == (1 + len(y) // 320,)
    assert ours[0] == 0.0 and ref[0] == 0.0
    assert ref.max() > 40.0 and np.median(ref) > 0.5  # the silence's end, and the noise's frame-to-frame rises
    # Ours is float32, the reference float64. Log-mel values reach 100 dB in magnitude (the -100 dB floor), where
    # float32 resolves about 1e-5 dB; each flux value is a mean of differences of two such values. Measured:
    # 1.4e-5 dB at most; the bound leaves a factor of 14 and is far below any real change (0.5 dB median).
    np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-4)


def test_flux_chunks_carry_one_frame_of_context() -> None:
    audio = torch.from_numpy(_steps(1.5, silence=False))[None]
    features = FrameFeatures(CONFIG, ("flux",))
    whole = features(audio)["flux"]
    assert whole[..., 0].abs().max() == 0.0
    budget = features.bytes_per_frame(1) * 7  # 7 frames per chunk: 22 chunks
    chunked = features(audio, budget_bytes=budget)["flux"]
    # Every chunk recomputes the STFT of its frames and of the one before: equal up to FFT rounding (measured
    # 1.2e-7), where dropping the context frame would zero the first frame of each chunk (here 0.02 to 0.84).
    starts = torch.arange(7, whole.shape[-1], 7)
    assert whole[..., starts].abs().min() > 1e-3
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=0)
