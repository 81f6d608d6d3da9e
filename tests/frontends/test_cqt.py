"""The constant-Q frontend: synthetic-signal oracles, librosa agreement, short inputs, PaSST on the CQT grid."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import torch

from hear_gear_embed.frontends import C1_HZ, CqtConfig
from hear_gear_embed.frontends.cqt import CqtFrontend, cqt_bin
from hear_gear_embed.model import PaSST, PasstConfig
from hear_gear_embed.registry import CQT_PASST_GRID

from ..conftest import noise, tone

SR = 32000


def midi_hz(note: int) -> float:
    return 440.0 * 2.0 ** ((note - 69) / 12)


@pytest.fixture(scope="module")
def frontend() -> CqtFrontend:
    return CqtFrontend(CqtConfig())


def test_midi60_peaks_at_its_bin_with_low_side_lobes(frontend: CqtFrontend) -> None:
    # Default grid: C1 (MIDI 24), 12 bins per octave, so MIDI 60 is bin 36.
    mag = frontend.magnitude(tone(midi_hz(60), 2.0)[None])[0]
    spectrum = mag[:, 50:150].mean(dim=1)
    peak = int(spectrum.argmax())
    assert peak == 36 == round(cqt_bin(midi_hz(60), frontend.config))
    # Hann kernels one semitone apart: the neighbours sit about 5.7 dB down (measured -5.8 / -5.6),
    # everything two or more bins away at least 25 dB down (measured -29.3 dB).
    neighbours = torch.stack([spectrum[peak - 1], spectrum[peak + 1]]) / spectrum[peak]
    assert torch.all(20 * torch.log10(neighbours) < -4.0)
    far = torch.cat([spectrum[: peak - 1], spectrum[peak + 2:]])
    assert 20 * math.log10(float(far.max() / spectrum[peak])) < -25.0
    # librosa's scaling: a sine of amplitude A has magnitude A sqrt(N_k) / 2 at its bin (N_k = kernel length).
    n_k = math.ceil(frontend.config.q_factor * SR / midi_hz(60))
    assert spectrum[peak].item() == pytest.approx(0.5 * math.sqrt(n_k) / 2, rel=1e-4)


@pytest.mark.parametrize("note", [33, 57, 69, 81, 100])
def test_every_octave_peaks_at_its_bin(frontend: CqtFrontend, note: int) -> None:
    mag = frontend.magnitude(tone(midi_hz(note), 1.5)[None])[0]
    assert int(mag[:, 40:110].mean(dim=1).argmax()) == note - 24


def test_agrees_with_librosa(frontend: CqtFrontend) -> None:
    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(3 * SR)).astype(np.float32)
    y[SR: SR + 3000] += np.sin(2 * np.pi * 1000 * np.arange(3000) / SR).astype(np.float32)
    ref = np.abs(librosa.cqt(y, sr=SR, hop_length=320, fmin=C1_HZ, n_bins=84, bins_per_octave=12, pad_mode="constant"))
    ours = frontend.magnitude(torch.from_numpy(y)[None])[0].numpy()
    assert ours.shape == ref.shape == (84, 1 + len(y) // 320)
    # librosa resamples octave by octave (an approximation); ours applies every kernel at full rate.
    # Measured: 2.2 % of the maximum magnitude in the worst bin and frame.
    assert np.abs(ours - ref).max() / ref.max() < 0.03


def test_short_inputs_work_and_frames_are_centred(frontend: CqtFrontend) -> None:
    # nnAudio's own reflection padding fails below half a kernel (16384 samples); ours pads with zeros.
    for n in (1, 2, 319, 320, 5000):
        out = frontend(noise(2, n / SR, seed=n))
        assert out.shape == (2, 84, 1 + n // 320)
        assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match="at least 1 sample"):
        frontend(torch.zeros(1, 0))
    with pytest.raises(ValueError, match="shape \\(batch, n_samples\\)"):
        frontend(torch.zeros(4))
    # A click at sample 10 * hop is loudest in frame 10 (top bin: the shortest kernel).
    click = torch.zeros(1, 6400)
    click[0, 3200] = 1.0
    assert int(frontend.magnitude(click)[0, -1].argmax()) == 10


def test_silence_is_the_log_floor(frontend: CqtFrontend) -> None:
    cfg = frontend.config
    out = frontend(torch.zeros(1, 3200))
    floor = (math.log(cfg.log_offset) + cfg.norm_shift) / cfg.norm_scale
    torch.testing.assert_close(out, torch.full_like(out, floor))


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="past Nyquist"):
        CqtConfig(n_bins=120)
    with pytest.raises(ValueError, match="must be positive"):
        CqtConfig(fmin=0.0)
    assert CqtConfig().kernel_width == 32768
    assert CqtConfig(bins_per_octave=36, n_bins=252).semitone_aligned()
    assert not CQT_PASST_GRID.semitone_aligned()


def test_passt_trains_on_the_cqt_grid() -> None:
    grid = CqtFrontend(CQT_PASST_GRID)
    assert grid.config.n_bins == PasstConfig().n_mels == 128
    net = PaSST(PasstConfig(embed_dim=32, depth=1, num_heads=2, num_classes=5))
    spec = grid(noise(2, 0.5, seed=3))
    assert spec.shape == (2, 128, 51)
    out = net(spec, -1, want_mid=True, want_logits=True)
    loss = out.logits.square().mean() + out.mid.square().mean()
    loss.backward()
    # head_dist is loaded but unused at inference, as in the reference; everything else learns.
    grads = {name: p.grad for name, p in net.named_parameters() if not name.startswith("head_dist")}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["patch_embed.proj.weight"].abs().sum() > 0


def test_octave_trimmed_kernels_equal_nnaudio(frontend: CqtFrontend) -> None:
    from nnAudio.features.cqt import CQT1992v2

    cfg = frontend.config
    reference = CQT1992v2(sr=SR, hop_length=cfg.hop_length, fmin=cfg.fmin, n_bins=cfg.n_bins,
                          bins_per_octave=cfg.bins_per_octave, center=False, verbose=False)
    padded = frontend.padded(noise(2, 1.2, seed=9))
    ours = frontend.magnitude_from_padded(padded)
    theirs = reference(padded.unsqueeze(1))
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, atol=1e-4 * theirs.abs().max().item(), rtol=1e-4)
    # Each octave's kernels are about half as long as the octave below's.
    widths = [stop - start for _, _, start, stop in frontend.spans]
    assert len(widths) == 7 and widths[0] > 1.8 * widths[1] > 3.2 * widths[2]
