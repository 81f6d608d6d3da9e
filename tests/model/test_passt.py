"""The PaSST network (:mod:`hear_gear_embed.model.passt`): official key layout, encodings, attention, mid layers, FLOPs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
import torch

from hear_gear_embed import get_variant
from hear_gear_embed.model import PaSST, PasstConfig, random_passt
from hear_gear_embed.model.config import Patchout

from ..conftest import counted_flops

TINY = get_variant("tiny_test").net


def official_layout(
    depth: int = 12, dim: int = 768, classes: int = 527, freq: int = 12, time: int = 99
) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of the authors' PaSST-S release files (see passt-facts.md)."""
    shapes: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, dim),
        "dist_token": (1, 1, dim),
        "new_pos_embed": (1, 2, dim),
        "freq_new_pos_embed": (1, dim, freq, 1),
        "time_new_pos_embed": (1, dim, 1, time),
        "patch_embed.proj.weight": (dim, 1, 16, 16),
        "patch_embed.proj.bias": (dim,),
        "norm.weight": (dim,),
        "norm.bias": (dim,),
        "head.0.weight": (dim,),
        "head.0.bias": (dim,),
        "head.1.weight": (classes, dim),
        "head.1.bias": (classes,),
        "head_dist.weight": (classes, dim),
        "head_dist.bias": (classes,),
    }
    for i in range(depth):
        p = f"blocks.{i}."
        shapes.update({
            p + "norm1.weight": (dim,), p + "norm1.bias": (dim,),
            p + "attn.qkv.weight": (3 * dim, dim), p + "attn.qkv.bias": (3 * dim,),
            p + "attn.proj.weight": (dim, dim), p + "attn.proj.bias": (dim,),
            p + "norm2.weight": (dim,), p + "norm2.bias": (dim,),
            p + "mlp.fc1.weight": (4 * dim, dim), p + "mlp.fc1.bias": (4 * dim,),
            p + "mlp.fc2.weight": (dim, 4 * dim), p + "mlp.fc2.bias": (dim,),
        })
    return shapes


@pytest.mark.parametrize(
    ("variant", "time"),
    [("passt_base", 99), ("passt_lm2rf_hop5", 200), ("passt_lm2rf_hop3", 320)],
)
def test_state_dict_is_the_official_layout(variant: str, time: int) -> None:
    with torch.device("meta"):  # shapes only: no need to initialise 86 M parameters
        net = PaSST(get_variant(variant).net)
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert got == official_layout(time=time)
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(86.2e6, rel=0.01)


def test_stride16_geometry() -> None:
    with torch.device("meta"):
        net = PaSST(PasstConfig(freq_stride=16, time_stride=16))
    assert tuple(net.freq_new_pos_embed.shape) == (1, 768, 8, 1)
    assert tuple(net.time_new_pos_embed.shape) == (1, 768, 1, 62)


def test_time_encoding_cropped_and_bounded() -> None:
    net = random_passt(TINY)
    with torch.no_grad():
        short = net(torch.randn(2, 128, 16))
        full = net(torch.randn(1, 128, TINY.max_input_frames))
    assert short.mid.shape == (2, 64) and short.logits.shape == (2, 10)
    assert full.mid.shape == (1, 64)
    with pytest.raises(ValueError, match="time positional encoding covers only 99"):
        net(torch.randn(1, 128, TINY.max_input_frames + 1))
    with pytest.raises(ValueError, match="at least 16 frames"):
        net(torch.randn(1, 128, 15))
    with pytest.raises(ValueError, match="expects 128 mel bands"):
        net(torch.randn(1, 64, 100))


def test_tokens_follow_the_reference_recipe() -> None:
    net = random_passt(TINY)
    spec = torch.randn(2, 128, 40)
    with torch.no_grad():
        tokens = net.tokens(spec)
        patches = net.patch_embed.proj(spec[:, None])
        grid = patches + net.time_new_pos_embed[..., : patches.shape[-1]] + net.freq_new_pos_embed
        expected_patches = grid.flatten(2).transpose(1, 2)
    assert tokens.shape == (2, 2 + 12 * 3, 64)
    torch.testing.assert_close(tokens[:, 2:], expected_patches)
    torch.testing.assert_close(tokens[:, 0], (net.cls_token + net.new_pos_embed[:, :1])[0].expand(2, -1))
    torch.testing.assert_close(tokens[:, 1], (net.dist_token + net.new_pos_embed[:, 1:])[0].expand(2, -1))


