"""What identifies a model's embeddings (:mod:`hear_gear_embed.hear.identity`): the record and its one rule for
"the same model", and ``module_version``, the identity of a module's code, on modules and distributions written into
a temporary folder (a module on ``sys.path``, an editable and an installed distribution)."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import json
import re
import shutil
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import hear_gear_embed
from hear_gear_embed.hear.identity import ModelIdentity, module_version
from hear_gear_embed.hear.loading import import_hear_module

HEAR_API = "from tests.gear_fake_module import get_scene_embeddings, get_timestamp_embeddings, load_model\n"
SOURCE_HASH = r"source sha256 [0-9a-f]{16}"

Importer = Callable[[str, Path], types.ModuleType]


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[Importer]:
    """``fresh(name, root)``: import top-level module ``name`` anew with ``root`` first on ``sys.path``; the modules
    it made are forgotten afterwards."""
    made: set[str] = set()

    def forget(name: str) -> None:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]

    def load(name: str, root: Path) -> types.ModuleType:
        forget(name)
        made.add(name)
        monkeypatch.syspath_prepend(str(root))
        return importlib.import_module(name)

    yield load
    for name in made:
        forget(name)


def write_package(root: Path, name: str, scale: str = "1.0") -> Path:
    """A HEAR package ``name`` under ``root``: its ``__init__.py`` and a submodule holding ``scale``."""
    package = root / name
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text(HEAR_API)
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "helper.py").write_text(f"SCALE = {scale}\n")
    return package


def write_dist_info(site: Path, name: str, version: str, record: list[str], *, editable: bool) -> None:
    """The metadata an installer leaves for distribution ``name``: ``RECORD`` lists ``record`` (paths relative to
    ``site``); ``editable`` adds the PEP 610 ``direct_url.json`` of an editable install."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "top_level.txt").write_text(f"{name}\n")
    (info / "RECORD").write_text("".join(f"{path},,\n" for path in [*record, f"{info.name}/METADATA"]))
    if editable:
        (info / "direct_url.json").write_text(json.dumps({"url": "file:///elsewhere", "dir_info": {"editable": True}}))


def version_of(name: str) -> str:
    return module_version(import_hear_module(name))


def test_a_module_without_a_distribution_is_identified_by_its_source(tmp_path: Path, fresh: Importer) -> None:
    write_package(tmp_path / "a", "hge_plain")
    fresh("hge_plain", tmp_path / "a")
    first = version_of("hge_plain")
    assert re.fullmatch(f"no distribution, {SOURCE_HASH}", first)
    assert version_of("hge_plain") == first
    # The same code elsewhere is the same code; any edit of any of its files is another.
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    fresh("hge_plain", tmp_path / "b")
    assert version_of("hge_plain") == first
    (tmp_path / "b" / "hge_plain" / "sub" / "helper.py").write_text("SCALE = 2.0\n")
    fresh("hge_plain", tmp_path / "b")
    edited = version_of("hge_plain")
    assert re.fullmatch(f"no distribution, {SOURCE_HASH}", edited) and edited != first
    (tmp_path / "b" / "hge_plain" / "sub" / "other.py").write_text("")
    fresh("hge_plain", tmp_path / "b")
    assert version_of("hge_plain") not in (first, edited)

    (tmp_path / "c").mkdir()
    single = tmp_path / "c" / "hge_single.py"
    single.write_text(HEAR_API)
    fresh("hge_single", tmp_path / "c")
    one = version_of("hge_single")
    assert re.fullmatch(f"no distribution, {SOURCE_HASH}", one)
    single.write_text(HEAR_API + "SCALE = 2.0\n")
    fresh("hge_single", tmp_path / "c")
    assert version_of("hge_single") != one


def test_an_editable_install_is_identified_by_its_version_and_its_source(tmp_path: Path, fresh: Importer) -> None:
    write_package(tmp_path / "src", "hge_editable")
    fresh("hge_editable", tmp_path / "src")
    digest = version_of("hge_editable").removeprefix("no distribution, ")
    write_dist_info(tmp_path / "site", "hge_editable", "1.2.3", ["__editable__.hge_editable-1.2.3.pth"], editable=True)
    fresh("hge_editable", tmp_path / "site")
    assert version_of("hge_editable") == f"1.2.3 (editable, {digest})"
    (tmp_path / "src" / "hge_editable" / "sub" / "helper.py").write_text("SCALE = 2.0\n")
    fresh("hge_editable", tmp_path / "site")
    assert re.fullmatch(rf"1\.2\.3 \(editable, {SOURCE_HASH}\)", edited := version_of("hge_editable"))
    assert edited != f"1.2.3 (editable, {digest})"


