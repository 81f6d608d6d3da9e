"""The command line as installed: ``python -m hear_gear_embed``, and the commands that must not import torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile

from hear_gear_embed import get_variant, list_variants

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(REPO_ROOT))

# Runs in a fresh interpreter: listing variants and asking for help read the registry (pure data), so the
# command line answers them without the seconds that importing torch takes.
NO_TORCH = """
import contextlib, io, json, sys
import hear_gear_embed
from hear_gear_embed.cli import main

seen = {"import": "torch" in sys.modules}
for argv in (["list"], ["--help"], ["embed", "--help"], ["weights", "--help"]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code
    seen[" ".join(argv)] = [code, "torch" in sys.modules, "passt_base" in out.getvalue(), "tiny_test" in out.getvalue()]
seen["sizes"] = [hear_gear_embed.get_variant("tiny_test").timestamp_embedding_size > 0, "torch" in sys.modules]
seen["old names"] = [hasattr(hear_gear_embed, name) for name in ("CHECKPOINTS", "Checkpoint", "PRETRAINED")]
print(json.dumps(seen))
"""


def test_list_and_help_do_not_import_torch() -> None:
    run = subprocess.run([sys.executable, "-c", NO_TORCH], capture_output=True, text=True, env=ENV, cwd=REPO_ROOT)
    assert run.returncode == 0, run.stderr
    # [exit status, torch imported, passt_base shown, tiny_test shown (unpublished: never)]
    assert json.loads(run.stdout) == {
        "import": False, "list": [0, False, True, False], "--help": [0, False, False, False],
        "embed --help": [0, False, True, False], "weights --help": [0, False, False, False],
        "sizes": [True, False], "old names": [False, False, True],
    }


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    t = np.arange(int(0.5 * 22050)) / 22050
    soundfile.write(tmp_path / "x.wav", 0.4 * np.sin(2 * np.pi * 440.0 * t), 22050)
    run = subprocess.run([sys.executable, "-m", "hear_gear_embed", "embed", str(tmp_path / "x.wav"), "--variant",
                          "lowlevel_cqt", "--out", str(tmp_path / "o")], capture_output=True, text=True, env=ENV)
    assert run.returncode == 0, run.stderr
    with np.load(tmp_path / "o" / "x.wav.npz") as saved:
        assert saved["scene"].shape == (get_variant("lowlevel_cqt").scene_embedding_size,)
    listed = subprocess.run([sys.executable, "-m", "hear_gear_embed", "list", "--json"], capture_output=True,
                            text=True, env=ENV)
    assert [r["name"] for r in json.loads(listed.stdout)] == list_variants()
