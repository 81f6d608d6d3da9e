"""A model asked for, and loaded (:mod:`hear_gear_embed.hear.spec`): :func:`load`, the front door, and its options;
:meth:`ModelSpec.probe`, what a Ray run records; and what the workflows accept (:func:`as_model`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import hear_gear_embed as hge
from hear_gear_embed.hear.handle import EmbeddingModel
from hear_gear_embed.hear.spec import ModelSpec, as_model
from hear_gear_embed.util import precision as precision_module

from ..conftest import noise

FAKE = "tests.gear_fake_module"


def test_load_takes_a_name_a_config_or_a_module(tiny_ckpt: Path) -> None:
    by_name = hge.load("tiny_test", weights=tiny_ckpt, device="cpu")
    assert isinstance(by_name, EmbeddingModel) and by_name.name == "tiny_test" and by_name.sample_rate == 32000
    assert by_name.identity.weights == str(tiny_ckpt) and by_name.spec == ModelSpec("tiny_test", str(tiny_ckpt), device="cpu")
    config = dataclasses.replace(hge.get_variant("lowlevel_mel"), name="mel_unregistered")
    unregistered = hge.load(config)
    assert unregistered.module_name == "hear_gear_embed.hear.mel_unregistered" and unregistered.identity.weights == "none"
    module = hge.load(FAKE)
    assert module.name == module.module_name == FAKE and module.sample_rate == 16000
    assert module.identity.weights == "module default" and module.identity.precision == "fp32"
    assert hge.list_variants("passt_2lvl*") == ["passt_2lvl", "passt_2lvlmel", "passt_2lvl_cqt", "passt_2lvl_handcrafted"]
    assert "tiny_test" in hge.list_variants("tiny*", include_unpublished=True) and not hge.list_variants("tiny*")


def test_weights_words_seeds_and_options_that_do_not_apply() -> None:
    first, again = (hge.load("tiny_test", weights="random", seed=3).embed(noise(1, 0.3).numpy())[0] for _ in range(2))
    assert np.array_equal(first.scene, again.scene)
    assert hge.load("tiny_test", weights="random").identity.weights == "random (seed 0)"
    with pytest.raises(ValueError, match="seed applies to weights='random' only"):
        hge.load("tiny_test", seed=1)
    with pytest.raises(ValueError, match="variant handcrafted has no official weights .it needs none"):
        hge.load("handcrafted", weights="official")
    with pytest.raises(ValueError, match="variant passt_cqt has no official weights"):
        hge.load("passt_cqt", weights="official")
    for options, named in (({"weights": "random"}, "weights='random'"), ({"memory_budget_mb": 64}, "memory_budget_mb")):
        with pytest.raises(ValueError, match=f"{named} apply to this package's variants only, not to HEAR module"):
            hge.load(FAKE, **options)
    with pytest.raises(ValueError, match="takes no precision argument"):
        hge.load(FAKE, precision="bf16")
    with pytest.raises(ValueError, match="a model name is needed"):
        ModelSpec("")
    with pytest.raises(hge.hear.loading.ModuleLoadError, match="nor is it a variant: did you mean handcrafted"):
        hge.load("handcraftd")


def test_a_path_named_like_a_word_is_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(hge.model.CheckpointError):
        (tmp_path / "random").write_bytes(b"not a checkpoint")
        hge.load("tiny_test", weights=Path("random"))


def test_probe_records_the_precision_the_workers_compute_in(tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loaded once on this machine's CPU in fp32 (its CPU may lack the workers' bf16 units), recorded as the workers
    will compute: bf16 for a network asked bf16, fp32 for a weight-free variant whatever is asked."""
    monkeypatch.setattr(precision_module, "cpu_bf16_units", lambda flags=None: ())  # a CPU without bf16 units
    identity, rate = ModelSpec("tiny_test", str(tiny_ckpt), precision="bf16").probe()
    assert identity.precision == "bf16" and rate == 32000 and identity.weights == str(tiny_ckpt)
    assert ModelSpec("handcrafted", precision="bf16").probe()[0].precision == "fp32"


def test_workflows_take_a_model_a_spec_or_a_name(tiny_ckpt: Path) -> None:
    loaded = hge.load("lowlevel_mel")
    assert as_model(loaded) is loaded
    assert as_model(ModelSpec("lowlevel_mel")).identity == loaded.identity == as_model("lowlevel_mel").identity
    assert as_model("tiny_test", model_path=str(tiny_ckpt)).identity.weights == str(tiny_ckpt)
    with pytest.raises(ValueError, match="apply to a model given by name"):
        as_model(loaded, precision="bf16")
    with pytest.warns(DeprecationWarning, match="passing a model of load_model\\(\\) is deprecated"):
        old = as_model(hge.load_embedder(hge.get_variant("lowlevel_mel"), device="cpu"))
    assert old.identity == loaded.identity
    with pytest.raises(TypeError, match="expected an EmbeddingModel"):
        as_model(3)  # type: ignore[arg-type]
