"""Reduced precision through the embedder (:meth:`hear_gear_embed.embedding.embedder.Embedder.set_precision`):
what runs in which format, the error against fp32 per level, refusals, and the one-patch (160 ms) windows that a
plain bf16 autocast breaks (../shared/reference/precision-facts.md: oneDNN's bf16 convolution, one patch wide),
eager and compiled; int8 on the tiny geometry and once at full size."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch.nn.functional import cosine_similarity

from hear_gear_embed import get_variant, load_embedder
from hear_gear_embed.embedding import Embedder
from hear_gear_embed.embedding.factory import random_embedder
from hear_gear_embed.util.precision import PrecisionUnsupportedError, cpu_bf16_units, cpu_int8_units

from ..conftest import noise, tone

BF16_UNITS = bool(cpu_bf16_units())
needs_bf16_units = pytest.mark.skipif(not BF16_UNITS, reason="this CPU has no bf16 units (the refusal is tested instead)")
INT8_UNITS = bool(cpu_int8_units())


def min_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Smallest cosine similarity between corresponding rows (last axis) of ``a`` and ``b``."""
    return float(cosine_similarity(a.detach().flatten(0, -2), b.detach().flatten(0, -2), dim=1).min())


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max |a - b| / max |b|``."""
    return float((a - b).detach().abs().max() / b.detach().abs().max())


@needs_bf16_units
def test_bf16_tiny_levels(tiny_ckpt: Path, tiny: Embedder) -> None:
    low = load_embedder(get_variant("tiny_test"), tiny_ckpt, device="cpu", precision="bf16")
    assert low.precision == "bf16" and tiny.precision == "fp32"
    assert low.frontend.state_dict().keys() == tiny.frontend.state_dict().keys()
    audio = noise(2, 1.07, seed=5) + tone(440.0, 1.07)
    (emb, ts), (ref, ref_ts) = low.timestamp_embeddings(audio), tiny.timestamp_embeddings(audio)
    assert emb.dtype == torch.float32 and torch.equal(ts, ref_ts)
    # Blocks: (H 10 + M 64) at 160 ms, M 64 at 640 ms, then L (128 x 6 frames) at 60 ms.
    network, mel = slice(0, 138), slice(138, None)
    assert torch.equal(emb[..., mel], ref[..., mel])
    assert min_cosine(emb[..., network], ref[..., network]) > 0.999
    assert 0 < relative_error(emb[..., network], ref[..., network]) < 5e-2
    scene, ref_scene = low.scene_embeddings(audio), tiny.scene_embeddings(audio)
    assert torch.equal(scene[:, 74:], ref_scene[:, 74:]) and min_cosine(scene[:, :74], ref_scene[:, :74]) > 0.999


def test_bf16_full_size_one_patch_windows(official_ckpt: Callable[[str], Path]) -> None:
    """passt_base's 160 ms windows are 16 frames, one patch column: the case a bf16 patch convolution breaks.

    End to end where this CPU has bf16 units; elsewhere the refusal, and the network in bf16 on a few one-patch
    spectrograms (slow without the units, but the numbers must be right on any CPU)."""
    variant = get_variant("passt_base")
    reference = load_embedder(variant, official_ckpt("passt_base"), device="cpu")
    audio = noise(1, 0.5, seed=11) + tone(1000.0, 0.5)
    if BF16_UNITS:
        low = load_embedder(variant, official_ckpt("passt_base"), device="cpu", precision="bf16")
        emb, ref = low.timestamp_embeddings(audio)[0], reference.timestamp_embeddings(audio)[0]
        assert torch.isfinite(emb).all() and emb.shape == ref.shape == (1, 11, 1295)
        assert min_cosine(emb, ref) > 0.999 and relative_error(emb, ref) < 5e-2
        assert low.net is not None and low.net.patch_embed.proj.weight.dtype == torch.float32
    else:
        with pytest.raises(PrecisionUnsupportedError, match="no bf16 units"):
            load_embedder(variant, official_ckpt("passt_base"), device="cpu", precision="bf16")
    net = reference.net
    assert net is not None
    with torch.inference_mode():
        spec = reference.frontend(audio[:, :5120].repeat(3, 1) * torch.tensor([[1.0], [0.1], [0.01]]))
        assert spec.shape[-1] == net.config.patch_size
        expected = net(spec)
        net.set_compute_dtype(torch.bfloat16)
        got = net(spec)
    for level in ("mid", "logits"):
        value, target = getattr(got, level), getattr(expected, level)
        assert torch.isfinite(value).all() and min_cosine(value, target) > 0.999, level


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_compiled_full_size_one_patch_windows(official_ckpt: Callable[[str], Path], precision: str) -> None:
    """The compiled fast path on passt_base's one-patch windows (the bf16 convolution trap above, now inside inductor's
    graph) and int8 at full size: finite, near fp32, and one graph for two calls of different batch sizes."""
    variant = get_variant("passt_base")
    units = BF16_UNITS if precision == "bf16" else INT8_UNITS
    if not units:
        with pytest.raises(PrecisionUnsupportedError, match=f"no {precision} "):
            load_embedder(variant, official_ckpt("passt_base"), device="cpu", precision=precision)  # type: ignore[arg-type]
        return
    reference = load_embedder(variant, official_ckpt("passt_base"), device="cpu")
    fast = load_embedder(variant, official_ckpt("passt_base"), device="cpu", precision=precision, compile=True)  # type: ignore[arg-type]
    audio = noise(2, 0.5, seed=11) + tone(1000.0, 0.5)
    with torch.inference_mode():
        emb, ref = fast.timestamp_embeddings(audio)[0], reference.timestamp_embeddings(audio)[0]
        one = fast.timestamp_embeddings(audio[:1])[0]
    assert torch.isfinite(emb).all() and emb.shape == ref.shape == (2, 11, 1295)
    assert min_cosine(emb, ref) > (0.999 if precision == "bf16" else 0.99)
    assert torch.allclose(one, emb[:1], atol=1e-3 * float(ref.abs().max()))
    stats = fast.compile_stats
    assert stats is not None and stats.graphs == 1, stats


def test_int8_tiny_eager_its_default_compile_and_refusals(tiny_ckpt: Path, tiny: Embedder, tmp_path: Path) -> None:
    if not INT8_UNITS:
        with pytest.raises(PrecisionUnsupportedError, match="no int8 dot-product units"):
            load_embedder(get_variant("tiny_test"), tiny_ckpt, device="cpu", precision="int8")
        return
    audio = noise(2, 1.07, seed=5) + tone(440.0, 1.07)
    eager = load_embedder(get_variant("tiny_test"), tiny_ckpt, device="cpu", precision="int8", compile=False)
    assert eager.precision == "int8" and not eager.compiles
    with torch.inference_mode():
        emb, ref = eager.timestamp_embeddings(audio)[0], tiny.timestamp_embeddings(audio)[0]
    # L (the log-mel block, after 138 network columns) is not quantised; the network's columns are, within 1%.
    assert torch.equal(emb[..., 138:], ref[..., 138:]) and min_cosine(emb[..., :138], ref[..., :138]) > 0.99
    with pytest.raises(ValueError, match="rounded to int8; load them again for bf16"):
        eager.set_precision("bf16")
    with pytest.raises(ValueError, match="rounded to int8; save them from a model loaded in fp32"):
        eager.save_weights(tmp_path / "w.pt")
    assert eager.net is not None
    with pytest.raises(ValueError, match="quantised already"):
        eager.net.quantize_int8()
    with pytest.raises(ValueError, match="quantised to int8; load the weights again"):
        eager.net.set_compute_dtype(torch.bfloat16)
    assert load_embedder(get_variant("tiny_test"), tiny_ckpt, device="cpu", precision="int8").compiles


def test_int8_without_torchao_names_the_extra(tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "torchao.quantization", None)
    model = load_embedder(get_variant("tiny_test"), tiny_ckpt, device="cpu")
    assert model.net is not None
    with pytest.raises(ImportError, match=r"needs torchao: pip install 'hear_gear_embed\[int8\]'"):
        model.net.quantize_int8()


def test_fp16_on_cpu_is_refused_before_loading(tmp_path: Path) -> None:
    with pytest.raises(PrecisionUnsupportedError, match="fp16 on a CPU"):
        load_embedder(get_variant("tiny_test"), tmp_path / "not-read.pt", device="cpu", precision="fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        load_embedder(get_variant("tiny_test"), tmp_path / "not-read.pt", device="cpu", precision="half")  # type: ignore[arg-type]


def test_rounded_weights_are_neither_restored_nor_saved(tmp_path: Path) -> None:
    if not BF16_UNITS:
        pytest.skip("this CPU has no bf16 units")
    model = random_embedder(get_variant("tiny_test"), 1, device="cpu", precision="bf16")
    with pytest.raises(ValueError, match="rounded to bf16; load them again"):
        model.set_precision("fp32")
    with pytest.raises(ValueError, match="rounded to bf16; save them from a model loaded in fp32"):
        model.save_weights(tmp_path / "w.pt")
    model.set_precision("bf16")
    assert model.precision == "bf16"


def test_weight_free_variant_ignores_precision() -> None:
    fp32 = random_embedder(get_variant("lowlevel_mel"), device="cpu")
    other = random_embedder(get_variant("lowlevel_mel"), device="cpu", precision="bf16" if BF16_UNITS else "fp32")
    assert other.precision == "fp32"
    audio = noise(1, 0.6, seed=2)
    assert torch.equal(other.scene_embeddings(audio), fp32.scene_embeddings(audio))


def test_non_finite_network_output_is_an_error(tiny: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    assert tiny.net is not None
    monkeypatch.setattr(tiny.net.norm, "forward", lambda x: torch.full_like(x, float("nan")))
    with pytest.raises(FloatingPointError, match="tiny_test network returned non-finite values in fp32 on cpu"):
        tiny.scene_embeddings(noise(1, 0.5))
