"""``training.model``: the scene embedding with a seeded task head, where the weights start (random, a file, the official
checkpoint, and for ``passt_cqt`` the transformer of the official Mel checkpoint), what :func:`freeze` keeps and what
trains through an optimiser step, and AdamW's parameter groups."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from hear_gear_embed import get_variant
from hear_gear_embed.embedding.config import WindowBlock
from hear_gear_embed.embedding.factory import random_embedder
from hear_gear_embed.frontends.cqt import CqtFrontend
from hear_gear_embed.model.hub import HOME_ENV, WeightsUnavailableError, cached_path, sha256_of
from hear_gear_embed.model.weights import get_weights
from hear_gear_embed.training.config import TrainConfig
from hear_gear_embed.training.model import (
    FineTuner,
    Initialisation,
    freeze,
    initial_embedder,
    official_weights_for,
    parameter_groups,
)

CPU = torch.device("cpu")
TINY = get_variant("tiny_test")
SWA = "passt_s_swa_p16_128_ap476"


def tiny_model(seed: int = 0, n_labels: int = 5) -> FineTuner:
    return FineTuner(random_embedder(TINY, 0, device=CPU), n_labels, seed=seed)


def test_scene_embedding_and_a_seeded_task_head() -> None:
    model = tiny_model(seed=3)
    assert model.head.weight.shape == (5, TINY.scene_embedding_size) and not model.head.bias.any()
    assert 0.015 < float(model.head.weight.detach().std()) < 0.025
    assert torch.equal(tiny_model(seed=3).head.weight, model.head.weight)
    assert not torch.equal(tiny_model(seed=4).head.weight, model.head.weight)
    audio = torch.randn(3, 16000, generator=torch.Generator().manual_seed(0)) * 0.1
    model.eval()
    with torch.no_grad():
        embedding, logits = model(audio)
        expected = model.embedder.scene_embeddings(audio)  # the function the HEAR module computes
    assert embedding.shape == (3, TINY.scene_embedding_size) and logits.shape == (3, 5)
    assert torch.equal(embedding, expected)
    torch.testing.assert_close(logits, model.head(expected))
    with pytest.raises(ValueError, match="handcrafted has no network to train"):
        FineTuner(random_embedder(get_variant("handcrafted"), device=CPU), 2)


def test_official_weights_of_a_variant() -> None:
    base = get_variant("passt_base")
    assert official_weights_for(base) == (base.weights, "")
    record, note = official_weights_for(get_variant("passt_cqt"))
    assert record == get_weights(SWA)
    assert note == f"the transformer of {SWA} (trained on a log-mel spectrogram) behind passt_cqt's CQT frontend"
    with pytest.raises(ValueError, match="tiny_test has no official weights and no official checkpoint has its network"):
        official_weights_for(TINY)


def test_random_and_file_initialisations(tiny_ckpt: Path) -> None:
    embedder, init = initial_embedder(TINY, "random", seed=3, device=CPU)
    assert init == Initialisation("random", None, "seed 3") and init.to_dict()["note"] == "seed 3"
    again, _ = initial_embedder(TINY, "random", seed=3, device=CPU)
    other, _ = initial_embedder(TINY, "random", seed=4, device=CPU)
    assert embedder.net is not None and again.net is not None and other.net is not None
    assert torch.equal(embedder.net.cls_token, again.net.cls_token)
    assert not torch.equal(embedder.net.cls_token, other.net.cls_token)
    loaded, init = initial_embedder(TINY, tiny_ckpt, seed=3, device=CPU)
    assert init == Initialisation("file", str(tiny_ckpt), sha256=sha256_of(tiny_ckpt))
    saved = torch.load(tiny_ckpt, weights_only=True)
    assert loaded.net is not None and all(torch.equal(v, saved[k]) for k, v in loaded.net.state_dict().items())
    with pytest.raises(ValueError, match="tiny_test has no official weights"):
        initial_embedder(TINY, "official", seed=0, device=CPU)
    with pytest.raises(ValueError, match="lowlevel_mel has no network to train"):
        initial_embedder(get_variant("lowlevel_mel"), "random", seed=0, device=CPU)
    with pytest.raises(FileNotFoundError):
        initial_embedder(TINY, tiny_ckpt.with_name("absent.pt"), seed=0, device=CPU)


def test_official_weights_missing_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    with pytest.raises(WeightsUnavailableError, match=f"checkpoint {SWA} is not cached"):
        initial_embedder(get_variant("passt_cqt"), "official", seed=0, device=CPU, download=False)


def test_passt_cqt_starts_from_the_transformer_of_the_official_mel_checkpoint(
        official_ckpt: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Full size, once: the cache holds a random checkpoint in the official layout under the SWA record's file name."""
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    cached = cached_path(get_weights(SWA))
    cached.parent.mkdir(parents=True)
    cached.symlink_to(official_ckpt("passt_base"))
    embedder, init = initial_embedder(get_variant("passt_cqt"), "official", seed=0, device=CPU, download=False)
    assert (init.kind, init.source) == ("official", str(cached)) and "behind passt_cqt's CQT frontend" in init.note
    assert isinstance(embedder.frontend, CqtFrontend)
    official = torch.load(cached, map_location="cpu", weights_only=True)
    assert embedder.net is not None
    net = embedder.net.state_dict()
    assert set(net) == set(official)
    assert all(torch.equal(net[k], official[k]) for k in official)


