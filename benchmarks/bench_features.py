"""Speed of this package's CQT and handcrafted frame features against librosa, in one run on one machine.

What is timed (wall clock, ``time.perf_counter``; one warm-up call, then the median of ``--repeats``
calls), for a batch of 1 clip and for a batch of ``--batch`` clips of ``--seconds`` of 32 kHz audio
(a deterministic mix of harmonic notes, a chirp and noise, float32):

* **ours**: :class:`hear_gear_embed.features.frames.FrameFeatures` (built once, outside the timing)
  called on the whole ``(batch, n_samples)`` tensor under ``torch.inference_mode`` with torch's
  default thread count (not changed here; it is recorded);
* **librosa**: the librosa 0.11 calls with the same parameters on float32 NumPy input, looped over the
  clips of the batch. librosa rebuilds its filters (CQT kernels, mel bank) inside every call; that is
  part of its normal use and is included.

Rows:

1. ``cqt``: ours (log-power CQT, C1, 84 bins, 12/octave, hop 320) vs ``librosa.cqt`` (``pad_mode="constant"``)
   followed by the same ``abs`` and log compression, ``(ln(|C|^2 + 1e-5) + 4.5) / 5``.
2. nnAudio kernels directly: ``CQT1992v2`` (our choice) vs ``CQT2010v2``, same parameters, zero
   padding, magnitude output (here the "reference" column is ``CQT2010v2``); ``2c``: the same against
   our :class:`~hear_gear_embed.frontends.cqt.CqtFrontend` magnitude (``CQT1992v2``'s kernels cut to
   each octave's non-zero span). Also records that ``CQT2010v2`` fails on the 128-bin,
   16-bins-per-octave PaSST grid at hop 320 (:data:`hear_gear_embed.registry.CQT_PASST_GRID`), and
   times ``CQT1992v2`` and ``CqtFrontend`` on that grid (``2b``).
3. ``chroma``: ours vs ``librosa.feature.chroma_cqt`` with ``tuning=0.0`` (librosa's default ``None``
   would estimate the tuning first, an extra pitch tracking pass and a different CQT) and
   ``bins_per_octave=12`` (librosa's default is 36), so that it computes the same CQT as row 1.
4. ``mfcc``: ours vs ``librosa.feature.mfcc`` (20 coefficients of 128 Slaney mels, n_fft 1024, hop 320,
   periodic Hann, zero-padded centred frames). librosa's ``power_to_db`` has ``top_db=80``, ours none.
5. spectral shape (centroid, bandwidth, flatness, rolloff, contrast): ours in one call vs one
   ``librosa.stft`` (its time included), ``S = |STFT|``, and the five librosa calls with ``S=S``.
6. ``rms`` + ``zcr``: ours in one call vs ``librosa.feature.rms(y=...)`` + ``zero_crossing_rate``.
7. the whole handcrafted set (:data:`hear_gear_embed.registry.HANDCRAFTED`): ours in one call vs the sum
   of librosa's calls: one CQT, chroma from it (``C=``), ``mfcc(y=...)`` (its own STFT, as in row 4),
   one STFT for the five spectral calls, rms, zcr, and the binary CQT peaks as NumPy on librosa's
   CQT magnitude (local maximum along frequency, within 30 dB of the frame maximum, above 1e-6).
8. the weight-free HEAR variants end to end (``lowlevel_mel``, ``lowlevel_cqt``, ``handcrafted``):
   ``get_timestamp_embeddings`` and ``get_scene_embeddings`` on ``--batch`` clips, with the real-time
   factor (seconds of audio per second of wall clock). No librosa comparison.

For rows 1, 3, 4 and 6 (and, for information, 5 and 7's peaks) the outputs of both sides are compared
on the first clip, undoing our embedding units (CQT: back to magnitude; MFCC x10; rms from log10),
as ``max |ours - librosa| / max |librosa|``, so that like is compared with like; for the CQT also the
median dB difference over the bins within 60 dB of the maximum, and for the peaks the fraction of
bins that differ. The CQT differs by a few percent (mostly in the lowest octaves) because librosa
computes the lower octaves on resampled audio.

The load average before and after is recorded: other processes on the machine distort the timings.

Usage: ``python benchmarks/bench_features.py [--repeats 5] [--batch 8] [--seconds 10] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import librosa
import nnAudio
import numpy as np
import torch
from nnAudio.features.cqt import CQT1992v2, CQT2010v2

from hear_gear_embed.features.config import FeatureConfig
from hear_gear_embed.features.frames import FrameFeatures
from hear_gear_embed.frontends.config import C1_HZ, CqtConfig
from hear_gear_embed.frontends.cqt import CqtFrontend
from hear_gear_embed.hear._api import get_scene_embeddings, get_timestamp_embeddings, load_model
from hear_gear_embed.registry import CQT_PASST_GRID, HANDCRAFTED

SR = 32000
HOP = 320
N_FFT = 1024
N_OCTAVES = 7
BPO = 12
N_BINS = N_OCTAVES * BPO
LOG_OFFSET, NORM_SHIFT, NORM_SCALE = 1e-5, 4.5, 5.0  # CqtConfig defaults: the log compression of "cqt"
SPECTRAL = ("centroid", "bandwidth", "flatness", "rolloff", "contrast")
HEAR_VARIANTS = ("lowlevel_mel", "lowlevel_cqt", "handcrafted")


@dataclass
class Row:
    """One timed comparison (``ref_ms`` is ``None`` where there is no reference)."""

    row: str
    batch: int
    ours_ms: float
    ref_ms: float | None
    ours_label: str = "hear_gear_embed"
    ref_label: str = "librosa"
    ours_all_ms: list[float] = field(default_factory=list)
    ref_all_ms: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """``ref / ours``: above 1 means ours is faster."""
        return None if self.ref_ms is None else self.ref_ms / self.ours_ms


def make_audio(batch: int, seconds: float, seed: int = 0) -> np.ndarray:
    """``(batch, n)`` float32 in [-1, 1]: per clip, a few harmonic notes in sequence, a chirp and -40 dB noise."""
    n = int(round(seconds * SR))
    t = np.arange(n) / SR
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(batch):
        y = np.zeros(n)
        n_notes = 8
        edges = np.linspace(0, n, n_notes + 1).astype(int)
        for a, b in zip(edges[:-1], edges[1:], strict=False):
            f0 = 440.0 * 2.0 ** ((rng.integers(36, 84) - 69) / 12)
            for h in range(1, 6):
                if f0 * h < SR / 2:
                    y[a:b] += 0.3 / h * np.sin(2 * np.pi * f0 * h * t[a:b] + rng.uniform(0, 2 * np.pi))
        y += 0.1 * np.sin(2 * np.pi * (50.0 * t + 0.5 * (4000.0 / seconds) * t**2))  # 50 Hz -> ~4 kHz chirp
        y += 0.01 * rng.standard_normal(n)
        clips.append(y / np.abs(y).max() * 0.8)
    return np.stack(clips).astype(np.float32)


def median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float]]:
    """One warm-up call, then the median over ``repeats`` calls (ms), and all of them."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000.0 * (time.perf_counter() - start))
    return statistics.median(times), times


