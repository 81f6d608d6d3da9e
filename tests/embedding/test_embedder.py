"""The embedder (:mod:`hear_gear_embed.embedding.embedder`): levels, windowing and scene logic on the tiny test
geometry (fast), frame-feature blocks of the weight-free variants, FLOP counts, and training through it."""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest
import torch

from hear_gear_embed import WindowBlock, get_variant, load_embedder
from hear_gear_embed.embedding import Embedder
from hear_gear_embed.embedding.pooling import centre_frames, clip_mean_std, window_frames, window_mean_std
from hear_gear_embed.embedding.windowing import pad_reflect_then_zero
from hear_gear_embed.features import FeatureConfig
from hear_gear_embed.features.frames import FrameFeatures

from ..conftest import counted_flops, noise, tone

RATE = 32000


def test_sizes_are_derived(tiny: Embedder) -> None:
    # (H 10 + M 64) at 160 ms, M 64 at 640 ms, L 128 x 6 frames at 60 ms; scene H + M + mean mel.
    assert tiny.timestamp_embedding_size == 10 + 64 + 64 + 128 * 6
    assert tiny.scene_embedding_size == 10 + 64 + 128


def test_timestamp_shapes_and_grid(tiny: Embedder) -> None:
    emb, ts = tiny.timestamp_embeddings(noise(2, 1.07))
    assert emb.shape == (2, 22, tiny.timestamp_embedding_size) and emb.dtype == torch.float32
    assert ts.shape == (2, 22) and ts.dtype == torch.float32
    np.testing.assert_allclose(np.diff(ts.numpy()), 50.0)
    assert torch.isfinite(emb).all()