def test_an_installed_copy_goes_by_its_version_and_a_copy_that_shadows_it_by_its_source(tmp_path: Path,
                                                                                     fresh: Importer) -> None:
    site = tmp_path / "site"
    package = write_package(site, "hge_installed")
    files = sorted(p.relative_to(site).as_posix() for p in package.rglob("*.py"))
    write_dist_info(site, "hge_installed", "1.2.3", files, editable=False)
    fresh("hge_installed", site)
    assert version_of("hge_installed") == "1.2.3"
    write_package(tmp_path / "checkout", "hge_installed", scale="2.0")
    fresh("hge_installed", tmp_path / "checkout")  # first on sys.path: this copy is the one imported
    assert re.fullmatch(rf"1\.2\.3 \(not the installed copy, {SOURCE_HASH}\)", version_of("hge_installed"))


def test_a_module_without_files_says_so() -> None:
    module = types.ModuleType("hge_in_memory")
    assert module_version(module) == "no distribution, no source files"


def test_this_package_is_identified_alike_however_its_model_is_made() -> None:
    """A variant by name, by its module's name, and an Embedder in hand record the same identity, whose
    module_version, in an editable install, names the source."""
    from hear_gear_embed import EmbeddingModel, get_variant, load, load_embedder

    in_hand = EmbeddingModel.from_embedder(load_embedder(get_variant("handcrafted"), device="cpu")).identity
    assert in_hand == load("handcrafted").identity == load("hear_gear_embed.hear.handcrafted").identity
    by_variant = in_hand.module_version
    assert by_variant == module_version(hear_gear_embed)
    assert by_variant.startswith(hear_gear_embed.__version__)
    editable = any(json.loads(d.read_text("direct_url.json") or "{}").get("dir_info", {}).get("editable")
                   for d in importlib.metadata.distributions(name="hear_gear_embed"))
    assert (" (editable, source sha256 " in by_variant) == editable


def test_the_record_is_one_serialisation_with_one_rule() -> None:
    mine = ModelIdentity("hear_gear_embed.hear.tiny_test", "0.2.0", "/w/tiny.pt", "ab" * 32, "bf16")
    record = mine.to_dict()
    assert list(record) == ["variant", "module", "module_version", "weights", "weights_sha256", "precision"]
    assert record["variant"] == "tiny_test" and ModelIdentity.from_dict(record) == mine
    # the checkpoint goes by its hash (it may have moved), this package's variants not by their version
    assert mine.same_model(ModelIdentity.from_dict({**record, "weights": "/elsewhere.pt", "module_version": "0.3.0"}))
    assert mine.differences(ModelIdentity.from_dict({**record, "precision": "fp32"})) == [("precision", "bf16", "fp32")]
    assert not mine.same_model(ModelIdentity.from_dict({**record, "weights_sha256": "cd" * 32}))
    random = ModelIdentity("hear_gear_embed.hear.tiny_test", "0.2.0", "random (seed 1)", "")
    assert random.compared_keys == ("variant", "weights", "precision")
    assert not random.same_model(dataclasses.replace(random, weights="random (seed 2)"))
    # another module's code is compared too: an edited module is another model
    other = ModelIdentity("hearbaseline", "2021.1.0", "module default", "")
    assert other.variant == "hearbaseline" and other.compared_keys[-1] == "module_version"
    assert not other.same_model(dataclasses.replace(other, module_version="2021.1.1"))


def test_records_of_earlier_versions_read_with_their_defaults() -> None:
    """Outputs of 0.1 recorded neither the module nor the precision: a variant of this package, in fp32."""
    old = ModelIdentity.from_dict({"variant": "handcrafted", "weights": "none", "weights_sha256": ""})
    assert old.module == "hear_gear_embed.hear.handcrafted" and old.precision == "fp32" and old.module_version == ""
    assert ModelIdentity("hear_gear_embed.hear.handcrafted", "0.2.0", "none", "").same_model(old)