def ours_fn(module: Callable[[torch.Tensor], Any], audio: torch.Tensor) -> Callable[[], Any]:
    def run() -> Any:
        with torch.inference_mode():
            return module(audio)
    return run


def per_clip(fn: Callable[[np.ndarray], Any], audio: np.ndarray) -> Callable[[], list[Any]]:
    return lambda: [fn(y) for y in audio]


# --- librosa side ---------------------------------------------------------------------------------

def lr_cqt_mag(y: np.ndarray) -> np.ndarray:
    return np.abs(librosa.cqt(y, sr=SR, hop_length=HOP, fmin=C1_HZ, n_bins=N_BINS, bins_per_octave=BPO,
                              pad_mode="constant"))


def lr_cqt_log(y: np.ndarray) -> np.ndarray:
    return (np.log(np.square(lr_cqt_mag(y)) + LOG_OFFSET) + NORM_SHIFT) / NORM_SCALE


def lr_chroma(y: np.ndarray) -> np.ndarray:
    return librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=HOP, fmin=C1_HZ, n_octaves=N_OCTAVES,
                                      bins_per_octave=BPO, n_chroma=12, tuning=0.0)


def lr_mfcc(y: np.ndarray) -> np.ndarray:
    return librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20, n_fft=N_FFT, hop_length=HOP, n_mels=128, window="hann",
                                center=True, pad_mode="constant")


