"""The HEAR 2021 contract (:mod:`hear_gear_embed.hear`): the module API of every published variant; outputs at full
size with random weights once per code path (:mod:`tests.code_paths`); ``load_model``'s signature.

Sizes are in ``tests/embedding/test_config.py``, modules of variants registered at run time in
``tests/test_registry.py``, weights resolution in ``tests/model/test_hub.py``. The real ``hear-validator`` runs
on every published variant in ``nox -s harness``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import hear_gear_embed
from hear_gear_embed import get_variant, list_variants

from ..code_paths import code_paths, representatives
from ..conftest import noise


@pytest.mark.parametrize("name", list_variants())
def test_every_published_variant_is_a_hear_module(name: str) -> None:
    module = importlib.import_module(f"hear_gear_embed.hear.{name}")
    for fn in ("load_model", "get_scene_embeddings", "get_timestamp_embeddings"):
        assert callable(getattr(module, fn))
    assert module.__name__ == f"hear_gear_embed.hear.{name}" and name in module.__doc__
    load = module.load_model
    assert load.__doc__.startswith(f"HEAR ``load_model`` for variant ``{name}``")
    assert "model_file_path:" in load.__doc__ and "variant:" not in load.__doc__  # bound, not an argument


def test_package_itself_is_passt_base(official_ckpt: Callable[[str], Path]) -> None:
    model = hear_gear_embed.load_model(str(official_ckpt("passt_base")))
    assert model.variant.name == "passt_base"
    assert hear_gear_embed.get_scene_embeddings is importlib.import_module("hear_gear_embed.hear.passt_base").get_scene_embeddings


def test_full_size_runs_cover_every_code_path() -> None:
    chosen = representatives()
    covered = frozenset().union(*(code_paths(get_variant(name)) for name in chosen))
    for name in list_variants():
        assert code_paths(get_variant(name)) <= covered, name
    # Variants that differ only in data (window lengths) run the same code; one more level is one more path.
    assert code_paths(get_variant("passt_2lvl")) == code_paths(get_variant("passt_base"))
    assert code_paths(get_variant("passt_2lvlmel")) - code_paths(get_variant("passt_2lvl")) == {
        "timestamp window block of levels L"}
    assert len(chosen) < len(list_variants())


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


def test_load_model_takes_explicit_keywords_only() -> None:
    # No **options: an unknown keyword is Python's own TypeError, before any file is looked at.
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        hear_gear_embed.load_model("absent.pt", bogus=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'variant'"):
        hear_gear_embed.load_model("absent.pt", variant="handcrafted")  # bound to passt_base
    with pytest.raises(TypeError):
        hear_gear_embed.load_model("absent.pt", "cpu")  # keywords only after the path
    model = importlib.import_module("hear_gear_embed.hear").load_model(variant="handcrafted", device="cpu")
    assert model.variant.name == "handcrafted"


def test_embedding_functions_refuse_foreign_models() -> None:
    with pytest.raises(TypeError, match="must come from load_model"):
        hear_gear_embed.get_scene_embeddings(noise(1, 0.1), torch.nn.Linear(1, 1))


@pytest.mark.cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_hear_module_on_cuda_returns_float32_on_the_device(tiny_ckpt: Path, precision: str) -> None:
    module = importlib.import_module("hear_gear_embed.hear.tiny_test")
    model = module.load_model(str(tiny_ckpt), device="cuda", precision=precision)
    audio = noise(2, 1.07, seed=31).cuda()
    embeddings, stamps = module.get_timestamp_embeddings(audio, model)
    scene = module.get_scene_embeddings(audio, model)
    for out in (embeddings, stamps, scene):
        assert out.device.type == "cuda" and out.dtype == torch.float32
    assert embeddings.shape == (2, stamps.shape[1], model.timestamp_embedding_size)
    assert scene.shape == (2, model.scene_embedding_size) and bool(torch.isfinite(scene).all())


def test_precision_reaches_the_model_through_every_load_model(tiny_ckpt: Path) -> None:
    from hear_gear_embed.util.precision import PrecisionUnsupportedError, cpu_bf16_units

    module = importlib.import_module("hear_gear_embed.hear.tiny_test")
    precision = "bf16" if cpu_bf16_units() else "fp32"
    assert module.load_model(str(tiny_ckpt), device="cpu", precision=precision).precision == precision
    generic = importlib.import_module("hear_gear_embed.hear").load_model
    assert generic(variant="handcrafted", device="cpu", precision=precision).precision == "fp32"
    with pytest.raises(PrecisionUnsupportedError, match="fp16 on a CPU"):
        module.load_model(str(tiny_ckpt), device="cpu", precision="fp16")
