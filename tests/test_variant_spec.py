"""Variants written as specs (:mod:`hear_gear_embed.variant_spec`): canonical names, the grammar against the variants
written by hand in the registry, every error message, grids, and specs wherever a variant name is taken (the registry,
``load``, the HEAR modules, the command line)."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

import hear_gear_embed as hge
from hear_gear_embed.cli import main
from hear_gear_embed.hear import variant_module
from hear_gear_embed.hear.spec import ModelSpec
from hear_gear_embed.model.weights import PRETRAINED
from hear_gear_embed.registry import get_variant, is_variant
from hear_gear_embed.variant_spec import (
    CQT_PASST_GRID,
    MAX_GRID,
    expand_spec_grid,
    is_spec,
    is_spec_grid,
    parse_spec,
)

from .conftest import tone

HOP5 = "passt[levels=L+M,rf=160+640,hop=5]"
HOP3 = "passt[levels=L+M,rf=160+640,hop=3.125]"


def _what_it_computes(name: str) -> tuple[object, ...]:
    """Everything that decides a variant's embeddings, without its name and description."""
    v = get_variant(name)
    return v.timestamp_blocks, v.scene_levels, v.scene_features, v.weights, v.frontend, v.net, v.features, \
        v.timestamp_hop_ms, v.scene_window_ms, v.scene_hop_ms, v.mid_layer


@pytest.mark.parametrize(("spec", "registered"), [
    ("passt[levels=M+H,rf=160,hop=10]", "passt_base"),
    ("passt[levels=M+H,rf=160+800,hop=10]", "passt_2lvl"),
    (HOP5, "passt_lm2rf_hop5"),
    (HOP3, "passt_lm2rf_hop3"),
    ("passt[levels=M+H,rf=160,hop=10,frontend=cqt]", "passt_cqt"),
])
def test_specs_describe_the_variants_written_by_hand(spec: str, registered: str) -> None:
    assert get_variant(spec).name == spec
    assert _what_it_computes(spec) == _what_it_computes(registered)


def test_the_l_window_follows_the_hop_as_in_the_authors_modules() -> None:
    # passt_2lvlmel reads L over 60 ms at hop 10 (only its scene differs: M+H without L, the authors' choice).
    mel = get_variant("passt_2lvlmel")
    spec = get_variant("passt[levels=L+M+H,rf=160+640]")
    assert spec.timestamp_blocks == mel.timestamp_blocks and spec.scene_levels == ("H", "M", "L")
    assert [b.window_ms for b in get_variant(HOP3).timestamp_blocks] == [160, 640, 18.75]
    for name in ("passt_2lvlmel", "passt_lm2rf_hop5", "passt_lm2rf_hop3"):  # 6 frames of 128 bands at every hop
        variant = get_variant(name)
        assert variant.block_size(variant.timestamp_blocks[-1]) == 6 * 128


@pytest.mark.parametrize("spelling", [
    "passt[rf=640+160,hop=5.0,levels=M+L]",
    " passt[ levels = M+L , rf = 640 + 160 , hop = 5.000 ] ",
    "passt[levels=L+M,rf=160.0+640,hop=5,lwin=30,frontend=mel,checkpoint=passt_s_swa_f128_stfthop160_p16_s10_ap473]",
])
def test_two_spellings_of_one_variant_have_one_name(spelling: str) -> None:
    assert get_variant(spelling).name == HOP5 and get_variant(spelling) == get_variant(HOP5)


@pytest.mark.parametrize(("spec", "canonical"), [
    ("passt[]", "passt[levels=M+H,rf=160,hop=10]"),  # the paper's baseline: every default
    ("passt[checkpoint=passt_s_swa_p16_128_ap476]", "passt[levels=M+H,rf=160,hop=10]"),  # the hop's own checkpoint
    ("passt[levels=H,checkpoint=passt_s_kd_p16_128_ap486]",
     "passt[levels=H,rf=160,hop=10,checkpoint=passt_s_kd_p16_128_ap486]"),
    ("passt[levels=L+M,hop=5,lwin=60]", "passt[levels=L+M,rf=160,hop=5,lwin=60]"),
    ("passt[levels=M,rf=62.50,hop=3.125,frontend=cqt]", "passt[levels=M,rf=62.5,hop=3.125,frontend=cqt]"),
])
def test_canonical_names(spec: str, canonical: str) -> None:
    variant = get_variant(spec)
    assert variant.name == canonical and get_variant(canonical) == variant


