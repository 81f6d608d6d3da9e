"""Files written whole or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # reading the umask sets it: put it back at once, at import, before any thread writes


def write_atomic(path: Path, write: Callable[[BinaryIO], object] | bytes) -> None:
    """Write ``path`` (``write``'s bytes, or what ``write`` writes to a binary stream) through a temporary file in its
    folder and ``os.replace``, so that an interrupted run or a killed worker never leaves a partial file that a later
    run would take for a finished one. The folder is created. The file gets the permissions of any new file
    (``0o666`` less the umask), not the owner-only ones of a temporary file: outputs on shared storage are read by
    others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            if isinstance(write, bytes):
                stream.write(write)
            else:
                write(stream)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