def lr_spectral_from_S(S: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "centroid": librosa.feature.spectral_centroid(S=S, sr=SR, n_fft=N_FFT),
        "bandwidth": librosa.feature.spectral_bandwidth(S=S, sr=SR, n_fft=N_FFT),
        "flatness": librosa.feature.spectral_flatness(S=S),
        "rolloff": librosa.feature.spectral_rolloff(S=S, sr=SR, n_fft=N_FFT, roll_percent=0.85),
        "contrast": librosa.feature.spectral_contrast(S=S, sr=SR, n_fft=N_FFT, n_bands=6, fmin=200.0, quantile=0.02),
    }


def lr_stft_mag(y: np.ndarray) -> np.ndarray:
    return np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP, window="hann", center=True, pad_mode="constant"))


def lr_spectral(y: np.ndarray) -> dict[str, np.ndarray]:
    return lr_spectral_from_S(lr_stft_mag(y))


def lr_rms_zcr(y: np.ndarray) -> dict[str, np.ndarray]:
    return {"rms": librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP),
            "zcr": librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)}


def np_peaks(C: np.ndarray, range_db: float = 30.0, floor: float = 1e-6) -> np.ndarray:
    """The rule of :func:`hear_gear_embed.features.pitch.spectral_peaks` in NumPy, on ``(n_bins, n_frames)``."""
    padded = np.pad(C, ((1, 1), (0, 0)), constant_values=-np.inf)
    local_max = (C > padded[:-2]) & (C >= padded[2:])
    in_range = C >= C.max(axis=0, keepdims=True) * 10.0 ** (-range_db / 20.0)
    return (local_max & in_range & (C > floor)).astype(np.float32)


def lr_handcrafted(y: np.ndarray) -> dict[str, np.ndarray]:
    C = lr_cqt_mag(y)
    out = {"chroma": librosa.feature.chroma_cqt(C=C, sr=SR, hop_length=HOP, fmin=C1_HZ, n_octaves=N_OCTAVES,
                                                bins_per_octave=BPO, n_chroma=12, tuning=0.0),
           "mfcc": lr_mfcc(y)}
    out.update(lr_spectral(y))
    out.update(lr_rms_zcr(y))
    out["peaks"] = np_peaks(C)
    return out


# --- agreement --------------------------------------------------------------------------------------

def rel_diff(ours: np.ndarray, ref: np.ndarray) -> float:
    """``max |ours - ref| / max |ref|`` (shapes must match)."""
    if ours.shape != ref.shape:
        raise ValueError(f"shape mismatch: ours {ours.shape}, librosa {ref.shape}")
    return float(np.max(np.abs(ours.astype(np.float64) - ref)) / np.max(np.abs(ref)))


def cqt_log_to_mag(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(np.exp(x.astype(np.float64) * NORM_SCALE - NORM_SHIFT) - LOG_OFFSET, 0.0))


def cqt_db_diff(ours: np.ndarray, ref: np.ndarray, range_db: float) -> float:
    """Median ``|dB(ours) - dB(ref)|`` over the bins of ``ref`` within ``range_db`` of its maximum."""
    mask = ref > ref.max() * 10.0 ** (-range_db / 20.0)
    return float(np.median(np.abs(20.0 * np.log10(np.maximum(ours[mask], 1e-10)) - 20.0 * np.log10(ref[mask]))))