def test_what_the_keys_choose() -> None:
    kd = get_variant("passt[levels=H,checkpoint=passt_s_kd_p16_128_ap486]")
    assert kd.weights is PRETRAINED["passt_s_kd_p16_128_ap486"] and kd.scene_embedding_size == 527
    stride16 = get_variant("passt[checkpoint=passt_s_p16_s16_128_ap468]")
    assert stride16.net == PRETRAINED["passt_s_p16_s16_128_ap468"].net and stride16.net.time_stride == 16
    cqt = get_variant("passt[levels=M,hop=5,frontend=cqt]")
    assert cqt.frontend == dataclasses.replace(CQT_PASST_GRID, hop_length=160) and cqt.weights is None
    assert cqt.net == PRETRAINED["passt_s_swa_f128_stfthop160_p16_s10_ap473"].net
    assert get_variant(HOP3).description == ("PaSST L+M at 160 ms and 640 ms receptive fields, L over 18.75 ms, STFT hop "
                                             "3.125 ms, checkpoint passt_s_swa_f128_stfthop100_p16_s10_ap473")


@pytest.mark.parametrize(("spec", "message"), [
    ("passt[levls=M]", "unknown spec key 'levls'; did you mean levels? Known: levels, rf, hop, lwin, frontend, checkpoint"),
    ("passt[levels=M,levels=H]", "key 'levels' is given twice in 'passt[levels=M,levels=H]': give each key once"),
    ("passt[levels]", "'levels' in 'passt[levels]' is not key=value; keys are levels, rf, hop"),
    ("passt[levels=]", "levels= is empty in 'passt[levels=]': give one or more of L (log-mel frames), M (tokens), H"),
    ("passt[levels=X+M]", "levels=X+M: unknown level 'X'; give one or more of L (log-mel frames)"),
    ("passt[levels=M+M]", "levels=M+M: a level is given twice"),
    ("passt[levels=L]", "levels=L: L alone runs no network; add M or H"),
    ("passt[rf=150]", "rf=150: a receptive field is a whole number of samples (0.03125 ms at 32000 Hz) from 150.03125 ms "
     "(one 16-frame patch at STFT hop 10 ms) to 10050 ms (the 1005 frames the time encoding covers)"),
    ("passt[rf=160.01]", "rf=160.01: a receptive field is a whole number of samples"),
    ("passt[rf=160+20000]", "rf=20000: a receptive field is a whole number of samples"),
    ("passt[hop=5,rf=70]", "rf=70: a receptive field is a whole number of samples (0.03125 ms at 32000 Hz) from 75.03125 ms "
     "(one 16-frame patch at STFT hop 5 ms) to 10075 ms (the 2015 frames"),
    ("passt[rf=160+160.0]", "rf=160+160.0: a receptive field is given twice"),
    ("passt[rf=-160]", "rf=-160: not a number of milliseconds (digits with an optional decimal part: 160, 62.5)"),
    ("passt[rf=1e3]", "rf=1e3: not a number of milliseconds"),
    ("passt[rf=0]", "rf=0: must be positive"),
    ("passt[hop=7]", "hop=7: no official checkpoint has that STFT hop; hops with one: 10, 5, 3.125 (ms)"),
    ("passt[hop=3]", "hop=3: no official checkpoint has that STFT hop"),  # the paper's "3 ms" is 3.125 ms exactly
    ("passt[checkpoint=passt_s_swa]", "checkpoint=passt_s_swa: unknown checkpoint 'passt_s_swa'"),
    ("passt[checkpoint=passt_s_kd_p16_128_ap486,hop=5]",
     "checkpoint=passt_s_kd_p16_128_ap486 has an STFT hop of 10 ms, not hop=5"),
    ("passt[frontend=cqt,checkpoint=passt_s_swa_p16_128_ap476]",
     "frontend=cqt with checkpoint=passt_s_swa_p16_128_ap476: the official checkpoints are trained on log-mel"),
    ("passt[frontend=stft]", "frontend=stft: frontends are mel, cqt"),
    ("passt[lwin=30]", "lwin=30: lwin is the window of level L, and levels=M+H has no L"),
    ("passt[levels=L+M,lwin=10]", "lwin=10: the window of level L is a whole number of samples, at least 16.0625 ms (the "
     "514 samples the frontend needs)"),
    ("passt[levels=M", "'passt[levels=M' is not a variant spec: write passt[key=value,...]"),
    ("bert[levels=M]", "unknown variant family 'bert' in 'bert[levels=M]'"),
    ("passt[levels=M|H]", "'passt[levels=M|H]' is a grid of variant specs (| between alternatives)"),
])
def test_bad_specs_say_what_is_wrong_and_what_is_allowed(spec: str, message: str) -> None:
    assert is_variant(spec)  # written as a spec: never taken for a HEAR module's import name
    with pytest.raises(ValueError, match=re.escape(message)):
        get_variant(spec)
    with pytest.raises(ValueError, match=re.escape(message)):
        hge.load(spec, weights="random")


