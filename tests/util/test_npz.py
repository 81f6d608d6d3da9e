"""``.npz`` files read back whole or refused with the file named (:mod:`hear_gear_embed.util.npz`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hear_gear_embed.util.npz import read_npz

from .corrupt import CORRUPTIONS, flip_shape_bit

ARRAYS = {"embeddings": np.arange(3000, dtype=np.float32).reshape(1000, 3), "file_index": np.arange(1000)}
"""Members larger than zipfile's first read (4 KiB): numpy parses a member's header before its CRC-32 is checked."""


def _saved(path: Path) -> Path:
    np.savez(path, **ARRAYS)  # type: ignore[arg-type]
    return path


def test_read_npz_reads_every_array(tmp_path: Path) -> None:
    path = _saved(tmp_path / "x.npz")
    arrays = read_npz(path, required=("embeddings",))
    assert set(arrays) == set(ARRAYS) and all(np.array_equal(arrays[k], v) for k, v in ARRAYS.items())
    with pytest.raises(ValueError, match=r"x\.npz: lacks the array\(s\) timestamps_ms$"):
        read_npz(path, required=("embeddings", "timestamps_ms"))


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS.values()), ids=list(CORRUPTIONS))
def test_read_npz_refuses_a_corrupt_file_naming_it(tmp_path: Path, corrupt: Callable[[Path], None]) -> None:
    path = _saved(tmp_path / "x.npz")
    corrupt(path)
    with pytest.raises(ValueError, match=r"x\.npz: not a readable \.npz file \("):
        read_npz(path)


def test_a_header_bit_that_numpy_loads_is_refused(tmp_path: Path) -> None:
    path = _saved(tmp_path / "x.npz")
    flip_shape_bit(path)
    with np.load(path) as saved:  # numpy alone returns two thirds of the values without a word
        assert saved["embeddings"].shape == (1000, 2)
    with pytest.raises(ValueError, match=r"x\.npz: not a readable \.npz file \(BadZipFile: bad CRC-32 of embeddings\.npy\)"):
        read_npz(path)


def test_read_npz_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"missing\.npz: not a readable \.npz file \(FileNotFoundError"):
        read_npz(tmp_path / "missing.npz")