def test_blocks_equal_direct_window_features(tiny: Embedder) -> None:
    audio = noise(1, 0.5, seed=3)
    emb, _ = tiny.timestamp_embeddings(audio)
    i = 4  # timestamp 200 ms
    offset = 0
    for block in tiny.variant.timestamp_blocks:
        w = tiny.variant.window_samples(block.window_ms)
        padded = pad_reflect_then_zero(audio, w // 2, w - w // 2)
        window = padded[:, i * 1600: i * 1600 + w]
        with torch.inference_mode():
            direct = tiny.window_features(window, block.levels, pool_low=False)
        torch.testing.assert_close(emb[:, i, offset: offset + direct.shape[1]], direct, atol=1e-5, rtol=1e-5)
        offset += direct.shape[1]
    assert offset == tiny.timestamp_embedding_size


def test_low_level_is_band_major_mel_frames(tiny: Embedder) -> None:
    audio = noise(1, 0.3, seed=4)
    emb, _ = tiny.timestamp_embeddings(audio)
    low = emb[0, 2, -768:].reshape(128, 6)
    window = pad_reflect_then_zero(audio, 960, 960)[:, 2 * 1600: 2 * 1600 + 1920]
    torch.testing.assert_close(low, tiny.frontend(window)[0])


def test_batch_invariance(tiny: Embedder) -> None:
    batch = noise(3, 1.3, seed=5)
    emb_b, _ = tiny.timestamp_embeddings(batch)
    scene_b = tiny.scene_embeddings(batch)
    for i in range(3):
        emb_1, _ = tiny.timestamp_embeddings(batch[i: i + 1])
        torch.testing.assert_close(emb_1[0], emb_b[i], atol=1e-5, rtol=0)
        torch.testing.assert_close(tiny.scene_embeddings(batch[i: i + 1])[0], scene_b[i], atol=1e-5, rtol=0)


def test_memory_budget_does_not_change_results(tiny_ckpt) -> None:
    variant = get_variant("tiny_test")
    small = load_embedder(variant, tiny_ckpt, device="cpu", memory_budget_mb=0.5)
    large = load_embedder(variant, tiny_ckpt, device="cpu", memory_budget_mb=4096)
    audio = noise(2, 1.5, seed=6)
    assert small._budget_bytes() // small.bytes_per_window(5120, ("H", "M")) < 5
    torch.testing.assert_close(small.timestamp_embeddings(audio)[0], large.timestamp_embeddings(audio)[0], atol=1e-5, rtol=0)
    long = noise(1, 12.0, seed=7)
    torch.testing.assert_close(small.scene_embeddings(long), large.scene_embeddings(long), atol=1e-5, rtol=0)


@pytest.mark.parametrize("n_samples", [1, 2, 100, 1919, 4800, 5120])
def test_short_clips(tiny: Embedder, n_samples: int) -> None:
    audio = noise(2, n_samples / RATE, seed=8)
    emb, ts = tiny.timestamp_embeddings(audio)
    assert emb.shape == (2, n_samples // 1600 + 1, tiny.timestamp_embedding_size)
    assert float(ts.max()) <= 1000 * n_samples / RATE
    assert torch.isfinite(emb).all()
    scene = tiny.scene_embeddings(audio)
    assert scene.shape == (2, tiny.scene_embedding_size) and torch.isfinite(scene).all()


def test_short_scene_is_zero_padded_to_one_patch(tiny: Embedder) -> None:
    audio = noise(1, 0.05, seed=9)
    padded = torch.nn.functional.pad(audio, (0, tiny.variant.min_net_samples - audio.shape[1]))
    torch.testing.assert_close(tiny.scene_embeddings(audio), tiny.scene_embeddings(padded))


def test_scene_single_forward_up_to_the_window(tiny: Embedder) -> None:
    audio = noise(2, 10.0, seed=10)
    with torch.inference_mode():
        direct = tiny.window_features(audio, tiny.variant.scene_levels, pool_low=True)
    torch.testing.assert_close(tiny.scene_embeddings(audio), direct)


def test_long_scene_is_mean_over_centred_windows(tiny: Embedder) -> None:
    audio = noise(1, 12.5, seed=11)
    window, hop = 320000, 80000
    padded = pad_reflect_then_zero(audio, window // 2, window // 2)
    with torch.inference_mode():
        parts = [
            tiny.window_features(padded[:, i * hop: i * hop + window], tiny.variant.scene_levels, pool_low=True)
            for i in range(audio.shape[1] // hop + 1)
        ]
    assert len(parts) == 6
    torch.testing.assert_close(tiny.scene_embeddings(audio), torch.stack(parts).mean(0), atol=1e-5, rtol=1e-5)


def test_level_order_follows_the_config(tiny_ckpt) -> None:
    base = get_variant("tiny_test")
    swapped = dataclasses.replace(
        base, name="tiny_swapped", timestamp_blocks=(WindowBlock(160, ("M", "H")),), scene_levels=("L", "M", "H")
    )
    a = load_embedder(base, tiny_ckpt, device="cpu")
    b = load_embedder(swapped, tiny_ckpt, device="cpu")
    audio = noise(1, 0.6, seed=12)
    ea, _ = a.timestamp_embeddings(audio)
    eb, _ = b.timestamp_embeddings(audio)
    torch.testing.assert_close(eb[..., :64], ea[..., 10:74])
    torch.testing.assert_close(eb[..., 64:74], ea[..., :10])
    sa, sb = a.scene_embeddings(audio), b.scene_embeddings(audio)
    torch.testing.assert_close(sb[:, :128], sa[:, 74:])
    torch.testing.assert_close(sb[:, 128:192], sa[:, 10:74])


def test_mid_layer_option(tiny_ckpt) -> None:
    base = get_variant("tiny_test")
    early = dataclasses.replace(base, name="tiny_early", mid_layer=0)
    audio = noise(1, 0.5, seed=13)
    e0 = load_embedder(early, tiny_ckpt, device="cpu").scene_embeddings(audio)
    e1 = load_embedder(base, tiny_ckpt, device="cpu").scene_embeddings(audio)
    torch.testing.assert_close(e0[:, :10], e1[:, :10])  # logits always use every block
    assert not torch.allclose(e0[:, 10:74], e1[:, 10:74])


def test_tone_changes_the_low_level(tiny: Embedder) -> None:
    low = tiny.timestamp_embeddings(torch.stack([tone(500.0, 0.5), tone(4000.0, 0.5)]))[0][..., -768:]
    bands = low.reshape(2, -1, 128, 6).mean(dim=(1, 3)).argmax(-1)
    assert int(bands[0]) < int(bands[1])


@pytest.mark.parametrize("budget", [0, -1.0, math.nan, math.inf, -math.inf, np.float32("nan")])
def test_memory_budget_must_be_a_positive_finite_number(budget: float, tiny_ckpt, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every way a budget enters (the model, the loaders, the HEAR load_model, a later assignment) is one check,
    made before any weights are read or drawn."""
    from hear_gear_embed.embedding import factory, random_embedder
    from hear_gear_embed.hear import load_model

    def no_weights(*args: object) -> None:
        raise AssertionError("weights were drawn before the budget was checked")

    monkeypatch.setattr(factory, "random_passt", no_weights)
    tiny = get_variant("tiny_test")
    message = f"memory_budget_mb must be a positive, finite number of MiB, got {budget}"
    for make in (lambda: Embedder(tiny, memory_budget_mb=budget),
                 lambda: load_embedder(tiny, tiny_ckpt, device="cpu", memory_budget_mb=budget),
                 lambda: random_embedder(tiny, 0, device="cpu", memory_budget_mb=budget),
                 lambda: load_model(str(tiny_ckpt), variant="tiny_test", device="cpu", memory_budget_mb=budget)):
        with pytest.raises(ValueError, match=re.escape(message)):
            make()
    model = Embedder(get_variant("lowlevel_mel"), memory_budget_mb=64)
    with pytest.raises(ValueError, match=re.escape(message)):
        model.memory_budget_mb = budget
    assert model.memory_budget_mb == 64


def test_memory_budget_must_be_a_number() -> None:
    for budget in ("512", True):
        with pytest.raises(TypeError, match=f"memory_budget_mb must be a number of MiB or None, got {type(budget).__name__}"):
            Embedder(get_variant("lowlevel_mel"), memory_budget_mb=budget)
    assert Embedder(get_variant("lowlevel_mel"), memory_budget_mb=np.int64(8)).memory_budget_mb == 8


@pytest.mark.parametrize(("kind", "seconds"), [("timestamp", 1.07), ("scene", 0.05), ("scene", 4.0), ("scene", 12.5)])
def test_network_flops_counts_every_forward(tiny: Embedder, kind: str, seconds: float) -> None:
    audio = noise(2, seconds, seed=12)
    call = tiny.timestamp_embeddings if kind == "timestamp" else tiny.scene_embeddings
    counted = counted_flops(call, audio)["PaSST"]
    assert tiny.network_flops(*audio.shape, kind) == counted > 0


def test_network_flops_of_weight_free_variants_and_bad_kind(tiny: Embedder) -> None:
    assert Embedder(get_variant("lowlevel_mel")).network_flops(1, 32000, "timestamp") == 0
    with pytest.raises(ValueError, match="kind"):
        tiny.network_flops(1, 32000, "frames")


def test_feature_block_equals_direct_pooling() -> None:
    model = load_embedder(get_variant("lowlevel_cqt"), device="cpu")
    audio = noise(2, 1.3, seed=6)
    emb, _ = model.timestamp_embeddings(audio)
    cqt = FrameFeatures(FeatureConfig(), ("cqt",))(audio)["cqt"]
    centres = centre_frames(emb.shape[1], 1600, 320, cqt.shape[-1], torch.device("cpu"))
    expected = torch.cat([window_frames(cqt, centres, 3), window_mean_std(cqt, centres, 32)], dim=-1)
    torch.testing.assert_close(emb, expected)
    torch.testing.assert_close(model.scene_embeddings(audio), clip_mean_std(cqt))
    alone, _ = model.timestamp_embeddings(audio[1:])
    torch.testing.assert_close(alone[0], emb[1], atol=1e-5, rtol=0)


def test_one_optimiser_step_through_the_embedder_lowers_the_loss(tiny_ckpt) -> None:
    """forward() is differentiable (inference mode belongs to the HEAR API): one step of a head and the network on
    scene embeddings lowers the loss, and the HEAR functions give what forward() gives (to float32 rounding)."""
    from hear_gear_embed.hear import _api

    model = load_embedder(get_variant("tiny_test"), tiny_ckpt, device="cpu")
    audio, targets = noise(4, 0.5, seed=41), torch.tensor([0, 1, 0, 1])
    with torch.no_grad():
        expected = _api.get_scene_embeddings(audio, model)
    torch.manual_seed(0)
    head = torch.nn.Linear(model.scene_embedding_size, 2)
    optimiser = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=1e-3)
    embeddings = model(audio)
    assert embeddings.requires_grad
    # Bit-identical on the AMD EPYC where it was written; with gradients on, a CPU may pick other kernels (attention),
    # so across CPUs the stated tolerance is float32 rounding of values of order one.
    torch.testing.assert_close(embeddings.detach(), expected, rtol=0, atol=1e-6)
    loss = torch.nn.functional.cross_entropy(head(embeddings), targets)
    optimiser.zero_grad()
    loss.backward()
    assert model.net is not None
    reached = [name for name, p in model.net.named_parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)]
    assert "patch_embed.proj.weight" in reached and "blocks.0.attn.qkv.weight" in reached and "head.1.weight" in reached
    optimiser.step()
    after = torch.nn.functional.cross_entropy(head(model(audio)), targets)
    assert float(after.detach()) < float(loss.detach())
    stamps_grad, _ = model(audio[:1], "timestamp")
    assert stamps_grad.requires_grad
    with pytest.raises(ValueError, match="kind must be one of"):
        model(audio, "frames")


def _relative_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    """``max |got - ref| / max |ref|``, in float64 on the CPU."""
    got, ref = got.double().cpu(), ref.double().cpu()
    return float((got - ref).abs().max() / ref.abs().max())


@pytest.mark.cuda
def test_cuda_fp32_equals_cpu(tiny: Embedder) -> None:
    gpu = load_embedder(tiny.variant, tiny.weights_source, device="cuda")
    audio = noise(2, 1.3, seed=21)
    emb, stamps = gpu.timestamp_embeddings(audio.cuda())
    scene = gpu.scene_embeddings(audio)  # CPU audio goes to the model's device
    for out in (emb, stamps, scene):
        assert out.device.type == "cuda" and out.dtype == torch.float32
    cpu_emb, cpu_stamps = tiny.timestamp_embeddings(audio)
    torch.testing.assert_close(stamps.cpu(), cpu_stamps, rtol=0, atol=1e-3)
    assert _relative_error(emb, cpu_emb) <= 1e-4
    assert _relative_error(scene, tiny.scene_embeddings(audio)) <= 1e-4


@pytest.mark.cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cuda_reduced_precision_stays_close_to_fp32(tiny: Embedder, precision: str) -> None:
    fp32 = load_embedder(tiny.variant, tiny.weights_source, device="cuda")
    low = load_embedder(tiny.variant, tiny.weights_source, device="cuda", precision=precision)
    assert low.precision == precision and low.net is not None and low.net.compute_dtype != torch.float32
    audio = noise(2, 1.3, seed=22).cuda()
    pairs = ((low.timestamp_embeddings(audio)[0], fp32.timestamp_embeddings(audio)[0]),
             (low.scene_embeddings(audio), fp32.scene_embeddings(audio)))
    for got, ref in pairs:
        assert got.device.type == "cuda" and got.dtype == torch.float32 and bool(torch.isfinite(got).all())
        width = got.shape[-1]
        cosine = torch.nn.functional.cosine_similarity(got.reshape(-1, width).double(), ref.reshape(-1, width).double(), dim=1)
        assert float(cosine.min()) > 0.999
        assert not torch.equal(got, ref)  # it did compute in the reduced precision

