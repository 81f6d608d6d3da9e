"""The package version: one home, read by ``pyproject.toml`` at build time and by the outputs that record it."""

__version__ = "0.2.0"
"""The release of this source tree (semantic versioning)."""