def test_specs_are_names_of_variants_everywhere() -> None:
    spec = "passt[levels=M,rf=160,hop=10]"
    assert is_spec(spec) and not is_spec("passt_base") and not is_spec("hearbaseline")
    assert is_variant(spec) and not is_variant("passt") and get_variant(spec) is parse_spec(spec)
    with pytest.raises(KeyError, match="unknown variant 'passt'"):
        get_variant("passt")
    assert ModelSpec(spec).variant == get_variant(spec) and ModelSpec("passt[rf=160,levels=M]").name == spec
    assert ModelSpec(f"hear_gear_embed.hear.{spec}").name == spec
    assert spec not in hge.list_variants(include_unpublished=True)  # specs are not registered
    module = importlib.import_module(f"hear_gear_embed.hear.{spec}")
    assert module.load_model.__doc__.startswith(f"HEAR ``load_model`` for variant ``{spec}``")
    # A dot in a name is a package path to `import`: variant_module makes the module, under the canonical name.
    dotted = variant_module("passt[hop=3.125,rf=640+160,levels=M+L]")
    try:
        assert dotted.__name__ == f"hear_gear_embed.hear.{HOP3}" and callable(dotted.get_scene_embeddings)
        assert importlib.import_module(f"hear_gear_embed.hear.{HOP3}") is dotted and variant_module(HOP3) is dotted
    finally:
        sys.modules.pop(dotted.__name__)
    assert variant_module("handcrafted") is importlib.import_module("hear_gear_embed.hear.handcrafted")


def test_spec_names_are_variant_names_that_name_folders() -> None:
    base = get_variant("handcrafted")
    assert dataclasses.replace(base, name="mine[a=1.5,b=L+M]").name == "mine[a=1.5,b=L+M]"
    for bad in ("mine[a b]", "mine[a/b]", "mine[a=1", "_mine[a=1]", "[a=1]"):
        with pytest.raises(ValueError, match="must be a Python identifier not starting with '_', or a variant spec"):
            dataclasses.replace(base, name=bad)


FULL_GRID = "passt[levels=M|H|M+H|L+M|L+M+H,rf=160|640|160+640,hop=10|5|3.125]"


def test_a_grid_is_the_product_of_its_alternatives_first_key_slowest() -> None:
    specs = expand_spec_grid(FULL_GRID)
    assert len(specs) == len(set(specs)) == 5 * 3 * 3
    assert specs[:4] == ["passt[levels=M,rf=160,hop=10]", "passt[levels=M,rf=160,hop=5]",
                         "passt[levels=M,rf=160,hop=3.125]", "passt[levels=M,rf=640,hop=10]"]
    assert specs[-1] == "passt[levels=L+M+H,rf=160+640,hop=3.125]" and HOP5 in specs and HOP3 in specs
    assert all(get_variant(spec).name == spec for spec in specs)
    assert is_spec_grid(FULL_GRID) and not is_spec_grid(HOP5) and not is_spec_grid("a|b")


