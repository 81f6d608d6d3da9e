"""The HEAR 2021 contract: module API and sizes of every published variant; outputs at full size with random
weights once per code path (:mod:`tests.code_paths`); weights resolution and errors.

The real ``hear-validator`` runs on every published variant in ``nox -s harness``."""

from __future__ import annotations

import importlib
import urllib.error
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import hear_gear_embed
from hear_gear_embed import get_variant, list_variants
from hear_gear_embed.config import Checkpoint
from hear_gear_embed.model import CheckpointError, WeightsUnavailableError, resolve_checkpoint
from hear_gear_embed.model.checkpoint import HOME_ENV

from .code_paths import code_paths, representatives
from .conftest import noise

PUBLISHED = [
    "passt_base", "passt_2lvl", "passt_2lvlmel", "passt_lm2rf_hop5",
    "lowlevel_mel", "lowlevel_cqt", "handcrafted", "passt_2lvl_cqt", "passt_2lvl_handcrafted", "passt_cqt",
]
WEIGHT_FREE = ["lowlevel_mel", "lowlevel_cqt", "handcrafted"]

# The handcrafted set per frame: 20 MFCC, 12 chroma, centroid, bandwidth, flatness, roll-off, 7 contrast,
# RMS, zero-crossing rate, 84 CQT peaks.
HANDCRAFTED_DIM = 20 + 12 + 4 + 7 + 2 + 84
EXPECTED_SIZES = {
    # (scene, timestamp): hear21passt's 1295 = 527 logits + 768 features; 6 mel frames in 60 ms windows;
    # frame features pooled as mean+std (x2) or as the 7 frames within +-30 ms.
    "passt_base": (1295, 1295),
    "passt_2lvl": (1295, 2 * 1295),
    "passt_2lvlmel": (1295, 2 * 1295 + 128 * 6),
    "passt_lm2rf_hop5": (768 + 128, 768 + 768 + 128 * 6),
    "lowlevel_mel": (2 * 128, 128 * 7 + 2 * 128),
    "lowlevel_cqt": (2 * 84, 84 * 7 + 2 * 84),
    "handcrafted": (2 * HANDCRAFTED_DIM, 2 * 2 * HANDCRAFTED_DIM),
    "passt_2lvl_cqt": (1295 + 2 * 84, 2 * 1295 + 84 * 7),
    "passt_2lvl_handcrafted": (1295 + 2 * HANDCRAFTED_DIM, 2 * 1295 + 2 * HANDCRAFTED_DIM),
    "passt_cqt": (1295, 1295),
}


def test_published_variants_are_listed() -> None:
    assert list_variants() == PUBLISHED
    assert "tiny_test" in list_variants(include_unpublished=True)
    with pytest.raises(KeyError, match="did you mean passt_base"):
        get_variant("passt_bas")


@pytest.mark.parametrize("name", PUBLISHED)
def test_hear_module_and_sizes(name: str) -> None:
    module = importlib.import_module(f"hear_gear_embed.hear.{name}")
    for fn in ("load_model", "get_scene_embeddings", "get_timestamp_embeddings"):
        assert callable(getattr(module, fn))
    variant = get_variant(name)
    assert (variant.scene_embedding_size, variant.timestamp_embedding_size) == EXPECTED_SIZES[name]


def test_package_itself_is_passt_base(official_ckpt: Callable[[str], Path]) -> None:
    model = hear_gear_embed.load_model(str(official_ckpt("passt_base")))
    assert model.variant.name == "passt_base"
    assert hear_gear_embed.get_scene_embeddings is importlib.import_module("hear_gear_embed.hear.passt_base").get_scene_embeddings


def test_full_size_runs_cover_every_code_path() -> None:
    chosen = representatives()
    covered = frozenset().union(*(code_paths(get_variant(name)) for name in chosen))
    for name in PUBLISHED:
        assert code_paths(get_variant(name)) <= covered, name
    # Variants that differ only in data (window lengths) run the same code; one more level is one more path.
    assert code_paths(get_variant("passt_2lvl")) == code_paths(get_variant("passt_base"))
    assert code_paths(get_variant("passt_2lvlmel")) - code_paths(get_variant("passt_2lvl")) == {
        "timestamp window block of levels L"}
    assert len(chosen) < len(PUBLISHED)


