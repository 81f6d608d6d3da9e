"""``.npz`` files read back: whole or refused with the file named (:func:`read_npz`), so that a truncated or
bit-flipped file (a full disk, a killed writer, a flaw of the storage) never passes for a good one; and what reading a
damaged one raises (:data:`NPZ_ERRORS`), for readers that open only part of a file."""

from __future__ import annotations

import tokenize
import zipfile
import zlib
from collections.abc import Collection
from pathlib import Path

import numpy as np

NPZ_ERRORS = (OSError, EOFError, ValueError, RuntimeError, SyntaxError, tokenize.TokenError, zipfile.BadZipFile,
               zlib.error)
"""What reading a damaged ``.npz`` raises: ``EOFError`` (an empty file), ``BadZipFile`` (no central directory, a bad
CRC-32), ``NotImplementedError`` (a ``RuntimeError``: an unknown compression method or zip version) or
``RuntimeError`` (an encryption flag), ``zlib.error`` or ``OSError`` (a compression method flipped to deflate or
bzip2), and ``ValueError``, ``SyntaxError`` or ``tokenize.TokenError`` from numpy's parser of a ``.npy`` header."""


def read_npz(path: Path, required: Collection[str] = ()) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path`` (no pickles), after the CRC-32 of every member is verified: numpy alone
    checks a member's CRC-32 only when its read reaches the member's end, which a flipped bit that shrinks the shape in
    a ``.npy`` header prevents, so that it loads part of the values without a word.

    Args:
        path: the file.
        required: names of the arrays it must hold.

    Raises:
        ValueError: the file cannot be read (missing, truncated, not a zip file, a bad CRC-32, a malformed header) or
            lacks one of ``required``; the message names the file and the problem.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
        if damaged is not None:
            raise zipfile.BadZipFile(f"bad CRC-32 of {damaged}")
        with np.load(path, allow_pickle=False) as saved:
            arrays = {name: saved[name] for name in saved.files}
    except NPZ_ERRORS as err:
        raise ValueError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from err
    missing = [name for name in required if name not in arrays]
    if missing:
        raise ValueError(f"{path}: lacks the array(s) {', '.join(missing)}")
    return arrays