def test_a_grid_keeps_each_variant_once_and_a_plain_spec_is_itself() -> None:
    assert expand_spec_grid("passt[levels=M+H|H+M,rf=160|160.0,hop=10|10]") == ["passt[levels=M+H,rf=160,hop=10]"]
    assert expand_spec_grid("passt[hop=5,levels=L+M,rf=640+160]") == [HOP5]
    assert expand_spec_grid("passt[levels=M|L+M,checkpoint=passt_s_swa_p16_128_ap476|passt_s_kd_p16_128_ap486]") == [
        "passt[levels=M,rf=160,hop=10]", "passt[levels=M,rf=160,hop=10,checkpoint=passt_s_kd_p16_128_ap486]",
        "passt[levels=L+M,rf=160,hop=10]", "passt[levels=L+M,rf=160,hop=10,checkpoint=passt_s_kd_p16_128_ap486]"]


def test_a_grid_is_capped_and_a_bad_alternative_is_named() -> None:
    assert MAX_GRID == 64
    with pytest.raises(ValueError, match=r"is a grid of 45 specs, more than 44: split it into smaller grids"):
        expand_spec_grid(FULL_GRID, limit=44)
    too_many = "passt[levels=M|H|M+H|L+M|L+M+H,rf=160|320|640|160+640|320+640,hop=10|5|3.125]"
    with pytest.raises(ValueError, match=r"is a grid of 75 specs, more than 64"):
        expand_spec_grid(too_many)
    with pytest.raises(ValueError, match="hop=7: no official checkpoint has that STFT hop"):
        expand_spec_grid("passt[levels=M|H,hop=10|7]")
    with pytest.raises(ValueError, match="levels= is empty"):
        expand_spec_grid("passt[levels=M||H]")
    with pytest.raises(ValueError, match="unknown spec key 'hops'"):
        expand_spec_grid("passt[hops=10|5]")


def test_hear_gear_embed_takes_a_spec(tmp_path: Path) -> None:
    soundfile.write(tmp_path / "x.wav", tone(440.0, 0.5, 32000), 32000)
    out = tmp_path / "o"
    argv = ["embed", str(tmp_path / "x.wav"), "--variant", "passt[rf=640+160,levels=M]", "--random-weights", "0",
            "--out", str(out), "--device", "cpu", "--no-progress"]
    assert main(argv) == 0
    with np.load(out / "x.wav.npz") as saved:
        assert str(saved["variant"]) == "passt[levels=M,rf=160+640,hop=10]"
        assert str(saved["module"]) == "hear_gear_embed.hear.passt[levels=M,rf=160+640,hop=10]"
        assert saved["scene"].shape == (768,) and saved["timestamp_embeddings"].shape == (11, 2 * 768)


@pytest.mark.parametrize("argv", [
    ["embed", "{tmp}", "--variant", "passt[hop=7]", "--out", "{tmp}/o"],
    ["embed", "{tmp}", "--module", "passt[hop=7]", "--out", "{tmp}/o"],
    ["validate", "passt[hop=7]"],
    ["gear", "passt[hop=7]", "--out", "{tmp}/o"],
    ["gear", "passt[hop=7]"],
    ["evaluate", "passt[hop=7]", "{tmp}", "--out", "{tmp}/o"],
])
def test_a_bad_spec_exits_2_with_its_message(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    if argv[0] == "evaluate" and importlib.util.find_spec("sklearn") is None:
        pytest.skip("hear-gear evaluate needs the eval extra")
    assert main([arg.format(tmp=tmp_path) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "hop=7: no official checkpoint has that STFT hop; hops with one: 10, 5, 3.125 (ms)" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()