def trained_and_kept(record: dict[str, list[str]]) -> tuple[set[str], dict[str, str]]:
    kept = {}
    for item in record["kept"]:
        name, _, reason = item.partition(" (")
        kept[name] = reason.removesuffix(")")
    return set(record["trained"]), kept


def one_step(model: FineTuner, config: TrainConfig) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The parameters before and after one AdamW step on random audio (the training forward, with gradients)."""
    optimizer = torch.optim.AdamW(parameter_groups(model, config))
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    model.train()
    audio = torch.randn(4, 16000, generator=torch.Generator().manual_seed(1)) * 0.1
    _, logits = model(audio)
    torch.nn.functional.cross_entropy(logits, torch.arange(4) % logits.shape[1]).backward()
    optimizer.step()
    return before, {k: v.detach().clone() for k, v in model.named_parameters()}


@pytest.mark.parametrize("audioset_head", ["keep", "train"])
def test_frozen_tensors_get_no_gradient_and_do_not_change(audioset_head: str) -> None:
    model = tiny_model()
    config = TrainConfig(lr=1e-3, audioset_head=audioset_head)  # type: ignore[arg-type]
    trained, kept = trained_and_kept(freeze(model, config))
    audioset = {"net.head.0.weight", "net.head.0.bias", "net.head.1.weight", "net.head.1.bias"}
    expected_kept = {"net.head_dist.weight", "net.head_dist.bias"} | (audioset if audioset_head == "keep" else set())
    assert set(kept) == expected_kept
    assert kept["net.head_dist.weight"] == "the distillation head, never read"
    if audioset_head == "keep":
        assert kept["net.head.1.weight"] == "the AudioSet head, kept so that level H stays AudioSet's logits"
    assert trained == {f"net.{k}" for k, _ in model.net.named_parameters()} - expected_kept | {
        "task_head.weight", "task_head.bias"}
    before, after = one_step(model, config)
    for name, parameter in model.named_parameters():
        short = name.replace("embedder.net.", "net.").replace("head.", "task_head.", name.startswith("head."))
        if short in kept:
            assert not parameter.requires_grad and parameter.grad is None, name
            assert torch.equal(before[name], after[name]), name
        else:
            assert parameter.requires_grad and parameter.grad is not None, name
            assert not torch.equal(before[name], after[name]), name


def test_freeze_blocks_keeps_the_patch_embedding_the_encodings_and_the_early_blocks() -> None:
    model = tiny_model()
    config = TrainConfig(freeze_blocks=1)
    trained, kept = trained_and_kept(freeze(model, config))
    early = {k for k in kept if k.startswith(("net.blocks.0.", "net.patch_embed.")) or k.endswith(("_token", "pos_embed"))}
    assert {kept[k] for k in early} == {"frozen with the early blocks (freeze_blocks)", "frozen early block (freeze_blocks)"}
    assert {"net.cls_token", "net.dist_token", "net.new_pos_embed", "net.freq_new_pos_embed", "net.time_new_pos_embed",
            "net.patch_embed.proj.weight", "net.blocks.0.attn.qkv.weight"} <= early
    assert "net.blocks.1.attn.qkv.weight" in trained and not any(t.startswith("net.blocks.0.") for t in trained)
    before, after = one_step(model, config)
    for name in ("embedder.net.blocks.0.mlp.fc1.weight", "embedder.net.patch_embed.proj.weight"):
        assert torch.equal(before[name], after[name])
    assert not torch.equal(before["embedder.net.blocks.1.mlp.fc1.weight"], after["embedder.net.blocks.1.mlp.fc1.weight"])
    with pytest.raises(ValueError, match=r"freeze_blocks=2 freezes every block tiny_test runs \(2\)"):
        freeze(tiny_model(), TrainConfig(freeze_blocks=2))


def test_what_the_variant_does_not_read_is_kept() -> None:
    mid_only = dataclasses.replace(TINY, name="tiny_mid", scene_levels=("M",), timestamp_blocks=(WindowBlock(160, ("M",)),),
                                   mid_layer=0)
    model = FineTuner(random_embedder(mid_only, 0, device=CPU), 3)
    trained, kept = trained_and_kept(freeze(model, TrainConfig(audioset_head="train")))
    assert kept["net.head.1.weight"] == "tiny_mid reads no level H"
    assert kept["net.blocks.1.mlp.fc2.bias"] == "after the last block tiny_mid reads"
    assert "net.blocks.0.mlp.fc2.bias" in trained
    before, after = one_step(model, TrainConfig())
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)  # everything trained is read
    assert torch.equal(before["embedder.net.blocks.1.mlp.fc2.bias"], after["embedder.net.blocks.1.mlp.fc2.bias"])


def test_parameter_groups_split_decay_and_learning_rates() -> None:
    model = tiny_model()
    config = TrainConfig(lr=2e-5, head_lr=3e-3, weight_decay=0.01, freeze_blocks=1)
    freeze(model, config)
    groups = {g["name"]: g for g in parameter_groups(model, config)}
    assert list(groups) == ["network", "network (no decay)", "task head", "task head (bias)"]
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in groups["network"]["params"]}  # type: ignore[attr-defined]
    plain = {names[id(p)] for p in groups["network (no decay)"]["params"]}  # type: ignore[attr-defined]
    assert decayed and all(n.endswith("weight") and ".norm" not in n for n in decayed)
    assert "embedder.net.blocks.1.norm1.weight" in plain and "embedder.net.blocks.1.attn.qkv.bias" in plain
    assert (groups["network"]["lr"], groups["network"]["weight_decay"]) == (2e-5, 0.01)
    assert (groups["network (no decay)"]["lr"], groups["network (no decay)"]["weight_decay"]) == (2e-5, 0.0)
    assert (groups["task head"]["lr"], groups["task head"]["weight_decay"]) == (3e-3, 0.01)
    assert (groups["task head (bias)"]["lr"], groups["task head (bias)"]["weight_decay"]) == (3e-3, 0.0)
    grouped = [names[id(p)] for g in groups.values() for p in g["params"]]  # type: ignore[attr-defined]
    assert sorted(grouped) == sorted(n for n, p in model.named_parameters() if p.requires_grad)  # each once, none frozen
