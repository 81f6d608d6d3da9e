"""Full-size random checkpoints in the official layout, made once and shared by the suites that need them.

A PaSST-S checkpoint is 345 MB and takes seconds to initialise and write. The default suite
(``tests/conftest.py``) and the harness (``tests/harness/run_harness.py``) both need one per network
geometry; with :data:`CACHE_ENV` set to a folder (``.ci/run`` does), the first of them writes it there and
the later ones read it. Without it, each writes its own under its scratch folder.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from hear_gear_embed.model import PaSST, random_passt
from hear_gear_embed.model.config import PasstConfig

CACHE_ENV = "HGE_TEST_CHECKPOINTS"
"""Environment variable naming a folder where random checkpoints are written once and reused (emptied by CI at the start)."""


def save_official(net: PaSST, path: Path) -> Path:
    """Save ``net`` as the authors' release files are: a raw state dict of tensors."""
    torch.save(net.state_dict(), path)
    return path


def random_official_checkpoint(net: PasstConfig, root: Path, seed: int = 0) -> Path:
    """A raw state dict of ``random_passt(net, seed)``: under ``$HGE_TEST_CHECKPOINTS`` when set (reused if
    already there), else under ``root``.

    The file name carries a digest of the geometry and the seed, so that a cached file is only reused for the
    same network. The file is written under a temporary name and renamed, so that a reader never sees it half
    written.
    """
    folder = Path(os.environ.get(CACHE_ENV) or root)
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(repr(net).encode()).hexdigest()[:12]
    path = folder / f"random-passt-{digest}-seed{seed}.pt"
    if not path.is_file():
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        save_official(random_passt(net, seed), partial)
        partial.replace(path)
    return path
