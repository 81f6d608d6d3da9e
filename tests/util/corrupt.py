"""Damaged ``.npz`` files, as a full disk, a killed writer or a flipped bit on storage leave them: for the tests of
every reader that must refuse them, or heal from them (:func:`hear_gear_embed.util.npz.read_npz`)."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path


def member_span(raw: bytes, name: str) -> tuple[int, int]:
    """Offset and size of the stored bytes (``.npy`` header, then values) of member ``name`` of a zip file written by
    ``np.savez`` (uncompressed)."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        info = archive.getinfo(name)
    name_size, extra_size = struct.unpack("<HH", raw[info.header_offset + 26: info.header_offset + 30])
    return info.header_offset + 30 + name_size + extra_size, info.compress_size


def _edit(path: Path, change: Callable[[bytearray], None]) -> None:
    raw = bytearray(path.read_bytes())
    change(raw)
    path.write_bytes(bytes(raw))


def empty(path: Path, member: str = "embeddings.npy") -> None:
    """Nothing left of the file (a writer killed before its first byte)."""
    path.write_bytes(b"")


def truncate(path: Path, member: str = "embeddings.npy") -> None:
    """The first half of the file (a full disk): no central directory."""
    _edit(path, lambda raw: raw.__delitem__(slice(len(raw) // 2, None)))


def flip_value_bit(path: Path, member: str = "embeddings.npy") -> None:
    """One bit of the last value of ``member``: only the zip's CRC-32 tells."""

    def change(raw: bytearray) -> None:
        start, size = member_span(bytes(raw), member)
        raw[start + size - 1] ^= 0x01

    _edit(path, change)


def flip_shape_bit(path: Path, member: str = "embeddings.npy") -> None:
    """One bit of ``member``'s ``.npy`` header: the last digit of its shape loses its lowest set bit (``(1000, 3)``
    becomes ``(1000, 2)``), so that the header still parses and asks for fewer values. numpy loads them without a word
    when the member is larger than zipfile's first read (4 KiB): its read ends before the member's end, where the CRC-32
    is checked."""

    def change(raw: bytearray) -> None:
        start, _ = member_span(bytes(raw), member)
        close = bytes(raw).index(b")", bytes(raw).index(b"'shape': (", start))
        digit = close - 2 if raw[close - 1] == ord(",") else close - 1
        raw[digit] &= raw[digit] - 1

    _edit(path, change)


def flip_method_bit(path: Path, member: str = "embeddings.npy") -> None:
    """One bit of the zip's central directory entry of ``member``: its compression method, stored (0) -> deflated
    (8)."""

    def change(raw: bytearray) -> None:
        central = bytes(raw).index(b"PK\x01\x02")
        while bytes(raw[central + 46: central + 46 + len(member)]) != member.encode():
            central = bytes(raw).index(b"PK\x01\x02", central + 4)
        raw[central + 10] ^= 0x08

    _edit(path, change)


CORRUPTIONS: dict[str, Callable[..., None]] = {
    "empty": empty, "truncated": truncate, "value bit (CRC-32)": flip_value_bit,
    "npy header bit": flip_shape_bit, "zip header bit": flip_method_bit,
}
"""Name -> ``corrupt(path, member)``, each leaving a damaged file in place."""
