"""Parity of passt_base, passt_2lvl, passt_2lvlmel and passt_lm2rf_hop5 with the authors' hear21passt on identical weights.

Tolerance: max |ours - ref| / max |ref| <= 1e-4 per output. Where the reference fails (clips shorter than half a
window: its reflect padding needs pad < length; scene clips shorter than one patch), this package's own behaviour
is checked instead and the difference is recorded.

The cases are one per behaviour class (:func:`timestamp_class`, :func:`scene_class`), not every length and batch
size: the class decides which code runs on either side, the length within a class only how many windows. Their
lengths derive from each variant's windows and network geometry. ``passt_2lvl`` and ``passt_2lvlmel`` have
``passt_base``'s scene configuration and the same reference scene code (both asserted below), so their scenes in
every class follow from ``passt_base``'s; one batch of scenes each is compared end to end.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hear_gear_embed import get_variant, load_embedder
from hear_gear_embed.embedding import Embedder
from hear_gear_embed.embedding.config import VariantConfig, WindowBlock
from hear_gear_embed.evaluation.validate import TIMESTAMP_LENGTHS_S
from hear_gear_embed.hear import get_scene_embeddings, get_timestamp_embeddings

from ..conftest import noise, tone
from .oracle import REFERENCE_MODULES, build_reference, quiet, reference_module

TOLERANCE = 1e-4
RATE = 32000
TYPICAL_SAMPLES = int(TIMESTAMP_LENGTHS_S[0] * RATE)
"""1.07 s, the shortest clip of hear-validator: longer than every window, shorter than the time encoding."""
WINDOWS_PER_CHUNK = 8
"""Memory budget of the batch cases, in windows of the largest block: a batch of 3 spans several chunks."""
SAME_SCENE_AS_BASE = ("passt_2lvl", "passt_2lvlmel")

TIMESTAMP_CLASSES = {
    "below-half": "shorter than half the largest window (the reference fails)",
    "below-window": "between half and all of the largest window",
    "one-window": "exactly the largest window",
    "batch-chunks": "a batch of 3 clips longer than every window, across memory chunks",
    "beyond-encoding": "longer than the time encoding",
}
SCENE_CLASSES = {
    "below-patch": "shorter than one patch (the reference fails)",
    "batch": "a batch of 3, shorter than the time encoding",
    "one-window": "exactly the time encoding (one forward pass of the whole window)",
    "beyond-encoding": "longer than the time encoding (mean over windows, across memory chunks)",
}


def _largest_block(variant: VariantConfig) -> WindowBlock:
    return max((b for b in variant.timestamp_blocks if isinstance(b, WindowBlock)), key=lambda b: b.window_ms)


def _largest_window(variant: VariantConfig) -> int:
    return variant.window_samples(_largest_block(variant).window_ms)


def timestamp_class(variant: VariantConfig, n_samples: int, n_sounds: int) -> str:
    """The behaviour class of timestamp embeddings of ``n_sounds`` clips of ``n_samples``."""
    largest = _largest_window(variant)
    if n_sounds > 1:
        return "batch-chunks" if largest < n_samples < variant.scene_window_samples else "other"
    if n_samples <= largest // 2:
        return "below-half"
    if n_samples < largest:
        return "below-window"
    if n_samples == largest:
        return "one-window"
    return "beyond-encoding" if n_samples > variant.scene_window_samples else "other"


def scene_class(variant: VariantConfig, n_samples: int, n_sounds: int) -> str:
    """The behaviour class of scene embeddings of ``n_sounds`` clips of ``n_samples``."""
    if n_sounds > 1:
        return "batch" if variant.min_net_samples <= n_samples < variant.scene_window_samples else "other"
    if n_samples < variant.min_net_samples:
        return "below-patch"
    if n_samples == variant.scene_window_samples:
        return "one-window"
    return "beyond-encoding" if n_samples > variant.scene_window_samples else "other"


def _long(variant: VariantConfig) -> int:
    """12.5 s for a 10 s time encoding: 2.5 s beyond it, so that the scene is the mean of several windows."""
    return variant.scene_window_samples * 5 // 4


def _timestamp_cases(name: str) -> list[tuple[str, int, int]]:
    variant = get_variant(name)
    largest = _largest_window(variant)
    cases = [(name, largest // 4, 1), (name, 3 * largest // 4, 1), (name, largest, 1), (name, TYPICAL_SAMPLES, 3)]
    # Timestamp windows never reach the time encoding: beyond it a clip only has more windows. One variant shows it.
    return cases + [(name, _long(variant), 1)] if name == "passt_base" else cases


def _scene_cases(name: str) -> list[tuple[str, int, int]]:
    variant = get_variant(name)
    if name in SAME_SCENE_AS_BASE:
        return [(name, TYPICAL_SAMPLES, 3)]
    cases = [(name, variant.min_net_samples // 2, 1), (name, TYPICAL_SAMPLES, 3), (name, variant.scene_window_samples, 1)]
    # The passt_lm2rf_hop5 oracle composes the wrapper's methods for one forward pass: it has no scene beyond 10 s.
    return cases + [(name, _long(variant), 1)] if name != "passt_lm2rf_hop5" else cases


TIMESTAMP_CASES = [case for name in REFERENCE_MODULES for case in _timestamp_cases(name)]
SCENE_CASES = [case for name in REFERENCE_MODULES for case in _scene_cases(name)]


def _ids(cases: list[tuple[str, int, int]], classify) -> list[str]:
    return [f"{name}-{classify(get_variant(name), n, k)}-{k}x{n / RATE:g}s" for name, n, k in cases]


def relative_error(ours: torch.Tensor, ref: torch.Tensor) -> float:
    """``max |ours - ref| / max |ref|``."""
    return float((ours.double() - ref.double()).abs().max() / ref.double().abs().max())


def clip(n_samples: int, n_sounds: int) -> torch.Tensor:
    """Noise plus a tone whose pitch differs per sound, so that sounds are distinguishable."""
    seconds = n_samples / RATE
    audio = noise(n_sounds, seconds, seed=n_samples + n_sounds, amp=0.3)
    for i in range(n_sounds):
        audio[i] += tone(220.0 * (i + 1), seconds, amp=0.3)
    return audio


_PAIRS: dict[str, tuple] = {}


@pytest.fixture
def pair(variant: str, tmp_path_factory: pytest.TempPathFactory):
    """(variant name, reference wrapper, reference scene fn, reference timestamp fn, our model, our model with a
    budget of :data:`WINDOWS_PER_CHUNK` windows), built once per variant."""
    if variant not in _PAIRS:
        wrapper, scene_fn, ts_fn = build_reference(variant, seed=7)
        path: Path = tmp_path_factory.mktemp("parity") / f"{variant}.pt"
        torch.save(wrapper.net.state_dict(), path)  # the reference's own net: the official key layout
        ours = load_embedder(get_variant(variant), path, device="cpu")
        per_window = ours.bytes_per_window(_largest_window(ours.variant), _largest_block(ours.variant).levels)
        chunked = Embedder(ours.variant, memory_budget_mb=WINDOWS_PER_CHUNK * per_window / 2**20, net=ours.net).eval()
        _PAIRS[variant] = (variant, wrapper, scene_fn, ts_fn, ours, chunked)
    return _PAIRS[variant]


def test_cases_cover_every_behaviour_class() -> None:
    for name in REFERENCE_MODULES:
        variant = get_variant(name)
        stamps = {timestamp_class(variant, n, k) for v, n, k in TIMESTAMP_CASES if v == name}
        scenes = {scene_class(variant, n, k) for v, n, k in SCENE_CASES if v == name}
        assert "other" not in stamps | scenes
        assert stamps >= set(TIMESTAMP_CLASSES) - {"beyond-encoding"}, name
        if name in SAME_SCENE_AS_BASE:
            assert scenes == {"batch"}
        elif name == "passt_lm2rf_hop5":
            assert scenes == set(SCENE_CLASSES) - {"beyond-encoding"}
        else:
            assert scenes == set(SCENE_CLASSES), name
    assert any(timestamp_class(get_variant(v), n, k) == "beyond-encoding" for v, n, k in TIMESTAMP_CASES)


def test_scenes_of_the_multi_level_variants_are_passt_base_scenes() -> None:
    base = get_variant("passt_base")
    for name in SAME_SCENE_AS_BASE:
        other = get_variant(name)
        assert (other.scene_levels, other.scene_features, other.scene_window_ms, other.scene_hop_ms, other.net,
                other.frontend, other.mid_layer) == (base.scene_levels, base.scene_features, base.scene_window_ms,
                                                     base.scene_hop_ms, base.net, base.frontend, base.mid_layer)
        # The reference's scene function of each module is the same code: the wrapper's get_scene_embeddings.
        ref_base = reference_module("passt_base").get_scene_embeddings
        ref_other = reference_module(name).get_scene_embeddings
        assert ref_other.__code__.co_code == ref_base.__code__.co_code
        assert ref_other.__code__.co_names == ref_base.__code__.co_names


def _record(report: dict, variant: str, output: str, value: float | str) -> None:
    previous = report[variant].get(output)
    if isinstance(value, float) and isinstance(previous, float):
        value = max(value, previous)
    report[variant][output] = value


@pytest.mark.parametrize(("variant", "n_samples", "n_sounds"), TIMESTAMP_CASES, ids=_ids(TIMESTAMP_CASES, timestamp_class))
def test_timestamp_parity(pair, n_samples: int, n_sounds: int, parity_report: dict) -> None:
    variant, wrapper, _, ts_fn, ours, chunked = pair
    audio = clip(n_samples, n_sounds)
    kind = timestamp_class(ours.variant, n_samples, n_sounds)
    model = chunked if kind == "batch-chunks" else ours
    if kind == "batch-chunks":
        windows = n_sounds * (n_samples // ours.variant.timestamp_hop_samples + 1)
        levels = _largest_block(ours.variant).levels
        assert windows > chunked._budget_bytes() // chunked.bytes_per_window(_largest_window(ours.variant), levels)
    emb, stamps = get_timestamp_embeddings(audio, model)  # the HEAR function: in inference mode
    assert torch.isfinite(emb).all()
    if kind == "below-half":
        with pytest.raises(RuntimeError):
            quiet(ts_fn, audio, wrapper)
        assert emb.shape == (n_sounds, n_samples // ours.variant.timestamp_hop_samples + 1, ours.timestamp_embedding_size)
        _record(parity_report, variant, "timestamps < half window", "reference fails; ours mirrors then zero-pads")
        return
    ref_emb, ref_stamps = quiet(ts_fn, audio, wrapper)
    assert emb.shape == ref_emb.shape
    torch.testing.assert_close(stamps, ref_stamps.float(), atol=1e-3, rtol=0)
    error = relative_error(emb, ref_emb)
    _record(parity_report, variant, "timestamp embeddings", error)
    assert error <= TOLERANCE


@pytest.mark.parametrize(("variant", "n_samples", "n_sounds"), SCENE_CASES, ids=_ids(SCENE_CASES, scene_class))
def test_scene_parity(pair, n_samples: int, n_sounds: int, parity_report: dict) -> None:
    variant, wrapper, scene_fn, _, ours, _ = pair
    audio = clip(n_samples, n_sounds)
    scene = get_scene_embeddings(audio, ours)
    assert torch.isfinite(scene).all()
    if scene_class(ours.variant, n_samples, n_sounds) == "below-patch":
        with pytest.raises(RuntimeError):
            quiet(scene_fn, audio, wrapper)
        _record(parity_report, variant, "scene < one patch", "reference fails; ours zero-pads to one patch")
        return
    if n_samples > ours.variant.scene_window_samples:
        windows = n_samples // ours.variant.scene_hop_samples + 1
        assert windows > ours._budget_bytes() // ours.bytes_per_window(ours.variant.scene_window_samples, ours.variant.scene_levels)
    ref = quiet(scene_fn, audio, wrapper)
    error = relative_error(scene, ref)
    _record(parity_report, variant, "scene embeddings", error)
    assert error <= TOLERANCE