def agreement(clip: np.ndarray) -> dict[str, float]:
    """Relative max differences between ours and librosa on one clip (our units undone)."""
    config = FeatureConfig()
    names = ("cqt", "chroma", "mfcc", *SPECTRAL, "rms", "zcr", "peaks")
    with torch.inference_mode():
        ours = {k: v[0].numpy() for k, v in FrameFeatures(config, names)(torch.from_numpy(clip[None])).items()}
    ref_cqt_mag = lr_cqt_mag(clip)
    ref_spec = lr_spectral(clip)
    ref_rz = lr_rms_zcr(clip)
    ref_rms = ref_rz["rms"]
    loud = ref_rms > 1e-5  # ours floors rms at 1e-5 (-100 dBFS) before log10
    scales = {"centroid": 1000.0, "bandwidth": 1000.0, "rolloff": 1000.0, "contrast": 10.0, "flatness": 1.0}
    result = {
        "cqt_magnitude": rel_diff(cqt_log_to_mag(ours["cqt"]), ref_cqt_mag),
        "cqt_median_abs_db_diff_top60db": cqt_db_diff(cqt_log_to_mag(ours["cqt"]), ref_cqt_mag, 60.0),
        "chroma": rel_diff(ours["chroma"], lr_chroma(clip)),
        "mfcc": rel_diff(10.0 * ours["mfcc"], lr_mfcc(clip)),
        # The same without librosa's top_db=80 clipping (ours has none): isolates the clipping's share.
        "mfcc_vs_librosa_top_db_none": rel_diff(10.0 * ours["mfcc"], librosa.feature.mfcc(
            S=librosa.power_to_db(librosa.feature.melspectrogram(y=clip, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=128,
                                                                 window="hann", center=True, pad_mode="constant"),
                                  top_db=None), n_mfcc=20)),
        "rms": rel_diff(np.where(loud, 10.0 ** ours["rms"].astype(np.float64), 0.0), np.where(loud, ref_rms, 0.0)),
        "zcr": rel_diff(ours["zcr"], ref_rz["zcr"]),
    }
    for name in SPECTRAL:
        result[name] = rel_diff(scales[name] * ours[name], ref_spec[name])
    result["peaks_fraction_of_bins_differing"] = float(np.mean(ours["peaks"] != np_peaks(ref_cqt_mag)))
    return result


# --- rows -------------------------------------------------------------------------------------------

def compare(name: str, batch: int, ours: Callable[[], Any], ref: Callable[[], Any] | None, repeats: int,
            note: str = "", ours_label: str = "hear_gear_embed", ref_label: str = "librosa") -> Row:
    ours_ms, ours_all = median_ms(ours, repeats)
    ref_ms, ref_all = median_ms(ref, repeats) if ref is not None else (None, [])
    row = Row(name, batch, ours_ms, ref_ms, ours_label, ref_label, ours_all, ref_all, note)
    ratio = "" if row.ratio is None else f"{row.ratio:7.2f}"
    ref_text = "" if ref_ms is None else f"{ref_ms:9.1f}"
    print(f"  {name:<34} b={batch:<2} ours {ours_ms:9.1f} ms  {ref_label} {ref_text} ms  ratio {ratio}", flush=True)
    return row


def nnaudio_kernels(cfg: CqtConfig, which: type) -> torch.nn.Module:
    common = dict(sr=cfg.sample_rate, hop_length=cfg.hop_length, fmin=cfg.fmin, n_bins=cfg.n_bins,
                  bins_per_octave=cfg.bins_per_octave, filter_scale=cfg.filter_scale, window="hann",
                  pad_mode="constant", trainable=False, output_format="Magnitude", verbose=False)
    if which is CQT1992v2:
        return CQT1992v2(norm=1, center=True, **common)
    return CQT2010v2(**common)


