"""Loading any HEAR module (:mod:`hear_gear_embed.hear.loading`): load failures as one named usage error, through the
API and through every command that loads modules, and this package's own errors passed through unchanged."""

from __future__ import annotations

import re
import sys
import types
import urllib.error
from pathlib import Path

import pytest
import torch

import hear_gear_embed
from hear_gear_embed.cli import main
from hear_gear_embed.hear.loading import ModuleLoadError, import_hear_module, load_module_model, resolve_module_name
from hear_gear_embed.model.checkpoint import CheckpointError
from hear_gear_embed.model.hub import HOME_ENV, WeightsUnavailableError
from hear_gear_embed.util.device import DeviceUnavailableError
from hear_gear_embed.util.precision import PrecisionUnsupportedError

BROKEN = "tests.hear.broken_load"
HEAR_API = "from tests.gear_fake_module import get_scene_embeddings, get_timestamp_embeddings, load_model\n"


def load_hear_module(name: str, model_path: str = "", *, precision: str = "fp32") -> torch.nn.Module:
    """Import HEAR module ``name`` and load its model, as every command does for a module name."""
    return load_module_model(import_hear_module(name), model_path, precision=precision)  # type: ignore[arg-type]


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
    with pytest.raises(ModuleLoadError, match="No module named 'handcraftd'.*; nor is it a variant: did you mean handcrafted"):
        load_hear_module("handcraftd")
    with pytest.raises(ModuleLoadError, match="'json' is not a HEAR module: it lacks load_model"):
        load_hear_module("json")


def test_this_packages_own_errors_pass_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The errors the commands give their own hints for keep their type through this package's HEAR modules."""
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


def test_variant_names_resolve_to_their_hear_modules() -> None:
    assert resolve_module_name("handcrafted") == "hear_gear_embed.hear.handcrafted"
    assert resolve_module_name("tiny_test") == "hear_gear_embed.hear.tiny_test"  # unpublished variants too
    assert resolve_module_name("hearbaseline") == "hearbaseline"
    assert resolve_module_name("hear_gear_embed.hear.handcrafted") == "hear_gear_embed.hear.handcrafted"
