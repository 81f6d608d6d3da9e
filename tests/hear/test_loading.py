"""Loading any HEAR module (:mod:`hear_gear_embed.hear.loading`): the identity of its code (``module_version``), and
load failures as one named usage error, through the API and through every command that loads modules."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import re
import shutil
import sys
import types
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

import hear_gear_embed
from hear_gear_embed.cli import main
from hear_gear_embed.hear.loading import ModuleLoadError, load_hear_module, module_version
from hear_gear_embed.model.checkpoint import CheckpointError
from hear_gear_embed.model.hub import HOME_ENV, WeightsUnavailableError
from hear_gear_embed.util.device import DeviceUnavailableError
from hear_gear_embed.util.precision import PrecisionUnsupportedError

BROKEN = "tests.hear.broken_load"
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
    return load_hear_module(name).identity["module_version"]


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


def test_this_package_is_identified_alike_by_embed_and_evaluate() -> None:
    """``hear-gear embed --variant`` (the corpus engines' VariantModel) and every loader of HEAR modules (evaluate,
    gear, ``embed --module``) record the same module_version, which, in an editable install, names the source."""
    from hear_gear_embed import get_variant, load_embedder
    from hear_gear_embed.io.models import VariantModel

    by_variant = VariantModel(load_embedder(get_variant("handcrafted"), device="cpu")).identity["module_version"]
    assert by_variant == version_of("handcrafted") == module_version(hear_gear_embed)
    assert by_variant.startswith(hear_gear_embed.__version__)
    editable = any(json.loads(d.read_text("direct_url.json") or "{}").get("dir_info", {}).get("editable")
                   for d in importlib.metadata.distributions(name="hear_gear_embed"))
    assert (" (editable, source sha256 " in by_variant) == editable


def write_syntax_error(root: Path) -> str:
    """A HEAR module under ``root`` whose line 3 does not parse; returns its name."""
    root.mkdir(exist_ok=True)
    (root / "hge_syntax_error.py").write_text(HEAR_API + "\ndef load_model(model_file_path=''):\n    return (\n")
    return "hge_syntax_error"


def test_load_failures_are_one_named_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, call, kind, line in ((f"{BROKEN}.runtime_error", "load_model()", "RuntimeError: the encoder could not be "
                                    "built", "runtime_error.py:13"),
                                   (f"{BROKEN}.key_error", "load_model('w.pt')", "KeyError: 'encoder'", "key_error.py:14")):
        with pytest.raises(ModuleLoadError) as info:
            load_hear_module(name, "w.pt" if "w.pt" in call else "")
        message = str(info.value)
        assert message.startswith(f"HEAR module {name!r} failed to load: {call} raised {kind} (at ")
        assert message.endswith(f"{line})") and str(Path(__file__).parent / "broken_load") in message
        assert isinstance(info.value, ValueError) and type(info.value.__cause__).__name__ == kind.split(":")[0]
    name = write_syntax_error(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleLoadError, match=re.escape(f"cannot import HEAR module {name!r}: SyntaxError: ")) as info:
        load_hear_module(name)
    assert str(info.value).endswith(f"(at {tmp_path / (name + '.py')}:4)") and isinstance(info.value.__cause__, SyntaxError)
    with pytest.raises(ModuleLoadError, match=r"cannot import HEAR module 'tests\.harness\.broken_modules\.import_fails': "
                       r"RuntimeError: set-up at import failed \(at .*import_fails\.py:4\)"):
        load_hear_module("tests.harness.broken_modules.import_fails")
    with pytest.raises(ModuleLoadError, match="cannot import HEAR module 'no_such_module_anywhere': ModuleNotFoundError: "
                       "No module named 'no_such_module_anywhere'$"):
        load_hear_module("no_such_module_anywhere")


def test_this_packages_own_errors_pass_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The errors the commands give their own hints for keep their type."""
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError) as checkpoint:
        load_hear_module("tiny_test", str(junk))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(PrecisionUnsupportedError) as precision:
        load_hear_module("tiny_test", str(junk), precision="fp16")
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))

    def offline(url: str, dst: str, progress: bool = True) -> None:
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailableError) as weights:
        load_hear_module("passt_base")
    module = types.ModuleType("hge_device")

    def no_device(model_file_path: str = "") -> torch.nn.Module:
        raise DeviceUnavailableError("device 'cuda:3' was requested but only 1 CUDA device(s) are visible")

    vars(module).update(load_model=no_device, get_scene_embeddings=len, get_timestamp_embeddings=len)
    monkeypatch.setitem(sys.modules, "hge_device", module)
    with pytest.raises(DeviceUnavailableError) as device:
        load_hear_module("hge_device")
    assert not any(isinstance(e.value, ModuleLoadError) for e in (checkpoint, precision, weights, device))


def command(name: str, module: str, tmp_path: Path) -> list[str]:
    audio = str(Path(hear_gear_embed.__file__).parents[1] / "examples" / "tone_440hz_32k.wav")
    return {"embed": ["embed", audio, "--module", module, "--no-progress"],
            "evaluate": ["evaluate", module, str(tmp_path)],
            "gear": ["gear", module, "--no-progress"]}[name] + ["--out", str(tmp_path / "out")]


@pytest.mark.parametrize("name", ["embed", "evaluate", "gear"])
def test_commands_exit_2_naming_why_the_module_did_not_load(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    for module, reason in ((f"{BROKEN}.runtime_error", "load_model() raised RuntimeError: the encoder could not be built"),
                           (f"{BROKEN}.key_error", "load_model() raised KeyError: 'encoder'")):
        assert main(command(name, module, tmp_path)) == 2
        err = capsys.readouterr().err
        assert f"error: HEAR module {module!r} failed to load: {reason} (at " in err and "Traceback" not in err
    syntax = write_syntax_error(tmp_path / "modules")
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    assert main(command(name, syntax, tmp_path)) == 2
    err = capsys.readouterr().err
    assert f"error: cannot import HEAR module {syntax!r}: SyntaxError: " in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_validate_fails_a_load_model_that_raises_and_exits_2_on_a_syntax_error(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """As hear-validator: a load_model that raises is a failed validation (exit status 1), a module that does not
    import is no validation at all (exit status 2)."""
    for module, kind in ((f"{BROKEN}.runtime_error", "RuntimeError"), (f"{BROKEN}.key_error", "KeyError")):
        assert main(["validate", module, "--device", "cpu"]) == 1
        assert f"FAIL  load_model()\n        error: raised {kind}: " in capsys.readouterr().out
    syntax = write_syntax_error(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["validate", syntax]) == 2
    assert f"error: cannot import {syntax}: SyntaxError" in capsys.readouterr().err