def run_rows(audio_np: np.ndarray, repeats: int) -> tuple[list[Row], dict[str, Any]]:
    batch = audio_np.shape[0]
    audio = torch.from_numpy(audio_np)
    config = FeatureConfig()
    batches = sorted({1, batch})
    rows: list[Row] = []
    extra: dict[str, Any] = {}

    cqt_mod = FrameFeatures(config, ("cqt",))
    chroma_mod = FrameFeatures(config, ("chroma",))
    mfcc_mod = FrameFeatures(config, ("mfcc",))
    spec_mod = FrameFeatures(config, SPECTRAL)
    rz_mod = FrameFeatures(config, ("rms", "zcr"))
    hc_mod = FrameFeatures(config, HANDCRAFTED)
    k1992 = nnaudio_kernels(config.cqt, CQT1992v2)
    k2010 = nnaudio_kernels(config.cqt, CQT2010v2)
    frontend = CqtFrontend(config.cqt)

    for b in batches:
        x, y = audio[:b], audio_np[:b]
        print(f"batch {b}:", flush=True)
        rows.append(compare("1 cqt (log power)", b, ours_fn(cqt_mod, x), per_clip(lr_cqt_log, y), repeats,
                            "librosa.cqt + abs + log compression"))
        rows.append(compare("2 nnAudio CQT1992v2 vs CQT2010v2", b, ours_fn(k1992, x.unsqueeze(1)),
                            ours_fn(k2010, x.unsqueeze(1)), repeats, "raw nnAudio magnitude, C1, 84 bins, hop 320",
                            ours_label="CQT1992v2", ref_label="CQT2010v2"))
        rows.append(compare("2c CqtFrontend vs CQT2010v2", b, ours_fn(frontend.magnitude, x),
                            ours_fn(k2010, x.unsqueeze(1)), repeats,
                            "our per-octave trimmed CQT1992v2 kernels (CqtFrontend.magnitude, incl. zero padding)",
                            ours_label="CqtFrontend", ref_label="CQT2010v2"))
        rows.append(compare("3 chroma", b, ours_fn(chroma_mod, x), per_clip(lr_chroma, y), repeats,
                            "librosa.feature.chroma_cqt(tuning=0.0, bins_per_octave=12)"))
        rows.append(compare("4 mfcc", b, ours_fn(mfcc_mod, x), per_clip(lr_mfcc, y), repeats,
                            "librosa.feature.mfcc(y=...) incl. its STFT and mel bank"))
        rows.append(compare("5 spectral shape (5 features)", b, ours_fn(spec_mod, x), per_clip(lr_spectral, y),
                            repeats, "librosa: one stft (timed) + 5 calls with S=|STFT|"))
        rows.append(compare("6 rms + zcr", b, ours_fn(rz_mod, x), per_clip(lr_rms_zcr, y), repeats,
                            "librosa.feature.rms(y=...) + zero_crossing_rate"))
        rows.append(compare("7 handcrafted set (10 features)", b, ours_fn(hc_mod, x), per_clip(lr_handcrafted, y),
                            repeats, "librosa: cqt once, chroma(C=), mfcc(y=), stft once + 5 spectral, rms, zcr, "
                                     "NumPy peaks"))

    # The PaSST grid: CQT2010v2 halves the hop once per octave, so 8 octaves need a hop divisible by 128.
    grid = CQT_PASST_GRID
    grid_info: dict[str, Any] = {"config": asdict(grid)}
    try:
        k = nnaudio_kernels(grid, CQT2010v2)
        with torch.inference_mode():
            k(audio[:1].unsqueeze(1))
        grid_info["cqt2010v2_error"] = None
    except Exception as err:  # noqa: BLE001 - the point is to record whatever it raises
        grid_info["cqt2010v2_error"] = f"{type(err).__name__}: {err}"
    print(f"PaSST grid ({grid.n_bins} bins, {grid.bins_per_octave}/octave, hop {grid.hop_length}): "
          f"CQT2010v2 -> {grid_info['cqt2010v2_error'] or 'ok'}", flush=True)
    k_grid = nnaudio_kernels(grid, CQT1992v2)
    frontend_grid = CqtFrontend(grid)
    for b in batches:
        rows.append(compare("2b CQT1992v2 on PaSST grid", b, ours_fn(k_grid, audio[:b].unsqueeze(1)), None, repeats,
                            "128 bins, 16/octave, hop 320; CQT2010v2 fails here", ours_label="CQT1992v2",
                            ref_label="-"))
        rows.append(compare("2b CqtFrontend on PaSST grid", b, ours_fn(frontend_grid.magnitude, audio[:b]), None,
                            repeats, "trimmed CQT1992v2 kernels, 128 bins, 16/octave, hop 320", ours_label="CqtFrontend",
                            ref_label="-"))
    extra["passt_grid"] = grid_info
    return rows, extra