@pytest.mark.parametrize("name", representatives())
def test_contract_outputs(name: str, official_ckpt: Callable[[str], Path]) -> None:
    module = importlib.import_module(f"hear_gear_embed.hear.{name}")
    model = module.load_model(str(official_ckpt(name)) if get_variant(name).needs_network else "")
    assert isinstance(model, torch.nn.Module) and not model.training
    assert model.sample_rate == 32000
    assert isinstance(model.scene_embedding_size, int) and isinstance(model.timestamp_embedding_size, int)
    audio = noise(2, 1.07, seed=21)
    emb, ts = module.get_timestamp_embeddings(audio, model)
    assert emb.shape == (2, 22, model.timestamp_embedding_size) and emb.dtype == torch.float32
    assert ts.shape == (2, 22) and ts.dtype == torch.float32
    assert torch.isfinite(emb).all()
    torch.testing.assert_close(ts[0], torch.arange(22, dtype=torch.float32) * 50)
    alone, _ = module.get_timestamp_embeddings(audio[1:2], model)
    torch.testing.assert_close(alone[0], emb[1], atol=1e-5, rtol=0)
    scene = module.get_scene_embeddings(audio, model)
    assert scene.shape == (2, model.scene_embedding_size) and scene.dtype == torch.float32
    torch.testing.assert_close(module.get_scene_embeddings(audio[1:2], model)[0], scene[1], atol=1e-5, rtol=0)
    short = noise(1, 1 / 32000, seed=22)
    assert module.get_timestamp_embeddings(short, model)[0].shape == (1, 1, model.timestamp_embedding_size)
    assert module.get_scene_embeddings(short, model).shape == (1, model.scene_embedding_size)
    with pytest.raises(ValueError, match="0 samples"):
        module.get_scene_embeddings(torch.zeros(1, 0), model)


def test_load_model_rejects_unknown_options(official_ckpt: Callable[[str], Path]) -> None:
    with pytest.raises(TypeError, match="unknown load_model options \\['bogus'\\]"):
        hear_gear_embed.load_model(str(official_ckpt("passt_base")), bogus=1)


def test_wrong_checkpoint_is_named(official_ckpt: Callable[[str], Path], tiny_ckpt: Path) -> None:
    with pytest.raises(CheckpointError, match="shape mismatches"):
        hear_gear_embed.load_model(str(tiny_ckpt))
    with pytest.raises(CheckpointError, match="time_new_pos_embed"):
        importlib.import_module("hear_gear_embed.hear.passt_lm2rf_hop5").load_model(str(official_ckpt("passt_base")))


def test_saved_file_for_other_geometry_is_refused(tmp_path: Path, tiny) -> None:
    tiny.save_weights(tmp_path / "tiny_saved.pt")
    with pytest.raises(CheckpointError, match="was saved for network"):
        hear_gear_embed.load_model(str(tmp_path / "tiny_saved.pt"))


def test_offline_error_says_where_to_put_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "cache"))

    def offline(url: str, dst: str, **kwargs: object) -> None:
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    expected = tmp_path / "cache" / "passt-s-f128-p16-s10-ap.476-swa.pt"
    with pytest.raises(WeightsUnavailableError) as info:
        hear_gear_embed.load_model()
    message = str(info.value)
    assert str(expected) in message and "github.com/kkoutini/PaSST/releases" in message
    assert "network is unreachable" in message
    with pytest.raises(WeightsUnavailableError, match="is not cached"):
        hear_gear_embed.load_model(download=False)


def test_empty_path_uses_the_cache(official_ckpt: Callable[[str], Path], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "home"
    cache.mkdir()
    (cache / "passt-s-f128-p16-s10-ap.476-swa.pt").symlink_to(official_ckpt("passt_base"))
    monkeypatch.setenv(HOME_ENV, str(cache))
    model = hear_gear_embed.load_model(download=False)
    state = torch.load(official_ckpt("passt_base"), weights_only=True)
    torch.testing.assert_close(model.net.cls_token, state["cls_token"], rtol=0, atol=0)


def test_download_writes_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "release.pt"
    torch.save({"x": torch.ones(3)}, source)
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "cache"))
    ckpt = Checkpoint("local", source.as_uri())
    path = resolve_checkpoint(ckpt)
    assert path == tmp_path / "cache" / "release.pt" and path.read_bytes() == source.read_bytes()
    assert resolve_checkpoint(ckpt, download=False) == path


@pytest.mark.parametrize("name", PUBLISHED)
def test_bound_load_model_documents_its_own_signature(name: str) -> None:
    load = importlib.import_module(f"hear_gear_embed.hear.{name}").load_model
    assert load.__doc__.startswith(f"HEAR ``load_model`` for variant ``{name}``")
    assert "model_file_path:" in load.__doc__ and "variant:" not in load.__doc__  # bound, not an argument
