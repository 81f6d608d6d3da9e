"""The registry (:mod:`hear_gear_embed.registry`): registering, looking up and listing variants, and a variant
registered at run time working by name everywhere (its HEAR module, GEAR's module names, ``hear-gear embed``)."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from hear_gear_embed import registry
from hear_gear_embed.cli import main
from hear_gear_embed.embedding.config import FeatureBlock, VariantConfig
from hear_gear_embed.hear.loading import resolve_module_name
from hear_gear_embed.model import random_passt
from hear_gear_embed.registry import get_variant, is_variant, list_variants, passt_variant, register_variant

from .conftest import noise

PUBLISHED = [
    "passt_base", "passt_2lvl", "passt_2lvlmel", "passt_lm2rf_hop5", "passt_lm2rf_hop3",
    "lowlevel_mel", "lowlevel_cqt", "handcrafted", "passt_2lvl_cqt", "passt_2lvl_handcrafted", "passt_cqt",
]
NAME = "my_runtime_variant"


@pytest.fixture
def scratch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A copy of the registry for the test (restored afterwards), and no cached module of :data:`NAME`."""
    monkeypatch.setattr(registry, "_VARIANTS", dict(registry._VARIANTS))
    yield
    sys.modules.pop(f"hear_gear_embed.hear.{NAME}", None)


def _runtime_variant(**changes: object) -> VariantConfig:
    """The tiny network geometry under a new name (fast, seeded random weights)."""
    return dataclasses.replace(get_variant("tiny_test"), name=NAME, description="registered by a test", **changes)


def test_published_and_unpublished_variants() -> None:
    assert list_variants() == PUBLISHED
    everything = list_variants(include_unpublished=True)
    assert "tiny_test" in everything and "tiny_test" not in PUBLISHED
    assert [n for n in everything if n != "tiny_test"] == PUBLISHED
    assert is_variant("tiny_test") and not is_variant("passt")



def test_variants_by_weights() -> None:
    assert registry.variants_by_weights() == {
        "passt_s_swa_p16_128_ap476": ["passt_base", "passt_2lvl", "passt_2lvlmel", "passt_2lvl_cqt", "passt_2lvl_handcrafted"],
        "passt_s_swa_f128_stfthop160_p16_s10_ap473": ["passt_lm2rf_hop5"],
        "passt_s_swa_f128_stfthop100_p16_s10_ap473": ["passt_lm2rf_hop3"],
    }


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(KeyError, match="unknown variant 'passt_bas'; did you mean passt_base"):
        get_variant("passt_bas")
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("hear_gear_embed.hear.passt_bas")


@pytest.mark.usefixtures("scratch")
def test_register_get_overwrite_and_duplicates() -> None:
    variant = _runtime_variant(published=False)
    assert register_variant(variant) is variant and get_variant(NAME) is variant
    assert NAME in list_variants(include_unpublished=True) and NAME not in list_variants()
    with pytest.raises(ValueError, match=f"variant '{NAME}' is already registered; pass overwrite=True"):
        register_variant(_runtime_variant())
    assert get_variant(NAME) is variant
    published = _runtime_variant(published=True)
    register_variant(published, overwrite=True)
    assert get_variant(NAME) is published and list_variants()[-1] == NAME


def test_names_are_identifiers() -> None:
    base = get_variant("handcrafted")
    for bad in ("my-variant", "2lvl", "_private", "hear.passt", ""):
        with pytest.raises(ValueError, match="must be a Python identifier not starting with '_'"):
            dataclasses.replace(base, name=bad)


def test_passt_variant_takes_the_geometry_of_its_weights() -> None:
    variant = passt_variant("hop5_scene", "passt_s_swa_f128_stfthop160_p16_s10_ap473",
                            (FeatureBlock(160, ("rms",)),), ("M",), "test")
    reference = get_variant("passt_lm2rf_hop5")
    assert (variant.frontend, variant.net, variant.weights) == (reference.frontend, reference.net, reference.weights)
    with pytest.raises(KeyError, match="unknown checkpoint"):
        passt_variant("x", "passt_s", (FeatureBlock(160, ("rms",)),), ("M",), "test")


@pytest.mark.usefixtures("scratch")
def test_a_variant_registered_at_run_time_works_by_name(tmp_path: Path) -> None:
    register_variant(_runtime_variant(published=False))
    module = importlib.import_module(f"hear_gear_embed.hear.{NAME}")
    assert resolve_module_name(NAME) == module.__name__ and "registered by a test" in module.__doc__
    checkpoint = tmp_path / "w.pt"
    torch.save(random_passt(get_variant(NAME).net, 1).state_dict(), checkpoint)
    model = module.load_model(str(checkpoint), device="cpu")
    assert model.variant is get_variant(NAME)
    assert module.get_scene_embeddings(noise(1, 0.3), model).shape == (1, model.scene_embedding_size)

    soundfile.write(tmp_path / "x.wav", noise(1, 0.4, seed=3)[0].numpy(), 32000)
    argv = ["embed", str(tmp_path / "x.wav"), "--variant", NAME, "--random-weights", "0", "--out", str(tmp_path / "o"),
            "--no-progress", "--device", "cpu"]
    assert main(argv) == 0
    with np.load(tmp_path / "o" / "x.wav.npz") as saved:
        assert str(saved["variant"]) == NAME and str(saved["weights"]) == "random (seed 0)"
        assert saved["timestamp_embeddings"].shape == (9, model.timestamp_embedding_size)

    # Replaced: the module already imported loads the new configuration (it looks the name up on each call).
    register_variant(_runtime_variant(published=False, timestamp_hop_ms=100.0), overwrite=True)
    reloaded = importlib.import_module(f"hear_gear_embed.hear.{NAME}").load_model(str(checkpoint), device="cpu")
    assert reloaded.variant.timestamp_hop_ms == 100.0



@pytest.mark.usefixtures("scratch")
def test_plugins_register_variants_through_entry_points(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A package's entry point in ``hear_gear_embed.variants`` makes its variants known by name in any process;
    a plugin that fails to import is named in a warning and the package's own variants still work."""
    points = [EntryPoint("mine", "tests.registry_plugin", registry.PLUGIN_GROUP),
              EntryPoint("broken", "no_such_module_xyz", registry.PLUGIN_GROUP)]
    monkeypatch.delitem(sys.modules, "tests.registry_plugin", raising=False)
    monkeypatch.setattr(registry, "entry_points", lambda group: [p for p in points if p.group == group])
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    with caplog.at_level("WARNING", logger="hear_gear_embed.registry"):
        assert "plugin_variant" in list_variants() and "passt_base" in list_variants()
    assert "variant plugin broken (no_such_module_xyz) failed to load" in caplog.text
    module = importlib.import_module("hear_gear_embed.hear.plugin_variant")
    assert "from a plugin" in module.__doc__
    sys.modules.pop("hear_gear_embed.hear.plugin_variant")


def test_list_variants_filters_by_pattern_and_reads_0_1_s_flag_with_a_warning() -> None:
    assert list_variants("lowlevel_*") == ["lowlevel_mel", "lowlevel_cqt"]
    assert list_variants("nothing*") == []
    with pytest.warns(DeprecationWarning, match="pass include_unpublished=... by keyword"):
        old = list_variants(True)  # type: ignore[arg-type]
    assert old == list_variants(include_unpublished=True) and "tiny_test" in old