def test_sdpa_attention_matches_explicit_softmax() -> None:
    net = random_passt(TINY)
    attn = net.blocks[0].attn
    x = torch.randn(3, 20, 64)
    with torch.no_grad():
        b, n, c = x.shape
        qkv = attn.qkv(x).reshape(b, n, 3, 4, c // 4).permute(2, 0, 3, 1, 4)
        weights = ((qkv[0] @ qkv[1].transpose(-2, -1)) * (c // 4) ** -0.5).softmax(-1)
        expected = attn.proj((weights @ qkv[2]).transpose(1, 2).reshape(b, n, c))
        torch.testing.assert_close(attn(x), expected, atol=1e-5, rtol=1e-5)


def test_outputs_match_a_manual_forward() -> None:
    net = random_passt(TINY)
    spec = torch.randn(2, 128, 30)
    with torch.no_grad():
        x = net.tokens(spec)
        for block in net.blocks:
            x = block(x)
        x = net.norm(x)
        mid = (x[:, 0] + x[:, 1]) / 2
        out = net(spec)
    torch.testing.assert_close(out.mid, mid)
    torch.testing.assert_close(out.logits, net.head(mid))
    assert net.head[0].eps == 1e-5 and net.norm.eps == 1e-6 and net.blocks[0].norm1.eps == 1e-6


def test_mid_layer_reads_an_earlier_block() -> None:
    net = random_passt(TINY)
    spec = torch.randn(2, 128, 30)
    with torch.no_grad():
        last = net(spec, mid_layer=-1)
        same = net(spec, mid_layer=1, want_logits=False)
        first = net(spec, mid_layer=0, want_logits=False)
        x = net.blocks[0](net.tokens(spec))
        x = net.norm(x)
    torch.testing.assert_close(last.mid, same.mid)
    assert same.logits is None
    torch.testing.assert_close(first.mid, (x[:, 0] + x[:, 1]) / 2)
    assert not torch.allclose(first.mid, last.mid)


def test_forward_intermediates_and_forward_head_read_out_the_levels() -> None:
    """timm's names: the normalised tokens after chosen blocks, and the pooled head; forward() is built from them."""
    net = random_passt(TINY, seed=5)
    spec = torch.randn(2, 128, 30)
    with torch.no_grad():
        first, last = net.forward_intermediates(spec, [0, -1])
        x = net.blocks[0](net.tokens(spec))
        torch.testing.assert_close(first, net.norm(x), rtol=0, atol=0)
        assert last.shape == (2, TINY.n_tokens(30), TINY.embed_dim)
        readout = net.forward_intermediates(spec, [-1], readout_only=True)[0]
        torch.testing.assert_close(readout, last[:, :2], rtol=0, atol=1e-6)
        out = net(spec)
        torch.testing.assert_close(net.forward_head(readout, pre_logits=True), out.mid, rtol=0, atol=0)
        torch.testing.assert_close(net.forward_head(readout), out.logits, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"block indices must lie in \[-2, 2\)"):
        net.forward_intermediates(spec, [2])


@pytest.mark.parametrize(
    ("frames", "mid_layer", "want_mid", "want_logits"),
    [(16, -1, True, True), (40, -1, True, False), (64, 0, True, False), (29, 0, True, True), (16, -1, False, True)],
)
def test_flop_model_equals_torch_flop_counter(frames: int, mid_layer: int, want_mid: bool, want_logits: bool) -> None:
    from hear_gear_embed.model import forward_flops

    net = random_passt(TINY)
    counted = counted_flops(net, torch.randn(3, TINY.n_mels, frames), mid_layer, want_mid, want_logits)["Global"]
    blocks = net.blocks_run(mid_layer, want_mid, want_logits)
    assert blocks == (TINY.depth if want_logits else mid_layer % TINY.depth + 1)
    assert 3 * forward_flops(TINY, frames, blocks, want_logits) == counted


def last_block_flops(config: PasstConfig, tokens: int, queries: int) -> int:
    """FLOPs of one block whose first ``queries`` of ``tokens`` tokens query (written out independently)."""
    dim, hidden = config.embed_dim, int(config.embed_dim * config.mlp_ratio)
    kv, q_proj_mlp = 2 * tokens * dim * 2 * dim, 2 * queries * dim * (2 * dim + 2 * hidden)
    return kv + q_proj_mlp + 4 * queries * tokens * dim


def test_flop_model_at_full_size() -> None:
    from hear_gear_embed.model import forward_flops

    # One 160 ms window of PaSST-S (16 frames, 12 patches + CLS + DIST = 14 tokens): about 2.25 GFLOP.
    config = PasstConfig()
    flops = forward_flops(config, 16, config.depth, True)
    per_token_block = 2 * 768 * (4 * 768 + 2 * 3072)
    full_block = 14 * per_token_block + 4 * 14 * 14 * 768
    # The last block: keys and values of 14 tokens; queries, projection, MLP and attention rows of 2.
    last_block = 14 * 2 * 768 * 2 * 768 + 2 * 2 * 768 * (2 * 768 + 2 * 3072) + 4 * 2 * 14 * 768
    assert flops == 12 * 256 * 768 * 2 + 11 * full_block + last_block + 2 * 768 * 527
    assert 2.2e9 < flops < 2.3e9
    # What computing only CLS and DIST in the last block saves: 5.9% of a 160 ms window, 7.2% of 10 s.
    for frames, saving in ((16, 0.059), (998, 0.072)):
        tokens = config.n_tokens(frames)
        everything = (forward_flops(config, frames, config.depth, True) - last_block_flops(config, tokens, 2)
                      + last_block_flops(config, tokens, tokens))
        assert 1 - forward_flops(config, frames, config.depth, True) / everything == pytest.approx(saving, abs=5e-4)
    with pytest.raises(ValueError, match="blocks"):
        forward_flops(config, 16, 13, True)


def test_last_block_computes_cls_and_dist_exactly() -> None:
    net = random_passt(TINY, seed=3)
    with torch.no_grad():
        x = net.tokens(torch.randn(2, TINY.n_mels, 40))
        for block in net.blocks:
            torch.testing.assert_close(block(x, 2), block(x)[:, :2], rtol=0, atol=1e-6)
            x = block(x)


def test_compute_dtype_converts_only_the_blocks_linear_layers() -> None:
    net = random_passt(TINY, seed=4)
    spec = torch.randn(2, TINY.n_mels, 40)
    with torch.no_grad():
        reference = net(spec)
        net.set_compute_dtype(torch.bfloat16)
        reduced = net(spec)
    assert net.compute_dtype == torch.bfloat16
    for name, param in net.named_parameters():
        low = name.startswith("blocks.") and (".attn." in name or ".mlp." in name)
        assert param.dtype == (torch.bfloat16 if low else torch.float32), name
    assert reduced.mid is not None and reduced.logits is not None and reference.mid is not None
    assert reduced.mid.dtype == reduced.logits.dtype == torch.float32
    cosine = torch.nn.functional.cosine_similarity(reduced.mid, reference.mid, dim=1)
    assert bool((cosine > 0.999).all()) and not torch.equal(reduced.mid, reference.mid)
    with pytest.raises(ValueError, match="float32, bfloat16 or float16"):
        net.set_compute_dtype(torch.float64)


RANDOM_WEIGHTS_SHA256 = {
    # (torch major.minor, kernel of torch's normal_): {seed: SHA-256 of random_passt(TINY, seed)'s state dict}.
    # torch's CPU normal_ has a vectorised kernel for AVX2 and wider and a scalar one, which draw different values.
    ("2.13", "vectorised"): {0: "70ed6771f0da749c7c393a419ec6474cdcd606269a91ce5684f598eab78e8a83",
                             3: "2bafb91195866855b43e0b767a74b935970816220ba9f97cd668ee687dcaf846"},
    ("2.13", "scalar"): {0: "c46542c1378ef19387e711745bf9b85d8175fbf8b16060fe944bccc3726f096f",
                         3: "9860a98b34045fc1b4d1779ade0aacc987c18788d894ec71d6761b6554b8ca5e"},
}
"""Checksums of the seeded random weights as release 0.2.0 drew them (measured with ``ATEN_CPU_CAPABILITY`` set to
``default``, ``avx2`` and ``avx512``)."""


def state_sha256(net: torch.nn.Module) -> str:
    """SHA-256 of a state dict: every key, then its tensor's bytes, in key order."""
    digest = hashlib.sha256()
    for key, value in sorted(net.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


@pytest.mark.parametrize("seed", [0, 3])
def test_seeded_random_weights_are_those_of_earlier_releases(seed: int) -> None:
    capability = torch.backends.cpu.get_cpu_capability()
    kernel = "vectorised" if capability in ("AVX2", "AVX512") else "scalar" if capability == "DEFAULT" else capability
    key = (".".join(torch.__version__.split(".")[:2]), kernel)
    if key not in RANDOM_WEIGHTS_SHA256:
        pytest.skip(f"no checksum recorded for torch {key[0]} with the {capability} CPU kernels")
    assert state_sha256(random_passt(TINY, seed)) == RANDOM_WEIGHTS_SHA256[key][seed]


def test_random_weights_are_drawn_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each parameter of a seeded random network is initialised once: not by torch's layer defaults, nor by an
    unseeded draw first (at full size each pass over the 86 M parameters costs seconds)."""
    initialised: list[int] = []

    def counting(init: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        def counted(tensor: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
            if not tensor.is_meta:
                initialised.append(tensor.data_ptr())
            return init(tensor, *args, **kwargs)

        return counted

    for name in ("trunc_normal_", "kaiming_uniform_", "uniform_", "normal_", "ones_", "zeros_"):
        monkeypatch.setattr(torch.nn.init, name, counting(getattr(torch.nn.init, name)))
    net = random_passt(TINY, seed=1)
    assert sorted(initialised) == sorted(p.data_ptr() for p in net.parameters())


PATCHOUTS = [Patchout(4, 0), Patchout(0, 40), Patchout(3, 30), Patchout(2, 20, 0.3), Patchout(0, 0, 0.5)]


@pytest.mark.parametrize("patchout", PATCHOUTS)
def test_patchout_keeps_the_counted_tokens_of_the_grid_in_grid_order(patchout: Patchout) -> None:
    net = random_passt(TINY, seed=5)
    spec = torch.randn(1, TINY.n_mels, 100)  # 12 rows x 9 columns
    with torch.no_grad():
        full = net.tokens(spec)[0]
        net.patchout = patchout
        net.patchout_generator = torch.Generator().manual_seed(1)
        net.train()
        kept = net.tokens(spec)[0]
    columns = TINY.n_time_patches(100)
    rows_kept, columns_kept, tokens = patchout.kept(TINY, columns)
    assert kept.shape == (2 + tokens, TINY.embed_dim) and tokens < TINY.freq_patches * columns
    assert torch.equal(kept[:2], full[:2])  # CLS and DIST always stay
    positions = [int((full[2:] == token).all(dim=1).nonzero()) for token in kept[2:]]  # each a token of the grid
    assert positions == sorted(set(positions))
    if not patchout.proportion:  # structured only: whole rows and columns of the grid
        rows = sorted({p // columns for p in positions})
        cols = sorted({p % columns for p in positions})
        assert (len(rows), len(cols)) == (rows_kept, columns_kept)
        assert positions == [r * columns + c for r in rows for c in cols]


def test_patchout_draws_once_per_batch_from_its_generator() -> None:
    net = random_passt(TINY, seed=5).train()
    net.patchout = Patchout(3, 40, 0.2)
    spec = torch.randn(1, TINY.n_mels, 100).repeat(2, 1, 1)

    def draw(seed: int) -> torch.Tensor:
        net.patchout_generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            return net.tokens(spec)

    first = draw(7)
    assert torch.equal(first[0], first[1])  # one draw serves the whole batch
    assert torch.equal(draw(7), first)
    assert not torch.equal(draw(8), first)


def test_patchout_acts_in_training_mode_only() -> None:
    net = random_passt(TINY, seed=5)
    spec = torch.randn(2, TINY.n_mels, 100)
    with torch.no_grad():
        reference = net(spec)
        net.patchout = Patchout(6, 50, 0.5)
        evaluated = net.eval()(spec)
        assert net.tokens(spec).shape[1] == TINY.n_tokens(100)
        trained = net.train()(spec)
    assert torch.equal(evaluated.mid, reference.mid) and torch.equal(evaluated.logits, reference.logits)
    assert not torch.equal(trained.mid, reference.mid)


def test_patchout_never_empties_the_grid_and_stays_differentiable() -> None:
    net = random_passt(TINY, seed=5).train()
    net.patchout = Patchout(100, 10_000, 0.99)
    spec = torch.randn(2, TINY.n_mels, 16, requires_grad=True)  # one column
    assert net.tokens(spec).shape == (2, 3, TINY.embed_dim)
    out = net(spec)
    out.logits.sum().backward()
    assert spec.grad is not None and torch.isfinite(spec.grad).all() and spec.grad.abs().sum() > 0


@pytest.mark.parametrize("patchout", [Patchout(4, 40), Patchout(2, 20, 0.3)])
def test_flop_model_counts_the_sequence_patchout_leaves(patchout: Patchout) -> None:
    from hear_gear_embed.model import forward_flops

    net = random_passt(TINY).train()
    net.patchout = patchout
    counted = counted_flops(net, torch.randn(3, TINY.n_mels, 100))["Global"]
    assert 3 * forward_flops(TINY, 100, TINY.depth, True, patchout=patchout) == counted
    assert forward_flops(TINY, 100, TINY.depth, True, patchout=patchout) < forward_flops(TINY, 100, TINY.depth, True)


def test_patch_embedding_stays_float32_under_autocast() -> None:
    net = random_passt(TINY, seed=6)
    spec = torch.randn(2, 1, TINY.n_mels, 40)
    with torch.no_grad():
        reference = net.patch_embed(spec)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.nn.functional.linear(torch.ones(1, 2), torch.ones(1, 2)).dtype == torch.bfloat16  # autocast on
            inside = net.patch_embed(spec)
    assert inside.dtype == torch.float32 and torch.equal(inside, reference)
