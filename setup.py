"""The thin setuptools entry this layout is known by; all metadata lives in pyproject.toml (PEP 621)."""

from setuptools import setup

setup()
