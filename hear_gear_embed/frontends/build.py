"""The frontend module for a frontend configuration."""

from __future__ import annotations

from .config import CqtConfig, Frontend
from .cqt import CqtFrontend
from .mel import MelFrontend


def build_frontend(config: Frontend) -> MelFrontend | CqtFrontend:
    """The torch module computing ``config``: a :class:`MelFrontend` or a :class:`CqtFrontend`."""
    return CqtFrontend(config) if isinstance(config, CqtConfig) else MelFrontend(config)