def run_hear(audio_np: np.ndarray, seconds: float, repeats: int) -> list[dict[str, Any]]:
    audio = torch.from_numpy(audio_np)
    results = []
    for name in HEAR_VARIANTS:
        model = load_model("", variant=name, device="cpu")
        for what, fn in (("timestamp", get_timestamp_embeddings), ("scene", get_scene_embeddings)):
            ms, all_ms = median_ms(lambda fn=fn, model=model: fn(audio, model), repeats)
            rtf = audio_np.shape[0] * seconds / (ms / 1000.0)
            results.append({"variant": name, "function": f"get_{what}_embeddings", "batch": audio_np.shape[0],
                            "median_ms": ms, "all_ms": all_ms, "real_time_factor": rtf})
            print(f"  8 {name:<13} {what:<9} b={audio_np.shape[0]:<2} {ms:9.1f} ms  RTF {rtf:8.1f}x", flush=True)
    return results


# --- report -----------------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def print_table(rows: list[Row], hear: list[dict[str, Any]], agree: dict[str, float]) -> None:
    print()
    header = f"{'row':<36} {'batch':>5} {'ours ms':>10} {'ref ms':>10} {'ratio':>7}  reference"
    print(header)
    print("-" * len(header))
    for r in sorted(rows, key=lambda r: (r.row.split()[0], r.row, r.batch)):
        ref = "-" if r.ref_ms is None else f"{r.ref_ms:.1f}"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        label = r.ref_label if r.ours_label == "hear_gear_embed" else f"{r.ref_label} (ours column = {r.ours_label})"
        print(f"{r.row:<36} {r.batch:>5} {r.ours_ms:>10.1f} {ref:>10} {ratio:>7}  {label}")
    print("ratio = reference ms / ours ms (> 1: ours faster)")
    print()
    print(f"{'HEAR variant':<14} {'function':<26} {'batch':>5} {'ms':>10} {'RTF':>9}")
    for h in hear:
        print(f"{h['variant']:<14} {h['function']:<26} {h['batch']:>5} {h['median_ms']:>10.1f} {h['real_time_factor']:>8.1f}x")
    print()
    print("agreement on the first clip, max |ours - librosa| / max |librosa| (unless the name says otherwise):")
    for k, v in agree.items():
        print(f"  {k:<34} {v:.3g}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement, after one warm-up")
    parser.add_argument("--batch", type=int, default=8, help="clips in the larger batch (the other batch is 1)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each clip in seconds")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON output (default benchmarks/results/features-<hostname>.json)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.batch < 1 or args.seconds <= 0:
        parser.error("--repeats and --batch must be >= 1 and --seconds > 0")
    host = socket.gethostname()
    out = args.out or Path(__file__).resolve().parent / "results" / f"features-{host}.json"

    started = time.perf_counter()
    load_before = os.getloadavg()
    if load_before[0] > 0.5 * (os.cpu_count() or 1):
        print(f"warning: load average {load_before[0]:.2f} on {os.cpu_count()} cores; other processes will distort the timings")
    audio = make_audio(args.batch, args.seconds)
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), librosa {librosa.__version__}, "
          f"nnAudio {nnAudio.__version__}, numpy {np.__version__}; CPU {cpu_model()} ({os.cpu_count()} cores)")
    print(f"audio: {args.batch} x {args.seconds:g} s at {SR} Hz; median of {args.repeats} after 1 warm-up", flush=True)

    agree = agreement(audio[0])
    rows, extra = run_rows(audio, args.repeats)
    print("HEAR variants:", flush=True)
    hear = run_hear(audio, args.seconds, args.repeats)
    total_s = time.perf_counter() - started
    print_table(rows, hear, agree)
    print(f"\ntotal {total_s:.0f} s")

    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "host": host,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15min": {"before": list(load_before), "after": list(os.getloadavg())},
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "librosa": librosa.__version__,
                     "nnAudio": nnAudio.__version__, "numpy": np.__version__},
        "audio": {"sample_rate": SR, "seconds": args.seconds, "batch": args.batch, "signal": "notes + chirp + noise"},
        "method": {"repeats": args.repeats, "warmup": 1, "statistic": "median", "unit": "ms",
                   "ratio": "reference_ms / ours_ms (> 1: ours faster)",
                   "librosa_batch": "loop over clips", "ours_batch": "one call on the (batch, n) tensor"},
        "rows": [{**asdict(r), "ratio": r.ratio} for r in rows],
        "hear_variants": hear,
        "agreement_rel_max_abs_diff": agree,
        **extra,
        "total_seconds": total_s,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
