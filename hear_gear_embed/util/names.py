"""Lookups by name that fail with the closest known names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def unknown_name(kind: str, name: str, known: Iterable[str]) -> str:
    """The message for an unknown ``name`` of a ``kind`` (variant, feature, ...): close matches, then all known names."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "."
    return f"unknown {kind} {name!r}{hint} Known: {', '.join(known)}"
