"""Whether and when the embedder runs its network compiled (:meth:`hear_gear_embed.embedding.embedder.Embedder.
set_compile`): by precision by default, graphs that never outlive the weights they froze, copies without graphs,
and the choice through :func:`hear_gear_embed.hear.spec.load` and the command line."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest
import torch

from hear_gear_embed import get_variant
from hear_gear_embed.cli import build_parser
from hear_gear_embed.cli.options import compile_choice
from hear_gear_embed.embedding import Embedder
from hear_gear_embed.embedding.factory import random_embedder
from hear_gear_embed.hear.spec import ModelSpec, as_model

from ..conftest import noise


def test_by_default_only_int8_compiles() -> None:
    model = random_embedder(get_variant("tiny_test"), device="cpu")
    assert not model.compiles and model.compile_stats is None
    model.set_compile(True)
    assert model.compiles
    with pytest.raises(TypeError, match="compile must be True, False or None"):
        model.set_compile("yes")  # type: ignore[arg-type]
    assert not random_embedder(get_variant("lowlevel_mel"), device="cpu", compile=True).compiles


def test_new_weights_drop_the_graphs_that_froze_the_old(tiny_ckpt: Path) -> None:
    model = random_embedder(get_variant("tiny_test"), 7, device="cpu", compile=True)
    audio = noise(2, 0.5, seed=4)
    with torch.inference_mode():
        before = model.scene_embeddings(audio)
        stats = model.compile_stats
        assert stats is not None and stats.graphs == 1
        model.load_weights(tiny_ckpt)
        assert model.compile_stats is None
        after = model.scene_embeddings(audio)
    assert model.compile_stats is not None and model.compile_stats.graphs == 1
    for twin in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert twin.compiles and twin.compile_stats is None
    model.set_compile(False)
    with torch.inference_mode():
        eager = model.scene_embeddings(audio)
    assert not torch.allclose(before, after) and torch.allclose(after, eager, atol=1e-5)
    assert model.compile_stats is None


def test_compile_is_chosen_by_name_and_on_the_command_line() -> None:
    with pytest.raises(ValueError, match="compile apply to this package's variants only"):
        ModelSpec("hearbaseline", compile=True)
    with pytest.raises(TypeError, match="compile must be True, False or None"):
        ModelSpec("tiny_test", compile="on")  # type: ignore[arg-type]
    model = ModelSpec("tiny_test", weights="random", compile=True).load().model
    assert isinstance(model, Embedder) and model.compiles
    with pytest.raises(ValueError, match="compile apply to a model given by name"):
        as_model(ModelSpec("tiny_test", weights="random").load(), compile=False)
    parser = build_parser()
    for command in (["embed", "x"], ["evaluate", "m", "t"], ["gear", "m"]):
        assert compile_choice(parser.parse_args(command)) is None
        assert compile_choice(parser.parse_args([*command, "--compile", "off"])) is False
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "t", "--out", "o", "--precision", "int8"])
